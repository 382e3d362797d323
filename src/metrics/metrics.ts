/**
 * Prometheus metrics for workers and consumers: counters and histograms fed
 * by zretry's events, gauges read from the store's stats on each scrape (so
 * they always match `zretry stats`). No metric calls inside the logic.
 *
 * Every series carries `namespace` as a plain label, so one registry holds
 * any number of namespaces, and prom-client's global registry can be used
 * without zretry touching the host application's own metrics. The metrics
 * are registered once per registry and shared by every createMetrics() on
 * it.
 */
import { Counter, Gauge, Histogram, Registry, type OpenMetricsContentType, type PrometheusContentType } from 'prom-client';
import type { ZRetryEmitter } from '../events.js';
import type { TaskStore } from '../store/store.js';
import type { ClaimedTask, ShardStats } from '../store/task.js';
import type { ControlView } from '../store/scripts.js';

/** A prom-client registry, in the Prometheus text format or OpenMetrics. */
export type AnyRegistry = Registry<PrometheusContentType> | Registry<OpenMetricsContentType>;

/** Where the metrics go and what this process exports. */
export interface MetricsOptions {
  /** Default: a new Registry. prom-client's global `register` works too. */
  registry?: AnyRegistry;
  /**
   * Export the namespace-wide gauges (zretry_tasks, zretry_blocked_aggregates,
   * zretry_oldest_due_age_seconds), read from Redis at scrape time. Every
   * process of a namespace reads the same values: export them from one, or
   * aggregate with max(), never sum(). Default true.
   */
  queueGauges?: boolean;
}

/** The registry and a way to stop listening. */
export interface ZRetryMetrics {
  registry: AnyRegistry;
  /** Stops counting this emitter's events and drops this namespace's gauges (if no one else exports them). */
  stop(): void;
}

/** The values of zretry_tasks{state}: every task is in exactly one state. */
export const TASK_STATES = {
  due: 'dueNow',
  scheduled: 'dueLater',
  inflight: 'inflight',
  waiting: 'queued',
  paused: 'paused',
  held: 'held',
  dead: 'dead',
} as const satisfies Record<string, keyof ShardStats>;

const ATTEMPT_BUCKETS = [1, 2, 3, 4, 5, 7, 10, 15, 20, 50];
const LATENESS_BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** zretry's metrics in one registry, and the stores whose gauges it exports. */
function family(registry: AnyRegistry) {
  const sources = new Map<string, { store: TaskStore; refs: number }>();
  const registers = [registry];
  // one stats call per namespace per scrape, shared by the three gauges; a namespace whose
  // Redis does not answer is left out of that scrape, and the rest is served
  let snapshot: Promise<Array<{ namespace: string; total: ShardStats }>> | null = null;
  const stats = () =>
    (snapshot ??= Promise.allSettled([...sources].map(async ([namespace, { store }]) => ({ namespace, total: (await store.stats()).total })))
      .then((all) => all.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])))
      .finally(() => setImmediate(() => (snapshot = null))));
  const tasks: Gauge<'namespace' | 'state'> = new Gauge({
    name: 'zretry_tasks',
    help: 'Tasks by state: due (now, unclaimed), scheduled (due later), inflight (claimed, or republished and awaiting the consumer), waiting (behind the head of their aggregate), paused (held by a topic or error-class pause), held (held back by a dispatch limit, breaker or throttle), dead (kept in Redis)',
    labelNames: ['namespace', 'state'],
    registers,
    async collect() {
      tasks.reset();
      for (const { namespace, total } of await stats()) {
        for (const [state, field] of Object.entries(TASK_STATES)) tasks.set({ namespace, state }, total[field]);
      }
    },
  });
  const blocked: Gauge<'namespace'> = new Gauge({
    name: 'zretry_blocked_aggregates',
    help: 'Aggregates with a task due, in flight or held: their new records wait behind it',
    labelNames: ['namespace'],
    registers,
    async collect() {
      blocked.reset();
      for (const { namespace, total } of await stats()) blocked.set({ namespace }, total.blockedAggregates);
    },
  });
  const oldest: Gauge<'namespace'> = new Gauge({
    name: 'zretry_oldest_due_age_seconds',
    help: 'Age of the oldest task that is due and not claimed (0 when none)',
    labelNames: ['namespace'],
    registers,
    async collect() {
      oldest.reset();
      for (const { namespace, total } of await stats()) oldest.set({ namespace }, total.oldestDueAgeMs / 1000);
    },
  });
  // one read of the control slot per namespace per scrape, shared by the two dispatch gauges
  let controlSnapshot: Promise<Array<{ namespace: string; view: ControlView }>> | null = null;
  const control = () =>
    (controlSnapshot ??= Promise.allSettled([...sources].map(async ([namespace, { store }]) => ({ namespace, view: await store.control.view() })))
      .then((all) => all.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])))
      .finally(() => setImmediate(() => (controlSnapshot = null))));
  const scopeState: Gauge<'namespace' | 'scope' | 'state'> = new Gauge({
    name: 'zretry_dispatch_scope',
    help: 'Scopes under dispatch control (1 each), by state: limit (a rate limit only), concurrency (a concurrency limit only), open (breaker open, probing), forced-open, ramp (coming back after a breaker or a throttle), throttle',
    labelNames: ['namespace', 'scope', 'state'],
    registers,
    async collect() {
      scopeState.reset();
      for (const { namespace, view } of await control()) {
        const forced = new Set(view.forced.filter((f) => f.state === 'open').map((f) => f.scope));
        for (const a of view.active) {
          const b = a.state.b as string | undefined;
          scopeState.set({ namespace, scope: a.scope, state: b === 'open' && forced.has(a.scope) ? 'forced-open' : (b ?? 'limit') }, 1);
        }
      }
    },
  });
  const limitRate: Gauge<'namespace' | 'scope'> = new Gauge({
    name: 'zretry_dispatch_limit_rate',
    help: 'Rate limits an operator set (zretry limit set), tasks per second',
    labelNames: ['namespace', 'scope'],
    registers,
    async collect() {
      limitRate.reset();
      for (const { namespace, view } of await control()) for (const l of view.limits) if (l.rate !== null) limitRate.set({ namespace, scope: l.scope }, l.rate);
    },
  });
  return {
    /** Counts one more (or one less) exporter of a namespace's gauges. */
    setSource(namespace: string, store: TaskStore, delta: 1 | -1): void {
      const source = sources.get(namespace) ?? { store, refs: 0 };
      source.refs += delta;
      if (source.refs > 0) sources.set(namespace, source);
      else sources.delete(namespace);
      snapshot = null;
    },
    scheduled: new Counter({ name: 'zretry_scheduled_total', help: 'Records stored as tasks, by outcome (scheduled, queued, duplicate)', labelNames: ['namespace', 'outcome'], registers }),
    retried: new Counter({ name: 'zretry_retried_total', help: 'Failed attempts put back for a later retry', labelNames: ['namespace', 'topic'], registers }),
    succeeded: new Counter({ name: 'zretry_succeeded_total', help: 'Tasks whose handler succeeded (or whose republished copy did)', labelNames: ['namespace', 'topic'], registers }),
    dead: new Counter({ name: 'zretry_dead_total', help: 'Tasks that died (written to the dead-letter topic, or kept in Redis without one), by reason', labelNames: ['namespace', 'topic', 'reason'], registers }),
    transitions: new Counter({ name: 'zretry_dispatch_transitions_total', help: 'Dispatch control transitions a worker made, by scope and kind: opened, probe, closed, throttled, ramp-ended (an operator\'s are in zretry limit list)', labelNames: ['namespace', 'scope', 'to'], registers }),
    deferred: new Counter({ name: 'zretry_deferred_total', help: 'Failed attempts sent back without counting: the handler was throttled, or a breaker of the task was open', labelNames: ['namespace', 'topic', 'reason'], registers }),
    leaseLost: new Counter({ name: 'zretry_lease_lost_total', help: 'Outcomes refused because another claim owned the task', labelNames: ['namespace'], registers }),
    storeErrors: new Counter({ name: 'zretry_store_errors_total', help: 'Redis calls that failed (the work was kept and is tried again)', labelNames: ['namespace', 'op'], registers }),
    lateness: new Histogram({ name: 'zretry_lateness_seconds', help: 'Claim time minus due time (Redis clock)', labelNames: ['namespace'], buckets: LATENESS_BUCKETS, registers }),
    attempts: new Histogram({ name: 'zretry_attempts', help: 'Attempts a task took, at success or death', labelNames: ['namespace'], buckets: ATTEMPT_BUCKETS, registers }),
    handlerDuration: new Histogram({
      name: 'zretry_handler_duration_seconds',
      help: 'Handler calls (first tries in the consumer and retries in workers), by topic and result (success, error)',
      labelNames: ['namespace', 'topic', 'result'],
      buckets: DURATION_BUCKETS,
      registers,
    }),
  };
}

const families = new WeakMap<AnyRegistry, ReturnType<typeof family>>();

const topicOf = (task: ClaimedTask): string => task.record?.topic ?? '';

/** Registers zretry's metrics (once per registry) and counts this emitter's events under the store's namespace. */
export function createMetrics(events: ZRetryEmitter, store: TaskStore, opts: MetricsOptions = {}): ZRetryMetrics {
  const registry: AnyRegistry = opts.registry ?? new Registry();
  let f = families.get(registry);
  if (!f) families.set(registry, (f = family(registry)));
  const m = f;
  const namespace = store.options.namespace;
  const exportsGauges = opts.queueGauges ?? true;
  if (exportsGauges) m.setSource(namespace, store, 1);

  const on = {
    scheduled: (e: { outcome: string }) => m.scheduled.inc({ namespace, outcome: e.outcome }),
    retried: (e: { task: ClaimedTask }) => m.retried.inc({ namespace, topic: topicOf(e.task) }),
    succeeded: (e: { task: ClaimedTask }) => {
      m.succeeded.inc({ namespace, topic: topicOf(e.task) });
      m.attempts.observe({ namespace }, e.task.attempt + 1);
    },
    dead: (e: { task: ClaimedTask; reason: { kind: string } }) => {
      m.dead.inc({ namespace, topic: topicOf(e.task), reason: e.reason.kind });
      m.attempts.observe({ namespace }, e.task.attempt + (e.task.doomed ? 0 : 1));
    },
    handled: (e: { topic: string; durationMs: number; result: string }) => m.handlerDuration.observe({ namespace, topic: e.topic, result: e.result }, e.durationMs / 1000),
    'lease-lost': () => m.leaseLost.inc({ namespace }),
    'dispatch-transition': (e: { scope: string; to: string }) => m.transitions.inc({ namespace, scope: e.scope, to: e.to }),
    deferred: (e: { task: ClaimedTask; reason: string }) => m.deferred.inc({ namespace, topic: topicOf(e.task), reason: e.reason }),
    'store-error': (e: { op: string }) => m.storeErrors.inc({ namespace, op: e.op }),
    claimed: (e: { latenessMs: number[] }) => {
      for (const ms of e.latenessMs) m.lateness.observe({ namespace }, Math.max(0, ms) / 1000);
    },
  } as const;
  for (const [k, fn] of Object.entries(on)) events.on(k as never, fn as never);
  let stopped = false;
  return {
    registry,
    stop: () => {
      if (stopped) return;
      stopped = true;
      for (const [k, fn] of Object.entries(on)) events.off(k as never, fn as never);
      if (exportsGauges) m.setSource(namespace, store, -1);
    },
  };
}
