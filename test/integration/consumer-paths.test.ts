/**
 * The paths around the consumer's main one (issue 13), against the real
 * Kafka and Redis: closing during a Redis outage, the blocking phase and
 * maxAttempts, and handlers that hang. The consumer's client is the one
 * under test (Confluent's in npm run test:confluent).
 */
import { afterEach, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import type { RedisClient } from '../../src/store/client.js';
import { consume, type ConsumeOptions, type ZRetryConsumer } from '../../src/consume.js';
import type { RetryContext } from '../../src/handler.js';
import { collect, consumerSettings, createTopic, kafka, newRedis, silentLogger, uniqueNamespace, uniqueTopic, waitFor, dropNamespace, zretryKafka } from '../helpers/env.js';
import { ownRedis } from '../helpers/redis-process.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function produce(topic: string, messages: Array<{ key: string; value: string }>): Promise<void> {
  const p = kafka().producer();
  await p.connect();
  await p.send({ topic, acks: -1, messages });
  await p.disconnect();
}

/** consume() on a fresh topic and namespace, process mode. */
async function start(handler: ConsumeOptions['handler'], config: ConsumeOptions['config'] = {}, redis: RedisClient = newRedis()): Promise<{ z: ZRetryConsumer; topic: string }> {
  const topic = uniqueTopic('paths');
  await createTopic(topic, 1);
  const namespace = uniqueNamespace();
  const z = await consume({
    kafka: zretryKafka('paths'),
    groupId: `g-${namespace}`,
    topics: [topic],
    redis,
    logger: silentLogger(),
    handler,
    config: {
      ...config,
      store: { namespace, shards: 1, ...config.store },
      worker: { maxSleepMs: 500, leaseMs: 5_000, ...config.worker },
      consumer: { fromBeginning: true, ...config.consumer },
    },
    consumerConfig: consumerSettings({ maxWaitTimeInMs: 50 }),
  });
  cleanups.push(async () => {
    await z.close();
    await dropNamespace(redis, namespace).catch(() => undefined);
    redis.disconnect();
  });
  return { z, topic };
}

it('close() while Redis is away and a probe is waiting on it: no unhandled rejection, nothing touches the closed consumer (item 1)', async () => {
  const rejections: unknown[] = [];
  const onRejection = (e: unknown) => void rejections.push(e);
  process.on('unhandledRejection', onRejection);
  cleanups.push(async () => void process.off('unhandledRejection', onRejection));
  const redisProc = await ownRedis();
  cleanups.push(redisProc.cleanup);
  const redis = new Redis(redisProc.url, { maxRetriesPerRequest: 1, commandTimeout: 1_000 });
  const { z, topic } = await start(() => undefined, { store: { commandTimeoutMs: 1_000 }, consumer: { redisProbeMs: 50 }, worker: { closeTimeoutMs: 200 } }, redis);
  let paused = 0;
  z.events.on('store-error', (e) => void (e.op === 'consume' && paused++));
  // Redis stops answering: admit times out, the partition pauses, its probe's PING hangs
  redisProc.signal('SIGSTOP');
  await produce(topic, [{ key: 'a', value: 'v1' }]);
  await waitFor(() => paused > 0, 15_000, 'the partition to pause');
  await new Promise((r) => setTimeout(r, 300));
  await z.close();
  // Redis answers again: a probe still waiting on its PING must not seek or resume the closed consumer
  redisProc.signal('SIGCONT');
  await new Promise((r) => setTimeout(r, 1_500));
  expect(rejections.map((e) => String((e as Error).message ?? e))).toEqual([]);
}, 60_000);

it('the blocking phase stops at maxAttempts: 5 quick tries allowed, 2 attempts in all, then the dead-letter topic (item 8)', async () => {
  const attempts: number[] = [];
  const { topic } = await start((_r, ctx) => {
    attempts.push(ctx.attempt);
    throw new Error('always');
  }, { failure: { policy: { backoff: { type: 'fixed', delayMs: 50 }, maxAttempts: 2 } }, consumer: { blocking: { attempts: 5, delayMs: 10 } } });
  const dlt = await collect(`${topic}.dlt`);
  cleanups.push(dlt.stop);
  await produce(topic, [{ key: 'a', value: 'v1' }]);
  await waitFor(() => dlt.messages.length === 1, 20_000, 'the dead letter');
  await new Promise((r) => setTimeout(r, 300));
  expect(attempts).toEqual([1, 2]);
  expect(dlt.messages[0]!.headers['zretry-attempt']?.toString()).toBe('2');
  expect(dlt.messages[0]!.headers['zretry-dead-reason']?.toString()).toBe('attempts-exhausted');
}, 60_000);

it('failure.maxStackChars holds for a first attempt in the consumer too: the stored error keeps that much of the stack, 0 keeps none', async () => {
  for (const maxStackChars of [25, 0]) {
    const seen: Array<RetryContext['lastError']> = [];
    const { topic } = await start((_r, ctx) => {
      if (ctx.attempt === 1) throw new Error('first attempt fails');
      seen.push(ctx.lastError);
    }, { failure: { maxStackChars, policy: { backoff: { type: 'fixed', delayMs: 50 }, maxAttempts: 3 } } });
    await produce(topic, [{ key: 'a', value: 'v1' }]);
    await waitFor(() => seen.length === 1, 20_000, `the retry (maxStackChars ${maxStackChars})`);
    expect(seen[0]).toMatchObject({ class: 'Error', message: 'first attempt fails' });
    if (maxStackChars === 0) expect(seen[0]!.stack).toBeUndefined();
    else expect(seen[0]!.stack).toBe('Error: first attempt fails'.slice(0, maxStackChars));
  }
}, 60_000);

it('topics as a RegExp: every existing topic it matches is consumed and retried, never zretry\'s own dead-letter topic', async () => {
  const prefix = uniqueTopic('re');
  const [orders, payments, ordersDlt, other] = [`${prefix}.orders`, `${prefix}.payments`, `${prefix}.orders.dlt`, `other-${prefix}`];
  await createTopic([orders, payments, ordersDlt, other], 1);
  const redis = newRedis();
  const namespace = uniqueNamespace();
  const seen: string[] = [];
  const z = await consume({
    kafka: zretryKafka('paths'),
    groupId: `g-${namespace}`,
    topics: [new RegExp(`^${prefix.replace(/[-]/g, '\\-')}\\.`)],
    redis,
    logger: silentLogger(),
    handler: (r, ctx) => {
      seen.push(`${r.topic}#${ctx.attempt}`);
      if (ctx.attempt === 1) throw new Error('first attempt fails');
    },
    config: { store: { namespace, shards: 1 }, worker: { maxSleepMs: 500 }, consumer: { fromBeginning: true }, failure: { policy: { backoff: { type: 'fixed', delayMs: 50 }, maxAttempts: 3 } } },
    consumerConfig: consumerSettings({ maxWaitTimeInMs: 50 }),
  });
  cleanups.push(async () => {
    await z.close();
    await dropNamespace(redis, namespace).catch(() => undefined);
    redis.disconnect();
  });
  for (const t of [orders, payments, ordersDlt, other]) await produce(t, [{ key: 'k', value: t }]);
  await waitFor(() => seen.length >= 4, 20_000, 'both topics\' records, tried twice each');
  await new Promise((r) => setTimeout(r, 500));
  expect([...seen].sort()).toEqual([`${orders}#1`, `${orders}#2`, `${payments}#1`, `${payments}#2`]);
}, 60_000);

it('a hung handler: each attempt that runs past attemptTimeoutMs fails with HandlerTimeoutError, its signal aborts, and the retry policy applies, in the consumer and in the worker (item 11)', async () => {
  const seen: Array<{ attempt: number; ctx: RetryContext }> = [];
  const { topic } = await start(
    (_r, ctx) => {
      seen.push({ attempt: ctx.attempt, ctx });
      // attempt 1 (the consumer's) and 2 (the worker's) never finish; attempt 3 does
      if (ctx.attempt < 3) return new Promise<void>(() => undefined);
    },
    { failure: { attemptTimeoutMs: 300, policy: { backoff: { type: 'fixed', delayMs: 50 }, maxAttempts: 5 } } },
  );
  const started = Date.now();
  await produce(topic, [{ key: 'a', value: 'v1' }]);
  await waitFor(() => seen.length === 3, 20_000, 'three attempts');
  expect(seen.map((s) => s.attempt)).toEqual([1, 2, 3]);
  for (const s of seen.slice(0, 2)) {
    expect(s.ctx.signal.aborted).toBe(true);
    expect((s.ctx.signal.reason as Error).name).toBe('HandlerTimeoutError');
  }
  expect(seen[2]!.ctx.signal.aborted).toBe(false);
  expect(seen[1]!.ctx.lastError).toMatchObject({ class: 'HandlerTimeoutError', message: expect.stringContaining('did not finish within 300 ms') });
  expect(Date.now() - started).toBeGreaterThanOrEqual(600);
}, 60_000);
