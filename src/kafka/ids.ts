/** The default ways to name a record: its aggregate and its dedup id. */
import type { DeliveredRecord } from './consumer.js';

/** The key as text when it is valid UTF-8, else base64 with a prefix, so distinct keys stay distinct. */
export function keyAggregateId({ message }: DeliveredRecord): string | null {
  const k = message.key;
  if (k === null || k === undefined) return null;
  const text = k.toString('utf8');
  return Buffer.from(text, 'utf8').equals(k) ? text : `b64:${k.toString('base64')}`;
}

/** topic/partition/offset: a record's place in Kafka, unique per record. */
export function offsetMessageId({ topic, partition, message }: DeliveredRecord): string {
  return `${topic}/${partition}/${message.offset}`;
}
