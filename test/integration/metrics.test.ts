/**
 * Metrics as a Prometheus user meets them: in prom-client's global registry
 * beside the host's own metrics, two namespaces in one process, the queue
 * gauges equal to the store's stats, and a handler duration by topic.
 */
import { Counter, register, Registry, type OpenMetricsContentType } from 'prom-client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TypedEmitter, type ZRetryEvents } from '../../src/events.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { failed, freshStore } from '../lua/fixtures.js';

type Fresh = Awaited<ReturnType<typeof freshStore>>;
let a: Fresh;
let b: Fresh;
beforeAll(async () => {
  a = await freshStore(2);
  b = await freshStore(1);
  await a.store.schedule([failed(1, 'x'), failed(2, 'x'), failed(3, 'y', 60_000)]);
  await b.store.schedule([failed(1, null)]);
});
afterAll(async () => {
  await a.close();
  await b.close();
});

/** The value of the series with exactly these labels, from a text exposition. */
function value(body: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = body.split('\n').find((l) => {
    const m = /^([a-z_]+)\{([^}]*)\} (\S+)$/.exec(l);
    return m !== null && m[1] === name && m[2]!.split(',').sort().join(',') === [...want].sort().join(',');
  });
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

it("in prom-client's global registry: the host's metrics keep their labels; two namespaces register side by side", async () => {
  const host = new Counter({ name: 'host_requests_total', help: 'the application', registers: [register] });
  host.inc();
  const ea = new TypedEmitter<ZRetryEvents>();
  const eb = new TypedEmitter<ZRetryEvents>();
  const ma = createMetrics(ea, a.store, { registry: register });
  const mb = createMetrics(eb, b.store, { registry: register });
  try {
    ea.emit('handled', { topic: 'orders', durationMs: 12, result: 'success' });
    ea.emit('handled', { topic: 'orders', durationMs: 900, result: 'error' });
    eb.emit('scheduled', { id: 't', outcome: 'scheduled', attempt: 1 });
    const body = await register.metrics();
    expect(body).toContain('\nhost_requests_total 1\n');
    expect(value(body, 'zretry_scheduled_total', { namespace: b.namespace, outcome: 'scheduled' })).toBe(1);
    expect(value(body, 'zretry_scheduled_total', { namespace: a.namespace, outcome: 'scheduled' })).toBeUndefined();
    expect(value(body, 'zretry_handler_duration_seconds_count', { namespace: a.namespace, topic: 'orders', result: 'success' })).toBe(1);
    expect(value(body, 'zretry_handler_duration_seconds_bucket', { namespace: a.namespace, topic: 'orders', result: 'error', le: '0.5' })).toBe(0);
    expect(value(body, 'zretry_handler_duration_seconds_bucket', { namespace: a.namespace, topic: 'orders', result: 'error', le: '1' })).toBe(1);

    // one gauge of tasks by state, equal to the store's stats, per namespace
    const sa = (await a.store.stats()).total;
    expect(value(body, 'zretry_tasks', { namespace: a.namespace, state: 'due' })).toBe(sa.dueNow);
    expect(value(body, 'zretry_tasks', { namespace: a.namespace, state: 'scheduled' })).toBe(sa.dueLater);
    expect(value(body, 'zretry_tasks', { namespace: a.namespace, state: 'waiting' })).toBe(sa.queued);
    expect([sa.dueNow, sa.dueLater, sa.queued]).toEqual([1, 1, 1]);
    expect(value(body, 'zretry_tasks', { namespace: b.namespace, state: 'due' })).toBe(1);
    expect(value(body, 'zretry_blocked_aggregates', { namespace: a.namespace })).toBe(2);
  } finally {
    ma.stop();
    mb.stop();
    register.removeSingleMetric('host_requests_total');
  }
  // stopped: the namespace's gauges go, and metrics can be created again in the same registry
  const after = await register.metrics();
  expect(value(after, 'zretry_tasks', { namespace: a.namespace, state: 'due' })).toBeUndefined();
  const again = createMetrics(new TypedEmitter<ZRetryEvents>(), a.store, { registry: register });
  expect(value(await register.metrics(), 'zretry_tasks', { namespace: a.namespace, state: 'due' })).toBe(1);
  again.stop();
});

it('queueGauges: false exports the counters but not the namespace-wide gauges', async () => {
  const m = createMetrics(new TypedEmitter<ZRetryEvents>(), a.store, { queueGauges: false });
  const body = await m.registry.metrics();
  expect(body).toContain('# TYPE zretry_succeeded_total counter');
  expect(body).not.toMatch(/^zretry_tasks\{/m);
  expect(body).not.toMatch(/^zretry_oldest_due_age_seconds\{/m);
  m.stop();
});

it('OpenMetrics: no two metric families share a name (a counter foo_total and a gauge foo would)', async () => {
  const registry = new Registry<OpenMetricsContentType>();
  registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  const m = createMetrics(new TypedEmitter<ZRetryEvents>(), a.store, { registry });
  const families = [...(await registry.metrics()).matchAll(/^# TYPE (\S+) \S+$/gm)].map((x) => x[1]!);
  m.stop();
  expect(families).toContain('zretry_dead');
  expect(families).toContain('zretry_tasks');
  expect(new Set(families).size).toBe(families.length);
});
