/**
 * Start-up checks of the Redis that will hold tasks, on every node of a
 * cluster (masters and replicas: a replica is a master after a failover):
 * a version with the commands the scripts use, an eviction policy that
 * never drops a task, on a cluster `cluster_state:ok`, and enough replicas
 * for store.waitReplicas. Read from INFO (and CLUSTER INFO), which the
 * least-privilege ACL grants (docs/security.md); CONFIG GET is only a
 * fallback for a Redis whose INFO lacks the policy, as an application user
 * is rarely allowed CONFIG.
 */
import { Redis, type Cluster } from 'ioredis';
import { RedisSetupError } from '../errors.js';
import { allNodes, isCluster, type RedisClient } from './client.js';

/** What preflight may let pass. */
export interface PreflightOptions {
  /** Accept an eviction policy other than noeviction (tasks may then be lost). */
  allowEviction: boolean;
  /** Replicas every master must have connected (store.waitReplicas); 0: none needed. */
  waitReplicas?: number;
}

/** What preflight found on one node. */
export interface NodeCheck {
  node: string;
  role: 'master' | 'replica';
  version: string;
  maxmemoryPolicy: string;
}

const isNoPerm = (e: unknown): boolean => e instanceof Error && e.message.startsWith('NOPERM');

function noPerm(e: unknown, what: string, grant: string): RedisSetupError {
  return new RedisSetupError(
    `Redis refused ${what} to this user (${(e as Error).message}): zretry reads ${what === 'INFO' ? 'the server version and maxmemory-policy' : 'the cluster state'} ` +
      `from ${what} at start. Grant it with ACL SETUSER <user> ${grant} (the rules \`zretry acl\` prints include it; see docs/security.md).`,
    { cause: e },
  );
}

async function info(redis: Redis, section: string): Promise<string> {
  try {
    return await redis.info(section);
  } catch (e) {
    if (!isNoPerm(e)) throw e;
    throw noPerm(e, 'INFO', '+info');
  }
}

/** The checks of one node; `at` names it in messages ('' for a single Redis). */
async function checkNode(redis: Redis, at: string, opts: PreflightOptions, master: boolean, cluster: boolean): Promise<{ version: string; maxmemoryPolicy: string }> {
  const where = at ? ` on ${at}` : '';
  const server = await info(redis, 'server');
  const version = /redis_version:([^\r\n]+)/.exec(server)?.[1] ?? '0';
  const major = Number(version.split('.')[0]);
  if (!(major >= 7)) {
    throw new RedisSetupError(`Redis ${version}${where} is too old: zretry needs Redis 7 or newer (its scripts use Redis 7 commands and semantics)`);
  }
  let policy = /maxmemory_policy:([^\r\n]+)/.exec(await info(redis, 'memory'))?.[1];
  let configRefusal = '';
  if (policy === undefined) {
    try {
      const [, value] = (await redis.config('GET', 'maxmemory-policy')) as [string, string];
      policy = value;
    } catch (e) {
      // CONFIG is often disabled (managed Redis) or not granted (ACL): say so below
      configRefusal = (e as Error).message;
    }
  }
  if (policy === undefined && !opts.allowEviction) {
    throw new RedisSetupError(
      `cannot tell Redis's maxmemory-policy${where}: INFO memory has no maxmemory_policy and CONFIG GET failed (${configRefusal}). ` +
        'Make sure it is "noeviction", then pass allowEviction: true (ZRETRY_ALLOW_EVICTION=1) to start without the check.',
    );
  }
  policy ??= 'unknown';
  if (policy !== 'noeviction' && !opts.allowEviction) {
    throw new RedisSetupError(
      `Redis maxmemory-policy is "${policy}"${where}: with eviction Redis may silently delete tasks. ` +
        `Set "maxmemory-policy noeviction" (CONFIG SET maxmemory-policy noeviction, or in redis.conf${cluster ? ', on every node' : ''}), ` +
        'or pass allowEviction: true (ZRETRY_ALLOW_EVICTION=1) to accept the risk.',
    );
  }
  if (cluster && master) {
    let state: string;
    try {
      state = /cluster_state:([^\r\n]+)/.exec(String(await redis.cluster('INFO')))?.[1] ?? '?';
    } catch (e) {
      if (!isNoPerm(e)) throw e;
      throw noPerm(e, 'CLUSTER INFO', '"+cluster|info"');
    }
    if (state !== 'ok') {
      throw new RedisSetupError(`Redis Cluster state is "${state}"${where}: some slots have no master that answers; fix the cluster (redis-cli --cluster check ${at}) before starting`);
    }
  }
  if (master && opts.waitReplicas) {
    const connected = Number(/connected_slaves:(\d+)/.exec(await info(redis, 'replication'))?.[1] ?? 0);
    if (connected < opts.waitReplicas) {
      throw new RedisSetupError(
        `store.waitReplicas is ${opts.waitReplicas} but ${at || 'the master'} has ${connected} connected replica${connected === 1 ? '' : 's'}: ` +
          'every schedule would wait in vain. Add replicas, or lower store.waitReplicas (ZRETRY_WAIT_REPLICAS).',
      );
    }
  }
  return { version, maxmemoryPolicy: policy };
}

/**
 * Throws a RedisSetupError that says what to change when Redis is unfit.
 * Returns the version and policy (of the first node) and what each node
 * reported.
 */
export async function preflight(redis: RedisClient, opts: PreflightOptions): Promise<{ version: string; maxmemoryPolicy: string; nodes: NodeCheck[] }> {
  const cluster = isCluster(redis);
  const nodes = await allNodes(redis);
  const extra = cluster ? await unlistedReplicas(redis, nodes) : [];
  try {
    const checks = await Promise.all(
      [...nodes, ...extra].map(async (n) => ({ node: n.name, role: n.role, ...(await checkNode(n.node, cluster ? `${n.role} ${n.name}` : '', opts, n.role === 'master', cluster)) })),
    );
    return { version: checks[0]!.version, maxmemoryPolicy: checks[0]!.maxmemoryPolicy, nodes: checks };
  } finally {
    for (const n of extra) n.node.disconnect();
  }
}

/**
 * Replicas the masters report (INFO replication) that the client's slot
 * table does not list yet (a replica that just synced), on connections of
 * their own with the cluster's node options, closed after the check.
 */
async function unlistedReplicas(cluster: Cluster, nodes: ReadonlyArray<{ name: string; role: string }>): Promise<Array<{ name: string; node: Redis; role: 'replica' }>> {
  const known = new Set(nodes.map((n) => n.name));
  const out: Array<{ name: string; node: Redis; role: 'replica' }> = [];
  for (const m of cluster.nodes('master')) {
    for (const [, host, port] of (await info(m, 'replication')).matchAll(/slave\d+:ip=([^,]+),port=(\d+)/g)) {
      const name = `${host}:${port}`;
      if (known.has(name)) continue;
      known.add(name);
      out.push({ name, role: 'replica', node: new Redis({ ...cluster.options.redisOptions, host, port: Number(port), lazyConnect: true, readOnly: true }) });
    }
  }
  return out;
}
