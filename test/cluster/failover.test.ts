/**
 * On a Redis Cluster of this file's own (3 masters + 3 replicas), which it
 * may reconfigure and kill nodes of: the start-up check reads every node,
 * and a master is killed with `kill -9` under load: a consumer and two
 * `zretry worker` processes run 64 aggregates whose records each fail once,
 * so every shard has a steady chain of retries. Its replica takes over
 * (cluster-node-timeout 2 s); the killed node is then started again and
 * rejoins as a replica. The ledger checks that nothing was lost, order was
 * kept, and counts duplicates; per shard, the longest gap between handler
 * calls around the failover is reported: the dead master's shards stall
 * until the failover, the others keep flowing. Records produced during the
 * outage go through the consumer with store.waitReplicas 1.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Cluster, Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { createWorker } from '../../src/create-worker.js';
import { masterOfKey } from '../../src/store/client.js';
import { shardKeys, shardOf } from '../../src/store/keys.js';
import { silentLogger, uniqueNamespace, waitFor } from '../helpers/env.js';
import { LedgerRun, type Spec } from '../faults/ledger/ledger.js';

const ROOT = resolve(import.meta.dirname, '../..');
const SHARDS = 16;
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A cluster of the file's own (scripts/services in a directory of its own), so reconfiguring or killing a node disturbs no other test. */
function ownCluster(): { dir: string; nodes: string[]; services: (...args: string[]) => void; stop: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'zretry-failover-'));
  const services = (...args: string[]) => execFileSync('bash', [join(ROOT, 'scripts/services'), ...args], { env: { ...process.env, ZRETRY_SERVICES_DIR: dir }, stdio: ['ignore', 'ignore', 'pipe'] });
  const stop = () => {
    services('down', 'cluster');
    rmSync(dir, { recursive: true, force: true });
  };
  services('up', 'cluster');
  const env = JSON.parse(readFileSync(join(dir, 'env.json'), 'utf8')) as { redisClusterNodes: string };
  return { dir, nodes: env.redisClusterNodes.split(','), services, stop };
}

let cluster: ReturnType<typeof ownCluster>;
beforeAll(() => {
  cluster = ownCluster();
});
afterAll(() => cluster?.stop());

it('the start-up check reads every node: one replica on allkeys-lru stops a worker, naming that node', async () => {
  const node = (n: string) => new Redis({ host: '127.0.0.1', port: Number(n.split(':')[1]) });
  const replicas: string[] = [];
  for (const n of cluster.nodes) {
    const r = node(n);
    if (/role:slave/.test(await r.info('replication'))) replicas.push(n);
    r.disconnect();
  }
  expect(replicas).toHaveLength(3);
  const start = () => createWorker({ handler: () => {}, logger: silentLogger(), config: { store: { redisUrl: `redis://${cluster.nodes[0]}`, cluster: true, namespace: uniqueNamespace() } } });
  /** The start-up error, or null if the worker started (then closed at once). */
  const refusal = () => start().then(async (w) => (await w.close(), null), (e: Error) => e.message);
  for (const target of [replicas[1]!, cluster.nodes.find((n) => !replicas.includes(n))!]) {
    const r = node(target);
    try {
      await r.config('SET', 'maxmemory-policy', 'allkeys-lru');
      // every time, not 1 time in 3: each node is read
      for (let k = 0; k < 3; k++) expect(await refusal()).toMatch(new RegExp(`maxmemory-policy is "allkeys-lru" on (master|replica) ${target}: .*on every node`));
    } finally {
      await r.config('SET', 'maxmemory-policy', 'noeviction');
      r.disconnect();
    }
  }
  const w = await start();
  await w.close();
});

/** 64 aggregates of `per` records each; every record fails its first attempt, so each aggregate is a chain of retries. */
const chains = (n: number, aggs: number): Spec[] => {
  const seqs = new Map<string, number>();
  return Array.from({ length: n }, (_, i) => {
    const agg = `agg-${i % aggs}`;
    const seq = seqs.get(agg) ?? 0;
    seqs.set(agg, seq + 1);
    return { id: `r${i}`, agg, seq, fail: 1 };
  });
};

/** The node line of CLUSTER NODES for a node id, as seen by a live node. */
async function nodeFlags(live: string, id: string): Promise<string> {
  const r = new Redis({ host: '127.0.0.1', port: Number(live.split(':')[1]), lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => undefined);
  try {
    await r.connect();
    const line = String(await r.cluster('NODES')).split('\n').find((l) => l.startsWith(id));
    return line?.split(' ')[2] ?? '';
  } catch {
    return '';
  } finally {
    r.disconnect();
  }
}

it('kill -9 of a master under load: its replica takes over, nothing lost, order kept; only its shards stall', async () => {
  const first = 64 * 12;
  const r = new LedgerRun({ redisUrl: `redis://${cluster.nodes[0]}`, cluster: true, shards: SHARDS, waitReplicas: 1, records: first + 64 * 4, aggregates: 64, backoffMs: 1_000, concurrency: 20, plan: chains });
  cleanups.push(() => r.cleanup());
  await r.start();
  const admin = r.store().redis;

  // the victim: the master of shard 0; its replica; and which shards it holds
  const masterOf = (s: number) => masterOfKey(admin, shardKeys(r.namespace, s)[0]!);
  await admin.ping();
  const victim = masterOf(0);
  const victimPort = victim.split(':')[1]!;
  // a cluster just created may not show every replica to every node yet: ask until the victim's replica is there
  let nodesText = '';
  let victimId = '';
  let replicaId = '';
  await waitFor(async () => {
    nodesText = String(await (admin as Cluster).nodes('master')[0]!.cluster('NODES'));
    const lines = nodesText.split('\n').filter((l) => l.trim() !== '');
    victimId = lines.find((l) => (l.split(' ')[1] ?? '').startsWith(victim + '@'))?.split(' ')[0] ?? '';
    replicaId = lines.find((l) => victimId !== '' && l.split(' ')[3] === victimId)?.split(' ')[0] ?? '';
    return replicaId !== '';
  }, 10_000, "the victim's replica in CLUSTER NODES");
  const live = cluster.nodes.find((n) => n !== victim)!;
  const masterByShard = Array.from({ length: SHARDS }, (_, s) => masterOf(s));
  const deadShards = masterByShard.flatMap((m, s) => (m === victim ? [s] : []));

  const consumer = await r.consumer();
  const workers = [await r.worker(), await r.worker()];
  await r.produce(0, first);
  // load: every shard is running its chains
  await waitFor(() => r.lines().filter((l) => l.role === 'worker' && l.ev === 'ok').length >= 150, 60_000, 'the chains to be running');

  const pid = Number(readFileSync(join(cluster.dir, 'cluster', String(cluster.nodes.indexOf(victim)), 'redis.pid'), 'utf8'));
  process.kill(pid, 'SIGKILL');
  const killedAt = Date.now();
  // records keep arriving while the master is down: the consumer stores them (waiting for a replica) once it can
  const producing = r.produce(first);
  await waitFor(async () => (await nodeFlags(live, replicaId)).includes('master'), 30_000, 'the replica to take over');
  const promotedAt = Date.now();
  await producing;
  // the killed node comes back and rejoins as a replica of the new master, so WAIT 1 can be met again
  cluster.services('restart-node', victimPort);
  await waitFor(async () => (await nodeFlags(live, victimId)).includes('slave'), 30_000, 'the old master to rejoin as a replica');
  const rejoinedAt = Date.now();

  await r.waitUntilFinished(120_000);
  const rep = r.report();

  // per shard, the longest gap between handler calls of the workers that spans the failover
  const calls = new Map<number, number[]>();
  for (const l of r.lines()) {
    if (l.role !== 'worker' || (l.ev !== 'ok' && l.ev !== 'fail')) continue;
    const s = shardOf(SHARDS, l.agg!, l.id!);
    (calls.get(s) ?? calls.set(s, []).get(s)!).push(l.t);
  }
  const stall = (s: number) => {
    const ts = (calls.get(s) ?? []).sort((a, b) => a - b);
    let worst = 0;
    for (let k = 1; k < ts.length; k++) if (ts[k]! > killedAt && ts[k - 1]! < promotedAt) worst = Math.max(worst, ts[k]! - ts[k - 1]!);
    return worst;
  };
  const during = (s: number) => (calls.get(s) ?? []).filter((t) => t > killedAt + 500 && t < promotedAt).length;
  const perShard = Array.from({ length: SHARDS }, (_, s) => `${s}${deadShards.includes(s) ? '*' : ''} ${stall(s)} ms`);
  const leaseLost = workers.map((w) => (w.output().match(/lease lost|outcome refused/g) ?? []).length).reduce((a, b) => a + b, 0);
  /** Warning lines of processes, counted by message. */
  const warningsOf = (outputs: string[]) => {
    const lines = outputs.flatMap((o) => o.split('\n').filter((l) => l.includes('"level":40')));
    const byMessage = new Map<string, number>();
    for (const l of lines) {
      const msg = /"msg":"([^"]*)"/.exec(l)?.[1] ?? '?';
      byMessage.set(msg, (byMessage.get(msg) ?? 0) + 1);
    }
    return { count: lines.length, text: [...byMessage].map(([m, n]) => `${n}x "${m.slice(0, 40)}"`).join(', ') };
  };
  const workerWarnings = warningsOf(workers.map((w) => w.output()));
  const consumerWarnings = warningsOf([consumer.output()]);
  const warnings = workerWarnings.count;
  r.summary(
    `Redis Cluster master kill -9 (${deadShards.length} of ${SHARDS} shards on it), 2 workers, store.waitReplicas 1`,
    rep,
    `replica took over ${promotedAt - killedAt} ms after the kill, old master back as replica after ${rejoinedAt - killedAt} ms; ` +
      `stall per shard (* = on the killed master): ${perShard.join(', ')}; worker warnings ${warnings} (${workerWarnings.text}), consumer warnings ${consumerWarnings.count} (${consumerWarnings.text}), lease-lost lines ${leaseLost}`,
  );

  expect(rep.lost).toEqual([]);
  expect(rep.outOfOrder).toEqual([]);
  expect(rep.wronglyDead).toEqual([]);
  expect(deadShards.length).toBeGreaterThan(0);
  expect(deadShards.length).toBeLessThan(SHARDS);
  // the other masters' shards kept flowing while the killed master's had no master at all
  for (let s = 0; s < SHARDS; s++) if (!deadShards.includes(s)) expect(during(s), `shard ${s} (on ${masterByShard[s]}) during the failover`).toBeGreaterThan(0);
  // and the killed master's shards were still until its replica took over
  for (const s of deadShards) expect(stall(s), `shard ${s} stall`).toBeGreaterThan(stall(masterByShard.findIndex((m) => m !== victim)));
  // no warning storm: a few lines per worker, not one per task
  expect(warnings).toBeLessThan(20);
  expect(consumer.proc.exitCode).toBeNull();
}, 240_000);
