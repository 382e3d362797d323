/** Shared test helpers: service addresses, namespaces, waiting, a silent logger. */
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { Redis } from 'ioredis';
import kafkajs, { type Kafka as KafkaT } from 'kafkajs';
import type { Kafka as ZRetryKafka, KafkaClientName } from '../../src/kafka/client.js';
import pino, { type Logger } from 'pino';
import { inject } from 'vitest';
import './global-setup.js';

export function redisUrl(): string {
  const v = inject('redisUrl') ?? process.env.REDIS_URL;
  if (!v) throw new Error('REDIS_URL is not set and the global setup provided none');
  return v;
}

export function kafkaBrokers(): string {
  const v = inject('kafkaBrokers') ?? process.env.KAFKA_BROKERS;
  if (!v) throw new Error('KAFKA_BROKERS is not set and the global setup provided none');
  return v;
}

export function uniqueNamespace(prefix = 'test'): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

export function newRedis(): Redis {
  return new Redis(redisUrl());
}

/** A topic name no other test uses. */
export function uniqueTopic(prefix = 'topic'): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** A kafkajs client on the test broker, quiet: the tests' own producer, reader and admin. */
export function kafka(clientId = 'zretry-test'): KafkaT {
  return new kafkajs.Kafka({ clientId, brokers: kafkaBrokers().split(','), logLevel: kafkajs.logLevel.NOTHING });
}

/**
 * The client the tests give zretry: kafkajs, or Confluent's
 * (@confluentinc/kafka-javascript) with ZRETRY_TEST_KAFKA_CLIENT=confluent,
 * as `npm run test:confluent` sets it. The tests read and write their own
 * records with kafkajs (kafka()) either way.
 */
export const clientUnderTest: KafkaClientName = (() => {
  const v = process.env.ZRETRY_TEST_KAFKA_CLIENT ?? 'kafkajs';
  if (v !== 'kafkajs' && v !== 'confluent') throw new Error(`ZRETRY_TEST_KAFKA_CLIENT must be "kafkajs" or "confluent", not "${v}"`);
  return v;
})();

/** A client of the kind under test on the test broker, quiet. */
export function zretryKafka(clientId = 'zretry-test'): ZRetryKafka {
  if (clientUnderTest === 'kafkajs') return kafka(clientId);
  const { KafkaJS } = createRequire(import.meta.url)('@confluentinc/kafka-javascript') as { KafkaJS: { Kafka: new (c: object) => ZRetryKafka } };
  return new KafkaJS.Kafka({ kafkaJS: { clientId, brokers: kafkaBrokers().split(','), logLevel: 0 } });
}

/** kafkajs consumer settings in the shape of the client under test (Confluent's go under kafkaJS). */
export function consumerSettings(s: { maxWaitTimeInMs?: number }): object {
  return clientUnderTest === 'kafkajs' ? s : { kafkaJS: s };
}

/** Creates topics and waits for their leaders. */
export async function createTopic(topic: string | string[], partitions = 1): Promise<void> {
  const admin = kafka().admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [topic].flat().map((t) => ({ topic: t, numPartitions: partitions })), waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

/** A record read back by collect(). */
export interface Collected {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer | string | (Buffer | string)[] | undefined>;
}

/** Reads a topic from the beginning into an array until stop(). */
export async function collect(topic: string): Promise<{ messages: Collected[]; stop: () => Promise<void> }> {
  const consumer = kafka().consumer({ groupId: `collect-${randomUUID().slice(0, 8)}`, maxWaitTimeInMs: 50 });
  const messages: Collected[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ topic: t, partition, message }) => {
      messages.push({ topic: t, partition, offset: message.offset, key: message.key, value: message.value, headers: message.headers ?? {} });
    },
  });
  return { messages, stop: () => consumer.disconnect() };
}

/** Deletes every key of a test namespace. */
export async function dropNamespace(redis: Redis, namespace: string): Promise<void> {
  const keys = await redis.keys(`{${namespace}:*`);
  if (keys.length) await redis.del(...keys);
}
