/**
 * The store an operator command works on: configuration from the file, the
 * environment and the flags (validated whole, so a typo anywhere is
 * reported), Redis connected once (an unreachable one is a one-line error
 * naming the address), the shard count the namespace stored, and a warning
 * when the namespace looks mistyped.
 */
import { parseConfig } from '../config/parse.js';
import { cliConfigSchema } from '../config/schema.js';
import { DEFAULT_SHARDS, shardMismatch, storedShards } from '../store/namespace.js';
import { TaskStore } from '../store/store.js';
import { connectRedis, redactUrl } from '../util/connect-redis.js';

/** Connects and returns the store; close() disconnects. */
export async function openStore(raw: Record<string, unknown>, warn: (m: string) => void): Promise<{ store: TaskStore; close: () => void }> {
  const cfg = parseConfig(cliConfigSchema, raw, 'configuration');
  const redis = await connectRedis(cfg.store);
  try {
    // the namespace knows its shard count: a given one must match it, an absent one is read from it
    const ns = cfg.store.namespace;
    const stored = await storedShards(redis, ns);
    const given = cfg.store.shards;
    if (stored !== null && given !== undefined && stored !== given) throw shardMismatch(ns, stored, given);
    const store = new TaskStore(redis, { ...cfg.store, shards: stored ?? given ?? DEFAULT_SHARDS });
    if (stored === null) {
      const { total } = await store.stats();
      if (Object.values(total).every((n) => n === 0)) {
        warn(`warning: namespace "${ns}" is unknown at ${redactUrl(cfg.store.redisUrl)}: no worker or consumer has started on it and it holds no tasks; check --namespace (ZRETRY_NAMESPACE)`);
      }
    }
    return { store, close: () => redis.disconnect() };
  } catch (e) {
    redis.disconnect();
    throw e;
  }
}
