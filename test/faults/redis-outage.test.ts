/**
 * Redis goes away during consumption (killed, then restarted from its
 * append-only file with appendfsync always): the consumer pauses its
 * partition, commits nothing new, resumes when Redis is back, and no record
 * is lost. With ZRETRY_TEST_KAFKA_CLIENT=confluent (npm run test:confluent)
 * the consumer is Confluent's.
 */
import { afterEach, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { consume } from '../../src/consume.js';
import { clientUnderTest, consumerSettings, createTopic, kafka, silentLogger, uniqueNamespace, uniqueTopic, waitFor, zretryKafka } from '../helpers/env.js';
import { ownRedis, type OwnRedis } from '../helpers/redis-process.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

it(`[${clientUnderTest}] Redis killed for 3 s mid-stream: the consumer pauses and resumes, nothing is lost`, async () => {
  const redisProc: OwnRedis = await ownRedis({ appendfsync: 'always' });
  cleanups.push(redisProc.cleanup);
  const topic = uniqueTopic('outage');
  await createTopic(topic, 2);
  const succeeded = new Set<string>();
  const calls = new Map<string, number>();
  const redis = new Redis(redisProc.url, { maxRetriesPerRequest: 1 });
  const z = await consume({
    kafka: zretryKafka('outage'),
    groupId: `g-${topic}`,
    topics: [topic],
    redis,
    logger: silentLogger(),
    handler: async (r) => {
      const v = r.message.value!.toString();
      const n = (calls.get(v) ?? 0) + 1;
      calls.set(v, n);
      // every 5th record fails on its first try, so tasks exist when Redis dies
      if (Number(v.split(':')[1]) % 5 === 0 && n === 1) throw new Error('first try fails');
      succeeded.add(v);
    },
    config: {
      store: { namespace: uniqueNamespace(), shards: 2 },
      worker: { maxSleepMs: 200, leaseMs: 5_000 },
      failure: { policy: { backoff: { type: 'fixed', delayMs: 200 }, maxAttempts: 10 } },
      consumer: { fromBeginning: true, redisProbeMs: 100 },
    },
    consumerConfig: consumerSettings({ maxWaitTimeInMs: 50 }),
  });
  let consumePaused = 0;
  z.events.on('store-error', (e) => void (e.op === 'consume' && consumePaused++));
  cleanups.push(async () => {
    await z.close();
    redis.disconnect();
  });
  const producer = kafka().producer();
  await producer.connect();
  cleanups.push(() => producer.disconnect());
  const send = async (from: number, to: number) => {
    for (let i = from; i < to; i++) await producer.send({ topic, acks: -1, messages: [{ key: `k${i % 7}`, value: `r:${i}` }] });
  };

  await send(0, 40);
  await waitFor(() => succeeded.size >= 20, 20_000, 'the first records handled');
  await redisProc.kill('SIGKILL');
  const whileDown = send(40, 80);
  await new Promise((r) => setTimeout(r, 3_000));
  await redisProc.start();
  await whileDown;
  await send(80, 100);
  await waitFor(() => succeeded.size === 100, 45_000, 'all 100 records to succeed');
  const missing = Array.from({ length: 100 }, (_, i) => `r:${i}`).filter((v) => !succeeded.has(v));
  expect(missing).toEqual([]);
  expect(consumePaused, 'the consumer should have paused a partition while Redis was away').toBeGreaterThan(0);
  await waitFor(async () => (await z.store.stats()).total.inflight + (await z.store.stats()).total.dueNow === 0, 10_000, 'the store to drain');
  const dup = [...calls.entries()].filter(([v, n]) => n > (Number(v.split(':')[1]) % 5 === 0 ? 2 : 1));
  console.log(`redis outage (${clientUnderTest}): 100 records, ${dup.length} handled more than needed (redelivered after the outage)`);
}, 120_000);
