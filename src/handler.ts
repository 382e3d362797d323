/**
 * What a user's handler receives: the record in the shape of kafkajs's
 * eachMessage payload ({ topic, partition, message }), so an eachMessage
 * handler moves over as it is, and the retry context. The aggregateId and
 * messageId functions get the same record.
 */
import type { TaskRecord } from './store/record-codec.js';
import type { TaskError } from './store/task.js';

/** Headers as kafkajs gives them: repeated names become arrays. */
export type RecordHeaders = Record<string, Buffer | Buffer[] | undefined>;

/** The message of a record, as kafkajs's KafkaMessage has it. */
export interface RecordMessage {
  key: Buffer | null;
  /** null for a tombstone. */
  value: Buffer | null;
  headers: RecordHeaders;
  /** Offset as a decimal string. */
  offset: string;
  /** Timestamp in ms as a decimal string. */
  timestamp: string;
}

/** A record as the handler and the id functions see it. */
export interface HandlerRecord {
  topic: string;
  partition: number;
  message: RecordMessage;
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
export function storedRecord(r: TaskRecord): HandlerRecord {
  return {
    topic: r.topic,
    partition: r.partition,
    message: { key: r.key, value: r.value, headers: toHeaderObject(r.headers), offset: r.offset, timestamp: r.timestamp },
  };
}
