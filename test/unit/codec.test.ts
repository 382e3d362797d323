import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeRecord, encodeRecord, type RecordHeader, type TaskRecord } from '../../src/store/record-codec.js';
import { decodeError, decodeFailure, encodeError } from '../../src/store/scripts.js';
import { parseRepublished, republishHeaders, republishKafkaHeaders, fromKafkaHeaders, SignatureError, toKafkaHeaders } from '../../src/kafka/headers.js';
import { PayloadError } from '../../src/errors.js';

const bytes = fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a));
const recordArb: fc.Arbitrary<TaskRecord> = fc.record({
  topic: fc.string({ minLength: 1, maxLength: 20 }),
  partition: fc.nat(1000),
  offset: fc.bigInt({ min: 0n, max: 2n ** 62n }).map(String),
  timestamp: fc.bigInt({ min: 0n, max: 2n ** 50n }).map(String),
  key: fc.option(bytes, { nil: null }),
  value: fc.option(bytes, { nil: null }),
  headers: fc.array(fc.tuple(fc.string({ maxLength: 10 }), fc.option(bytes, { nil: null })), { maxLength: 5 }),
});

describe('record codec', () => {
  it('round-trips any record byte for byte (binary, tombstones, repeated headers)', () => {
    fc.assert(
      fc.property(recordArb, (r) => {
        expect(decodeRecord(encodeRecord(r))).toEqual(r);
      }),
    );
  });

  it('refuses garbage with a PayloadError saying what is wrong', () => {
    expect(() => decodeRecord(Buffer.from('garbage'))).toThrow(PayloadError);
    expect(() => decodeRecord(encodeRecord({ topic: 't', partition: 0, offset: '1', timestamp: '1', key: null, value: Buffer.from('abc'), headers: [] }).subarray(0, 20))).toThrow(/truncated/);
  });

  it('errors round-trip, and unreadable error text still reads as an error', () => {
    expect(decodeError(encodeError({ class: 'E', message: 'm', stack: 's' }))).toEqual({ class: 'E', message: 'm', stack: 's' });
    expect(decodeError('')).toBeNull();
    expect(decodeError('not json')).toEqual({ class: 'Unknown', message: 'not json' });
  });

  it('a last failure keeps the delay chosen after it, with or without a stack; an error stored without one has none', () => {
    expect(decodeFailure(encodeError({ class: 'E', message: 'm' }, 270.4))).toEqual({ error: { class: 'E', message: 'm' }, delayMs: 270 });
    expect(decodeFailure(encodeError({ class: 'E', message: 'm', stack: 's' }, 0))).toEqual({ error: { class: 'E', message: 'm', stack: 's' }, delayMs: 0 });
    expect(decodeFailure(encodeError({ class: 'E', message: 'm', stack: 's' }))).toEqual({ error: { class: 'E', message: 'm', stack: 's' }, delayMs: null });
    expect(decodeFailure('')).toEqual({ error: null, delayMs: null });
  });
});

describe('republish headers', () => {
  const record: TaskRecord = { topic: 'orders', partition: 3, offset: '42', timestamp: '1700', key: Buffer.from([1]), value: null, headers: [['trace', Buffer.from('t')]] };
  const task = { id: 'orders/3/42', shard: 1, token: '17', attempt: 2, aggregateId: 'a1', firstFailureAt: 1000, lastError: { class: 'E', message: 'boom' }, dueAt: 2000, doomed: null, record };

  it('carry the task and the original coordinates, and strip back to the original record', () => {
    const delivered = { ...record, topic: 'orders', partition: 3, offset: '99', headers: fromKafkaHeaders(toKafkaHeaders(republishHeaders(task))) };
    const info = parseRepublished(delivered, 4)!;
    expect(info).toMatchObject({ taskId: 'orders/3/42', shard: 1, token: '17', attempt: 3, aggregateId: 'a1', firstFailureAt: 1000, lastError: { class: 'E', message: 'boom' } });
    expect(info.original).toEqual(record);
  });

  it('as kafkajs headers with string fields (no secret), they read back exactly as the signed list does', () => {
    // what the consumer gets from kafkajs: every value as bytes
    const asDelivered = (h: ReturnType<typeof republishKafkaHeaders>) =>
      fromKafkaHeaders(Object.fromEntries(Object.entries(h).map(([k, v]) => [k, Array.isArray(v) ? v.map((x) => Buffer.from(x)) : Buffer.from(v!)])));
    const fast = parseRepublished({ ...record, offset: '99', headers: asDelivered(republishKafkaHeaders(task)) }, 4)!;
    const list = parseRepublished({ ...record, offset: '99', headers: fromKafkaHeaders(toKafkaHeaders(republishHeaders(task))) }, 4)!;
    expect(fast).toEqual(list);
    expect(fast.original).toEqual(record);
  });

  it('travel in one header: kafkajs encodes every header with buffers of its own', () => {
    expect(republishHeaders(task).map(([n]) => n)).toEqual(['trace', 'zretry-copy']);
  });

  it('a record without them is fresh; forged or garbled ones are refused with the field named', () => {
    expect(parseRepublished(record, 4)).toBeNull();
    const withCopy = (edit: (o: Record<string, string>) => void) => {
      const [, v] = republishHeaders(task).find(([n]) => n === 'zretry-copy')!;
      const o = JSON.parse(v!.toString()) as Record<string, string>;
      edit(o);
      return { ...record, headers: [['trace', Buffer.from('t')] as const, ['zretry-copy', Buffer.from(JSON.stringify(o))] as const] };
    };
    expect(() => parseRepublished(withCopy((o) => (o.s = '9')), 4)).toThrow('header zretry-shard (in zretry-copy) is missing or not an integer in [0, 3] (1 bytes)');
    expect(() => parseRepublished(withCopy((o) => (o.k = 'x')), 4)).toThrow(/zretry-token \(in zretry-copy\)/);
    expect(() => parseRepublished(withCopy((o) => delete o.t), 4)).toThrow('header zretry-task (in zretry-copy) is missing');
    expect(() => parseRepublished({ ...record, headers: [['zretry-copy', Buffer.from('{not json')]] }, 4)).toThrow('header zretry-copy is not JSON (9 bytes)');
    expect(() => parseRepublished({ ...record, headers: [['zretry-copy', Buffer.from('[1,2]')]] }, 4)).toThrow('header zretry-copy is not a JSON object');
  });

  it('copies republished before zretry-copy (a header per field) still read, and are refused the same way', () => {
    const legacy: RecordHeader[] = [
      ['trace', Buffer.from('t')],
      ['zretry-task', Buffer.from('orders/3/42')],
      ['zretry-shard', Buffer.from('1')],
      ['zretry-token', Buffer.from('17')],
      ['zretry-attempt', Buffer.from('3')],
      ['zretry-original-topic', Buffer.from('orders')],
      ['zretry-original-partition', Buffer.from('3')],
      ['zretry-original-offset', Buffer.from('42')],
      ['zretry-original-timestamp', Buffer.from('1700')],
      ['zretry-aggregate', Buffer.from('a1')],
    ];
    const info = parseRepublished({ ...record, offset: '99', headers: legacy }, 4)!;
    expect(info).toMatchObject({ taskId: 'orders/3/42', shard: 1, token: '17', attempt: 3, aggregateId: 'a1', lastError: null });
    expect(info.original).toEqual(record);
    const forged = legacy.map(([n, v]) => (n === 'zretry-shard' ? ([n, Buffer.from('9')] as const) : ([n, v] as const)));
    expect(() => parseRepublished({ ...record, headers: forged }, 4)).toThrow('header zretry-shard is missing or not an integer in [0, 3] (1 bytes)');
    // a dead letter copied back to the topic carries the task id but no token: fresh
    expect(parseRepublished({ ...record, headers: legacy.filter(([n]) => n !== 'zretry-token') }, 4)).toBeNull();
  });

  it('with a secret, only copies signed with it are copies; a change to any deciding header breaks the signature', () => {
    const secret = 'sixteen-chars-or-more';
    const signed = { ...record, headers: republishHeaders(task, secret) };
    expect(parseRepublished(signed, 4, secret)!.taskId).toBe('orders/3/42');
    expect(() => parseRepublished({ ...record, headers: republishHeaders(task) }, 4, secret)).toThrow('header zretry-signature is missing or does not match consumer.republishSecret');
    expect(() => parseRepublished(signed, 4, 'another-secret-of-16')).toThrow(/does not match/);
    const bump = (v: Buffer | null) => Buffer.from(v!.toString().replace('"a":"3"', '"a":"9"'));
    const bumped = { ...record, headers: signed.headers.map(([n, v]) => (n === 'zretry-copy' ? ([n, bump(v)] as const) : ([n, v] as const))) };
    expect(bumped.headers.find(([n]) => n === 'zretry-copy')![1]!.toString()).toContain('"a":"9"');
    expect(() => parseRepublished(bumped, 4, secret)).toThrow(SignatureError);
    expect(() => parseRepublished({ ...signed, value: Buffer.from('another payload') }, 4, secret)).toThrow(SignatureError);
    expect(() => parseRepublished({ ...signed, headers: [...signed.headers, ['trace', Buffer.from('x')] as const] }, 4, secret)).toThrow(SignatureError);
    // Kafka clients group repeated header names: the signature does not depend on that grouping
    const regrouped = { ...signed, headers: [...signed.headers].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) };
    expect(parseRepublished(regrouped, 4, secret)!.taskId).toBe('orders/3/42');
  });
});
