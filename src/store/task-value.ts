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

/** Decodes a task value; a truncated value raises a PayloadError. */
export function decodeTaskValue(buf: Buffer): TaskValue {
  let at = 0;
  const need = (n: number): void => {
    if (at + n > buf.length) throw new PayloadError(`task value is truncated at byte ${at} of ${buf.length}`);
  };
  const uint = (n: number): number => {
    need(n);
    const v = buf.readUIntBE(at, n);
    at += n;
    return v;
  };
  const str = (lenBytes: number): string => {
    const len = uint(lenBytes);
    need(len);
    const s = buf.toString('utf8', at, at + len);
    at += len;
    return s;
  };
  need(1);
  const state = String.fromCharCode(buf[0]!);
  at = 1;
  const token = uint(6);
  const taken = uint(4);
  const attempt = uint(4);
  const firstFailureAt = uint(6);
  const seq = uint(6);
  const aggregateId = str(2);
  const doom = str(2);
  const error = str(4);
  return { state, token, taken, attempt, firstFailureAt, seq, aggregateId, doom, error, record: buf.subarray(at) };
}
