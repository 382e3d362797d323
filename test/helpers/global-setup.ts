/**
 * Finds the real Redis and Kafka for the tests:
 *   1. REDIS_URL and KAFKA_BROKERS when both are set;
 *   2. ZRETRY_TESTCONTAINERS=1 and a Docker engine: containers for both;
 *   3. otherwise the project's own local services (scripts/services up),
 *      left running for the next run.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    kafkaBrokers: string;
    /** Seed nodes of the Redis Cluster (host:port,...), '' when there is none. */
    redisClusterNodes: string;
  }
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

async function withTestcontainers(): Promise<{ redisUrl: string; kafkaBrokers: string; stop: () => Promise<void> }> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const redis = await new GenericContainer('redis:7')
    .withCommand(['redis-server', '--appendonly', 'yes', '--maxmemory-policy', 'noeviction'])
    .withExposedPorts(6379)
    .start();
  const hostPort = 29092;
  const kafka = await new GenericContainer('apache/kafka:4.1.1')
    .withExposedPorts({ container: 9092, host: hostPort })
    .withEnvironment({
      KAFKA_NODE_ID: '1',
      KAFKA_PROCESS_ROLES: 'broker,controller',
      KAFKA_LISTENERS: 'PLAINTEXT://:9092,CONTROLLER://:9093',
      KAFKA_ADVERTISED_LISTENERS: `PLAINTEXT://localhost:${hostPort}`,
      KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
      KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
      KAFKA_CONTROLLER_QUORUM_VOTERS: '1@localhost:9093',
      KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
      KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
      KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
      KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
    })
    .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
    .start();
  return {
    redisUrl: `redis://${redis.getHost()}:${redis.getMappedPort(6379)}`,
    kafkaBrokers: `localhost:${hostPort}`,
    stop: async () => {
      await kafka.stop();
      await redis.stop();
    },
  };
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | void> {
  let redisUrl = process.env.REDIS_URL;
  let kafkaBrokers = process.env.KAFKA_BROKERS;
  let redisClusterNodes = process.env.REDIS_CLUSTER_NODES ?? '';
  let teardown: (() => Promise<void>) | undefined;
  if (!redisUrl || !kafkaBrokers) {
    if (process.env.ZRETRY_TESTCONTAINERS === '1') {
      const c = await withTestcontainers();
      ({ redisUrl, kafkaBrokers } = c);
      teardown = c.stop;
    } else {
      execFileSync('bash', [join(root, 'scripts', 'services'), 'up'], { stdio: 'inherit' });
      const env = JSON.parse(readFileSync(join(process.env.ZRETRY_SERVICES_DIR ?? join(root, '.services'), 'env.json'), 'utf8')) as {
        redisUrl: string;
        kafkaBrokers: string;
        redisClusterNodes?: string;
      };
      ({ redisUrl, kafkaBrokers } = env);
      redisClusterNodes = env.redisClusterNodes ?? '';
    }
  }
  process.env.REDIS_URL = redisUrl;
  process.env.KAFKA_BROKERS = kafkaBrokers;
  process.env.REDIS_CLUSTER_NODES = redisClusterNodes;
  project.provide('redisUrl', redisUrl!);
  project.provide('kafkaBrokers', kafkaBrokers!);
  project.provide('redisClusterNodes', redisClusterNodes);
  return teardown;
}
