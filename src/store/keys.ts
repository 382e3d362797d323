/**
 * Key names and shard routing. Every key of shard s carries the hash tag
 * {<namespace>:<s>}, so each script touches one Redis Cluster slot.
 */

/** The keys every shard script takes, in script order. */
export const SHARD_KEY_NAMES = ['due', 'inflight', 'tasks', 'aggs', 'waiting', 'seq', 'dead', 'pauses', 'paused', 'shifting', 'held'] as const;

/** The keys of one shard, in the order the scripts expect them. */
export function shardKeys(namespace: string, shard: number): string[] {
  const tag = `{${namespace}:${shard}}`;
  return SHARD_KEY_NAMES.map((k) => `${tag}:${k}`);
}

/** The keys of a namespace's dispatch control (lua/includes/control-state.lua), in its own slot {<namespace>:ctl}. */
export const CONTROL_KEY_NAMES = ['settings', 'active', 'window', 'log'] as const;

/** The control keys of a namespace, in script order. */
export function controlKeys(namespace: string): string[] {
  return CONTROL_KEY_NAMES.map((k) => `{${namespace}:ctl}:${k}`);
}

/**
 * The sharded pub/sub channel that nudges sleeping workers when a task of
 * shard s becomes its earliest: under the shard's hash tag, so a script's
 * SPUBLISH stays in its own slot on a cluster (and on its own master).
 */
export function wakeChannel(namespace: string, shard: number): string {
  return `{${namespace}:${shard}}:wake`;
}

/** FNV-1a, 32 bit: a stable, fast hash for spreading aggregates over shards. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The shard of a task: by its aggregate id, or by its own id when it has none. */
export function shardOf(shards: number, aggregateId: string | null, taskId: string): number {
  return shards === 1 ? 0 : fnv1a(aggregateId ?? taskId) % shards;
}
