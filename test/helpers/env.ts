/**
 * Shared test helpers: service addresses, namespaces, waiting, a silent
 * logger. A test file that calls useCluster() first gets the Redis Cluster
 * (scripts/services up cluster) from newRedis(), redisUrl() and
 * storeTarget() instead of the single Redis, so the same tests run on both.
 */
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { Cluster, Redis } from 'ioredis';
import type { RedisClient } from '../../src/store/client.js';
import { isCluster } from '../../src/store/client.js';
import kafkajs, { type Kafka as KafkaT } from 'kafkajs';
import type { Kafka as ZRetryKafka, KafkaClientName } from '../../src/kafka/client.js';
import pino, { type Logger } from 'pino';
import { inject } from 'vitest';
import './global-setup.js';

let onCluster = false;

/** From now on this test file runs on the Redis Cluster. */
export function useCluster(): void {
  onCluster = true;
}

/** True after useCluster(). */
export function testingCluster(): boolean {
  return onCluster;
}

/** The cluster's seed nodes, host:port. */
export function clusterNodes(): string[] {
  const v = inject('redisClusterNodes') || process.env.REDIS_CLUSTER_NODES;
  if (!v) throw new Error('REDIS_CLUSTER_NODES is not set: start the cluster with scripts/services up cluster');
  return v.split(',');
}

/** The Redis URL of the tests: the single Redis, or after useCluster() a seed node of the cluster (with store.cluster: true). */
export function redisUrl(): string {
  if (onCluster) return `redis://${clusterNodes()[0]}`;
  const v = inject('redisUrl') ?? process.env.REDIS_URL;
  if (!v) throw new Error('REDIS_URL is not set and the global setup provided none');
  return v;
}

/** The store settings that point at the tests' Redis: { redisUrl } or { redisUrl, cluster: true }. */
export function storeTarget(): { redisUrl: string; cluster?: boolean } {
  return onCluster ? { redisUrl: redisUrl(), cluster: true } : { redisUrl: redisUrl() };
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

/** A client of the tests' Redis: a Redis, or after useCluster() a Cluster (sharded pub/sub on). */
export function newRedis(): RedisClient {
  if (!onCluster) return new Redis(redisUrl());
  return new Cluster(clusterNodes().map((n) => ({ host: n.split(':')[0], port: Number(n.split(':')[1]) })), { shardedSubscribers: true });
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
  /** The record's Kafka timestamp (ms, as a string). */
  timestamp: string;
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
      messages.push({ topic: t, partition, offset: message.offset, timestamp: message.timestamp, key: message.key, value: message.value, headers: message.headers ?? {} });
    },
  });
  return { messages, stop: () => consumer.disconnect() };
}

/**
 * Deletes every key of a test namespace. On a cluster KEYS runs on each
 * master and each key is deleted alone (keys of different shards are in
 * different slots: one DEL of them all is CROSSSLOT).
 */
export async function dropNamespace(redis: RedisClient, namespace: string): Promise<void> {
  const nodes = isCluster(redis) ? redis.nodes('master') : [redis];
  const keys = (await Promise.all(nodes.map((n) => n.keys(`{${namespace}:*`)))).flat();
  await Promise.all(keys.map((k) => redis.del(k)));
}
