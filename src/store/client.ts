/**
 * One client type through the code: a single Redis or a Redis Cluster
 * (ioredis `Redis` or `Cluster`). Everything zretry sends either carries a
 * key under a shard's hash tag, so the cluster client routes it, or goes
 * to a node chosen here: every master (preflight, readiness), the master
 * of a key (the clock), or a subscriber that speaks sharded pub/sub.
 */
import { keySlot } from './slot.js';
import type { Cluster, Redis } from 'ioredis';

/** What zretry talks to: one Redis, or a Redis Cluster. */
export type RedisClient = Redis | Cluster;

/** True for a Redis Cluster client. */
export function isCluster(client: RedisClient): client is Cluster {
  return (client as { isCluster?: boolean }).isCluster === true;
}

/** host:port of a node connection. */
export function nodeName(node: Redis): string {
  return `${node.options.host ?? '127.0.0.1'}:${node.options.port ?? 6379}`;
}

/** Resolves once the client has connected (a cluster: once it knows its slots). */
export async function connected(client: RedisClient): Promise<void> {
  if (client.status === 'wait') await client.connect();
  // queued until ready; on a cluster it also means the slot table is loaded
  await client.ping();
}

/**
 * Every master the client knows, by name, sorted; a single Redis is its own
 * master. A cluster's list comes from its slot table (CLUSTER SLOTS).
 */
export async function masters(client: RedisClient): Promise<Array<{ name: string; node: Redis }>> {
  await connected(client);
  if (!isCluster(client)) return [{ name: nodeName(client), node: client }];
  return client
    .nodes('master')
    .map((node) => ({ name: nodeName(node), node }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** Every node: masters and, on a cluster, their replicas (they become masters in a failover). */
export async function allNodes(client: RedisClient): Promise<Array<{ name: string; node: Redis; role: 'master' | 'replica' }>> {
  await connected(client);
  if (!isCluster(client)) return [{ name: nodeName(client), node: client, role: 'master' }];
  const m = new Set(client.nodes('master'));
  return client
    .nodes('all')
    .map((node) => ({ name: nodeName(node), node, role: m.has(node) ? ('master' as const) : ('replica' as const) }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** The connection that serves key: the client itself, or on a cluster the master of the key's slot. */
export function nodeForKey(client: RedisClient, key: string): Redis | Cluster {
  if (!isCluster(client)) return client;
  const owner = client.slots[keySlot(key)]?.[0];
  return client.nodes('master').find((n) => nodeName(n) === owner) ?? client;
}

/** The name of the master that holds key ('' for a single Redis). */
export function masterOfKey(client: RedisClient, key: string): string {
  if (!isCluster(client)) return '';
  return client.slots[keySlot(key)]?.[0] ?? '?';
}

/**
 * A second connection for the wake channels. A cluster client answers
 * SSUBSCRIBE only when built with shardedSubscribers: true, so that option
 * is set on the copy whatever the original had.
 */
export function subscriberFor(client: RedisClient): RedisClient {
  return isCluster(client) ? client.duplicate(undefined, { shardedSubscribers: true }) : client.duplicate();
}
