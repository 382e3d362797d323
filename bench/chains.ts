/**
 * A drain of tasks chained in aggregates against a drain of as many
 * unchained tasks, in one process and one run, on the benchmark's own
 * redis-server: 5,000 aggregates of 10 tasks (a failed head and 9 parked
 * records behind it) against 50,000 tasks without an aggregate. Direct
 * mode, no-op handler, the worker as bench/lib.ts configures it (the
 * default worker.chainLength). Reports tasks/s, the ratio per run and of
 * medians, and Redis CPU µs per task (INFO commandstats, script calls).
 *   npx tsx bench/chains.ts
 * Env: BENCH_TASKS (50000), BENCH_CHAIN (10), BENCH_RUNS (3),
 * BENCH_CHAIN_LENGTH (the worker's chainLength; 1 = chains off, for the
 * figure before chains), BENCH_REDIS_URL.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import pino from 'pino';
import { TaskStore } from '../src/store/store.js';
import type { NewTask } from '../src/store/task.js';
import { benchRedis, drainWithWorker, dropNamespace, scriptStats } from './lib.js';

const N = Number(process.env.BENCH_TASKS ?? 50_000);
const CHAIN = Number(process.env.BENCH_CHAIN ?? 10);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const CHAIN_LENGTH = process.env.BENCH_CHAIN_LENGTH ? Number(process.env.BENCH_CHAIN_LENGTH) : undefined;
const payload = Buffer.alloc(100, 120);
const silent = pino({ level: 'silent' });
const log = (m: string) => process.stderr.write(`chains: ${m}\n`);

const server = await benchRedis('chains');
const connection = { host: server.url.hostname, port: Number(server.url.port) };
const redis = new Redis({ ...connection, maxRetriesPerRequest: null });

/** Task i: chained, aggregate i / CHAIN, the first of each failed once and the rest parked behind it; or alone. */
function task(i: number, chained: boolean): NewTask {
  const head = i % CHAIN === 0;
  return {
    id: `bench/0/${i}`,
    aggregateId: chained ? `agg-${Math.floor(i / CHAIN)}` : null,
    delayMs: 0,
    attempt: chained && !head ? 0 : 1,
    error: chained && !head ? null : { class: 'Error', message: 'boom' },
    record: { topic: 'bench', partition: 0, offset: String(i), timestamp: '1700000000000', key: Buffer.from(`k${i}`), value: payload, headers: [] },
  };
}

async function scriptUsec(): Promise<number> {
  return (await scriptStats(redis)).usec;
}

async function drain(chained: boolean): Promise<{ perSec: number; redisUsPerTask: number }> {
  const ns = `chains-${randomUUID().slice(0, 8)}`;
  const store = new TaskStore(redis, { namespace: ns, shards: 4, maxBatch: 500 });
  // in order, so each aggregate's head is stored before its followers
  for (let i = 0; i < N; i += 500) await store.schedule(Array.from({ length: Math.min(500, N - i) }, (_, k) => task(i + k, chained)));
  await redis.config('RESETSTAT');
  const secs = await drainWithWorker(connection, ns, N, silent, 4, CHAIN_LENGTH);
  const usec = await scriptUsec();
  await dropNamespace(redis, ns);
  return { perSec: N / secs, redisUsPerTask: usec / N };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const chained: Array<{ perSec: number; redisUsPerTask: number }> = [];
const plain: Array<{ perSec: number; redisUsPerTask: number }> = [];
try {
  for (let run = 1; run <= RUNS; run++) {
    plain.push(await drain(false));
    chained.push(await drain(true));
    log(`run ${run}/${RUNS}: unchained ${Math.round(plain.at(-1)!.perSec)} tasks/s (${plain.at(-1)!.redisUsPerTask.toFixed(1)} µs Redis), chains of ${CHAIN} ${Math.round(chained.at(-1)!.perSec)} tasks/s (${chained.at(-1)!.redisUsPerTask.toFixed(1)} µs Redis), ratio ${(chained.at(-1)!.perSec / plain.at(-1)!.perSec).toFixed(2)}`);
  }
} finally {
  await redis.quit();
  await server.stop();
}
const out = {
  tasks: N,
  chain: CHAIN,
  workerChainLength: CHAIN_LENGTH ?? 'default',
  runs: RUNS,
  unchainedPerSec: plain.map((r) => Math.round(r.perSec)),
  chainedPerSec: chained.map((r) => Math.round(r.perSec)),
  ratios: chained.map((r, i) => Number((r.perSec / plain[i]!.perSec).toFixed(2))),
  ratioOfMedians: Number((median(chained.map((r) => r.perSec)) / median(plain.map((r) => r.perSec))).toFixed(2)),
  redisUsPerTask: { unchained: Number(median(plain.map((r) => r.redisUsPerTask)).toFixed(1)), chained: Number(median(chained.map((r) => r.redisUsPerTask)).toFixed(1)) },
};
console.log(JSON.stringify(out));
mkdirSync('bench/results', { recursive: true });
writeFileSync(`bench/results/chains${CHAIN_LENGTH === 1 ? '-off' : ''}.json`, JSON.stringify(out, null, 2) + '\n');
