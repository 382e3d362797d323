/**
 * A namespace-wide rate limit over a backlog, with three workers sharing
 * it (test/integration/dispatch-rate.test.ts on one Redis,
 * test/cluster/dispatch-rate.test.ts on the Redis Cluster): the measured
 * dispatch rate is within 10 % of the limit. The limiter sets the pace, not
 * the machine: the workers could go many times faster.
 */
import { afterEach, expect, it } from 'vitest';
import { createWorker, type StartedWorker } from '../../src/create-worker.js';
import { setLimit } from '../../src/ops/limits.js';
import { TaskStore } from '../../src/store/store.js';
import type { NewTask } from '../../src/store/task.js';
import { dropNamespace, newRedis, silentLogger, uniqueNamespace, waitFor } from '../helpers/env.js';
import { record } from '../lua/fixtures.js';

const RATE = 200;
const BURST = 20;
const N = 2000;
const SHARDS = 8;

export function rateScenario(where: string): void {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it(`3 workers dispatch a backlog of ${N} at the limit of ${RATE} tasks/s (within 10 %) on ${where}`, async () => {
    const redis = newRedis();
    const namespace = uniqueNamespace('rate');
    const store = new TaskStore(redis, { namespace, shards: SHARDS, maxBatch: 250 });
    cleanups.push(async () => {
      await dropNamespace(redis, namespace);
      await redis.quit();
    });
    const topic = `rate-${namespace}`;
    const tasks: NewTask[] = Array.from({ length: N }, (_, i) => ({
      id: `${topic}/0/${i}`,
      aggregateId: `agg-${i}`,
      delayMs: 0,
      attempt: 1,
      error: { class: 'Timeout', message: 'first try failed' },
      record: { ...record(i), topic },
    }));
    await store.schedule(tasks);
    await setLimit(store, {}, { rate: RATE, burst: BURST });

    const times: number[] = [];
    const workers: StartedWorker[] = [];
    for (let w = 0; w < 3; w++) {
      const started = await createWorker({
        handler: () => void times.push(Date.now()),
        redis: newRedis(),
        logger: silentLogger(),
        config: { store: { namespace, shards: SHARDS }, worker: { taskConcurrency: 50, maxSleepMs: 1_000 } },
      });
      workers.push(started);
      cleanups.push(async () => {
        await started.close();
        await started.store.redis.quit();
      });
    }
    await waitFor(() => times.length >= N, 40_000, `${N} dispatches`);
    const first = Math.min(...times);
    const last = Math.max(...times);
    const measured = ((N - 1) * 1000) / (last - first);
    const perSecond = new Map<number, number>();
    for (const t of times) perSecond.set(Math.floor((t - first) / 1000), (perSecond.get(Math.floor((t - first) / 1000)) ?? 0) + 1);
    console.log(`dispatch rate on ${where}: requested ${RATE}/s (burst ${BURST}), measured ${measured.toFixed(1)}/s over ${N} tasks in ${((last - first) / 1000).toFixed(2)} s with 3 workers and ${SHARDS} shards; per second: ${[...perSecond.values()].join(' ')}`);
    expect(times.length).toBe(N);
    expect(Math.abs(measured - RATE) / RATE).toBeLessThan(0.1);
    // the last acks are written just after the handlers return
    await waitFor(async () => (await store.stats()).total.inflight === 0, 10_000, 'the last acks');
    expect((await store.stats()).total).toMatchObject({ dueNow: 0, held: 0, inflight: 0 });
  }, 60_000);
}
