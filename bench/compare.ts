/**
 * zretry against BullMQ and the raw Redis ceiling, on one machine, in one run
 * (issue "Benchmarks"). Every figure is the median of BENCH_RUNS runs (default
 * 3) with min and max; ratios are zretry / BullMQ and zretry / raw.
 *   npm run bench:compare        (starts the services itself)
 * Env: BENCH_TASKS (default 20000), BENCH_RUNS (3), BENCH_LATENESS_SECONDS (10).
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Queue, Worker as BullWorker } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { createWorker } from '../src/create-worker.js';
import { TaskStore } from '../src/store/store.js';
import type { NewTask } from '../src/store/task.js';
import { dropNamespace } from './lib.js';

const url = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const connection = { host: url.hostname, port: Number(url.port) };
const N = Number(process.env.BENCH_TASKS ?? 20_000);
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

/**
 * Samples PING latency from another client until stop(), and reads Redis's
 * slow log: every command that held Redis 5 ms or more (a Lua batch must not
 * stall Redis). The PING client shares this process's event loop with the
 * worker, so its figure includes that; the slow log does not.
 */
function pingProbe(): { stop: () => Promise<{ p99: number; max: number; slowCalls: number; slowestMs: number }> } {
  void redis.config('SET', 'slowlog-log-slower-than', '5000').then(() => redis.slowlog('RESET'));
  const r = new Redis(connection);
  const lat: number[] = [];
  let on = true;
  const loop = (async () => {
    while (on) {
      const t = performance.now();
      await r.ping();
      lat.push(performance.now() - t);
      await new Promise((res) => setTimeout(res, 2));
    }
  })();
  return {
    stop: async () => {
      on = false;
      await loop;
      r.disconnect();
      lat.sort((a, b) => a - b);
      const slow = (await redis.slowlog('GET', 1000)) as Array<[number, number, number, string[]]>;
      await redis.config('SET', 'slowlog-log-slower-than', '10000');
      return {
        p99: Number(pct(lat, 99).toFixed(2)),
        max: Number((lat.at(-1) ?? 0).toFixed(2)),
        slowCalls: slow.length,
        slowestMs: slow.reduce((m, e) => Math.max(m, e[2] / 1000), 0),
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
async function zretrySchedule(): Promise<{ perSec: number; bytesPerTask: number; ns: string }> {
  const ns = `cmp-${randomUUID().slice(0, 8)}`;
  const store = new TaskStore(redis, { namespace: ns, shards: 4, maxBatch: 500 });
  await store.schedule([task(-1, 3_600_000)]);
  const mem0 = await usedMemory();
  const t0 = performance.now();
  for (let i = 0; i < N; i += 500) await store.schedule(Array.from({ length: Math.min(500, N - i) }, (_, k) => task(i + k, 0)));
  const secs = (performance.now() - t0) / 1000;
  const bytesPerTask = (await usedMemory() - mem0) / N;
  return { perSec: N / secs, bytesPerTask, ns };
}

async function zretryDrain(ns: string): Promise<{ perSec: number; ping: { p99: number; max: number; slowCalls: number; slowestMs: number } }> {
  let done = 0;
  const probe = pingProbe();
  const t0 = performance.now();
  const w = await createWorker({
    redis: new Redis({ ...connection, maxRetriesPerRequest: 3 }),
    handler: () => void done++,
    logger: silent,
    config: { store: { namespace: ns, shards: 4 }, worker: { concurrency: 100, batchSize: 100 } },
  });
  while (done < N) await new Promise((r) => setTimeout(r, 5));
  const secs = (performance.now() - t0) / 1000;
  const ping = await probe.stop();
  await w.close();
  await w.store.redis.quit();
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
    config: { store: { namespace: ns, shards: 4 }, worker: { concurrency: 100, batchSize: 100 } },
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
async function bullAdd(): Promise<{ perSec: number; bytesPerTask: number; queue: Queue }> {
  const queue = new Queue(`cmp-${randomUUID().slice(0, 8)}`, { connection });
  await queue.waitUntilReady();
  await queue.add('warm', { p: payload.toString('latin1') }, { delay: 3_600_000 });
  const mem0 = await usedMemory();
  const t0 = performance.now();
  for (let i = 0; i < N; i += 500) {
    await queue.addBulk(Array.from({ length: Math.min(500, N - i) }, (_, k) => ({ name: 'job', data: { p: payload.toString('latin1'), i: i + k }, opts: { delay: 1, removeOnComplete: true } })));
  }
  const secs = (performance.now() - t0) / 1000;
  const bytesPerTask = (await usedMemory() - mem0) / N;
  return { perSec: N / secs, bytesPerTask, queue };
}

async function bullDrain(queue: Queue): Promise<{ perSec: number; ping: { p99: number; max: number; slowCalls: number; slowestMs: number } }> {
  let done = 0;
  const probe = pingProbe();
  const t0 = performance.now();
  const w = new BullWorker(queue.name, async () => void done++, { connection, concurrency: 100 });
  while (done < N) await new Promise((r) => setTimeout(r, 5));
  const secs = (performance.now() - t0) / 1000;
  const ping = await probe.stop();
  await w.close();
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
const latency: Record<string, Record<string, Stat>> = {};

for (let run = 1; run <= RUNS; run++) {
  log(`run ${run}/${RUNS}: raw`);
  push('raw.zadd', redisBenchmark(['zadd', 'KEY', '__rand_int__', 'm:__rand_int__']));
  push('raw.zpopmin', redisBenchmark(['zpopmin', 'KEY']));
  log(`run ${run}/${RUNS}: zretry schedule + drain of ${N}`);
  const zs = await zretrySchedule();
  push('zretry.schedule', zs.perSec);
  push('zretry.bytesPerTask', zs.bytesPerTask);
  const zd = await zretryDrain(zs.ns);
  push('zretry.drain', zd.perSec);
  push('zretry.pingMaxDuringDrain', zd.ping.max);
  push('zretry.slowCallsDuringDrain', zd.ping.slowCalls);
  push('zretry.slowestCallMs', zd.ping.slowestMs);
  log(`run ${run}/${RUNS}: bullmq add + drain of ${N}`);
  const ba = await bullAdd();
  push('bullmq.add', ba.perSec);
  push('bullmq.bytesPerTask', ba.bytesPerTask);
  const bd = await bullDrain(ba.queue);
  push('bullmq.drain', bd.perSec);
  push('bullmq.pingMaxDuringDrain', bd.ping.max);
  push('bullmq.slowCallsDuringDrain', bd.ping.slowCalls);
  push('bullmq.slowestCallMs', bd.ping.slowestMs);
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
void latency;
const machine = { cores: (await import('node:os')).cpus().length, node: process.version, redis: /redis_version:(\S+)/.exec(await redis.info('server'))![1] };
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/compare.json', JSON.stringify({ date: new Date().toISOString(), tasks: N, runs: RUNS, latenessSeconds: LATENESS_S, machine, stats, ratios }, null, 2) + '\n');
const fmt = (k: string, d = 0) => `${stats[k]!.median.toFixed(d)} (${stats[k]!.min.toFixed(d)}–${stats[k]!.max.toFixed(d)})`;
const md = [
  `| figure | zretry | BullMQ | raw Redis |`,
  `| --- | --- | --- | --- |`,
  `| schedule / add, tasks/s | ${fmt('zretry.schedule')} | ${fmt('bullmq.add')} | ZADD ${fmt('raw.zadd')} |`,
  `| drain ${N} due tasks, no-op handler, concurrency 100, tasks/s | ${fmt('zretry.drain')} | ${fmt('bullmq.drain')} | ZPOPMIN ${fmt('raw.zpopmin')} |`,
  `| PING max during the drain (client in the worker's process), ms | ${fmt('zretry.pingMaxDuringDrain', 1)} | ${fmt('bullmq.pingMaxDuringDrain', 1)} | |`,
  `| commands holding Redis >= 5 ms during the drain (slow log) | ${fmt('zretry.slowCallsDuringDrain')} | ${fmt('bullmq.slowCallsDuringDrain')} | |`,
  `| slowest command during the drain, ms | ${fmt('zretry.slowestCallMs', 1)} | ${fmt('bullmq.slowestCallMs', 1)} | |`,
  `| Redis memory per task, 100-byte payload, bytes | ${fmt('zretry.bytesPerTask')} | ${fmt('bullmq.bytesPerTask')} | |`,
  ...[1_000, 10_000].flatMap((rate) =>
    ['p50', 'p90', 'p99', 'p99.9', 'max'].map((p) => `| lateness at ${rate}/s over ${LATENESS_S} s, ${p}, ms | ${fmt(`zretry.lateness${rate}.${p}`)} | ${fmt(`bullmq.lateness${rate}.${p}`)} | |`),
  ),
  '',
  `ratios (medians): zretry/BullMQ schedule ${ratios.scheduleVsBullmqAdd.toFixed(2)}, drain ${ratios.drainVsBullmq.toFixed(2)}, memory ${ratios.memoryVsBullmq.toFixed(2)}; zretry/raw schedule vs ZADD ${ratios.scheduleVsRawZadd.toFixed(3)}, drain vs ZPOPMIN ${ratios.drainVsRawZpopmin.toFixed(3)}`,
].join('\n');
writeFileSync('bench/results/compare.md', md + '\n');
console.log(md);
await redis.quit();
