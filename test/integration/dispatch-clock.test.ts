/**
 * The namespace-wide limit's "no tokens until" is kept on a monotonic
 * clock: a step of the host's wall clock (NTP, a VM resumed) does not stall
 * dispatch. Real Redis, process dispatch.
 */
import { afterEach, expect, it } from 'vitest';
import { createWorker } from '../../src/create-worker.js';
import { TaskStore } from '../../src/store/store.js';
import type { NewTask } from '../../src/store/task.js';
import { dropNamespace, newRedis, silentLogger, uniqueNamespace } from '../helpers/env.js';
import { record } from '../lua/fixtures.js';

const cleanups: Array<() => Promise<void>> = [];
const realNow = Date.now.bind(Date);
afterEach(async () => {
  Date.now = realNow;
  for (const c of cleanups.splice(0).reverse()) await c();
});

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('a wall clock stepping back 30 s does not stall dispatch under a namespace-wide limit', async () => {
  const redis = newRedis();
  const namespace = uniqueNamespace('clockstep');
  const store = new TaskStore(redis, { namespace, shards: 2, maxBatch: 100 });
  cleanups.push(async () => {
    await dropNamespace(redis, namespace);
    await redis.quit();
  });
  await store.schedule(Array.from({ length: 1_000 }, (_, i): NewTask => ({ id: `api/0/${i}`, aggregateId: `a${i}`, delayMs: 0, attempt: 1, error: { class: 'Timeout', message: 'x' }, record: { ...record(i), topic: 'api' } })));
  await store.control.setLimit('all', 100, 10);
  let n = 0;
  const w = await createWorker({
    handler: () => void n++,
    redis: newRedis(),
    logger: silentLogger(),
    config: { store: { namespace, shards: 2 }, worker: { maxSleepMs: 1_000 }, dispatch: { syncMs: 200 } },
  });
  cleanups.push(async () => {
    Date.now = realNow;
    await w.close();
    await w.store.redis.quit();
  });
  await pause(1_000);
  const before = n;
  Date.now = () => realNow() - 30_000;
  const per: number[] = [];
  for (let i = 0, last = n; i < 4; i++, last = n) {
    await pause(500);
    per.push(n - last);
  }
  const after = n - before;
  Date.now = realNow;
  console.log(`clock step: ${before} dispatched in the second before a -30 s step, ${after} in the 2 s after it (limit 100/s; per half second ${per.join(' ')})`);
  // 100/s: about 200 in 2 s, 50 each half second; a stall gives none (before the fix: 0 for 30 s, then with the
  // worker's wall-clock offset only, 0 for the first second, until maxSleepMs)
  expect(after).toBeGreaterThan(120);
  expect(per[0]).toBeGreaterThan(0);
}, 30_000);
