/**
 * Compile-time check, run by scripts/confluent test (the package is not
 * installed for the main type check): Confluent's KafkaJS objects against
 * zretry's structural client types. Its Kafka, consumer and producer fit
 * as they are; its admin and its consumer's events do not (no
 * describeConfigs, fetchTopicMetadata returns an array, on() throws), which
 * is what src/kafka/confluent.ts adapts.
 */
import type { KafkaJS } from '@confluentinc/kafka-javascript';
import type { EachBatchPayload, Kafka, KafkaConsumer, Producer } from '../../src/kafka/client.js';

declare const kafka: KafkaJS.Kafka;
declare const consumer: KafkaJS.Consumer;
declare const producer: KafkaJS.Producer;
declare const payload: KafkaJS.EachBatchPayload;

export const checked: [Kafka, KafkaConsumer, Producer, EachBatchPayload] = [kafka, consumer, producer, payload];

// consume() keeps the client's own types: Confluent's consumer settings, and its consumer back (assignment() is Confluent's own)
import { consume } from '../../src/consume.js';
export const started = (k: KafkaJS.Kafka) =>
  consume({ kafka: k, groupId: 'g', topics: ['t'], handler: () => undefined, consumerConfig: { kafkaJS: { maxWaitTimeInMs: 50 }, 'js.consumer.max.batch.size': 500 } }).then((z) => z.consumer.assignment());
