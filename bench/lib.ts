/** Small helpers shared by the benchmarks. */
import type { Redis } from 'ioredis';

/** Deletes every key of a namespace. */
export async function dropNamespace(redis: Redis, namespace: string): Promise<void> {
  const keys = await redis.keys(`{${namespace}:*`);
  if (keys.length) await redis.del(...keys);
}
