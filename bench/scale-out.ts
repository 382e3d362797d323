/**
 * Scale-out on Redis Cluster, in one process and one run: the same
 * schedule and drain (N tasks all due at once, direct mode, no-op handler,
 * one worker, concurrency 100, 16 shards) on
 *   - a single Redis (no cluster mode),
 *   - a Redis Cluster of 1 master,
 *   - a Redis Cluster of 3 masters,
 * each a set of redis-servers of the benchmark's own (AOF everysec,
 * noeviction), reporting tasks/s and Redis's own CPU per task per master
 * (INFO cpu, user + sys, and INFO commandstats). Then the cost of
 * store.waitReplicas: schedule calls on 3 masters + 3 replicas with WAIT 1
 * against without.
 *   npx tsx bench/scale-out.ts
 * Env: BENCH_TASKS (50000), BENCH_RUNS (3). Writes bench/results/scale-out.json.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import pino from 'pino';
import { isCluster, masters, type RedisClient } from '../src/store/client.js';
import { TaskStore } from '../src/store/store.js';
import type { NewTask } from '../src/store/task.js';
import { benchTask, drainWithWorker } from './lib.js';

const N = Number(process.env.BENCH_TASKS ?? 50_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SHARDS = 16;
const payload = Buffer.alloc(100, 120);
const silent = pino({ level: 'silent' });
const log = (m: string) => process.stderr.write(`scale-out: ${m}\n`);

const freePort = () =>
  new Promise<number>((res) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => res(p));
    });
  });

/** redis-servers of the benchmark's own: standalone, or a cluster of `masters` masters with `replicas` replicas each. */
async function servers(kind: 'standalone' | 'cluster', masterCount = 1, replicas = 0): Promise<{ client: () => RedisClient; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'zretry-scale-out-'));
  const procs: ChildProcess[] = [];
  const ports: number[] = [];
  const count = kind === 'standalone' ? 1 : masterCount * (1 + replicas);
  for (let i = 0; i < count; i++) {
    const port = await freePort();
    const args = ['--bind', '127.0.0.1', '--port', String(port), '--dir', join(dir, String(i)), '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '', '--maxmemory-policy', 'noeviction'];
    if (kind === 'cluster') {
      args.push('--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-announce-ip', '127.0.0.1', '--cluster-node-timeout', '2000', '--cluster-port', String(await freePort()), '--repl-diskless-sync-delay', '0');
    }
    execFileSync('mkdir', ['-p', join(dir, String(i))]);
    procs.push(spawn('redis-server', args, { stdio: 'ignore' }));
    ports.push(port);
  }
  for (const port of ports) {
    for (let k = 0; ; k++) {
      const r = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      r.on('error', () => undefined);
      try {
        await r.connect();
        await r.ping();
        r.disconnect();
        break;
      } catch {
        r.disconnect();
        if (k > 100) throw new Error(`redis-server on ${port} did not start`);
        await new Promise((res) => setTimeout(res, 50));
      }
    }
  }
  if (kind === 'cluster') {
    if (count === 1) execFileSync('redis-cli', ['-p', String(ports[0]), 'cluster', 'addslotsrange', '0', '16383']);
    else execFileSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', String(replicas), '--cluster-yes'], { stdio: 'ignore' });
    for (let k = 0; ; k++) {
      const ok = ports.every((p) => /cluster_state:ok/.test(execFileSync('redis-cli', ['-p', String(p), 'cluster', 'info']).toString()));
      const synced = replicas === 0 || ports.filter((p) => /master_link_status:up/.test(execFileSync('redis-cli', ['-p', String(p), 'info', 'replication']).toString())).length === masterCount * replicas;
      if (ok && synced) break;
      if (k > 300) throw new Error('cluster did not come up');
      await new Promise((res) => setTimeout(res, 100));
    }
  }
  return {
    client: () =>
      kind === 'standalone'
        ? new Redis({ port: ports[0], maxRetriesPerRequest: 3 })
        : new Cluster(ports.map((port) => ({ host: '127.0.0.1', port })), { shardedSubscribers: true, redisOptions: { maxRetriesPerRequest: 3 } }),
    stop: async () => {
      for (const p of procs) p.kill();
      await Promise.all(procs.map((p) => new Promise((r) => (p.exitCode !== null ? r(null) : p.once('exit', r)))));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const task = (i: number): NewTask => benchTask(i, payload);

/** Per master: CPU seconds (user + sys) and commandstats µs, since the last reset. */
async function cpu(client: RedisClient): Promise<Map<string, { cpuUs: number; cmdUs: number; calls: number }>> {
  const out = new Map<string, { cpuUs: number; cmdUs: number; calls: number }>();
  for (const { name, node } of await masters(client)) {
    const c = await node.info('cpu');
    const us = (f: string) => Number(new RegExp(`${f}:([\\d.]+)`).exec(c)![1]) * 1e6;
    const stats = await node.info('commandstats');
    out.set(name, {
      cpuUs: us('used_cpu_user') + us('used_cpu_sys'),
      cmdUs: [...stats.matchAll(/usec=(\d+)/g)].reduce((a, m) => a + Number(m[1]), 0),
      calls: [...stats.matchAll(/calls=(\d+)/g)].reduce((a, m) => a + Number(m[1]), 0),
    });
  }
  return out;
}

async function resetStats(client: RedisClient): Promise<void> {
  for (const { node } of await masters(client)) await node.config('RESETSTAT');
}

/** CPU per task per master between two snapshots (cpu: process CPU; cmd: time inside commands). */
function perTask(a: Map<string, { cpuUs: number; cmdUs: number; calls: number }>, b: Map<string, { cpuUs: number; cmdUs: number; calls: number }>, n: number): Array<{ master: string; cpu: number; cmd: number; calls: number }> {
  return [...b].map(([m, v]) => ({ master: m, cpu: Number(((v.cpuUs - a.get(m)!.cpuUs) / n).toFixed(1)), cmd: Number((v.cmdUs / n).toFixed(1)), calls: v.calls }));
}

interface Result {
  schedule: number;
  drain: number;
  scheduleCpu: Array<{ master: string; cpu: number; cmd: number; calls: number }>;
  drainCpu: Array<{ master: string; cpu: number; cmd: number; calls: number }>;
}

async function measure(client: RedisClient): Promise<Result> {
  const ns = `scale-${randomUUID().slice(0, 8)}`;
  const store = new TaskStore(client, { namespace: ns, shards: SHARDS, maxBatch: 500 });
  await resetStats(client);
  let before = await cpu(client);
  let t0 = performance.now();
  // schedule from 4 batches in flight: one client, calls to different masters overlap
  const batches = Array.from({ length: Math.ceil(N / 500) }, (_, b) => Array.from({ length: Math.min(500, N - b * 500) }, (_, k) => task(b * 500 + k)));
  for (let i = 0; i < batches.length; i += 4) await Promise.all(batches.slice(i, i + 4).map((b) => store.schedule(b)));
  const schedule = N / ((performance.now() - t0) / 1000);
  const scheduleCpu = perTask(before, await cpu(client), N);
  await resetStats(client);
  before = await cpu(client);
  t0 = performance.now();
  const secs = await drainWithWorker(client, ns, N, silent, SHARDS);
  const drainCpu = perTask(before, await cpu(client), N);
  for (let s = 0; s < SHARDS; s++) await client.del(...(await import('../src/store/keys.js')).shardKeys(ns, s));
  return { schedule, drain: N / secs, scheduleCpu, drainCpu };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const setups: Array<{ label: string; kind: 'standalone' | 'cluster'; masters: number }> = [
  { label: 'single Redis (no cluster mode)', kind: 'standalone', masters: 1 },
  { label: 'cluster, 1 master', kind: 'cluster', masters: 1 },
  { label: 'cluster, 3 masters', kind: 'cluster', masters: 3 },
];
const results = new Map<string, Result[]>();
for (const s of setups) {
  const srv = await servers(s.kind, s.masters);
  try {
    for (let run = 1; run <= RUNS; run++) {
      const client = srv.client();
      const r = await measure(client);
      client.disconnect();
      (results.get(s.label) ?? results.set(s.label, []).get(s.label)!).push(r);
      log(`${s.label} run ${run}/${RUNS}: schedule ${Math.round(r.schedule)}/s, drain ${Math.round(r.drain)}/s, drain CPU µs/task per master ${r.drainCpu.map((c) => c.cpu).join(' / ')}, drain calls per master ${r.drainCpu.map((c) => c.calls).join(' / ')}`);
    }
  } finally {
    await srv.stop();
  }
}

// WAIT for a replica before the offset commit: schedule calls of 100 tasks, one at a time (as a consumer's batch), with and without
const waitRuns: Array<{ waitReplicas: number; callsPerSec: number; p50Ms: number; p99Ms: number }> = [];
{
  const srv = await servers('cluster', 3, 1);
  try {
    const client = srv.client();
    await (client as Cluster).ping();
    for (const waitReplicas of [0, 1, 0, 1]) {
      const store = new TaskStore(client, { namespace: `wait-${randomUUID().slice(0, 8)}`, shards: SHARDS, maxBatch: 500, waitReplicas, waitTimeoutMs: 1_000 });
      const times: number[] = [];
      const t0 = performance.now();
      for (let b = 0; b < 300; b++) {
        const s = performance.now();
        await store.schedule(Array.from({ length: 100 }, (_, k) => task(b * 100 + k)));
        times.push(performance.now() - s);
      }
      const secs = (performance.now() - t0) / 1000;
      times.sort((a, b) => a - b);
      waitRuns.push({ waitReplicas, callsPerSec: Math.round(300 / secs), p50Ms: Number(times[150]!.toFixed(2)), p99Ms: Number(times[297]!.toFixed(2)) });
      log(`schedule of 100 tasks, waitReplicas ${waitReplicas}: ${waitRuns.at(-1)!.callsPerSec} calls/s, p50 ${waitRuns.at(-1)!.p50Ms} ms, p99 ${waitRuns.at(-1)!.p99Ms} ms`);
    }
    client.disconnect();
  } finally {
    await srv.stop();
  }
}

const summary = setups.map((s) => {
  const rs = results.get(s.label)!;
  const masterNames = rs[0]!.drainCpu.map((c) => c.master);
  const cpuOf = (pick: (r: Result) => Array<{ master: string; cpu: number; cmd: number }>, f: 'cpu' | 'cmd') =>
    masterNames.map((_, i) => median(rs.map((r) => pick(r)[i]![f])));
  return {
    setup: s.label,
    masters: s.masters,
    schedulePerSec: Math.round(median(rs.map((r) => r.schedule))),
    drainPerSec: Math.round(median(rs.map((r) => r.drain))),
    scheduleCpuUsPerTaskPerMaster: cpuOf((r) => r.scheduleCpu, 'cpu'),
    drainCpuUsPerTaskPerMaster: cpuOf((r) => r.drainCpu, 'cpu'),
    drainCommandUsPerTaskPerMaster: cpuOf((r) => r.drainCpu, 'cmd'),
  };
});
const result = { date: new Date().toISOString().slice(0, 10), tasks: N, runs: RUNS, shards: SHARDS, summary, wait: waitRuns };
writeFileSync(join(import.meta.dirname, 'results', 'scale-out.json'), JSON.stringify(result, null, 2) + '\n');
console.log(JSON.stringify(result, null, 2));
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0).toFixed(1);
console.log('\n| setup | schedule, tasks/s | drain, tasks/s | Redis CPU µs per task, schedule (per master; sum) | Redis CPU µs per task, drain (per master; sum) |');
console.log('| --- | --- | --- | --- | --- |');
for (const s of summary) {
  console.log(`| ${s.setup} | ${s.schedulePerSec} | ${s.drainPerSec} | ${s.scheduleCpuUsPerTaskPerMaster.join(' / ')}; ${sum(s.scheduleCpuUsPerTaskPerMaster)} | ${s.drainCpuUsPerTaskPerMaster.join(' / ')}; ${sum(s.drainCpuUsPerTaskPerMaster)} |`);
}
