/**
 * Clients built from configuration: the Redis client of the store and the
 * Kafka client of a standalone worker, with TLS and SASL passed through.
 */
import { readFileSync } from 'node:fs';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import kafkajs, { type Kafka, type KafkaConfig, type SASLOptions } from 'kafkajs';
import type { ConnectionOptions } from 'node:tls';
import type { Logger } from 'pino';
import { ConfigError } from '../errors.js';
import type { RedisClient } from '../store/client.js';
import type { KafkaClientConfig, StoreConfig } from './schema.js';

type TlsFiles = { caFile?: string; certFile?: string; keyFile?: string; rejectUnauthorized: boolean };

function read(path: string | undefined, field: string): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (e) {
    throw new ConfigError(`${field}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); give a readable PEM file`);
  }
}

function tlsOptions(t: TlsFiles, field: string): ConnectionOptions {
  return {
    ca: read(t.caFile, `${field}.caFile`),
    cert: read(t.certFile, `${field}.certFile`),
    key: read(t.keyFile, `${field}.keyFile`),
    rejectUnauthorized: t.rejectUnauthorized,
  };
}

/**
 * A Redis client for the store: the URL (rediss:// for TLS, user:password@
 * for an ACL user) plus store.tls; with store.cluster, a Redis Cluster
 * client whose every node connection takes those same settings.
 */
export function redisFromConfig(
  store: Pick<StoreConfig, 'redisUrl' | 'tls'> & Partial<Pick<StoreConfig, 'commandTimeoutMs' | 'cluster'>>,
  extra: RedisOptions = {},
): RedisClient {
  const tls = store.tls ? tlsOptions(store.tls, 'store.tls') : undefined;
  const options: RedisOptions = { maxRetriesPerRequest: 3, commandTimeout: store.commandTimeoutMs, ...(tls ? { tls } : {}), ...extra };
  if (!store.cluster) return new Redis(store.redisUrl, options);
  return clusterFromUrl(store.redisUrl, store.cluster === true ? [] : store.cluster, options);
}

/**
 * A Cluster client: the seed nodes (or the URL's host and port), with the
 * URL's user, password and TLS on every node. Sharded pub/sub is on, so
 * the same client can subscribe to the wake channels.
 */
function clusterFromUrl(redisUrl: string, seeds: readonly string[], options: RedisOptions): Cluster {
  const url = new URL(redisUrl);
  const nodes = (seeds.length > 0 ? seeds : [`${url.hostname}:${url.port || 6379}`]).map((s) => {
    const at = s.lastIndexOf(':');
    return { host: s.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(s.slice(at + 1)) };
  });
  const { lazyConnect, ...nodeOptions } = options;
  if (url.username) nodeOptions.username = decodeURIComponent(url.username);
  if (url.password) nodeOptions.password = decodeURIComponent(url.password);
  if (url.protocol === 'rediss:') nodeOptions.tls ??= {};
  if (url.pathname.length > 1 && url.pathname !== '/0') {
    throw new ConfigError(`store.redisUrl: a Redis Cluster has only database 0; remove "${url.pathname}" from the URL`);
  }
  return new Cluster(nodes, {
    redisOptions: nodeOptions,
    lazyConnect,
    shardedSubscribers: true,
    // after a failover, commands for the lost master's slots wait for the new one instead of failing at once
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    maxRedirections: 16,
  });
}

const PINO_LEVEL: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [kafkajs.logLevel.ERROR]: 'error',
  [kafkajs.logLevel.WARN]: 'warn',
  [kafkajs.logLevel.INFO]: 'info',
  [kafkajs.logLevel.DEBUG]: 'debug',
};

/** A kafkajs client from a standalone worker's kafka section; kafkajs logs go to the pino logger. */
export function kafkaFromConfig(k: KafkaClientConfig, logger: Logger, logLevel: kafkajs.logLevel = kafkajs.logLevel.WARN): Kafka {
  const log = logger.child({ component: 'kafkajs' });
  const cfg: KafkaConfig = {
    clientId: k.clientId,
    brokers: k.brokers,
    logLevel,
    logCreator: () => (e) => {
      const { message, ...fields } = e.log;
      log[PINO_LEVEL[e.level] ?? 'info']({ ns: e.namespace, ...fields }, message);
    },
  };
  if (k.ssl !== false) cfg.ssl = k.ssl === true ? true : tlsOptions(k.ssl, 'kafka.ssl');
  if (k.sasl) cfg.sasl = { mechanism: k.sasl.mechanism, username: k.sasl.username, password: k.sasl.password } as SASLOptions;
  return new kafkajs.Kafka(cfg);
}
