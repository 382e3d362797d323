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
  const parts: Buffer[] = [];
  let size = 0;
  const push = (b: Buffer): void => {
    parts.push(b);
    size += b.length;
  };
  const u32 = (n: number): void => {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(n);
    push(b);
  };
  const bytes = (b: Buffer | null): void => {
    if (b === null) return u32(NULL_LEN);
    u32(b.length);
    push(b);
  };
  const str = (s: string): void => bytes(Buffer.from(s, 'utf8'));

  push(Buffer.from([VERSION]));
  str(r.topic);
  u32(r.partition);
  str(r.offset);
  str(r.timestamp);
  bytes(r.key);
  bytes(r.value);
  u32(r.headers.length);
  for (const [name, value] of r.headers) {
    str(name);
    bytes(value);
  }
  return Buffer.concat(parts, size);
}

/** Decodes stored bytes; a corrupt or foreign blob raises a PayloadError. */
export function decodeRecord(buf: Buffer): TaskRecord {
  let at = 0;
  const need = (n: number): void => {
    if (at + n > buf.length) throw new PayloadError(`task record is truncated at byte ${at} of ${buf.length}`);
  };
  const u32 = (): number => {
    need(4);
    const n = buf.readUInt32BE(at);
    at += 4;
    return n;
  };
  const bytes = (): Buffer | null => {
    const len = u32();
    if (len === NULL_LEN) return null;
    need(len);
    const b = Buffer.from(buf.subarray(at, at + len));
    at += len;
    return b;
  };
  const str = (): string => {
    const b = bytes();
    if (b === null) throw new PayloadError(`task record has a null string at byte ${at}`);
    return b.toString('utf8');
  };

  need(1);
  if (buf[0] !== VERSION) throw new PayloadError(`task record has unknown format version ${buf[0]}`);
  at = 1;
  const topic = str();
  const partition = u32();
  const offset = str();
  const timestamp = str();
  const key = bytes();
  const value = bytes();
  const count = u32();
  const headers: RecordHeader[] = [];
  for (let i = 0; i < count; i++) headers.push([str(), bytes()]);
  if (at !== buf.length) throw new PayloadError(`task record has ${buf.length - at} trailing bytes`);
  return { topic, partition, offset, timestamp, key, value, headers };
}
