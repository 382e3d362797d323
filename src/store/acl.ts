/**
 * The least-privilege Redis ACL of a namespace, for two roles:
 *
 * - worker: consume() (the source consumer and its embedded worker),
 *   createWorker() and `zretry worker`;
 * - operator: the `zretry` inspection and repair commands (stats, list,
 *   show, retry-now, kill, skip, dead, unhold, pause, resume, shift, purge).
 *
 * Only the namespace's keys ({<namespace>:<shard>}:...) and its wake
 * channels ({<namespace>:<shard>}:wake). On a Redis Cluster the client also
 * reads the slot table and the cluster state (CLUSTER SLOTS, CLUSTER INFO),
 * and the rules go to every node. docs/security.md shows these rules and
 * test/security/ checks that the docs, the Lua scripts and a real run
 * (single Redis and cluster) agree with them.
 */
import { wakeChannel } from './keys.js';

/** Who a Redis user is for. */
export type AclRole = 'worker' | 'operator';

/**
 * Every command the Lua scripts of lua/ call. Redis checks each call made
 * inside a script against the caller's ACL, so the caller needs them all.
 */
export const SCRIPT_COMMANDS = [
  'exists', 'hdel', 'hexists', 'hget', 'hgetall', 'hkeys', 'hlen', 'hmget', 'hset', 'hsetnx',
  'incr', 'incrby', 'lpush', 'lrange', 'ltrim', 'spublish', 'time',
  'zadd', 'zcard', 'zcount', 'zrange', 'zrangebylex', 'zrangebyscore', 'zrank', 'zrem', 'zremrangebyrank', 'zrevrangebylex', 'zscore',
] as const;

/** Commands the code sends itself, per role (besides what the scripts call). */
const DIRECT_COMMANDS: Record<AclRole, readonly string[]> = {
  // evalsha: every script call (ioredis defineCommand); eval: its fallback when Redis answers NOSCRIPT
  // info: preflight (version, maxmemory-policy) and ioredis's ready check
  // time: the Redis clock of time budgets; ping: the outage probe and /readyz
  // ssubscribe: the wake channels; hsetnx, hget: the namespace's shard count (store/namespace.ts)
  // wait: store.waitReplicas (WAIT for replicas before an offset commit)
  worker: ['evalsha', 'eval', 'info', 'time', 'ping', 'ssubscribe', 'hsetnx', 'hget', 'wait'],
  // hmget: locating task ids; del: purge; hget: the namespace's shard count
  operator: ['evalsha', 'eval', 'info', 'hmget', 'del', 'hget'],
};

const NAMESPACE = /^[A-Za-z0-9_.-]{1,64}$/;

function checkNamespace(namespace: string): void {
  // the same rule as store.namespace; it also keeps glob characters out of the key pattern
  if (!NAMESPACE.test(namespace)) throw new RangeError(`namespace must be 1 to 64 letters, digits, "-", "_" or "." (got ${JSON.stringify(namespace)})`);
}

/**
 * What a Redis Cluster client sends besides: CLUSTER SLOTS (ioredis reads
 * the slot table at connect and after a MOVED or a failover), CLUSTER INFO
 * (ioredis's ready check, and the start-up check of cluster_state),
 * READONLY (ioredis sends it on connections to replicas, which the
 * start-up check reads) and CLIENT SETNAME (ioredis names the connections
 * of its sharded subscribers).
 */
export const CLUSTER_COMMANDS = ['client|setname', 'cluster|info', 'cluster|slots', 'readonly'] as const;

/** The commands a role needs, sorted, without duplicates; cluster: with what a Redis Cluster client needs. */
export function aclCommands(role: AclRole, cluster = false): string[] {
  return [...new Set([...DIRECT_COMMANDS[role], ...SCRIPT_COMMANDS, ...(cluster ? CLUSTER_COMMANDS : [])])].sort();
}

/** The key pattern of a namespace: every key of every shard, nothing else. */
export function aclKeyPattern(namespace: string): string {
  checkNamespace(namespace);
  return `{${namespace}:*}:*`;
}

/** The channel pattern of a namespace: the wake channel of every shard, nothing else. */
export function aclChannelPattern(namespace: string): string {
  checkNamespace(namespace);
  return wakeChannel(namespace, 0).replace(/:0\}/, ':*}');
}

/**
 * The ACL rules of a role, as ACL SETUSER arguments: no command but the
 * listed ones, no key but the namespace's, no channel but its wake
 * channels. `nocommands` is `-@all` under a name `redis-cli --cluster call`
 * does not take for one of its own options.
 */
export function aclRules(role: AclRole, namespace: string, cluster = false): string[] {
  return ['nocommands', ...aclCommands(role, cluster).map((c) => `+${c}`), `~${aclKeyPattern(namespace)}`, `&${aclChannelPattern(namespace)}`];
}

/** The worker's rules (consume(), createWorker(), `zretry worker`). */
export function workerAclRules(namespace: string, cluster = false): string[] {
  return aclRules('worker', namespace, cluster);
}

/** The operator CLI's rules. */
export function operatorAclRules(namespace: string, cluster = false): string[] {
  return aclRules('operator', namespace, cluster);
}

/** The default user name of a role: `<namespace>-worker`, `<namespace>-operator`. */
export function aclUser(role: AclRole, namespace: string): string {
  checkNamespace(namespace);
  return `${namespace}-${role}`;
}

/**
 * All arguments of the ACL SETUSER command that creates (or resets) the
 * user of a role: `reset` first, so running it again leaves exactly these
 * rights.
 */
export function aclSetUserArgs(role: AclRole, namespace: string, password: string, user = aclUser(role, namespace), cluster = false): string[] {
  return ['ACL', 'SETUSER', user, 'reset', 'on', `>${password}`, ...aclRules(role, namespace, cluster)];
}

/** An argument as a shell and redis-cli both read it: anything but plain letters, digits and `_.@:+-` in double quotes (`|` is a pipe to a shell). */
export function shellQuote(a: string): string {
  return /^[A-Za-z0-9_.@:+-]+$/.test(a) ? a : `"${a.replace(/(["\\$`])/g, '\\$1')}"`;
}

/**
 * The ACL SETUSER line to paste into redis-cli or a shell: arguments with
 * characters a shell would read (`>`, `~`, `&`, `*`, `|`, braces) are in
 * double quotes, which redis-cli reads the same way. cluster: with the
 * CLUSTER subcommands a cluster client needs.
 */
export function aclSetUserLine(role: AclRole, namespace: string, password = '<password>', user = aclUser(role, namespace), cluster = false): string {
  return aclSetUserArgs(role, namespace, password, user, cluster).map(shellQuote).join(' ');
}

/**
 * The shell command that applies a role's rules to every node of a Redis
 * Cluster, masters and replicas (a replica becomes a master in a failover
 * and must know the users by then): `redis-cli --cluster call <seed>`
 * runs the command on each node.
 */
export function aclClusterCommand(role: AclRole, namespace: string, seed: string, password = '<password>', user = aclUser(role, namespace)): string {
  return `redis-cli --cluster call ${shellQuote(seed)} ${aclSetUserLine(role, namespace, password, user, true)}`;
}
