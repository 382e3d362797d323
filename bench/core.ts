/**
 * Scheduler-core figures (issue 3): Redis memory per task, round trips per
 * task in claim + ack at batch sizes 1, 100 and 1000, claim+ack throughput
 * against a raw ZADD/ZPOPMIN baseline run in the same process, and the
 * lateness of a direct-mode worker. Not part of the test run:
 *   npm run bench            (starts the services itself)
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import pino from 'pino';
import { createWorker } from '../src/create-worker.js';
import { TaskStore } from '../src/store/store.js';
import type { NewTask } from '../src/store/task.js';
import { benchTask } from './lib.js';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const redis = new Redis(url);
const results: Record<string, unknown> = {};

const task = (i: number, agg: string | null, payload: Buffer): NewTask => benchTask(i, payload, agg);

async function cleanup(ns: string): Promise<void> {
  for (;;) {
    const [, keys] = await redis.scan('0', 'MATCH', `{${ns}:*`, 'COUNT', 1000);
    const all = await redis.keys(`{${ns}:*`);
    if (all.length === 0 && keys.length === 0) return;
    if (all.length) await redis.del(...all);
  }
}

async function evalCalls(): Promise<number> {
  const info = await redis.info('commandstats');
  return [...info.matchAll(/cmdstat_(evalsha|eval):calls=(\d+)/g)].reduce((s, m) => s + Number(m[2]), 0);
}

async function memoryPerTask(n: number, payloadBytes: number, withAgg: boolean): Promise<{ bytesPerTask: number; beyondPayload: number }> {
  const ns = `bench-${randomUUID().slice(0, 8)}`;
  const store = new TaskStore(redis, { namespace: ns, shards: 1, maxBatch: 500 });
  const payload = Buffer.alloc(payloadBytes, 120);
  await store.schedule([task(-1, null, payload)]); // keys exist before the baseline
  const before = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
  for (let i = 0; i < n; i += 500) {
    await store.schedule(Array.from({ length: Math.min(500, n - i) }, (_, k) => task(i + k, withAgg ? `agg-${(i + k) % 1000}` : null, payload)));
  }
  const after = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
  await cleanup(ns);
  const bytesPerTask = (after - before) / n;
  return { bytesPerTask: Math.round(bytesPerTask), beyondPayload: Math.round(bytesPerTask - payloadBytes) };
}

async function claimAck(n: number, batch: number): Promise<{ roundTripsPerTask: number; tasksPerSec: number }> {
  const ns = `bench-${randomUUID().slice(0, 8)}`;
  const store = new TaskStore(redis, { namespace: ns, shards: 1, maxBatch: 1000 });
  const payload = Buffer.alloc(100, 120);
  for (let i = 0; i < n; i += 1000) await store.schedule(Array.from({ length: Math.min(1000, n - i) }, (_, k) => task(i + k, null, payload)));
  const calls0 = await evalCalls();
  const t0 = performance.now();
  let done = 0;
  while (done < n) {
    const c = await store.claim(0, batch, 60_000);
    if (c.tasks.length === 0) break;
    await store.ack(c.tasks.map((t) => ({ id: t.id, shard: 0, token: t.token })));
    done += c.tasks.length;
  }
  const secs = (performance.now() - t0) / 1000;
  const calls = (await evalCalls()) - calls0 - 1; // minus this INFO's own nothing; evalCalls reads INFO, not EVAL
  await cleanup(ns);
  return { roundTripsPerTask: Number(((calls + 1) / n).toFixed(4)), tasksPerSec: Math.round(done / secs) };
}

async function rawBaseline(n: number, batch: number): Promise<number> {
  const key = `bench-raw-${randomUUID().slice(0, 8)}`;
  for (let i = 0; i < n; i += 1000) {
    const args: (string | number)[] = [];
    for (let k = i; k < Math.min(n, i + 1000); k++) args.push(k, `m${k}`);
    await redis.zadd(key, ...args);
  }
  const t0 = performance.now();
  let done = 0;
  while (done < n) {
    const r = await redis.zpopmin(key, batch);
    if (r.length === 0) break;
    done += r.length / 2;
  }
  const secs = (performance.now() - t0) / 1000;
  await redis.del(key);
  return Math.round(done / secs);
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function lateness(n: number, spreadMs: number): Promise<Record<string, number>> {
  const ns = `bench-${randomUUID().slice(0, 8)}`;
  const store = new TaskStore(redis, { namespace: ns, shards: 4, maxBatch: 500 });
  const lates: number[] = [];
  let ran = 0;
  const w = await createWorker({
    redis: new Redis(url),
    handler: () => void ran++,
    logger: pino({ level: 'silent' }),
    config: { store: { namespace: ns, shards: 4 }, worker: { taskConcurrency: 200, batchSize: 200 } },
  });
  w.worker.events.on('claimed', (e) => lates.push(...e.latenessMs));
  const payload = Buffer.alloc(100, 120);
  const tasks = Array.from({ length: n }, (_, i) => ({ ...task(i, null, payload), delayMs: 200 + Math.floor((i / n) * spreadMs) }));
  for (let i = 0; i < n; i += 500) await store.schedule(tasks.slice(i, i + 500));
  const end = Date.now() + spreadMs + 10_000;
  while (ran < n && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  await w.close();
  await w.store.redis.quit();
  await cleanup(ns);
  lates.sort((a, b) => a - b);
  return { tasks: n, spreadMs, p50: pct(lates, 50), p90: pct(lates, 90), p99: pct(lates, 99), max: lates.at(-1)! };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

console.log(`Redis ${url}`);
results.memory = {
  payload100_noAggregate: await memoryPerTask(20_000, 100, false),
  payload100_withAggregate: await memoryPerTask(20_000, 100, true),
};
console.log('memory per task (used_memory delta / tasks, 20k tasks, 100-byte payload):', JSON.stringify(results.memory));

const rows: Record<string, unknown>[] = [];
for (const batch of [1, 100, 1000]) {
  const n = batch === 1 ? 5_000 : 50_000;
  const runs = [];
  const raws = [];
  for (let r = 0; r < 3; r++) {
    runs.push(await claimAck(n, batch));
    raws.push(await rawBaseline(n, batch));
  }
  const row = {
    batch,
    roundTripsPerTask: runs[0]!.roundTripsPerTask,
    claimAckTasksPerSec: median(runs.map((x) => x.tasksPerSec)),
    rawZpopminPerSec: median(raws),
    ratioVsRaw: Number((median(runs.map((x) => x.tasksPerSec)) / median(raws)).toFixed(3)),
  };
  rows.push(row);
  console.log('claim+ack', JSON.stringify(row));
}
results.claimAck = rows;
results.lateness = await lateness(2_000, 2_000);
console.log('lateness (claim time - due time, ms, Redis clock):', JSON.stringify(results.lateness));

mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/core.json', JSON.stringify({ date: new Date().toISOString(), redis: url, ...results }, null, 2) + '\n');
await redis.quit();
