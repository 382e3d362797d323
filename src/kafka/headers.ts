/**
 * The headers zretry adds to the records it republishes and dead-letters,
 * and how a republished record is recognized. Names are lower-case and
 * start with "zretry-"; they are stripped before the handler sees a record.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IHeaders } from './client.js';
import { toHeaderObject } from '../handler.js';
import type { RecordHeader, TaskRecord } from '../store/record-codec.js';
import type { ClaimedTask, TaskError } from '../store/task.js';

/** Header names. */
export const H = {
  task: 'zretry-task',
  shard: 'zretry-shard',
  token: 'zretry-token',
  attempt: 'zretry-attempt',
  aggregate: 'zretry-aggregate',
  origTopic: 'zretry-original-topic',
  origPartition: 'zretry-original-partition',
  origOffset: 'zretry-original-offset',
  origTimestamp: 'zretry-original-timestamp',
  firstFailure: 'zretry-first-failure',
  errorClass: 'zretry-error-class',
  errorMessage: 'zretry-error-message',
  errorStack: 'zretry-error-stack',
  deadReason: 'zretry-dead-reason',
  deadDetail: 'zretry-dead-detail',
  signature: 'zretry-signature',
  /** A republished copy's task, attempt and origin in one header (republishHeaders). */
  copy: 'zretry-copy',
} as const;

/**
 * The fields of a republished copy, as keys of its one zretry-copy header
 * (a JSON object of strings). One header, not twelve: kafkajs encodes
 * every header with its own buffers, and twelve per record cut its
 * producer to a third (bench/republish.ts).
 */
const COPY_FIELDS: ReadonlyArray<readonly [name: string, key: string]> = [
  [H.task, 't'],
  [H.shard, 's'],
  [H.token, 'k'],
  [H.attempt, 'a'],
  [H.aggregate, 'g'],
  [H.origTopic, 'ot'],
  [H.origPartition, 'op'],
  [H.origOffset, 'oo'],
  [H.origTimestamp, 'ots'],
  [H.firstFailure, 'ff'],
  [H.errorClass, 'ec'],
  [H.errorMessage, 'em'],
];

const PREFIX = 'zretry-';

/** kafkajs headers to the ordered list a task keeps (repeated names kept; strings become bytes). */
export function fromKafkaHeaders(headers: IHeaders | undefined): RecordHeader[] {
  const out: RecordHeader[] = [];
  for (const [name, v] of Object.entries(headers ?? {})) {
    const values = Array.isArray(v) ? v : [v];
    for (const one of values) out.push([name, one === undefined ? null : Buffer.isBuffer(one) ? one : Buffer.from(one)]);
  }
  return out;
}

/** The ordered list back to a kafkajs header object (a repeated name becomes an array). */
export function toKafkaHeaders(headers: readonly RecordHeader[]): IHeaders {
  return toHeaderObject(headers);
}

/** The record's own headers, without zretry's. */
export function userHeaders(headers: readonly RecordHeader[]): RecordHeader[] {
  return headers.filter(([n]) => !n.startsWith(PREFIX));
}

/**
 * The record's own headers, then the task id, then `extra`, then where the
 * record came from: the part republished records and dead letters share.
 */
export function taskHeaders(task: ClaimedTask, extra: RecordHeader[]): RecordHeader[] {
  const r = task.record;
  const h: RecordHeader[] = [
    ...userHeaders(r.headers),
    [H.task, Buffer.from(task.id)],
    ...extra,
    [H.origTopic, Buffer.from(r.topic)],
    [H.origPartition, Buffer.from(String(r.partition))],
    [H.origOffset, Buffer.from(r.offset)],
    [H.origTimestamp, Buffer.from(r.timestamp)],
  ];
  if (task.aggregateId !== null) h.push([H.aggregate, Buffer.from(task.aggregateId)]);
  if (task.firstFailureAt !== null) h.push([H.firstFailure, Buffer.from(String(task.firstFailureAt))]);
  return h;
}

/** The JSON of a republished task's zretry-copy header: its task, attempt, and where its record came from. */
function copyHeader(task: ClaimedTask): string {
  const r = task.record;
  const o: Record<string, string> = {
    t: task.id,
    s: String(task.shard),
    k: task.token,
    a: String(task.attempt + 1),
    ot: r.topic,
    op: String(r.partition),
    oo: r.offset,
    ots: r.timestamp,
  };
  if (task.aggregateId !== null) o.g = task.aggregateId;
  if (task.firstFailureAt !== null) o.ff = String(task.firstFailureAt);
  if (task.lastError) {
    o.ec = task.lastError.class;
    o.em = task.lastError.message;
  }
  return JSON.stringify(o);
}

/**
 * The headers of a republished task: the record's own (its traceparent
 * replaced by `traceparent` when the republish is traced), then
 * zretry-copy; signed when a secret is set.
 */
export function republishHeaders(task: ClaimedTask, secret?: string, traceparent?: string): RecordHeader[] {
  const h: RecordHeader[] = [...ownHeaders(task, traceparent), [H.copy, Buffer.from(copyHeader(task))]];
  if (secret) h.push([H.signature, signature(secret, task.record.key, task.record.value, h)]);
  return h;
}

/** republishHeaders as kafkajs takes them (zretry-copy as a string: kafkajs encodes it). */
export function republishKafkaHeaders(task: ClaimedTask, secret?: string, traceparent?: string): IHeaders {
  if (secret) return toKafkaHeaders(republishHeaders(task, secret, traceparent));
  const h = toHeaderObject(ownHeaders(task, traceparent)) as IHeaders;
  h[H.copy] = copyHeader(task);
  return h;
}

/** The record's own headers, with its traceparent replaced when one is given. */
function ownHeaders(task: ClaimedTask, traceparent: string | undefined): RecordHeader[] {
  return withTraceparent(userHeaders(task.record.headers), traceparent);
}

/** Headers with their W3C traceparent replaced by the given one (a span of zretry's), or as they are without one. */
export function withTraceparent(headers: RecordHeader[], traceparent: string | undefined): RecordHeader[] {
  return traceparent === undefined ? headers : [...headers.filter(([n]) => n !== 'traceparent'), ['traceparent', Buffer.from(traceparent)]];
}

/** A copy whose zretry-signature does not verify: not taken for a copy, and not handled. */
export class SignatureError extends Error {}

/**
 * HMAC-SHA256 over the whole copy: key, value and every header but the
 * signature, length-prefixed, headers in name order (Kafka clients group
 * repeated names, so only the order within a name is kept).
 */
function signature(secret: string, key: Buffer | null, value: Buffer | null, headers: readonly RecordHeader[]): Buffer {
  const mac = createHmac('sha256', secret);
  const part = (b: Buffer | null) => {
    const len = Buffer.alloc(5);
    len.writeUInt8(b === null ? 0 : 1, 0);
    len.writeUInt32BE(b?.length ?? 0, 1);
    mac.update(len);
    if (b) mac.update(b);
  };
  part(key);
  part(value);
  const sorted = headers.filter(([n]) => n !== H.signature).map((h, i) => [h, i] as const);
  sorted.sort(([[a], i], [[b], j]) => (a < b ? -1 : a > b ? 1 : i - j));
  for (const [[name, v]] of sorted) {
    part(Buffer.from(name));
    part(v);
  }
  return mac.digest();
}

/** Error class and message (and stack if asked) as headers. */
export function errorHeaders(e: TaskError, withStack: boolean): RecordHeader[] {
  const h: RecordHeader[] = [
    [H.errorClass, Buffer.from(e.class)],
    [H.errorMessage, Buffer.from(e.message)],
  ];
  if (withStack && e.stack) h.push([H.errorStack, Buffer.from(e.stack)]);
  return h;
}

/** The fields of a zretry-copy header by their header names; a value that is not a JSON object of strings is refused. */
function copyFields(json: string): (name: string) => string | undefined {
  let o: unknown;
  try {
    o = JSON.parse(json);
  } catch {
    throw new Error(`header ${H.copy} is not JSON (${Buffer.byteLength(json)} bytes)`);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new Error(`header ${H.copy} is not a JSON object`);
  const fields = o as Record<string, unknown>;
  const key = new Map(COPY_FIELDS);
  return (name) => {
    const v = fields[key.get(name) ?? ''];
    return typeof v === 'string' ? v : undefined;
  };
}

/** What a republished record's headers say about its task. */
export interface RepublishedInfo {
  taskId: string;
  shard: number;
  token: string;
  attempt: number;
  aggregateId: string | null;
  firstFailureAt: number | null;
  lastError: TaskError | null;
  /** The record as first delivered: original coordinates, user headers only. */
  original: TaskRecord;
}

/**
 * Reads zretry's headers off a delivered record. Returns null when the record
 * is not a republished one; throws a readable Error when the headers are
 * present but malformed (forged or garbled).
 */
export function parseRepublished(r: TaskRecord, shards: number, secret?: string): RepublishedInfo | null {
  const header = (name: string): string | undefined => {
    const v = r.headers.find(([n]) => n === name)?.[1];
    return v === undefined || v === null ? undefined : v.toString('utf8');
  };
  // zretry-copy, or the header per field of copies republished before it (still in flight after an upgrade)
  const copy = header(H.copy);
  let get = header;
  let where = '';
  if (copy !== undefined) {
    get = copyFields(copy);
    where = ` (in ${H.copy})`;
  } else if (header(H.task) === undefined || header(H.token) === undefined) {
    // a dead letter copied back to the topic carries the task id but no token: it is a fresh record
    return null;
  }
  if (secret) {
    const given = r.headers.find(([n]) => n === H.signature)?.[1];
    const want = signature(secret, r.key, r.value, r.headers);
    if (!given || given.length !== want.length || !timingSafeEqual(given, want)) throw new SignatureError(`header ${H.signature} is missing or does not match consumer.republishSecret`);
  }
  const int = (name: string, min: number, max: number): number => {
    const s = get(name);
    const n = Number(s);
    if (s === undefined || !/^-?\d+$/.test(s) || n < min || n > max) throw new Error(`header ${name}${where} is missing or not an integer in [${min}, ${max}] (${s === undefined ? 'missing' : `${Buffer.byteLength(s)} bytes`})`);
    return n;
  };
  const taskId = get(H.task);
  if (!taskId) throw new Error(`header ${H.task}${where} is missing`);
  const shard = int(H.shard, 0, shards - 1);
  const token = String(int(H.token, 1, Number.MAX_SAFE_INTEGER));
  const attempt = int(H.attempt, 1, 1_000_000);
  const partition = int(H.origPartition, 0, 1_000_000);
  const origTopic = get(H.origTopic);
  const origOffset = get(H.origOffset);
  if (!origTopic || !origOffset || !/^\d+$/.test(origOffset)) throw new Error(`headers ${H.origTopic}/${H.origOffset}${where} are missing or malformed`);
  const ff = get(H.firstFailure);
  const cls = get(H.errorClass);
  return {
    taskId,
    shard,
    token,
    attempt,
    aggregateId: get(H.aggregate) ?? null,
    firstFailureAt: ff === undefined ? null : Number(ff),
    lastError: cls === undefined ? null : { class: cls, message: get(H.errorMessage) ?? '' },
    original: {
      topic: origTopic,
      partition,
      offset: origOffset,
      timestamp: get(H.origTimestamp) ?? r.timestamp,
      key: r.key,
      value: r.value,
      headers: userHeaders(r.headers),
    },
  };
}
