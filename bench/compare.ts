/**
 * zretry against BullMQ and the raw Redis ceiling, on one machine, in one run
 * (issue "Benchmarks"). Every figure is the median of BENCH_RUNS runs (default
 * 3) with min and max; ratios are zretry / BullMQ and zretry / raw.
 *   npm run bench:compare
 * It starts its own redis-server (the flags of scripts/services: AOF
 * everysec, noeviction) on a free port, so the slow log and INFO
 * commandstats see only the benchmark, and stops it at the end; with
 * BENCH_REDIS_URL it uses that server instead.
 * Env: BENCH_TASKS (default 100000: scheduled, then drained all due at once),
 * BENCH_RUNS (3), BENCH_LATENESS_SECONDS (10).
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Queue, Worker as BullWorker } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { createWorker } from '../src/create-worker.js';
import { loadScripts } from '../src/store/lua-loader.js';
import { TaskStore } from '../src/store/store.js';
import type { NewTask } from '../src/store/task.js';
import { benchRedis, drainWithWorker, dropNamespace } from './lib.js';

const server = await benchRedis('bench');
const url = server.url;
const connection = { host: url.hostname, port: Number(url.port) };
const N = Number(process.env.BENCH_TASKS ?? 100_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const LATENESS_S = Number(process.env.BENCH_LATENESS_SECONDS ?? 10);
const redis = new Redis({ ...connection, maxRetriesPerRequest: null });
const payload = Buffer.alloc(100, 120);
const silent = pino({ level: 'silent' });
const log = (m: string) => process.stderr.write(`bench: ${m}\n`);


type Stat = { median: number; min: number; max: number; runs: number[] };
const stat = (xs: number[]): Stat => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, min: s[0]!, max: s.at(-1)!, runs: xs };
};
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
/** Microseconds Redis spent in commands since the last CONFIG RESETSTAT (INFO commandstats). */
const redisUsec = async () => [...(await redis.info('commandstats')).matchAll(/usec=(\d+)/g)].reduce((a, m) => a + Number(m[1]), 0);

function task(i: number, delayMs = 0): NewTask {
  return {
    id: `bench/0/${i}`,
    aggregateId: null,
    delayMs,
    attempt: 1,
    error: { class: 'Error', message: 'boom' },
    record: { topic: 'bench', partition: 0, offset: String(i), timestamp: '1700000000000', key: Buffer.from(`k${i}`), value: payload, headers: [] },
  };
}

/** zretry's scripts by SHA1, to name the slow log's EVALSHA entries. */
const scriptBySha = new Map(loadScripts().map((sc) => [createHash('sha1').update(sc.lua).digest('hex'), sc.name]));
/** Times the kernel took the CPU from our own redis-server (it runs on a shared 2-core machine). */
const preemptions = () => {
  if (server.pid === null) return 0;
  try {
    return Number(/nonvoluntary_ctxt_switches:\s*(\d+)/.exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'))![1]);
  } catch {
    return 0;
  }
};
const forks = async () => Number(/total_forks:(\d+)/.exec(await redis.info('stats'))![1]);
const describeCall = (args: string[]) => (args[0]?.toLowerCase() === 'evalsha' ? `evalsha ${scriptBySha.get(args[1] ?? '') ?? (args[1] ?? '').slice(0, 8)}` : (args[0] ?? '').toLowerCase());

type Probe = { pingP99: number; pingMax: number; pings: number; slowCalls: number; slowestMs: number; slowest: string; redisUsPerTask: number; forks: number; slow: string[]; preempted: number; luaMeanMs: number };

/**
 * While a drain runs: PING latency measured by a separate process
 * (bench/ping-probe.mjs, its own event loop and connection), and Redis's
 * slow log with a 1 ms threshold, from which it counts the commands that
 * held Redis 5 ms or more and takes the slowest. Also Redis's own CPU time
 * per task over the drain (INFO commandstats, all commands).
 */
async function probeDrain(): Promise<{ stop: (tasks: number) => Promise<Probe> }> {
  const prev = ((await redis.config('GET', 'slowlog-log-slower-than')) as string[])[1]!;
  const prevLen = ((await redis.config('GET', 'slowlog-max-len')) as string[])[1]!;
  await redis.config('SET', 'slowlog-log-slower-than', '1000');
  await redis.config('SET', 'slowlog-max-len', '100000');
  await redis.slowlog('RESET');
  await redis.config('RESETSTAT');
  const forks0 = await forks();
  const preempt0 = preemptions();
  const child = spawn(process.execPath, ['bench/ping-probe.mjs', connection.host, String(connection.port)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  while (!out.includes('ready')) await new Promise((r) => setTimeout(r, 5));
  return {
    stop: async (tasks) => {
      child.stdin!.write('stop\n');
      await new Promise((r) => child.once('exit', r));
      const ping = JSON.parse(out.split('\n').find((l) => l.startsWith('{'))!) as { samples: number; p99: number; max: number };
      const statsText = await redis.info('commandstats');
      const usec = [...statsText.matchAll(/usec=(\d+)/g)].reduce((a, m) => a + Number(m[1]), 0);
      const slow = (await redis.slowlog('GET', 100000)) as Array<[number, number, number, string[]]>;
      await redis.config('SET', 'slowlog-log-slower-than', prev);
      await redis.config('SET', 'slowlog-max-len', prevLen);
      const top = slow.reduce<[number, number, number, string[]] | null>((m, e) => (!m || e[2] > m[2] ? e : m), null);
      return {
        pingP99: ping.p99,
        pingMax: ping.max,
        pings: ping.samples,
        slowCalls: slow.filter((e) => e[2] >= 5000).length,
        slowestMs: top ? top[2] / 1000 : 0,
        slowest: top ? describeCall(top[3]) : '',
        redisUsPerTask: usec / tasks,
        forks: (await forks()) - forks0,
        preempted: preemptions() - preempt0,
        luaMeanMs: (() => {
          const e = /cmdstat_(evalsha|eval):calls=(\d+),usec=(\d+)/g;
          let calls = 0;
          let us = 0;
          for (const m of statsText.matchAll(e)) {
            calls += Number(m[2]);
            us += Number(m[3]);
          }
          return calls ? us / calls / 1000 : 0;
        })(),
        slow: slow.filter((e) => e[2] >= 5000).map((e) => `${describeCall(e[3])} ${(e[2] / 1000).toFixed(1)} ms (${e[3].length} args)`),
      };
    },
  };
}

// ---- raw ceiling: redis-benchmark, pipelined, same server ----
function redisBenchmark(cmd: string[]): number {
  const key = `rawbench-${randomUUID().slice(0, 6)}`;
  const out = execFileSync('redis-benchmark', ['-h', connection.host, '-p', String(connection.port), '-n', '200000', '-P', '64', '-r', '1000000', '-q', ...cmd.map((c) => c.replace('KEY', key))], { encoding: 'utf8' });
  void redis.del(key);
  return Number(/([\d.]+) requests per second/.exec(out)![1]);
}

// ---- zretry ----
async function zretrySchedule(): Promise<{ perSec: number; bytesPerTask: number; ns: string; redisUsPerTask: number }> {
  const ns = `cmp-${randomUUID().slice(0, 8)}`;
  const store = new TaskStore(redis, { namespace: ns, shards: 4, maxBatch: 500 });
  await store.schedule([task(-1, 3_600_000)]);
  const mem0 = await usedMemory();
  await redis.config('RESETSTAT');
  const t0 = performance.now();
  for (let i = 0; i < N; i += 500) await store.schedule(Array.from({ length: Math.min(500, N - i) }, (_, k) => task(i + k, 0)));
  const secs = (performance.now() - t0) / 1000;
  const redisUsPerTask = (await redisUsec()) / N;
  const bytesPerTask = (await usedMemory() - mem0) / N;
  return { perSec: N / secs, bytesPerTask, ns, redisUsPerTask };
}

async function zretryDrain(ns: string): Promise<{ perSec: number; ping: Probe }> {
  const probe = await probeDrain();
  const secs = await drainWithWorker(connection, ns, N, silent);
  const ping = await probe.stop(N);
  await dropNamespace(redis, ns);
  return { perSec: N / secs, ping };
}

async function zretryLateness(ratePerSec: number): Promise<number[]> {
  const ns = `cmp-${randomUUID().slice(0, 8)}`;
  const store = new TaskStore(redis, { namespace: ns, shards: 4, maxBatch: 500 });
  const total = ratePerSec * LATENESS_S;
  const lateness: number[] = [];
  const w = await createWorker({
    redis: new Redis({ ...connection, maxRetriesPerRequest: 3 }),
    handler: () => undefined,
    logger: silent,
    config: { store: { namespace: ns, shards: 4 }, worker: { taskConcurrency: 100, batchSize: 100 } },
  });
  // claim time minus the task's due time, both on Redis's clock
  w.worker.events.on('claimed', (e) => lateness.push(...e.latenessMs));
  const start = Date.now() + leadMs(total);
  for (let i = 0; i < total; i += 500) {
    const now = Date.now();
    await store.schedule(Array.from({ length: Math.min(500, total - i) }, (_, k) => task(i + k, start + Math.floor(((i + k) * 1000) / ratePerSec) - now)));
  }
  while (lateness.length < total) await new Promise((r) => setTimeout(r, 20));
  await w.close();
  await w.store.redis.quit();
  await dropNamespace(redis, ns);
  return lateness.sort((a, b) => a - b);
}

/** Time to schedule everything before the first due time (both systems add at well over 3,000/s). */
function leadMs(total: number): number {
  return 2_000 + Math.ceil(total / 3_000) * 1_000;
}

// ---- BullMQ ----
async function bullAdd(): Promise<{ perSec: number; bytesPerTask: number; queue: Queue; redisUsPerTask: number }> {
  const queue = new Queue(`cmp-${randomUUID().slice(0, 8)}`, { connection });
  await queue.waitUntilReady();
  await queue.add('warm', { p: payload.toString('latin1') }, { delay: 3_600_000 });
  const mem0 = await usedMemory();
  await redis.config('RESETSTAT');
  const t0 = performance.now();
  for (let i = 0; i < N; i += 500) {
    await queue.addBulk(Array.from({ length: Math.min(500, N - i) }, (_, k) => ({ name: 'job', data: { p: payload.toString('latin1'), i: i + k }, opts: { delay: 1, removeOnComplete: true } })));
  }
  const secs = (performance.now() - t0) / 1000;
  const redisUsPerTask = (await redisUsec()) / N;
  const bytesPerTask = (await usedMemory() - mem0) / N;
  return { perSec: N / secs, bytesPerTask, queue, redisUsPerTask };
}

async function bullDrain(queue: Queue): Promise<{ perSec: number; ping: Probe }> {
  let done = 0;
  const probe = await probeDrain();
  const t0 = performance.now();
  const w = new BullWorker(queue.name, async () => void done++, { connection, concurrency: 100 });
  while (done < N) await new Promise((r) => setTimeout(r, 5));
  const secs = (performance.now() - t0) / 1000;
  await w.close();
  const ping = await probe.stop(N);
  await queue.obliterate({ force: true });
  await queue.close();
  return { perSec: N / secs, ping };
}

async function bullLateness(ratePerSec: number): Promise<number[]> {
  const queue = new Queue(`cmp-${randomUUID().slice(0, 8)}`, { connection });
  const total = ratePerSec * LATENESS_S;
  const lateness: number[] = [];
  // processing start minus the job's own due time (its timestamp + delay), both on this host's clock
  const w = new BullWorker(queue.name, async (job) => void lateness.push(Date.now() - (job.timestamp + (job.opts.delay ?? 0))), { connection, concurrency: 100 });
  await w.waitUntilReady();
  const start = Date.now() + leadMs(total);
  for (let i = 0; i < total; i += 500) {
    const now = Date.now();
    await queue.addBulk(Array.from({ length: Math.min(500, total - i) }, (_, k) => {
      const due = start + Math.floor(((i + k) * 1000) / ratePerSec);
      return { name: 'job', data: { due, p: payload.toString('latin1') }, opts: { delay: due - now, removeOnComplete: true } };
    }));
  }
  while (lateness.length < total) await new Promise((r) => setTimeout(r, 20));
  await w.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return lateness.sort((a, b) => a - b);
}

// ---- the run ----
const r: Record<string, number[]> = {};
const push = (k: string, v: number) => (r[k] ??= []).push(v);
const slowest: string[] = [];

for (let run = 1; run <= RUNS; run++) {
  log(`run ${run}/${RUNS}: raw`);
  push('raw.zadd', redisBenchmark(['zadd', 'KEY', '__rand_int__', 'm:__rand_int__']));
  push('raw.zpopmin', redisBenchmark(['zpopmin', 'KEY']));
  log(`run ${run}/${RUNS}: zretry schedule + drain of ${N}`);
  const zs = await zretrySchedule();
  push('zretry.schedule', zs.perSec);
  push('zretry.bytesPerTask', zs.bytesPerTask);
  push('zretry.redisUsPerTaskSchedule', zs.redisUsPerTask);
  const zd = await zretryDrain(zs.ns);
  push('zretry.drain', zd.perSec);
  push('zretry.pingP99DuringDrain', zd.ping.pingP99);
  push('zretry.pingMaxDuringDrain', zd.ping.pingMax);
  push('zretry.slowCallsDuringDrain', zd.ping.slowCalls);
  push('zretry.slowestCallMs', zd.ping.slowestMs);
  push('zretry.redisUsPerTaskDrain', zd.ping.redisUsPerTask);
  push('zretry.forksDuringDrain', zd.ping.forks);
  push('zretry.luaMeanMsDuringDrain', zd.ping.luaMeanMs);
  push('zretry.redisPreemptedDuringDrain', zd.ping.preempted);
  slowest.push(`zretry run ${run}: slowest ${zd.ping.slowest} ${zd.ping.slowestMs} ms; >= 5 ms: ${zd.ping.slow.join(', ') || 'none'}; forks (AOF rewrites) during the drain: ${zd.ping.forks}`);
  log(`run ${run}/${RUNS}: bullmq add + drain of ${N}`);
  const ba = await bullAdd();
  push('bullmq.add', ba.perSec);
  push('bullmq.bytesPerTask', ba.bytesPerTask);
  push('bullmq.redisUsPerTaskSchedule', ba.redisUsPerTask);
  const bd = await bullDrain(ba.queue);
  push('bullmq.drain', bd.perSec);
  push('bullmq.pingP99DuringDrain', bd.ping.pingP99);
  push('bullmq.pingMaxDuringDrain', bd.ping.pingMax);
  push('bullmq.slowCallsDuringDrain', bd.ping.slowCalls);
  push('bullmq.slowestCallMs', bd.ping.slowestMs);
  push('bullmq.redisUsPerTaskDrain', bd.ping.redisUsPerTask);
  push('bullmq.forksDuringDrain', bd.ping.forks);
  push('bullmq.luaMeanMsDuringDrain', bd.ping.luaMeanMs);
  push('bullmq.redisPreemptedDuringDrain', bd.ping.preempted);
  slowest.push(`bullmq run ${run}: slowest ${bd.ping.slowest} ${bd.ping.slowestMs} ms; >= 5 ms: ${bd.ping.slow.join(', ') || 'none'}; forks (AOF rewrites) during the drain: ${bd.ping.forks}`);
  for (const rate of [1_000, 10_000]) {
    log(`run ${run}/${RUNS}: lateness at ${rate}/s over ${LATENESS_S}s`);
    for (const [name, fn] of [['zretry', zretryLateness], ['bullmq', bullLateness]] as const) {
      const l = await fn(rate);
      for (const p of [50, 90, 99, 99.9]) push(`${name}.lateness${rate}.p${p}`, pct(l, p));
      push(`${name}.lateness${rate}.max`, l.at(-1)!);
    }
  }
}

const stats = Object.fromEntries(Object.entries(r).map(([k, v]) => [k, stat(v)]));
const m = (k: string) => stats[k]!.median;
const ratios = {
  scheduleVsBullmqAdd: m('zretry.schedule') / m('bullmq.add'),
  drainVsBullmq: m('zretry.drain') / m('bullmq.drain'),
  scheduleVsRawZadd: m('zretry.schedule') / m('raw.zadd'),
  drainVsRawZpopmin: m('zretry.drain') / m('raw.zpopmin'),
  memoryVsBullmq: m('zretry.bytesPerTask') / m('bullmq.bytesPerTask'),
};
const machine = { cores: (await import('node:os')).cpus().length, node: process.version, redis: /redis_version:(\S+)/.exec(await redis.info('server'))![1] };
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/compare.json', JSON.stringify({ date: new Date().toISOString(), tasks: N, runs: RUNS, latenessSeconds: LATENESS_S, machine, stats, ratios, slowest }, null, 2) + '\n');
const fmt = (k: string, d = 0) => `${stats[k]!.median.toFixed(d)} (${stats[k]!.min.toFixed(d)}–${stats[k]!.max.toFixed(d)})`;
const md = [
  `| figure | zretry | BullMQ | raw Redis |`,
  `| --- | --- | --- | --- |`,
  `| schedule / add, tasks/s | ${fmt('zretry.schedule')} | ${fmt('bullmq.add')} | ZADD ${fmt('raw.zadd')} |`,
  `| drain of ${N} tasks all due at once, no-op handler, concurrency 100, tasks/s | ${fmt('zretry.drain')} | ${fmt('bullmq.drain')} | ZPOPMIN ${fmt('raw.zpopmin')} |`,
  `| PING p99 during the drain (another process), ms | ${fmt('zretry.pingP99DuringDrain', 1)} | ${fmt('bullmq.pingP99DuringDrain', 1)} | |`,
  `| PING max during the drain (another process), ms | ${fmt('zretry.pingMaxDuringDrain', 1)} | ${fmt('bullmq.pingMaxDuringDrain', 1)} | |`,
  `| Redis CPU per task while scheduling (INFO commandstats), µs | ${fmt('zretry.redisUsPerTaskSchedule', 1)} | ${fmt('bullmq.redisUsPerTaskSchedule', 1)} | |`,
  `| Redis CPU per task during the drain (INFO commandstats), µs | ${fmt('zretry.redisUsPerTaskDrain', 1)} | ${fmt('bullmq.redisUsPerTaskDrain', 1)} | |`,
  `| commands holding Redis >= 5 ms during the drain (slow log) | ${fmt('zretry.slowCallsDuringDrain')} | ${fmt('bullmq.slowCallsDuringDrain')} | |`,
  `| mean Lua call (EVAL/EVALSHA) during the drain, ms | ${fmt('zretry.luaMeanMsDuringDrain', 2)} | ${fmt('bullmq.luaMeanMsDuringDrain', 2)} | |`,
  `| times the kernel preempted redis-server during the drain | ${fmt('zretry.redisPreemptedDuringDrain')} | ${fmt('bullmq.redisPreemptedDuringDrain')} | |`,
  `| forks (AOF rewrites) during the drain | ${fmt('zretry.forksDuringDrain')} | ${fmt('bullmq.forksDuringDrain')} | |`,
  `| slowest command during the drain, ms | ${fmt('zretry.slowestCallMs', 1)} | ${fmt('bullmq.slowestCallMs', 1)} | |`,
  `| Redis memory per task, 100-byte payload, bytes | ${fmt('zretry.bytesPerTask')} | ${fmt('bullmq.bytesPerTask')} | |`,
  ...[1_000, 10_000].flatMap((rate) =>
    ['p50', 'p90', 'p99', 'p99.9', 'max'].map((p) => `| lateness at ${rate}/s over ${LATENESS_S} s, ${p}, ms | ${fmt(`zretry.lateness${rate}.${p}`)} | ${fmt(`bullmq.lateness${rate}.${p}`)} | |`),
  ),
  '',
  `ratios (medians): zretry/BullMQ schedule ${ratios.scheduleVsBullmqAdd.toFixed(2)}, drain ${ratios.drainVsBullmq.toFixed(2)}, memory ${ratios.memoryVsBullmq.toFixed(2)}; zretry/raw schedule vs ZADD ${ratios.scheduleVsRawZadd.toFixed(3)}, drain vs ZPOPMIN ${ratios.drainVsRawZpopmin.toFixed(3)}`,
  '',
  'slow calls during each drain (slow log, 1 ms threshold):',
  '',
  ...slowest.map((l) => `- ${l}`),
].join('\n');
writeFileSync('bench/results/compare.md', md + '\n');
console.log(md);
await redis.quit();
await server.stop();
