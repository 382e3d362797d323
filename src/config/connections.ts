/**
 * Clients built from configuration: the Redis client of the store, and the
 * TLS files that it and the Kafka client of a standalone worker
 * (src/kafka/from-config.ts) read.
 */
import { readFileSync } from 'node:fs';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { ConnectionOptions } from 'node:tls';
import { ConfigError } from '../errors.js';
import type { RedisClient } from '../store/client.js';
import type { StoreConfig } from './schema.js';

type TlsFiles = { caFile?: string; certFile?: string; keyFile?: string; rejectUnauthorized: boolean };

function read(path: string | undefined, field: string): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (e) {
    throw new ConfigError(`${field}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); give a readable PEM file`);
  }
}

/** Node TLS options from the file paths of a tls/ssl section; an unreadable file is a ConfigError naming the field. */
export function tlsOptions(t: TlsFiles, field: string): ConnectionOptions {
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
