/**
 * A handler told to slow down (an HTTP 429 with Retry-After: 1) throws
 * ThrottledError: the task goes back without counting an attempt, and
 * dispatch of its topic stops for that second on every worker, then comes
 * back on the ramp. Real Redis, the worker in process dispatch.
 */
import { afterEach, expect, it } from 'vitest';
import { createWorker } from '../../src/create-worker.js';
import { ThrottledError } from '../../src/errors.js';
import { TaskStore } from '../../src/store/store.js';
import { dropNamespace, newRedis, silentLogger, uniqueNamespace, waitFor } from '../helpers/env.js';
import { record } from '../lua/fixtures.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

it('a 429 with Retry-After stops its topic for that long, then ramps, and counts no attempt', async () => {
  const redis = newRedis();
  const namespace = uniqueNamespace('throttle');
  const store = new TaskStore(redis, { namespace, shards: 2, maxBatch: 100 });
  cleanups.push(async () => {
    await dropNamespace(redis, namespace);
    await redis.quit();
  });
  const topic = `api-${namespace}`;
  const N = 30;
  await store.schedule(Array.from({ length: N }, (_, i) => ({ id: `${topic}/0/${i}`, aggregateId: `a${i}`, delayMs: 0, attempt: 1, error: { class: 'Timeout', message: 'first try' }, record: { ...record(i), topic } })));

  const calls: Array<{ at: number; id: string; attempt: number }> = [];
  const done = new Map<string, number>();
  let throttledAt = 0;
  let throttledId = '';
  const w = await createWorker({
    handler: (r, ctx) => {
      calls.push({ at: Date.now(), id: ctx.taskId!, attempt: ctx.attempt });
      if (throttledAt === 0) {
        throttledAt = Date.now();
        throttledId = ctx.taskId!;
        // as a client would build it from the response's Retry-After header
        throw ThrottledError.fromRetryAfter('1');
      }
      done.set(ctx.taskId!, ctx.attempt);
    },
    redis: newRedis(),
    logger: silentLogger(),
    config: { store: { namespace, shards: 2 }, worker: { taskConcurrency: 1, maxSleepMs: 500 }, dispatch: { syncMs: 200, ramp: { startRate: 5, doublingMs: 1_000 } } },
  });
  cleanups.push(async () => {
    await w.close();
    await w.store.redis.quit();
  });
  await waitFor(() => done.size === N, 30_000, 'every task to succeed');

  const first = calls.find((c) => c.id === throttledId)!;
  const again = calls.filter((c) => c.id === throttledId)[1]!;
  const during = calls.filter((c) => c.at > throttledAt + 300 && c.at < throttledAt + 900);
  const afterWait = calls.filter((c) => c.at >= throttledAt + 1_000 && c.at < throttledAt + 1_500);
  const view = await store.control.view();
  const throttled = view.log.find((t) => t.to === 'throttled' && t.scope === `topic:${topic}`);
  console.log(`throttle: Retry-After 1 s at t = 0; dispatches from 0.3 s to 0.9 s: ${during.length}; from 1.0 s to 1.5 s (ramp from 5/s): ${afterWait.length}; the throttled task ran again at t = ${((again.at - throttledAt) / 1000).toFixed(2)} s with attempt ${again.attempt} (was ${first.attempt})`);
  expect(throttled).toMatchObject({ retryAfterMs: 1_000 });
  expect(during).toEqual([]);
  // no attempt counted: the handler sees the same attempt number again, and it runs after the wait
  expect(again.attempt).toBe(first.attempt);
  expect(again.at - throttledAt).toBeGreaterThanOrEqual(990);
  // the ramp: 5/s with a bucket of 1, not the 29 tasks at once
  expect(afterWait.length).toBeLessThanOrEqual(6);
  expect([...done.values()].every((a) => a === 2)).toBe(true);
}, 60_000);

it('a chain follower that is throttled throttles its topic and keeps its attempt; the prefix before it is acked', async () => {
  const redis = newRedis();
  const namespace = uniqueNamespace('throttle-chain');
  const store = new TaskStore(redis, { namespace, shards: 1, maxBatch: 100 });
  cleanups.push(async () => {
    await dropNamespace(redis, namespace);
    await redis.quit();
  });
  const topic = `api-${namespace}`;
  // one aggregate: a head and two followers, claimed as one chain
  await store.schedule(Array.from({ length: 3 }, (_, i) => ({ id: `${topic}/0/${i}`, aggregateId: 'same', delayMs: 0, attempt: 1, error: { class: 'Timeout', message: 'first try' }, record: { ...record(i), topic } })));
  const seen: string[] = [];
  const dead: string[] = [];
  let throttledOnce = false;
  const w = await createWorker({
    handler: (_r, ctx) => {
      seen.push(`${ctx.taskId!.split('/')[2]}@${ctx.attempt}`);
      if (ctx.taskId === `${topic}/0/1` && !throttledOnce) {
        throttledOnce = true;
        throw ThrottledError.fromRetryAfter('1');
      }
    },
    redis: newRedis(),
    logger: silentLogger(),
    deadLetter: async (t, reason) => void dead.push(`${t.id}:${reason.kind}`),
    config: { store: { namespace, shards: 1 }, worker: { maxSleepMs: 200 }, dispatch: { syncMs: 200 } },
  });
  cleanups.push(async () => {
    await w.close();
    await w.store.redis.quit();
  });
  await waitFor(() => seen.length >= 4, 10_000, 'the chain to finish');
  const view = await store.control.view();
  // the follower ran twice with the same attempt number, and its topic was throttled
  expect(seen).toEqual(['0@2', '1@2', '1@2', '2@2']);
  expect(view.log.filter((t) => t.to === 'throttled' && t.scope === `topic:${topic}`)).toHaveLength(1);
  expect(dead).toEqual([]);
}, 30_000);
