/** The default ways to name a record: its aggregate and its dedup id. */
import { isUtf8 } from 'node:buffer';
import type { HandlerRecord } from '../handler.js';

/** The key as text when it is valid UTF-8, else base64 with a prefix, so distinct keys stay distinct. */
export function keyAggregateId({ message }: HandlerRecord): string | null {
  const k = message.key;
  if (k === null || k === undefined) return null;
  return isUtf8(k) ? k.toString('utf8') : `b64:${k.toString('base64')}`;
}

/** topic/partition/offset: a record's place in Kafka, unique per record. */
export function offsetMessageId({ topic, partition, message }: HandlerRecord): string {
  return `${topic}/${partition}/${message.offset}`;
}
