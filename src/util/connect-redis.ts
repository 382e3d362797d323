/**
 * The first connection to Redis, with a failure a person can act on: the
 * address (password hidden), the reason (ECONNREFUSED, WRONGPASS, a TLS
 * error) and the fix, in one line, instead of ioredis's "Connection is
 * closed." and a stack per reconnect.
 */
import type { RedisOptions } from 'ioredis';
import type { RedisClient } from '../store/client.js';
import { redisFromConfig } from '../config/connections.js';
import type { StoreConfig } from '../config/schema.js';
import { ConnectionError } from '../errors.js';

/** The URL as it may be printed: the password replaced by ***. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '(unparsable URL)';
  }
}

/** Turns a failed first connection into a ConnectionError naming the address and the fix. */
export function redisConnectionError(url: string, e: unknown): ConnectionError {
  const address = redactUrl(url);
  const err = e as { code?: string; message?: string };
  const reason = err.code ?? err.message ?? String(e);
  if (/WRONGPASS|NOAUTH|NOPERM|invalid password|invalid username/i.test(err.message ?? '')) {
    return new ConnectionError(`Redis at ${address} refused the login (${err.message}): check the user and password in the Redis URL (--redis, ZRETRY_REDIS_URL)`, address, { retriable: false, cause: e });
  }
  if (/TLS|SSL|CERT|self.signed|EPROTO/i.test(`${err.code ?? ''} ${err.message ?? ''}`)) {
    return new ConnectionError(`TLS to Redis at ${address} failed (${reason}): check the rediss:// URL and store.tls (caFile, certFile, keyFile)`, address, { retriable: false, cause: e });
  }
  return new ConnectionError(`cannot reach Redis at ${address} (${reason}): is it running? Point --redis or ZRETRY_REDIS_URL at it`, address, { retriable: true, cause: e });
}

/**
 * Connects once, without reconnecting: resolves with a ready client, or
 * rejects with a ConnectionError. extra options go to ioredis.
 */
export async function connectRedis(store: Pick<StoreConfig, 'redisUrl' | 'tls' | 'commandTimeoutMs' | 'cluster'>, extra: RedisOptions = {}): Promise<RedisClient> {
  // a cluster client reports every failure of its seed as "Connection is closed.": the seed alone first, as a
  // single node, tells ECONNREFUSED, WRONGPASS or a TLS error
  if (store.cluster) (await connectRedis({ ...store, redisUrl: seedUrl(store.redisUrl, store.cluster), cluster: false }, extra)).disconnect();
  const redis = redisFromConfig(store, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null, ...extra });
  let first: unknown;
  redis.on('error', (e: unknown) => (first ??= e));
  try {
    await redis.connect();
  } catch (e) {
    redis.disconnect();
    throw redisConnectionError(store.redisUrl, first ?? e);
  }
  return redis;
}

/** The URL of a cluster's first seed node: the Redis URL itself, or its credentials at the first listed seed. */
function seedUrl(url: string, cluster: true | string[]): string {
  if (cluster === true || cluster.length === 0) return url;
  const u = new URL(url);
  const [host, port] = cluster[0]!.split(':');
  u.hostname = host!;
  u.port = port ?? '6379';
  return u.toString();
}
