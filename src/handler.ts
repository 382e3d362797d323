/**
 * What a user's handler receives: the record as Kafka delivered it, and the
 * retry context when it is a retry.
 */
import type { TaskRecord } from './store/record-codec.js';
import type { TaskError } from './store/task.js';

/** Headers as kafkajs gives them: repeated names become arrays. */
export type RecordHeaders = Record<string, Buffer | Buffer[] | undefined>;

/** A record as the handler sees it. */
export interface HandlerRecord {
  topic: string;
  partition: number;
  offset: string;
  timestamp: string;
  key: Buffer | null;
  /** null for a tombstone. */
  value: Buffer | null;
  headers: RecordHeaders;
}

/** Where a handler call stands in the record's retries. */
export interface RetryContext {
  /** This attempt, 1-based: 1 is the first try. */
  attempt: number;
  /** When the record first failed (Redis ms), null on a first try. */
  firstFailureAt: number | null;
  /** The error of the previous attempt, null on a first try. */
  lastError: TaskError | null;
  /** The task id when the record comes from the retry scheduler, else null. */
  taskId: string | null;
  /** Aborted when the worker gives up on the call (closing past its deadline). */
  signal: AbortSignal;
}

/** A user handler: resolves on success, throws to fail. */
export type Handler = (record: HandlerRecord, ctx: RetryContext) => Promise<void> | void;

/** Converts a stored record's ordered header list into kafkajs-style headers. */
export function toHeaderObject(headers: readonly TaskRecord['headers'][number][]): RecordHeaders {
  const out: RecordHeaders = {};
  for (const [name, value] of headers) {
    const v = value ?? Buffer.alloc(0);
    const prev = out[name];
    out[name] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

/** The handler's view of a stored record. */
export function toHandlerRecord(r: TaskRecord): HandlerRecord {
  return {
    topic: r.topic,
    partition: r.partition,
    offset: r.offset,
    timestamp: r.timestamp,
    key: r.key,
    value: r.value,
    headers: toHeaderObject(r.headers),
  };
}
