/**
 * The least-privilege Redis ACL of a namespace, for two roles:
 *
 * - worker: consume() (the source consumer and its embedded worker),
 *   createWorker() and `zretry worker`;
 * - operator: the `zretry` inspection and repair commands (stats, list,
 *   show, retry-now, kill, skip, dead, unhold, pause, resume, shift, purge).
 *
 * Only the namespace's keys ({<namespace>:<shard>}:...) and its wake
 * channel. docs/security.md shows these rules and test/security/ checks
 * that the docs, the Lua scripts and a real run agree with them.
 */
import { wakeChannel } from './keys.js';

/** Who a Redis user is for. */
export type AclRole = 'worker' | 'operator';

/**
 * Every command the Lua scripts of lua/ call. Redis checks each call made
 * inside a script against the caller's ACL, so the caller needs them all.
 */
export const SCRIPT_COMMANDS = [
  'hdel', 'hget', 'hkeys', 'hlen', 'hmget', 'hset', 'hsetnx',
  'incr', 'incrby', 'publish', 'time',
  'zadd', 'zcard', 'zcount', 'zrange', 'zrangebylex', 'zrangebyscore', 'zrank', 'zrem', 'zremrangebyrank', 'zrevrangebylex', 'zscore',
] as const;

/** Commands the code sends itself, per role (besides what the scripts call). */
const DIRECT_COMMANDS: Record<AclRole, readonly string[]> = {
  // evalsha: every script call (ioredis defineCommand); eval: its fallback when Redis answers NOSCRIPT
  // info: preflight (version, maxmemory-policy) and ioredis's ready check
  // time: the Redis clock of time budgets; ping: the outage probe and /readyz
  // subscribe: the wake channel; hsetnx, hget: the namespace's shard count (store/namespace.ts)
  worker: ['evalsha', 'eval', 'info', 'time', 'ping', 'subscribe', 'hsetnx', 'hget'],
  // hmget: locating task ids; del: purge; hget: the namespace's shard count
  operator: ['evalsha', 'eval', 'info', 'hmget', 'del', 'hget'],
};

const NAMESPACE = /^[A-Za-z0-9_.-]{1,64}$/;

function checkNamespace(namespace: string): void {
  // the same rule as store.namespace; it also keeps glob characters out of the key pattern
  if (!NAMESPACE.test(namespace)) throw new RangeError(`namespace must be 1 to 64 letters, digits, "-", "_" or "." (got ${JSON.stringify(namespace)})`);
}

/** The commands a role needs, sorted, without duplicates. */
export function aclCommands(role: AclRole): string[] {
  return [...new Set([...DIRECT_COMMANDS[role], ...SCRIPT_COMMANDS])].sort();
}

/** The key pattern of a namespace: every key of every shard, nothing else. */
export function aclKeyPattern(namespace: string): string {
  checkNamespace(namespace);
  return `{${namespace}:*}:*`;
}

/**
 * The ACL rules of a role, as ACL SETUSER arguments: no command but the
 * listed ones, no key but the namespace's, no channel but its wake channel.
 */
export function aclRules(role: AclRole, namespace: string): string[] {
  return ['-@all', ...aclCommands(role).map((c) => `+${c}`), `~${aclKeyPattern(namespace)}`, `&${wakeChannel(namespace)}`];
}

/** The worker's rules (consume(), createWorker(), `zretry worker`). */
export function workerAclRules(namespace: string): string[] {
  return aclRules('worker', namespace);
}

/** The operator CLI's rules. */
export function operatorAclRules(namespace: string): string[] {
  return aclRules('operator', namespace);
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
export function aclSetUserArgs(role: AclRole, namespace: string, password: string, user = aclUser(role, namespace)): string[] {
  return ['ACL', 'SETUSER', user, 'reset', 'on', `>${password}`, ...aclRules(role, namespace)];
}

/**
 * The ACL SETUSER line to paste into redis-cli or a shell: arguments with
 * characters a shell would read (`>`, `~`, `&`, `*`, braces) are in double
 * quotes, which redis-cli reads the same way.
 */
export function aclSetUserLine(role: AclRole, namespace: string, password = '<password>', user = aclUser(role, namespace)): string {
  return aclSetUserArgs(role, namespace, password, user)
    .map((a) => (/^[A-Za-z0-9_.@|+-]+$/.test(a) ? a : `"${a.replace(/(["\\$`])/g, '\\$1')}"`))
    .join(' ');
}
