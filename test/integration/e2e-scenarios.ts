/**
 * End-to-end scenarios against the real Kafka and Redis, run once per
 * dispatch mode (e2e-process.test.ts, e2e-republish.test.ts), with the
 * Kafka client under test (kafkajs; Confluent's with
 * ZRETRY_TEST_KAFKA_CLIENT=confluent, npm run test:confluent).
 */
import pino, { type Logger } from 'pino';
import { afterEach, expect, it } from 'vitest';
import { consume, type ConsumeOptions, type ZRetryConsumer } from '../../src/consume.js';
import { TypedEmitter, type ZRetryEmitter, type ZRetryEvents } from '../../src/events.js';
import type { ConsumeConfigInput } from '../../src/config/schema.js';
import type { HandlerRecord, RetryContext } from '../../src/handler.js';
import { clientUnderTest, collect, consumerSettings, createTopic, kafka, newRedis, silentLogger, testingCluster, uniqueNamespace, uniqueTopic, waitFor, dropNamespace, zretryKafka } from '../helpers/env.js';

type Mode = 'process' | 'republish';
type Seen = { at: number; record: HandlerRecord; ctx: RetryContext };

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const fast = { backoff: { type: 'exponential' as const, initialMs: 100, multiplier: 2, maxMs: 1_000 }, maxAttempts: 4 };

async function start(
  mode: Mode,
  handler: (r: HandlerRecord, ctx: RetryContext) => Promise<void> | void,
  opts: { topic?: string; partitions?: number; namespace?: string; groupId?: string; config?: ConsumeConfigInput; events?: ZRetryEmitter; onDead?: ConsumeOptions['onDead']; logger?: Logger } = {},
): Promise<{ z: ZRetryConsumer; topic: string; namespace: string; seen: Seen[] }> {
  const topic = opts.topic ?? uniqueTopic('e2e');
  const namespace = opts.namespace ?? uniqueNamespace();
  if (!opts.topic) await createTopic(topic, opts.partitions ?? 1);
  const seen: Seen[] = [];
  const redis = newRedis();
  const z = await consume({
    kafka: zretryKafka(`zretry-${mode}`),
    groupId: opts.groupId ?? `g-${namespace}`,
    topics: [topic],
    redis,
    logger: opts.logger ?? silentLogger(),
    handler: async (record, ctx) => {
      seen.push({ at: Date.now(), record, ctx });
      await handler(record, ctx);
    },
    config: {
      // on the cluster, enough shards to reach every master
      store: { namespace, shards: testingCluster() ? 16 : 2 },
      worker: { maxSleepMs: 1_000, leaseMs: 5_000 },
      failure: { policy: fast },
      ...opts.config,
      consumer: { dispatch: mode, fromBeginning: true, ...opts.config?.consumer },
    },
    consumerConfig: consumerSettings({ maxWaitTimeInMs: 50 }),
    events: opts.events,
    onDead: opts.onDead,
  });
  cleanups.push(async () => {
    await z.close();
    await dropNamespace(redis, namespace);
    await redis.quit();
  });
  return { z, topic, namespace, seen };
}

async function produce(topic: string, messages: Array<{ key: Buffer | string | null; value: Buffer | string | null; headers?: Record<string, Buffer | string> }>): Promise<void> {
  const p = kafka().producer();
  await p.connect();
  await p.send({ topic, acks: -1, messages });
  await p.disconnect();
}

const text = (r: HandlerRecord) => r.message.value?.toString() ?? '<tombstone>';

/** Registers the scenarios for one dispatch mode. */
export function scenarios(mode: Mode): void {
  it(`[${mode}] seed: 1000 ms x2, 4 attempts: retries at about +1 s, +2 s, +4 s, then the DLT with headers`, async () => {
    const { topic, seen, z } = await start(mode, () => {
      throw new Error('payment service down');
    }, { config: { failure: { policy: { backoff: { type: 'exponential', initialMs: 1_000, multiplier: 2, maxMs: 60_000 }, maxAttempts: 4 } }, consumer: { springHeaders: true } } });
    const dlt = await collect(`${topic}.dlt`);
    cleanups.push(dlt.stop);
    const dead: string[] = [];
    z.events.on('dead', (e) => dead.push(e.reason.kind));
    await produce(topic, [{ key: Buffer.from([0, 1, 255]), value: 'order-1', headers: { trace: Buffer.from([9, 8, 7]) } }]);
    await waitFor(() => dlt.messages.length === 1, 30_000, 'the dead letter');

    expect(seen.map((s) => s.ctx.attempt)).toEqual([1, 2, 3, 4]);
    const gaps = seen.slice(1).map((s, i) => s.at - seen[i]!.at);
    console.log(`[${clientUnderTest}, ${mode}] seed scenario: attempts at +${seen.map((s) => s.at - seen[0]!.at).join(' ms, +')} ms; gaps ${gaps.join(', ')} ms`);
    [1_000, 2_000, 4_000].forEach((d, i) => {
      expect(gaps[i]).toBeGreaterThanOrEqual(d - 5); // never early (5 ms for clock granularity between Redis and Node)
      expect(gaps[i]).toBeLessThan(d + 1_500);
    });
    // every retry saw the original record and the previous error
    for (const s of seen) {
      expect(s.record.message.key).toEqual(Buffer.from([0, 1, 255]));
      expect(s.record.topic).toBe(topic);
      expect(s.record.message.offset).toBe('0');
      expect(s.record.message.headers).toEqual({ trace: Buffer.from([9, 8, 7]) });
    }
    expect(seen[3]!.ctx.lastError).toMatchObject({ class: 'Error', message: 'payment service down' });

    const m = dlt.messages[0]!;
    expect(m.key).toEqual(Buffer.from([0, 1, 255]));
    expect(m.value?.toString()).toBe('order-1');
    const h = (n: string) => (m.headers[n] as Buffer | undefined)?.toString();
    expect(h('trace')).toBe(Buffer.from([9, 8, 7]).toString());
    expect(h('zretry-dead-reason')).toBe('attempts-exhausted');
    expect(h('zretry-dead-detail')).toBe('4 of 4 attempts failed');
    expect(h('zretry-attempt')).toBe('4');
    expect(h('zretry-error-message')).toBe('payment service down');
    expect(h('zretry-original-topic')).toBe(topic);
    expect(h('zretry-original-offset')).toBe('0');
    expect(h('kafka_dlt-original-topic')).toBe(topic);
    expect((m.headers['kafka_dlt-original-offset'] as Buffer).readBigInt64BE()).toBe(0n);
    expect(h('kafka_dlt-exception-fqcn')).toBe('Error');
    // the dead event follows the kill, which is written just after the dead letter
    await waitFor(() => dead.length === 1, 5_000, 'the dead event');
    expect(dead).toEqual(['attempts-exhausted']);
    await waitFor(async () => (await z.store.stats()).total.dead === 1, 5_000, 'the dead task kept in Redis');
    if (mode === 'republish') {
      // the retries really went through Kafka: the original and three republished copies
      const all = await collect(topic);
      cleanups.push(all.stop);
      await waitFor(() => all.messages.length === 4, 10_000, 'four records in the source topic');
      // each copy carries its task and attempt in one zretry-copy header
      const copies = all.messages.slice(1).map((r) => JSON.parse(String(r.headers['zretry-copy'])) as Record<string, string>);
      expect(copies.map((c) => [c.t, c.a, c.oo])).toEqual([`${topic}/0/0`, `${topic}/0/0`, `${topic}/0/0`].map((t, i) => [t, String(i + 2), '0']));
    }
  }, 60_000);

  it(`[${mode}] batch: one failing record neither holds back nor re-delivers the others`, async () => {
    const { topic, seen } = await start(mode, (r) => {
      if (text(r) === 'bad') throw new Error('bad record');
    }, { config: { failure: { policy: { ...fast, maxAttempts: 3 } } } });
    const dlt = await collect(`${topic}.dlt`);
    cleanups.push(dlt.stop);
    await produce(topic, ['a', 'b', 'bad', 'c', 'd', 'e'].map((v, i) => ({ key: `k${i}`, value: v })));
    await waitFor(() => dlt.messages.length === 1, 30_000, 'the bad record in the DLT');
    const byValue = (v: string) => seen.filter((s) => text(s.record) === v);
    for (const v of ['a', 'b', 'c', 'd', 'e']) expect(byValue(v), `record ${v}`).toHaveLength(1);
    expect(byValue('bad').map((s) => s.ctx.attempt)).toEqual([1, 2, 3]);
    // the good records after 'bad' ran before its first retry
    const firstRetry = byValue('bad')[1]!.at;
    expect(Math.max(...['c', 'd', 'e'].map((v) => byValue(v)[0]!.at))).toBeLessThan(firstRetry);
  });

  it(`[${mode}] order: each aggregate succeeds in offset order; other aggregates keep flowing`, async () => {
    const failuresLeft = new Map<string, number>();
    const succeeded = new Map<string, number[]>();
    const { topic } = await start(mode, (r) => {
      const [agg, n] = text(r).split(':') as [string, string];
      const id = text(r);
      if (!failuresLeft.has(id)) failuresLeft.set(id, agg !== 'e' && Number(n) % 4 === 1 ? Number(n) % 3 + 1 : 0);
      const left = failuresLeft.get(id)!;
      if (left > 0) {
        failuresLeft.set(id, left - 1);
        throw new Error(`transient ${id}`);
      }
      succeeded.set(agg, [...(succeeded.get(agg) ?? []), Number(n)]);
    }, { partitions: 2, config: { failure: { policy: { ...fast, maxAttempts: 5 } } } });
    const messages = [];
    for (let n = 0; n < 12; n++) for (const agg of ['a', 'b', 'c', 'd', 'e']) messages.push({ key: agg, value: `${agg}:${n}` });
    await produce(topic, messages);
    await waitFor(() => [...succeeded.values()].reduce((s, v) => s + v.length, 0) === 60, 45_000, 'all 60 records to succeed');
    for (const agg of ['a', 'b', 'c', 'd', 'e']) expect(succeeded.get(agg), `aggregate ${agg}`).toEqual([...Array(12).keys()]);
  });

  it(`[${mode}] dedup: a record re-read before its offset was committed is scheduled once`, async () => {
    // The state a consumer leaves when it dies after scheduling and before committing:
    // the failed record is a task in Redis, its offset is not committed.
    const topic = uniqueTopic('dedup');
    const namespace = uniqueNamespace();
    await createTopic(topic);
    await produce(topic, [{ key: 'k', value: 'once' }]);
    const first = await start(mode, () => {
      throw new Error('first consumer fails');
    }, { topic, namespace, groupId: `crashed-${namespace}`, config: { failure: { policy: { ...fast, backoff: { type: 'fixed', delayMs: 60_000 } } } } });
    await waitFor(async () => (await first.z.store.stats()).total.dueLater === 1, 20_000, 'the first failure scheduled');
    await first.z.close(); // note: a fresh group below has no committed offset, like a crash before commit
    const scheduled: string[] = [];
    const events: ZRetryEmitter = new TypedEmitter<ZRetryEvents>();
    events.on('scheduled', (e) => scheduled.push(e.outcome));
    const again = await start(mode, () => undefined, { topic, namespace, groupId: `restarted-${namespace}`, events });
    await waitFor(async () => (await again.z.store.stats()).total.dueLater === 1, 5_000, 'the task still scheduled');
    await waitFor(() => scheduled.length > 0, 10_000, 'the re-read record to be admitted');
    await new Promise((r) => setTimeout(r, 500)); // give the re-read every chance to run
    expect(again.seen, 'the re-read record must not run: its task is already scheduled').toHaveLength(0);
    expect(scheduled).toEqual(['duplicate']);
    expect((await again.z.store.stats()).total).toMatchObject({ dueLater: 1, dueNow: 0, inflight: 0 });
  });

  it(`[${mode}] a tombstone with a binary key and binary headers survives retries unchanged`, async () => {
    let failures = 0;
    const { topic, seen } = await start(mode, () => {
      if (failures++ < 2) throw new Error('not yet');
    });
    await produce(topic, [{ key: Buffer.from([0xff, 0x00, 0x80]), value: null, headers: { bin: Buffer.from([0, 0xff]), txt: 'ü' } }]);
    await waitFor(() => seen.length === 3, 20_000, 'three deliveries');
    for (const s of seen) {
      expect(s.record.message.key).toEqual(Buffer.from([0xff, 0x00, 0x80]));
      expect(s.record.message.value).toBeNull();
      expect(s.record.message.headers).toEqual({ bin: Buffer.from([0, 0xff]), txt: Buffer.from('ü') });
    }
  });

  it(`[${mode}] a payload the handler cannot parse goes to the DLT at once with the reason`, async () => {
    const { topic, seen } = await start(mode, (r) => {
      JSON.parse(text(r));
    });
    const dlt = await collect(`${topic}.dlt`);
    cleanups.push(dlt.stop);
    await produce(topic, [{ key: 'x', value: '{"broken' }, { key: 'y', value: '{"fine":true}' }]);
    await waitFor(() => dlt.messages.length === 1, 20_000, 'the dead letter');
    expect(seen.filter((s) => text(s.record) === '{"broken')).toHaveLength(1);
    expect(dlt.messages[0]!.headers['zretry-dead-reason']?.toString()).toBe('fatal');
    expect(dlt.messages[0]!.headers['zretry-error-class']?.toString()).toBe('SyntaxError');
    expect(dlt.messages[0]!.headers['zretry-attempt']?.toString()).toBe('1');
  });
}

/** Scenarios that do not depend on the dispatch mode. */
export function commonScenarios(): void {
  it('the blocking phase absorbs a failure that clears in milliseconds: nothing reaches Redis', async () => {
    let calls = 0;
    const { topic, seen, z } = await start('process', () => {
      if (calls++ < 2) throw new Error('blip');
    }, { config: { consumer: { blocking: { attempts: 2, delayMs: 20 } } } });
    const scheduled: string[] = [];
    z.events.on('scheduled', (e) => scheduled.push(e.outcome));
    await produce(topic, [{ key: 'k', value: 'v' }]);
    await waitFor(() => calls === 3, 10_000, 'three calls');
    await new Promise((r) => setTimeout(r, 300));
    expect(seen.map((s) => s.ctx.attempt)).toEqual([1, 2, 3]);
    expect(scheduled).toEqual([]);
    expect((await z.store.stats()).total).toMatchObject({ dueNow: 0, dueLater: 0, inflight: 0 });
  });

  it('a missing dead-letter topic with auto-creation off is a clear error naming it', async () => {
    const topic = uniqueTopic('nodlt');
    await createTopic(topic);
    await expect(start('process', () => undefined, { topic, config: { consumer: { autoCreateTopics: false } } })).rejects.toThrow(
      `topic "${topic}.dlt" does not exist: create it, or set autoCreateTopics: true`,
    );
  });

  it('a stale copy of a republished record (its task already done) is skipped', async () => {
    let fail = true;
    const { topic, seen, z } = await start('republish', () => {
      if (fail) {
        fail = false;
        throw new Error('once');
      }
    });
    await produce(topic, [{ key: 'k', value: 'v' }]);
    await waitFor(() => seen.length === 2, 15_000, 'the retry to succeed');
    await waitFor(async () => (await z.store.stats()).total.inflight === 0, 5_000, 'the ack');
    const all = await collect(topic);
    cleanups.push(all.stop);
    await waitFor(() => all.messages.length === 2, 10_000, 'the republished copy');
    const copy = all.messages[1]!;
    await produce(topic, [{ key: copy.key, value: copy.value, headers: copy.headers as Record<string, Buffer> }]);
    await waitFor(() => all.messages.length === 3, 10_000, 'the stale copy in the topic');
    await new Promise((r) => setTimeout(r, 1_000));
    expect(seen).toHaveLength(2);
  });

  it('a record over consumer.maxRecordBytes goes to the DLT unhandled and unstored; its aggregate flows on', async () => {
    const warnings: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
    const { topic, seen, z } = await start('process', () => undefined, { config: { consumer: { maxRecordBytes: 2_048 } }, logger });
    const dlt = await collect(`${topic}.dlt`);
    cleanups.push(dlt.stop);
    await produce(topic, [
      { key: 'a', value: 'small-1' },
      { key: 'a', value: Buffer.alloc(5_000, 120) },
      { key: 'a', value: 'small-2' },
    ]);
    await waitFor(() => dlt.messages.length === 1 && seen.length === 2, 15_000, 'the dead letter and two handled records');
    expect(seen.map((s) => text(s.record))).toEqual(['small-1', 'small-2']);
    const h = dlt.messages[0]!.headers;
    expect(h['zretry-dead-reason']?.toString()).toBe('too-large');
    expect(h['zretry-dead-detail']?.toString()).toBe('record of 5001 bytes is larger than consumer.maxRecordBytes (2048); not handled, not stored');
    expect(dlt.messages[0]!.value).toEqual(Buffer.alloc(5_000, 120));
    expect((await z.store.stats()).total).toMatchObject({ dueNow: 0, dueLater: 0, inflight: 0, queued: 0, dead: 0 });
    // the DLT zretry created takes records as large as its source topic does, plus room for the headers
    const admin = kafka().admin();
    await admin.connect();
    const sizes = await admin.describeConfigs({ resources: [topic, `${topic}.dlt`].map((name) => ({ type: 2, name, configNames: ['max.message.bytes'] })), includeSynonyms: false });
    await admin.disconnect();
    const [src, dltMax] = sizes.resources.map((r) => Number(r.configEntries[0]!.configValue));
    if (clientUnderTest === 'kafkajs') {
      expect(dltMax).toBe(src! + 65_536);
      expect(warnings.filter((w) => w.includes('max.message.bytes'))).toEqual([]);
    } else {
      // Confluent's admin client cannot read topic configurations: the DLT keeps the broker's default, and a warning says so
      expect(dltMax).toBe(src);
      expect(warnings.filter((w) => w.includes("gets the broker's default max.message.bytes"))).toHaveLength(1);
    }
  });

  it('garbage zretry headers, or a dead letter copied back to the topic, are handled as fresh records', async () => {
    const { topic, seen } = await start('process', () => undefined);
    await produce(topic, [
      { key: 'k', value: 'garbled', headers: { 'zretry-task': 'x', 'zretry-token': 'not-a-number', 'zretry-shard': '999' } },
      { key: 'k', value: 'from-the-dlt', headers: { 'zretry-task': 't/0/1', 'zretry-attempt': '4', 'zretry-dead-reason': 'attempts-exhausted' } },
      { key: 'k', value: 'garbled-copy', headers: { 'zretry-copy': '{"t":"x","s":"999"' } },
    ]);
    await waitFor(() => seen.length === 3, 10_000, 'all three records handled');
    expect(seen.map((s) => [text(s.record), s.ctx.attempt, s.ctx.taskId])).toEqual([
      ['garbled', 1, null],
      ['from-the-dlt', 1, null],
      ['garbled-copy', 1, null],
    ]);
  });

  it('with republishSecret, signed copies are retried as usual and a forged copy is skipped', async () => {
    let failures = 0;
    const secret = 'a-secret-of-24-characters';
    const { topic, seen } = await start(
      'republish',
      (r) => {
        if (text(r) === 'real' && failures++ === 0) throw new Error('once');
      },
      { config: { consumer: { republishSecret: secret } } },
    );
    await produce(topic, [{ key: 'k1', value: 'real' }]);
    await waitFor(() => seen.filter((s) => text(s.record) === 'real').length === 2, 15_000, 'the signed copy to be handled');
    // well-formed headers naming a task that does not exist, without a valid signature
    await produce(topic, [
      {
        key: 'k2',
        value: 'forged',
        headers: { 'zretry-task': 'someone/0/7', 'zretry-shard': '0', 'zretry-token': '42', 'zretry-attempt': '2', 'zretry-original-topic': topic, 'zretry-original-partition': '0', 'zretry-original-offset': '7', 'zretry-signature': 'AAAA' },
      },
    ]);
    await produce(topic, [{ key: 'k2', value: 'after' }]);
    await waitFor(() => seen.some((s) => text(s.record) === 'after'), 10_000, 'the record after the forged one');
    const real = seen.filter((s) => text(s.record) === 'real');
    expect(real.map((s) => s.ctx.attempt)).toEqual([1, 2]);
    expect(real[1]!.ctx.taskId).not.toBeNull();
    expect(seen.map((s) => text(s.record))).not.toContain('forged');
  });

  it('a message id or aggregate id over 16 KiB sends its record to the DLT with the reason; other records flow', async () => {
    const { topic, seen } = await start('process', () => undefined);
    const dlt = await collect(`${topic}.dlt`);
    cleanups.push(dlt.stop);
    await produce(topic, [
      { key: 'k'.repeat(20_000), value: 'huge-key' },
      { key: 'small', value: 'ok' },
    ]);
    await waitFor(() => dlt.messages.length === 1 && seen.length === 1, 15_000, 'the dead letter and the other record');
    expect(text(seen[0]!.record)).toBe('ok');
    expect(dlt.messages[0]!.value?.toString()).toBe('huge-key');
    expect(dlt.messages[0]!.headers['zretry-dead-reason']?.toString()).toBe('fatal');
    expect(dlt.messages[0]!.headers['zretry-error-message']?.toString()).toBe('aggregateId returned 20000 bytes; at most 16384 are allowed');
  });

  it('an onDead hook that throws is logged; the dead letter is written once', async () => {
    let hooks = 0;
    const { topic } = await start(
      'process',
      () => {
        throw new SyntaxError('cannot parse');
      },
      {
        config: { failure: { deadLetterRetryMs: 100 } },
        onDead: () => {
          hooks++;
          throw new Error('hook broke');
        },
      },
    );
    const dlt = await collect(`${topic}.dlt`);
    cleanups.push(dlt.stop);
    await produce(topic, [{ key: 'k', value: 'poison' }]);
    await waitFor(() => dlt.messages.length === 1, 15_000, 'the dead letter');
    await new Promise((r) => setTimeout(r, 1_000));
    expect(dlt.messages).toHaveLength(1);
    expect(hooks).toBe(1);
  });
}
