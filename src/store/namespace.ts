/**
 * A namespace remembers its shard count in Redis (`{<namespace>:0}:config`,
 * field `shards`), written by the first worker or consumer that starts on
 * it. Tasks are spread over shards by hash, so a process configured with
 * another count would miss tasks: it refuses to start, and operator
 * commands read the stored count instead of trusting a default.
 */
import type { RedisClient } from './client.js';
import { ConfigError } from '../errors.js';

/** The key holding a namespace's settings (under shard 0's hash tag, inside the ACL key pattern). */
export function configKey(namespace: string): string {
  return `{${namespace}:0}:config`;
}

/** The stored shard count, or null for a namespace no worker or consumer has started on. */
export async function storedShards(redis: RedisClient, namespace: string): Promise<number | null> {
  const v = await redis.hget(configKey(namespace), 'shards');
  return v === null ? null : Number(v);
}

/**
 * The shard count of a new namespace when none is configured: 16 spreads
 * a namespace's shards over the masters of a Redis Cluster within about a
 * third of an even share (docs/scale-out.md), and costs little on one Redis.
 */
export const DEFAULT_SHARDS = 16;

/**
 * Records the shard count on first use and returns the count to run with:
 * a configured count must match the stored one; without one, the stored
 * count (or DEFAULT_SHARDS for a new namespace) is used.
 */
export async function claimShards(redis: RedisClient, namespace: string, shards: number | undefined): Promise<number> {
  await redis.hsetnx(configKey(namespace), 'shards', String(shards ?? DEFAULT_SHARDS));
  const stored = await storedShards(redis, namespace);
  if (stored === null) return shards ?? DEFAULT_SHARDS;
  if (shards !== undefined && stored !== shards) throw shardMismatch(namespace, stored, shards);
  return stored;
}

/** The error a person reads when the configured count is not the namespace's. */
export function shardMismatch(namespace: string, stored: number, configured: number): ConfigError {
  return new ConfigError(
    `store.shards: namespace "${namespace}" keeps its tasks in ${stored} shards, but ${configured} was configured; ` +
      `set store.shards (ZRETRY_SHARDS, --shards) to ${stored}: the shard count is fixed for the life of a namespace`,
    [{ path: 'store.shards', message: `must be ${stored} for namespace "${namespace}"` }],
  );
}
