/**
 * No payload in the logs by default: records whose key, value and headers
 * carry a secret marker go through every path that logs (retries, a dead
 * letter, an aggregateId that throws, forged zretry headers, Redis refusing
 * writes mid-stream, start and close) with the logger at level trace and
 * kafkajs's own logs at debug routed into it. The marker must never appear
 * in a log line; the lines must still say which record they are about.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import kafkajs from 'kafkajs';
import pino from 'pino';
import { afterEach, expect, it } from 'vitest';
import { consume } from '../../src/consume.js';
import { collect, createTopic, kafkaBrokers, uniqueNamespace, uniqueTopic, waitFor } from '../helpers/env.js';
import { ownRedis } from '../helpers/redis-process.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

type Line = { level: number; msg: string; topic?: string; partition?: number; offset?: string; component?: string; [k: string]: unknown };

it('a marker in key, value and headers never reaches a log line at level trace; the lines name topic, partition and offset', async () => {
  const MARKER = `s3cr3t-${randomUUID()}`;
  const raw: string[] = [];
  const logger = pino({ level: 'trace' }, { write: (s: string) => void raw.push(s) });
  const lines = () => raw.map((s) => JSON.parse(s) as Line);
  // kafkajs's logs into the same logger, as the standalone worker does, one level more verbose
  const kafkaLog = logger.child({ component: 'kafkajs' });
  const level = { [kafkajs.logLevel.ERROR]: 'error', [kafkajs.logLevel.WARN]: 'warn', [kafkajs.logLevel.INFO]: 'info', [kafkajs.logLevel.DEBUG]: 'debug' } as const;
  const kafka = new kafkajs.Kafka({
    clientId: 'logs',
    brokers: kafkaBrokers().split(','),
    logLevel: kafkajs.logLevel.DEBUG,
    logCreator: () => (e) => {
      const { message, ...fields } = e.log;
      kafkaLog[level[e.level as keyof typeof level] ?? 'info']({ ns: e.namespace, ...fields }, message);
    },
  });

  // a Redis of its own: it is made to refuse writes for a while
  const redisProc = await ownRedis();
  cleanups.push(redisProc.cleanup);
  const admin = new Redis(redisProc.url);
  cleanups.push(async () => admin.disconnect());
  const topic = uniqueTopic('logs');
  await createTopic(topic, 1);

  const handled = new Map<string, number>();
  const z = await consume({
    kafka,
    groupId: `g-${topic}`,
    topics: [topic],
    logger,
    handler: async (r) => {
      const v = r.message.value!.toString();
      expect(v).toContain(MARKER); // the payload does reach the handler
      const n = (handled.get(v) ?? 0) + 1;
      handled.set(v, n);
      // errors whose messages name no payload: the last one carries a cause and extra fields
      if (v.startsWith('dies')) {
        if (n === 1) throw new Error('card processor timed out');
        if (n === 2) throw Object.assign(new Error('card declined', { cause: new Error('issuer said no') }), { code: 'E_DECLINED', retriable: true });
        throw new TypeError('cannot read property amount');
      }
      if (v.startsWith('flaky') && n === 1) throw new Error('flaky downstream');
    },
    aggregateId: (r) => {
      const key = r.message.key?.toString() ?? null;
      if (key?.startsWith('unreadable')) throw new TypeError('aggregate id is not valid UTF-8');
      return key;
    },
    config: {
      store: { redisUrl: redisProc.url, namespace: uniqueNamespace('logs'), shards: 2 },
      worker: { maxSleepMs: 200 },
      failure: { policy: { backoff: { type: 'fixed', delayMs: 100 }, maxAttempts: 3 } },
      consumer: { dispatch: 'process', fromBeginning: true, redisProbeMs: 100 },
    },
    consumerConfig: { maxWaitTimeInMs: 50 },
  });
  // a user who logs the store-error event's error object as it is, with pino's err serializer
  let storeErrors = 0;
  z.events.on('store-error', (e) => {
    storeErrors++;
    logger.warn({ err: e.error }, 'a user logs the store error');
  });
  cleanups.push(() => z.close());
  const dlt = await collect(`${topic}.dlt`);
  cleanups.push(() => dlt.stop());
  const producer = kafka.producer();
  await producer.connect();
  cleanups.push(() => producer.disconnect());

  const send = async (key: string, value: string, headers: Record<string, string> = {}) => {
    const [meta] = await producer.send({ topic, acks: -1, messages: [{ key: `${key}-${MARKER}`, value: `${value}:${MARKER}`, headers: { 'trace-id': MARKER, ...headers } }] });
    return meta!.baseOffset!;
  };
  await send('acct-1', 'dies');
  await send('acct-2', 'flaky');
  const unreadableAt = await send('unreadable', 'never-handled');
  // a record forged to look republished: its zretry headers do not parse
  const forgedAt = await send('acct-3', 'forged', { 'zretry-task': 'x', 'zretry-token': '7', 'zretry-shard': 'not-a-number' });

  await waitFor(() => dlt.messages.length === 2 && handled.get(`flaky:${MARKER}`) === 2 && handled.has(`forged:${MARKER}`), 15_000, 'the dead letters and the retried record');
  expect(handled.get(`dies:${MARKER}`)).toBe(3);
  expect(dlt.messages.map((m) => m.value?.toString()).sort()).toEqual([`dies:${MARKER}`, `never-handled:${MARKER}`]);

  // Redis refuses writes (used memory over maxmemory) when a record fails: storing it fails with an
  // ioredis error that carries the command's arguments, the record's bytes among them
  await admin.config('SET', 'maxmemory', '1');
  const refusedAt = await send('acct-4', 'flaky-during-oom');
  await waitFor(() => lines().some((l) => l.msg.includes('partition paused')), 10_000, 'the consumer to report the refused write');
  await admin.config('SET', 'maxmemory', '0');
  await waitFor(() => handled.get(`flaky-during-oom:${MARKER}`) === 2, 10_000, 'the record to be handled again once the partition resumes');
  await z.close();

  const text = raw.join('');
  expect(raw.length).toBeGreaterThan(10);
  expect(lines().filter((l) => l.component !== 'kafkajs').length).toBeGreaterThan(3);
  expect(storeErrors, 'the out-of-memory refusal should have reached the store-error event').toBeGreaterThan(0);
  const leaked = raw.filter((s) => s.includes(MARKER));
  expect(leaked, 'log lines with the payload marker').toEqual([]);
  expect(text).not.toContain(Buffer.from(MARKER).toString('base64').slice(0, 24));
  expect(text).not.toContain(Buffer.from(MARKER).toString('hex').slice(0, 32));
  // a Buffer logged as JSON: {"type":"Buffer","data":[115,51,...]}
  expect(text).not.toContain(Buffer.from(MARKER).subarray(0, 16).join(','));

  // what a person needs to find the record is there
  const at = (msg: string) => lines().filter((l) => l.msg.includes(msg)).map((l) => ({ topic: l.topic, partition: l.partition, offset: l.offset }));
  expect(at('aggregateId/messageId failed')).toEqual([{ topic, partition: 0, offset: unreadableAt }]);
  expect(at('malformed zretry headers')).toEqual([{ topic, partition: 0, offset: forgedAt }]);
  expect(at('partition paused')[0]).toEqual({ topic, partition: 0, offset: refusedAt });
  expect(lines().find((l) => l.msg.includes('aggregateId/messageId failed'))?.err).toMatchObject({ class: 'TypeError', message: 'aggregate id is not valid UTF-8' });
}, 60_000);
