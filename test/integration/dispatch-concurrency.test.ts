/**
 * A concurrency limit on a topic over three workers, against the real
 * Redis: never more than the limit of its tasks run at once in all of them,
 * the limit is used, and the other topic is not held by it.
 */
import { afterEach, expect, it } from 'vitest';
import { createWorker } from '../../src/create-worker.js';
import { setLimit } from '../../src/ops/limits.js';
import { TaskStore } from '../../src/store/store.js';
import { sleep } from '../../src/util/sleep.js';
import { dropNamespace, newRedis, silentLogger, uniqueNamespace, waitFor } from '../helpers/env.js';
import { record } from '../lua/fixtures.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

it('3 workers run at most 4 tasks of a topic at once; another topic is not held by it', async () => {
  const redis = newRedis();
  const namespace = uniqueNamespace('conc');
  const store = new TaskStore(redis, { namespace, shards: 4, maxBatch: 100 });
  cleanups.push(async () => {
    await dropNamespace(redis, namespace);
    await redis.quit();
  });
  const slow = `slow-${namespace}`;
  const other = `other-${namespace}`;
  const N = 60;
  const task = (i: number, topic: string) => ({ id: `${topic}/0/${i}`, aggregateId: `${topic}-${i}`, delayMs: 0, attempt: 1, error: { class: 'Timeout', message: 'first' }, record: { ...record(i), topic } });
  await store.schedule([...Array.from({ length: N }, (_, i) => task(i, slow)), ...Array.from({ length: 20 }, (_, i) => task(i, other))]);
  await setLimit(store, { topic: slow }, { concurrency: 4 }, { newTopic: true });

  let running = 0;
  let most = 0;
  const done = new Map<string, number>();
  for (let w = 0; w < 3; w++) {
    const started = await createWorker({
      handler: async (r) => {
        if (r.topic === slow) {
          most = Math.max(most, ++running);
          await sleep(100);
          running--;
        }
        done.set(`${r.topic}/${r.message.offset}`, Date.now());
      },
      redis: newRedis(),
      logger: silentLogger(),
      config: { store: { namespace, shards: 4 }, worker: { taskConcurrency: 10, maxSleepMs: 1_000 }, dispatch: { syncMs: 200 } },
    });
    cleanups.push(async () => {
      await started.close();
      await started.store.redis.quit();
    });
  }
  const t0 = Date.now();
  await waitFor(() => done.size === N + 20, 60_000, 'every task');
  const otherDone = Math.max(...[...done].filter(([k]) => k.startsWith(other)).map(([, t]) => t)) - t0;
  const slowDone = Math.max(...[...done].filter(([k]) => k.startsWith(slow)).map(([, t]) => t)) - t0;
  console.log(`concurrency 4 on ${N} tasks of 100 ms over 3 workers: at most ${most} at once, done in ${(slowDone / 1000).toFixed(2)} s (4 at once: 1.5 s at best); the other topic done in ${(otherDone / 1000).toFixed(2)} s`);
  expect(most).toBeLessThanOrEqual(4);
  expect(most).toBeGreaterThanOrEqual(3);
  expect(otherDone).toBeLessThan(slowDone);
  // the last acks are written just after the handlers return
  await waitFor(async () => (await store.stats()).total.inflight === 0, 10_000, 'the last acks');
  expect((await store.stats()).total).toMatchObject({ held: 0, dueNow: 0, inflight: 0 });
}, 90_000);
