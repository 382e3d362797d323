/**
 * Dispatch control on the consumer's first tries (real Kafka, real Redis,
 * consume() with its worker in process dispatch): a first try told to slow
 * down (ThrottledError, a 429's Retry-After) stops its topic and counts no
 * attempt; a first try failing while the breaker of its error class is
 * open waits in Redis without an attempt, and runs once the breaker
 * closes, never reaching the dead-letter topic; the same with `worker:
 * false` and a standalone worker, where the consumer keeps its own view of
 * dispatch control.
 */
import { afterEach, expect, it } from 'vitest';
import { consume, type ConsumeOptions, type ZRetryConsumer } from '../../src/consume.js';
import { createWorker } from '../../src/create-worker.js';
import { ThrottledError } from '../../src/errors.js';
import { collect, consumerSettings, createTopic, dropNamespace, kafka, newRedis, silentLogger, uniqueNamespace, uniqueTopic, waitFor, zretryKafka } from '../helpers/env.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

class PaymentDown extends Error {
  override name = 'PaymentDown';
}

/** consume() on a fresh topic and namespace; standalone: with `worker: false`, its tasks run by a worker of their own (as `zretry worker`). */
async function start(handler: ConsumeOptions['handler'], standalone = false): Promise<{ z: ZRetryConsumer; topic: string; workerDead: string[] }> {
  const topic = uniqueTopic('first');
  await createTopic([topic, `${topic}.dlt`], 1);
  const namespace = uniqueNamespace();
  const redis = newRedis();
  const config = {
    store: { namespace, shards: 2 },
    worker: { maxSleepMs: 300 },
    consumer: { fromBeginning: true },
    failure: { policy: { backoff: { type: 'fixed' as const, delayMs: 50 }, maxAttempts: 2 } },
    dispatch: { syncMs: 200 },
  };
  const z = await consume({
    kafka: zretryKafka('first'),
    groupId: `g-${namespace}`,
    topics: [topic],
    redis,
    logger: silentLogger(),
    handler,
    config,
    worker: !standalone,
    consumerConfig: consumerSettings({ maxWaitTimeInMs: 50 }),
  });
  cleanups.push(async () => {
    await z.close();
    await dropNamespace(redis, namespace).catch(() => undefined);
    redis.disconnect();
  });
  const workerDead: string[] = [];
  if (standalone) {
    const w = await createWorker({ handler, redis: newRedis(), logger: silentLogger(), deadLetter: async (t) => void workerDead.push(t.id), config });
    cleanups.push(async () => {
      await w.close();
      await w.store.redis.quit();
    });
  }
  return { z, topic, workerDead };
}

async function produce(topic: string, keys: string[]): Promise<void> {
  const p = kafka().producer();
  await p.connect();
  await p.send({ topic, acks: -1, messages: keys.map((key) => ({ key, value: key })) });
  await p.disconnect();
}

it('a first try throttled with Retry-After: no attempt counted, its topic throttled, the record runs again after the wait', async () => {
  const seen: Array<{ key: string; attempt: number; at: number }> = [];
  const { z, topic } = await start((r, ctx) => {
    const key = r.message.key!.toString();
    seen.push({ key, attempt: ctx.attempt, at: Date.now() });
    if (key === 'k1' && seen.filter((s) => s.key === 'k1').length === 1) throw ThrottledError.fromRetryAfter('1');
  });
  await produce(topic, ['k1']);
  await waitFor(() => seen.filter((s) => s.key === 'k1').length === 2, 20_000, 'k1 run again after its throttle');
  const k1 = seen.filter((s) => s.key === 'k1');
  // the throttled try did not count: the next one is attempt 1 again (with maxAttempts 2 a counted one would leave one more)
  expect(k1.map((s) => s.attempt)).toEqual([1, 1]);
  // not before the wait the 429 asked for (a lower bound, not a speed)
  expect(k1[1]!.at - k1[0]!.at).toBeGreaterThanOrEqual(900);
  const log = (await z.store.control.view()).log;
  expect(log.some((t) => t.scope === `topic:${topic}` && t.to === 'throttled')).toBe(true);
}, 60_000);

it.each([
  ['its embedded worker', false],
  ['`worker: false`, its retries run by a standalone worker', true],
])('a first try failing while the breaker of its error class is open waits without an attempt, and runs when it closes; nothing dies (consume() with %s)', async (_, standalone) => {
  let down = true;
  const seen: Array<{ key: string; attempt: number }> = [];
  const { z, topic, workerDead } = await start((r, ctx) => {
    seen.push({ key: r.message.key!.toString(), attempt: ctx.attempt });
    if (down) throw new PaymentDown('payment service down');
  }, standalone);
  const dlt = await collect(`${topic}.dlt`);
  cleanups.push(dlt.stop);
  await z.store.control.force('error:PaymentDown', 'open', 60_000);
  await new Promise((r) => setTimeout(r, 600));
  await produce(topic, ['a', 'b', 'c']);
  await waitFor(async () => (await z.store.stats()).total.held === 3, 20_000, 'the three failed first tries held by the open breaker');
  // with maxAttempts 2, two counted failures would have dead-lettered them by now
  await new Promise((r) => setTimeout(r, 1_000));
  expect(seen.map((s) => `${s.key}#${s.attempt}`).sort()).toEqual(['a#1', 'b#1', 'c#1']);
  down = false;
  await z.store.control.force('error:PaymentDown', 'closed', 60_000);
  await waitFor(() => seen.length === 6, 20_000, 'the three records run again once the breaker closed');
  // the held try is attempt 1 again: the one during the outage did not count
  expect(seen.slice(3).map((s) => s.attempt)).toEqual([1, 1, 1]);
  expect((await z.store.stats()).total.dead).toBe(0);
  expect(dlt.messages).toEqual([]);
  expect(workerDead).toEqual([]);
}, 60_000);
