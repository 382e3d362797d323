/**
 * Compile-time check (tsc in npm test): kafkajs's objects are zretry's
 * structural client types as they are, since openConsumer, openProducer
 * and openAdmin hand them on unwrapped. A kafkajs release that changes a
 * method zretry calls fails the type check here.
 * test/confluent/client-types.ts does the same for Confluent's client.
 */
import type { Admin as KafkaJsAdmin, Consumer as KafkaJsConsumer, EachBatchPayload as KafkaJsPayload, Kafka as KafkaJs, Producer as KafkaJsProducer } from 'kafkajs';
import type { Admin, Consumer, EachBatchPayload, Kafka, Producer } from '../../src/kafka/client.js';

declare const kafka: KafkaJs;
declare const consumer: KafkaJsConsumer;
declare const producer: KafkaJsProducer;
declare const admin: KafkaJsAdmin;
declare const payload: KafkaJsPayload;

export const checked: [Kafka, Consumer, Producer, Admin, EachBatchPayload] = [kafka, consumer, producer, admin, payload];

// consume() keeps the client's own types: kafkajs's consumer settings, and its consumer back (describeGroup is kafkajs's own)
import { consume } from '../../src/consume.js';
export const started = (k: KafkaJs) =>
  consume({ kafka: k, groupId: 'g', topics: ['t'], handler: () => undefined, consumerConfig: { maxWaitTimeInMs: 50, sessionTimeout: 30_000 } }).then((z) => z.consumer.describeGroup());
