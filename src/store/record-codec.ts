/**
 * The Kafka record of a task, kept exactly: binary key and value, a null
 * value (tombstone), binary headers in order (repeated names allowed),
 * topic, partition, offset and timestamp. Encoded compactly, with lengths,
 * because Lua never reads it.
 */
import { PayloadError } from '../errors.js';

/** One header; `null` for a header sent without a value. */
export type RecordHeader = readonly [name: string, value: Buffer | null];

/** A Kafka record as zretry keeps it. */
export interface TaskRecord {
  topic: string;
  partition: number;
  /** Offset as kafkajs gives it (a decimal string). */
  offset: string;
  /** Timestamp in ms as kafkajs gives it (a decimal string). */
  timestamp: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
}

const VERSION = 1;
const NULL_LEN = 0xffffffff;

/** Encodes a record into the bytes stored in Redis. */
export function encodeRecord(r: TaskRecord): Buffer {
  const out = Buffer.allocUnsafe(recordSize(r));
  writeRecord(r, out, 0);
  return out;
}

/** The size of a record's encoding. */
export function recordSize(r: TaskRecord): number {
  let size = 1 + 4 + Buffer.byteLength(r.topic) + 4 + 4 + Buffer.byteLength(r.offset) + 4 + Buffer.byteLength(r.timestamp) + 4 + (r.key?.length ?? 0) + 4 + (r.value?.length ?? 0) + 4;
  for (const [name, value] of r.headers) size += 4 + Buffer.byteLength(name) + 4 + (value?.length ?? 0);
  return size;
}

/**
 * Writes a record's encoding into out at `at` (recordSize(r) bytes: no
 * closures or part lists per call, this runs for every task); returns the
 * offset after it.
 */
export function writeRecord(r: TaskRecord, out: Buffer, at: number): number {
  out[at] = VERSION;
  at = writeString(out, at + 1, r.topic, Buffer.byteLength(r.topic));
  at = out.writeUInt32BE(r.partition, at);
  at = writeString(out, at, r.offset, Buffer.byteLength(r.offset));
  at = writeString(out, at, r.timestamp, Buffer.byteLength(r.timestamp));
  at = writeBytes(out, at, r.key);
  at = writeBytes(out, at, r.value);
  at = out.writeUInt32BE(r.headers.length, at);
  for (const [name, value] of r.headers) {
    at = writeString(out, at, name, Buffer.byteLength(name));
    at = writeBytes(out, at, value);
  }
  return at;
}

function writeString(out: Buffer, at: number, s: string, len: number): number {
  out.writeUInt32BE(len, at);
  return at + 4 + out.write(s, at + 4, len, 'utf8');
}

function writeBytes(out: Buffer, at: number, b: Buffer | null): number {
  if (b === null) return out.writeUInt32BE(NULL_LEN, at);
  out.writeUInt32BE(b.length, at);
  return at + 4 + b.copy(out, at + 4);
}

/** A read position in a stored record. */
class Reader {
  at = 1;
  constructor(readonly buf: Buffer) {}

  need(n: number): void {
    if (this.at + n > this.buf.length) throw new PayloadError(`task record is truncated at byte ${this.at} of ${this.buf.length}`);
  }

  u32(): number {
    this.need(4);
    const n = this.buf.readUInt32BE(this.at);
    this.at += 4;
    return n;
  }

  /** A view into the stored bytes, not a copy (a claim's reply is made for its tasks; kafkajs hands out views too). */
  bytes(): Buffer | null {
    const len = this.u32();
    if (len === NULL_LEN) return null;
    this.need(len);
    const b = this.buf.subarray(this.at, this.at + len);
    this.at += len;
    return b;
  }

  str(): string {
    const len = this.u32();
    if (len === NULL_LEN) throw new PayloadError(`task record has a null string at byte ${this.at}`);
    this.need(len);
    const s = this.buf.toString('utf8', this.at, this.at + len);
    this.at += len;
    return s;
  }
}

/** Decodes stored bytes; a corrupt or foreign blob raises a PayloadError. */
export function decodeRecord(buf: Buffer): TaskRecord {
  if (buf.length < 1) throw new PayloadError(`task record is truncated at byte 0 of ${buf.length}`);
  if (buf[0] !== VERSION) throw new PayloadError(`task record has unknown format version ${buf[0]}`);
  const r = new Reader(buf);
  const topic = r.str();
  const partition = r.u32();
  const offset = r.str();
  const timestamp = r.str();
  const key = r.bytes();
  const value = r.bytes();
  const count = r.u32();
  const headers: RecordHeader[] = [];
  for (let i = 0; i < count; i++) headers.push([r.str(), r.bytes()]);
  if (r.at !== buf.length) throw new PayloadError(`task record has ${buf.length - r.at} trailing bytes`);
  return { topic, partition, offset, timestamp, key, value, headers };
}
