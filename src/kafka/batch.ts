/**
 * One Kafka batch as the retrying consumer sees it: what each record is
 * (fresh, a worker's republished copy, done already, too large, or
 * unreadable by the id functions), its ids, what admit said of it, and
 * whether it is done, so offsets move only past records that are.
 * Per-record state lives in flat arrays: a batch holds thousands of
 * records and this is the hot path.
 */
import type { KafkaMessage } from './client.js';
import type { Logger } from 'pino';
import type { HandlerRecord, RecordHeaders } from '../handler.js';
import type { AdmitBatch, AdmitResult } from '../store/scripts.js';
import type { TaskRecord } from '../store/record-codec.js';
import type { NewTask } from '../store/task.js';
import { fromKafkaHeaders, H, parseRepublished, SignatureError, type RepublishedInfo } from './headers.js';
import { offsetMessageId } from './ids.js';

/** What a record of the batch is. */
export const enum Kind {
  /** A record read for the first time (or again, after a crash or a rebalance). */
  Fresh,
  /** A copy a worker republished: its task's attempt, judged by task id and attempt. */
  Copy,
  /** Done already: handled or stored before a pause re-read it, or a copy whose signature fails. */
  Skip,
  /** Larger than consumer.maxRecordBytes: straight to the dead-letter topic. */
  TooLarge,
  /** Its aggregateId or messageId function threw: to the dead-letter topic. */
  BadId,
}

/** How records are named and read (RetryingConsumerOptions). */
export interface ReadOptions {
  aggregateId: (r: HandlerRecord) => string | null;
  messageId: (r: HandlerRecord) => string;
  maxRecordBytes: number;
  republishSecret?: string;
  shards: number;
  shardOf: (aggregateId: string | null, id: string) => number;
  logger: Logger;
}

/** Longest message or aggregate id (bytes, UTF-8); a task stores both with 16-bit lengths. */
export const MAX_ID_BYTES = 16 * 1024;

/** A batch's records and what became of each; it is its own admit request (AdmitBatch's columns). */
export class Batch implements AdmitBatch {
  readonly n: number;
  readonly kind: Uint8Array;
  /** 1 once the record is handled or stored: offsets move over the prefix of these. */
  readonly done: Uint8Array;
  readonly records: HandlerRecord[];
  readonly ids: string[];
  readonly aggs: (string | null)[];
  /** Each record's offset (kafkajs's decimal string). */
  readonly offsets: string[];
  readonly shards: Int32Array;
  readonly copies = new Map<number, RepublishedInfo>();
  readonly badIds = new Map<number, unknown>();
  /** Its topic, partition and offsets, for admit to tell a re-read by. */
  readonly origin: { topic: string; partition: number; offsets: readonly string[] };
  /** What admit said, per record (undefined for records not offered to it). */
  verdicts: (AdmitResult | undefined)[] = [];
  /** Failed and parked records to store, in the order they must keep per aggregate. */
  readonly toStore: { index: number; task: NewTask }[] = [];

  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly messages: KafkaMessage[],
    doneAhead: ReadonlySet<string> | undefined,
    opts: ReadOptions,
  ) {
    const n = (this.n = messages.length);
    this.kind = new Uint8Array(n);
    this.done = new Uint8Array(n);
    this.shards = new Int32Array(n);
    this.records = new Array<HandlerRecord>(n);
    this.ids = new Array<string>(n);
    this.aggs = new Array<string | null>(n);
    this.offsets = messages.map((m) => m.offset);
    this.origin = { topic, partition, offsets: this.offsets };
    for (let i = 0; i < n; i++) this.read(i, doneAhead, opts);
  }

  /** Classifies record i and names it. */
  private read(i: number, doneAhead: ReadonlySet<string> | undefined, opts: ReadOptions): void {
    const m = this.messages[i]!;
    const record: HandlerRecord = { topic: this.topic, partition: this.partition, message: m as HandlerRecord['message'] };
    this.records[i] = record;
    if (doneAhead?.has(m.offset)) return this.skip(i, offsetMessageId(record));
    const headers = m.headers as RecordHeaders | undefined;
    if (headers && (headers[H.copy] !== undefined || (headers[H.task] !== undefined && headers[H.token] !== undefined))) {
      const info = this.readCopy(i, opts);
      if (info === 'skip') return this.skip(i, offsetMessageId(record));
      if (info) {
        this.kind[i] = Kind.Copy;
        this.copies.set(i, info);
        this.ids[i] = info.taskId;
        this.aggs[i] = info.aggregateId;
        this.shards[i] = info.shard;
        return;
      }
    }
    let id: string;
    let agg: string | null = null;
    let bad: unknown = null;
    try {
      id = checkedId(opts.messageId(record), 'messageId');
      const a = opts.aggregateId(record);
      // an empty key is no aggregate, as a null one (the store keeps '' for "none")
      agg = a === null || a === '' ? null : checkedId(a, 'aggregateId');
    } catch (e) {
      bad = e ?? new Error('the id function threw a nullish value');
      id = offsetMessageId(record);
      agg = null;
    }
    this.ids[i] = id;
    this.aggs[i] = agg;
    this.shards[i] = opts.shardOf(agg, id);
    // too large goes first: such a record is never stored, not even to be dead-lettered
    if (messageBytes(m) > opts.maxRecordBytes) this.kind[i] = Kind.TooLarge;
    else if (bad !== null) {
      this.kind[i] = Kind.BadId;
      this.badIds.set(i, bad);
    }
  }

  private skip(i: number, id: string): void {
    this.kind[i] = Kind.Skip;
    this.ids[i] = id;
    this.aggs[i] = null;
    this.done[i] = 1;
  }

  /** The copy's task, 'skip' for a copy whose signature fails, null when its headers are garbage (fresh then). */
  private readCopy(i: number, opts: ReadOptions): RepublishedInfo | 'skip' | null {
    const r = this.taskRecord(i);
    try {
      return parseRepublished(r, opts.shards, opts.republishSecret);
    } catch (e) {
      // a copy whose signature does not verify is neither a copy nor fresh: skipped (its task, if real, stays in Redis)
      if (e instanceof SignatureError) {
        opts.logger.error({ topic: this.topic, partition: this.partition, offset: r.offset, reason: e.message }, 'zretry copy with a bad signature skipped: forged, or a worker without the same consumer.republishSecret');
        return 'skip';
      }
      opts.logger.warn({ topic: this.topic, partition: this.partition, offset: r.offset, reason: (e as Error).message }, 'record has malformed zretry headers; handling it as a fresh record');
      return null;
    }
  }

  /** The copy record i is, for admit (undefined for a fresh record). */
  copyOf(i: number): RepublishedInfo | undefined {
    return this.kind[i] === Kind.Copy ? this.copies.get(i) : undefined;
  }

  /** Record i as a task keeps it. */
  taskRecord(i: number): TaskRecord {
    const m = this.messages[i]!;
    return { topic: this.topic, partition: this.partition, offset: m.offset, timestamp: m.timestamp, key: m.key ?? null, value: m.value ?? null, headers: fromKafkaHeaders(m.headers) };
  }

  /** Records stored or handled from the start of the batch: offsets may move past them. */
  donePrefix(): number {
    let k = 0;
    while (k < this.n && this.done[k] === 1) k++;
    return k;
  }

  /** Offsets of the done records from index `from` on (for the re-read after a pause). */
  doneFrom(from: number): Set<string> {
    const set = new Set<string>();
    for (let i = from; i < this.n; i++) if (this.done[i] === 1) set.add(this.messages[i]!.offset);
    return set;
  }
}

/** An id from the user's functions, checked: a string of 1 to MAX_ID_BYTES bytes. */
function checkedId(id: unknown, fn: 'messageId' | 'aggregateId'): string {
  if (typeof id !== 'string' || id.length === 0) throw new TypeError(`${fn} must return a non-empty string (got ${id === '' ? 'an empty string' : typeof id})`);
  // a UTF-16 unit is at most 3 UTF-8 bytes: short ids need no count
  if (id.length * 3 > MAX_ID_BYTES) {
    const bytes = Buffer.byteLength(id);
    if (bytes > MAX_ID_BYTES) throw new RangeError(`${fn} returned ${bytes} bytes; at most ${MAX_ID_BYTES} are allowed`);
  }
  return id;
}

/** Bytes a message takes in Redis, near enough: key, value, header names and values. */
function messageBytes(m: KafkaMessage): number {
  let n = (m.key?.length ?? 0) + (m.value?.length ?? 0);
  const h = m.headers;
  if (h) {
    for (const name in h) {
      const v = h[name];
      n += name.length;
      if (Array.isArray(v)) for (const one of v) n += one.length;
      else if (v !== undefined) n += v.length;
    }
  }
  return n;
}

/** Bytes a stored record takes in Redis, near enough: key, value, header names and values. */
export function recordBytes(r: TaskRecord): number {
  let n = (r.key?.length ?? 0) + (r.value?.length ?? 0);
  for (const [name, value] of r.headers) n += Buffer.byteLength(name) + (value?.length ?? 0);
  return n;
}
