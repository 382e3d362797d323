/**
 * Prometheus metrics for a worker or consumer: counters and histograms fed by
 * zretry's events, gauges read from the store's stats on each scrape (so they
 * always match `zretry stats`). No metric calls inside the logic.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ZRetryEmitter } from '../events.js';
import type { TaskStore } from '../store/store.js';

/** The registry and a way to stop listening. */
export interface ZRetryMetrics {
  registry: Registry;
  stop(): void;
}

/** Registers zretry's metrics and subscribes them to events. */
export function createMetrics(events: ZRetryEmitter, store: TaskStore, registry = new Registry()): ZRetryMetrics {
  const ns = store.options.namespace;
  registry.setDefaultLabels({ namespace: ns });
  const scheduled = new Counter({ name: 'zretry_scheduled_total', help: 'Records stored as tasks, by outcome (scheduled, queued, duplicate)', labelNames: ['outcome'], registers: [registry] });
  const retried = new Counter({ name: 'zretry_retried_total', help: 'Failed attempts put back for a later retry', registers: [registry] });
  const succeeded = new Counter({ name: 'zretry_succeeded_total', help: 'Tasks whose handler succeeded', registers: [registry] });
  const dead = new Counter({ name: 'zretry_dead_total', help: 'Tasks written to the dead-letter topic, by reason', labelNames: ['reason'], registers: [registry] });
  const leaseLost = new Counter({ name: 'zretry_lease_lost_total', help: 'Outcomes refused because another claim owned the task', registers: [registry] });
  const storeErrors = new Counter({ name: 'zretry_store_errors_total', help: 'Redis calls that failed (the work was kept)', labelNames: ['op'], registers: [registry] });
  const lateness = new Histogram({
    name: 'zretry_lateness_seconds',
    help: 'Claim time minus due time (Redis clock)',
    buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const attempts = new Histogram({ name: 'zretry_attempts', help: 'Attempts a task took, at success or death', buckets: [1, 2, 3, 4, 5, 7, 10, 15, 20, 50], registers: [registry] });

  const gauges: Array<[string, string, keyof Awaited<ReturnType<TaskStore['stats']>>['total'], number]> = [
    ['zretry_due', 'Tasks due now, not yet claimed', 'dueNow', 1],
    ['zretry_scheduled_later', 'Tasks due later', 'dueLater', 1],
    ['zretry_in_flight', 'Tasks claimed by a worker (or republished, awaiting the consumer)', 'inflight', 1],
    ['zretry_queued', 'Tasks waiting behind the head of their aggregate', 'queued', 1],
    ['zretry_blocked_aggregates', 'Aggregates with a task due, in flight or held', 'blockedAggregates', 1],
    ['zretry_dead', 'Dead tasks kept in Redis', 'dead', 1],
    ['zretry_paused', 'Due tasks held back by a topic or error-class pause', 'paused', 1],
    ['zretry_oldest_due_age_seconds', 'Age of the oldest task that is due and not claimed', 'oldestDueAgeMs', 0.001],
  ];
  let snapshot: Promise<Awaited<ReturnType<TaskStore['stats']>>> | null = null;
  const stats = () => (snapshot ??= store.stats().finally(() => setImmediate(() => (snapshot = null))));
  for (const [name, help, field, scale] of gauges) {
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        this.set((await stats()).total[field] * scale);
      },
    });
  }

  const on = {
    scheduled: (e: { outcome: string }) => scheduled.inc({ outcome: e.outcome }),
    retried: () => retried.inc(),
    succeeded: (e: { task: { attempt: number } }) => {
      succeeded.inc();
      attempts.observe(e.task.attempt + 1);
    },
    dead: (e: { task: { attempt: number; doomed: unknown }; reason: { kind: string } }) => {
      dead.inc({ reason: e.reason.kind });
      attempts.observe(e.task.attempt + (e.task.doomed ? 0 : 1));
    },
    'lease-lost': () => leaseLost.inc(),
    'store-error': (e: { op: string }) => storeErrors.inc({ op: e.op }),
    claimed: (e: { latenessMs: number[] }) => {
      for (const ms of e.latenessMs) lateness.observe(Math.max(0, ms) / 1000);
    },
  } as const;
  for (const [k, fn] of Object.entries(on)) events.on(k as never, fn as never);
  return {
    registry,
    stop: () => {
      for (const [k, fn] of Object.entries(on)) events.off(k as never, fn as never);
    },
  };
}
