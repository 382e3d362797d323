/**
 * Reads a task's value as the Lua scripts store it (lua/includes/task.lua):
 * one hash field per task holding its state, fencing token, counters,
 * aggregate, doom, last error, and then its Kafka record bytes.
 */
import { PayloadError } from '../errors.js';

/** The fields of a stored task value; record: the record's bytes (record-codec.ts). */
export interface TaskValue {
  state: string;
  token: number;
  taken: number;
  attempt: number;
  firstFailureAt: number;
  seq: number;
  aggregateId: string;
  doom: string;
  error: string;
  record: Buffer;
}

const FIXED = 1 + 6 + 4 + 4 + 6 + 6;

/** Decodes a task value; a truncated value raises a PayloadError. */
export function decodeTaskValue(buf: Buffer): TaskValue {
  if (buf.length < FIXED) throw new PayloadError(`task value is truncated: ${buf.length} bytes`);
  const state = String.fromCharCode(buf[0]!);
  const token = buf.readUIntBE(1, 6);
  const taken = buf.readUInt32BE(7);
  const attempt = buf.readUInt32BE(11);
  const firstFailureAt = buf.readUIntBE(15, 6);
  const seq = buf.readUIntBE(21, 6);
  let at = FIXED;
  const aggLen = lengthAt(buf, at, 2);
  const aggregateId = buf.toString('utf8', at + 2, (at += 2 + aggLen));
  const doomLen = lengthAt(buf, at, 2);
  const doom = buf.toString('latin1', at + 2, (at += 2 + doomLen));
  const errLen = lengthAt(buf, at, 4);
  const error = buf.toString('utf8', at + 4, (at += 4 + errLen));
  return { state, token, taken, attempt, firstFailureAt, seq, aggregateId, doom, error, record: buf.subarray(at) };
}

/** A length field of n bytes at `at`, checked against what follows it. */
function lengthAt(buf: Buffer, at: number, n: 2 | 4): number {
  if (at + n > buf.length) throw new PayloadError(`task value is truncated at byte ${at} of ${buf.length}`);
  const len = n === 2 ? buf.readUInt16BE(at) : buf.readUInt32BE(at);
  if (at + n + len > buf.length) throw new PayloadError(`task value is truncated at byte ${at} of ${buf.length}`);
  return len;
}
