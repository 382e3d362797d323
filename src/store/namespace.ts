/**
 * A namespace remembers its shard count in Redis (`{<namespace>:0}:config`,
 * field `shards`), written by the first worker or consumer that starts on
 * it. Tasks are spread over shards by hash, so a process configured with
 * another count would miss tasks: it refuses to start, and operator
 * commands read the stored count instead of trusting a default.
 */
import type { Redis } from 'ioredis';
import { ConfigError } from '../errors.js';

/** The key holding a namespace's settings (under shard 0's hash tag, inside the ACL key pattern). */
export function configKey(namespace: string): string {
  return `{${namespace}:0}:config`;
}

/** The stored shard count, or null for a namespace no worker or consumer has started on. */
export async function storedShards(redis: Redis, namespace: string): Promise<number | null> {
  const v = await redis.hget(configKey(namespace), 'shards');
  return v === null ? null : Number(v);
}

/** Records the shard count on first use; refuses a count that differs from the stored one. */
export async function claimShards(redis: Redis, namespace: string, shards: number): Promise<void> {
  await redis.hsetnx(configKey(namespace), 'shards', String(shards));
  const stored = await storedShards(redis, namespace);
  if (stored !== null && stored !== shards) throw shardMismatch(namespace, stored, shards);
}

/** The error a person reads when the configured count is not the namespace's. */
export function shardMismatch(namespace: string, stored: number, configured: number): ConfigError {
  return new ConfigError(
    `store.shards: namespace "${namespace}" keeps its tasks in ${stored} shards, but ${configured} was configured; ` +
      `set store.shards (ZRETRY_SHARDS, --shards) to ${stored}: the shard count is fixed for the life of a namespace`,
    [{ path: 'store.shards', message: `must be ${stored} for namespace "${namespace}"` }],
  );
}
