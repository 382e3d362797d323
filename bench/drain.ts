/**
 * The drain alone, zretry against BullMQ, in one process and one run: 100k
 * tasks all due at once, direct mode, no-op handler, concurrency 100 (the
 * drain figure of bench/compare.ts, without its probes, raw ceiling and
 * lateness runs). Each run drains zretry and then BullMQ on the same fresh
 * redis-server; the ratio is reported per run and as the ratio of medians.
 *   npx tsx bench/drain.ts
 * Env: BENCH_TASKS (100000), BENCH_RUNS (3), BENCH_ONLY=zretry (skip BullMQ,
 * e.g. under `node --cpu-prof --import tsx bench/drain.ts`),
 * BENCH_REDIS_URL (use that server instead of starting one).
 */
import { randomUUID } from 'node:crypto';
import { Queue, Worker as BullWorker } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { TaskStore } from '../src/store/store.js';
import type { NewTask } from '../src/store/task.js';
import { benchRedis, benchTask, drainWithWorker, dropNamespace } from './lib.js';

const N = Number(process.env.BENCH_TASKS ?? 100_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const ONLY = process.env.BENCH_ONLY;
const payload = Buffer.alloc(100, 120);
const silent = pino({ level: 'silent' });
const log = (m: string) => process.stderr.write(`drain: ${m}\n`);


const server = await benchRedis('drain');
const url = server.url;
const connection = { host: url.hostname, port: Number(url.port) };
const redis = new Redis({ ...connection, maxRetriesPerRequest: null });

const task = (i: number): NewTask => benchTask(i, payload);

/** Redis's own time per task over a drain, and its EVALSHA calls (INFO commandstats since RESETSTAT). */
const redisStats = async () => {
  const text = await redis.info('commandstats');
  const usec = [...text.matchAll(/usec=(\d+)/g)].reduce((a, m) => a + Number(m[1]), 0);
  const evalsha = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(text);
  return { usec, evalshaCalls: Number(evalsha?.[1] ?? 0), evalshaUsec: Number(evalsha?.[2] ?? 0) };
};
const zRedis: Array<{ usPerTask: number; evalshaCalls: number; evalshaUsPerTask: number }> = [];
const bRedis: Array<{ usPerTask: number; evalshaCalls: number; evalshaUsPerTask: number }> = [];

async function zretryDrain(): Promise<number> {
  const ns = `drain-${randomUUID().slice(0, 8)}`;
  const store = new TaskStore(redis, { namespace: ns, shards: 4, maxBatch: 500 });
  for (let i = 0; i < N; i += 500) await store.schedule(Array.from({ length: Math.min(500, N - i) }, (_, k) => task(i + k)));
  await redis.config('RESETSTAT');
  const secs = await drainWithWorker(connection, ns, N, silent);
  const rs = await redisStats();
  zRedis.push({ usPerTask: Number((rs.usec / N).toFixed(1)), evalshaCalls: rs.evalshaCalls, evalshaUsPerTask: Number((rs.evalshaUsec / N).toFixed(1)) });
  await dropNamespace(redis, ns);
  return N / secs;
}

async function bullDrain(): Promise<number> {
  const queue = new Queue(`drain-${randomUUID().slice(0, 8)}`, { connection });
  await queue.waitUntilReady();
  for (let i = 0; i < N; i += 500) {
    await queue.addBulk(Array.from({ length: Math.min(500, N - i) }, (_, k) => ({ name: 'job', data: { p: payload.toString('latin1'), i: i + k }, opts: { delay: 1, removeOnComplete: true } })));
  }
  let done = 0;
  await redis.config('RESETSTAT');
  const t0 = performance.now();
  const w = new BullWorker(queue.name, async () => void done++, { connection, concurrency: 100 });
  while (done < N) await new Promise((r) => setTimeout(r, 5));
  const secs = (performance.now() - t0) / 1000;
  await w.close();
  const rs = await redisStats();
  bRedis.push({ usPerTask: Number((rs.usec / N).toFixed(1)), evalshaCalls: rs.evalshaCalls, evalshaUsPerTask: Number((rs.evalshaUsec / N).toFixed(1)) });
  await queue.obliterate({ force: true });
  await queue.close();
  return N / secs;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const z: number[] = [];
const b: number[] = [];
for (let run = 1; run <= RUNS; run++) {
  z.push(await zretryDrain());
  if (ONLY === 'zretry') {
    log(`run ${run}/${RUNS}: zretry ${Math.round(z.at(-1)!)} tasks/s`);
    continue;
  }
  b.push(await bullDrain());
  log(`run ${run}/${RUNS}: zretry ${Math.round(z.at(-1)!)} tasks/s, BullMQ ${Math.round(b.at(-1)!)} tasks/s, ratio ${(z.at(-1)! / b.at(-1)!).toFixed(2)}`);
}
const out = {
  tasks: N,
  runs: RUNS,
  zretry: z.map(Math.round),
  bullmq: b.map(Math.round),
  ratios: z.map((v, i) => (b[i] ? Number((v / b[i]!).toFixed(2)) : null)),
  ratioOfMedians: b.length ? Number((median(z) / median(b)).toFixed(2)) : null,
  zretryRedis: zRedis,
  bullmqRedis: bRedis,
};
console.log(JSON.stringify(out));
await redis.quit();
await server.stop();
