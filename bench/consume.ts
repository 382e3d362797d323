/**
 * The consumer path users run: plain kafkajs `eachBatch` (no-op handler,
 * offsets resolved per message) against `consume()` over the same produced
 * topic, alternating, in one process and one run.
 *   npm run bench:consume
 *
 * Workloads (one topic of 4 partitions, 100-byte values, produced once):
 *   a  no failures, 1,000 keys
 *   b  5 % of records fail once (fixed 100 ms backoff), 1,000 keys
 *   c  the same over distinct keys
 *   d  5 % fail three times (exponential 100 ms x2), 1,000 keys
 * each with dispatch 'process' and 'republish'. Per run: records/s (first
 * record seen to the last record succeeded, the group join not counted),
 * Node CPU µs per record (process.cpuUsage), Redis CPU µs per record (INFO cpu) and
 * Redis script calls per batch (INFO commandstats) on the benchmark's own
 * redis-server, and the time from a parked record's head succeeding to
 * that record running (p50/p99). Medians with min and max over the rounds;
 * the ratio is zretry's median over plain kafkajs's median of the same run.
 *
 * Env: BENCH_RECORDS (100000), BENCH_ROUNDS (3), BENCH_WORKLOADS (abcd),
 * BENCH_MODES (process,republish), BENCH_TIMEOUT_S (180 per run),
 * BENCH_REDIS_URL (another server), KAFKA_BROKERS (.services/env),
 * BENCH_FSYNC_WINDOW_MS (store.fsyncWindowMs: 'auto' by default, 0 to
 * commit at once), BENCH_OUT (bench/results/consume: the .json and .md).
 * BENCH_ONLY=zretry skips plain kafkajs; BENCH_PROFILE=<dir> writes a CPU
 * profile of each consume() run (only that run: not the producing, not the
 * baseline) to <dir>/<workload>-<mode>-<round>.cpuprofile.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import kafkajs, { type Consumer } from 'kafkajs';
import { Redis } from 'ioredis';
import pino from 'pino';
import { consume } from '../src/consume.js';
import type { ConsumeConfigInput } from '../src/config/schema.js';
import type { HandlerRecord, RetryContext } from '../src/handler.js';
import { benchRedis, dropNamespace, profiled } from './lib.js';

const N = Number(process.env.BENCH_RECORDS ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WORKLOADS = [...(process.env.BENCH_WORKLOADS ?? 'abcd')] as Workload[];
const MODES = (process.env.BENCH_MODES ?? 'process,republish').split(',') as Mode[];
const TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_S ?? 180) * 1000;
const ONLY = process.env.BENCH_ONLY;
const FSYNC_WINDOW = process.env.BENCH_FSYNC_WINDOW_MS === undefined || process.env.BENCH_FSYNC_WINDOW_MS === 'auto' ? undefined : Number(process.env.BENCH_FSYNC_WINDOW_MS);
const OUT = process.env.BENCH_OUT ?? 'bench/results/consume';
const PARTITIONS = 4;
const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const log = (m: string) => process.stderr.write(`consume-bench: ${m}\n`);
const silent = pino({ level: 'silent' });
const kafka = new kafkajs.Kafka({ clientId: 'zretry-bench', brokers, logLevel: kafkajs.logLevel.NOTHING });

type Workload = 'a' | 'b' | 'c' | 'd';
type Mode = 'process' | 'republish';

const WORKLOAD: Record<Workload, { title: string; keys: 'k1000' | 'distinct'; failTimes: number; policy?: NonNullable<ConsumeConfigInput['failure']>['policy'] }> = {
  a: { title: 'no failures, 1,000 keys', keys: 'k1000', failTimes: 0 },
  b: { title: '5 % fail once (fixed 100 ms), 1,000 keys', keys: 'k1000', failTimes: 1, policy: { backoff: { type: 'fixed', delayMs: 100 }, maxAttempts: 5 } },
  c: { title: '5 % fail once (fixed 100 ms), distinct keys', keys: 'distinct', failTimes: 1, policy: { backoff: { type: 'fixed', delayMs: 100 }, maxAttempts: 5 } },
  d: { title: '5 % fail 3 times (exponential 100 ms x2), 1,000 keys', keys: 'k1000', failTimes: 3, policy: { backoff: { type: 'exponential', initialMs: 100, multiplier: 2, maxMs: 10_000 }, maxAttempts: 5 } },
};

/** One measured run. */
interface Run {
  perSec: number;
  nodeUsPerRecord: number;
  redisUsPerRecord: number;
  redisCallsPerBatch: number;
  batches: number;
  parkedP50Ms: number | null;
  parkedP99Ms: number | null;
  parked: number;
}

const server = await benchRedis('consume');
const redis = new Redis(server.url.toString(), { maxRetriesPerRequest: null });

/**
 * Redis's CPU so far (µs, INFO cpu: the whole server process, protocol
 * parsing included, which commandstats leaves out) and the client's script
 * calls (EVALSHA/EVAL in INFO commandstats; commands run inside a script are
 * counted there too, so they are left out).
 */
async function redisCounters(): Promise<{ usec: number; calls: number }> {
  const [cpu, stats] = await Promise.all([redis.info('cpu'), redis.info('commandstats')]);
  const secs = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(cpu)?.[1] ?? 0);
  let calls = 0;
  for (const m of stats.matchAll(/cmdstat_(evalsha|eval|evalsha_ro|eval_ro):calls=(\d+)/g)) calls += Number(m[2]);
  return { usec: (secs('used_cpu_user') + secs('used_cpu_sys')) * 1e6, calls };
}

/** Produces N records (100-byte values) over 1,000 keys or distinct keys. */
async function produceTopic(keys: 'k1000' | 'distinct'): Promise<string> {
  const topic = `bench-consume-${keys}-${randomUUID().slice(0, 8)}`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  const value = Buffer.alloc(100, 120);
  for (let i = 0; i < N; i += 5_000) {
    const messages = Array.from({ length: Math.min(5_000, N - i) }, (_, k) => ({ key: keys === 'k1000' ? `k${(i + k) % 1000}` : `k${i + k}`, value }));
    await producer.send({ topic, acks: -1, messages });
  }
  await producer.disconnect();
  log(`produced ${N} records to ${topic}`);
  return topic;
}

/** Counts batches through kafkajs's instrumentation event. */
function countBatches(consumer: Consumer): { n: number } {
  const c = { n: 0 };
  consumer.on(consumer.events.END_BATCH_PROCESS, () => void c.n++);
  return c;
}

async function waitUntil(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + TIMEOUT_MS;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${TIMEOUT_MS} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Plain kafkajs: eachBatch, a no-op per record, offsets resolved per message. */
async function plainRun(topic: string): Promise<Run> {
  const consumer = kafka.consumer({ groupId: `plain-${randomUUID().slice(0, 8)}` });
  const batches = countBatches(consumer);
  let seen = 0;
  let t0 = 0;
  let cpu0 = process.cpuUsage();
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset }) => {
      if (t0 === 0) {
        t0 = performance.now();
        cpu0 = process.cpuUsage();
      }
      for (const m of batch.messages) {
        seen++;
        resolveOffset(m.offset);
      }
    },
  });
  await waitUntil(() => seen >= N, `plain kafkajs saw ${seen} of ${N}`);
  const secs = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await consumer.disconnect();
  return { perSec: N / secs, nodeUsPerRecord: (cpu.user + cpu.system) / N, redisUsPerRecord: 0, redisCallsPerBatch: 0, batches: batches.n, parkedP50Ms: null, parkedP99Ms: null, parked: 0 };
}

/** Whether record (partition, offset) is one of the 5 % that fail. */
/**
 * Whether record (partition, offset) is one of the 5 % that fail: a mixing
 * hash, so that failures do not line up with keys (a key's records sit a
 * fixed number of offsets apart in its partition).
 */
const failing = (partition: number, offset: number) => (Math.imul(offset ^ (partition << 24), 0x9e3779b1) >>> 0) % 20 === 0;

/** consume() with its embedded worker, until every record succeeded once. */
async function zretryRun(topic: string, w: Workload, mode: Mode): Promise<Run> {
  const spec = WORKLOAD[w];
  const namespace = `bc-${randomUUID().slice(0, 8)}`;
  const done = Array.from({ length: PARTITIONS }, () => new Uint8Array(N));
  const lastSuccess = new Map<string, number>();
  const parkedGaps: number[] = [];
  let succeeded = 0;
  let t0 = 0;
  let cpu0 = process.cpuUsage();
  let r0 = { usec: 0, calls: 0 };
  const track = spec.failTimes > 0;
  const handler = (r: HandlerRecord, ctx: RetryContext): void => {
    if (t0 === 0) {
      t0 = performance.now();
      cpu0 = process.cpuUsage();
    }
    // no failures: nothing runs twice, a count tells when all are done (as cheap as plain kafkajs's loop)
    if (!track) {
      succeeded++;
      return;
    }
    const offset = Number(r.message.offset);
    {
      if (ctx.attempt <= spec.failTimes && failing(r.partition, offset)) throw new Error('bench failure');
      const key = r.message.key!.toString();
      const now = performance.now();
      // a parked record: first attempt, run from the scheduler
      if (ctx.attempt === 1 && ctx.taskId !== null) {
        const prev = lastSuccess.get(key);
        if (prev !== undefined) parkedGaps.push(now - prev);
      }
      lastSuccess.set(key, now);
    }
    const d = done[r.partition]!;
    if (d[offset] === 0) {
      d[offset] = 1;
      succeeded++;
    }
  };
  await redis.config('RESETSTAT');
  r0 = await redisCounters();
  const client = new Redis(server.url.toString());
  const z = await consume({
    kafka,
    groupId: `zretry-${namespace}`,
    topics: [topic],
    redis: client,
    logger: silent,
    handler,
    config: {
      store: { namespace, ...(FSYNC_WINDOW === undefined ? {} : { fsyncWindowMs: FSYNC_WINDOW }) },
      ...(spec.policy ? { failure: { policy: spec.policy } } : {}),
      consumer: { dispatch: mode, fromBeginning: true, ...(mode === 'republish' ? { retryTopicSuffix: `.retry-${namespace}` } : {}) },
    },
  });
  const batches = countBatches(z.consumer);
  await waitUntil(() => succeeded >= N, `zretry ${w}/${mode} succeeded ${succeeded} of ${N}`);
  const secs = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const r1 = await redisCounters();
  await z.close();
  await dropNamespace(redis, namespace);
  await client.quit();
  if (mode === 'republish') {
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [`${topic}.retry-${namespace}`, `${topic}.dlt`] }).catch(() => undefined);
    await admin.disconnect();
  }
  const gaps = parkedGaps.sort((x, y) => x - y);
  const pct = (p: number) => (gaps.length === 0 ? null : Number(gaps[Math.min(gaps.length - 1, Math.floor((gaps.length * p) / 100))]!.toFixed(1)));
  return {
    perSec: N / secs,
    nodeUsPerRecord: (cpu.user + cpu.system) / N,
    redisUsPerRecord: (r1.usec - r0.usec) / N,
    redisCallsPerBatch: batches.n === 0 ? 0 : (r1.calls - r0.calls) / batches.n,
    batches: batches.n,
    parkedP50Ms: pct(50),
    parkedP99Ms: pct(99),
    parked: gaps.length,
  };
}

const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const stat = (xs: number[]) => ({ median: med(xs), min: Math.min(...xs), max: Math.max(...xs) });
const fmt = (s: { median: number; min: number; max: number }, digits = 0) => `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;

const topics: Record<'k1000' | 'distinct', string | null> = { k1000: null, distinct: null };
const results: Array<{ workload: Workload; title: string; mode: Mode; plain: Run[]; zretry: Run[] }> = [];
try {
  for (const w of WORKLOADS) {
    const spec = WORKLOAD[w];
    const topic = (topics[spec.keys] ??= await produceTopic(spec.keys));
    for (const mode of MODES) {
      const row = { workload: w, title: spec.title, mode, plain: [] as Run[], zretry: [] as Run[] };
      for (let round = 0; round < ROUNDS; round++) {
        if (ONLY !== 'zretry') row.plain.push(await plainRun(topic));
        row.zretry.push(await profiled(`${w}-${mode}-${round + 1}`, () => zretryRun(topic, w, mode)));
        const p = row.plain.at(-1);
        const z = row.zretry.at(-1)!;
        log(`${w}/${mode} round ${round + 1}: plain ${p ? Math.round(p.perSec) : '-'}/s, zretry ${Math.round(z.perSec)}/s${p ? ` (${(z.perSec / p.perSec).toFixed(2)}x)` : ''}, node ${z.nodeUsPerRecord.toFixed(1)} µs, redis ${z.redisUsPerRecord.toFixed(1)} µs per record, ${z.redisCallsPerBatch.toFixed(1)} calls per batch, parked p50/p99 ${z.parkedP50Ms}/${z.parkedP99Ms} ms over ${z.parked}`);
      }
      results.push(row);
    }
  }
} finally {
  await redis.quit();
  await server.stop();
}

const lines = [
  `| workload | dispatch | plain kafkajs, records/s | consume(), records/s | ratio | Node CPU µs/record (plain / zretry) | Redis CPU µs/record | Redis script calls/batch | parked head→run p50 / p99, ms |`,
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
];
const json = results.map((r) => {
  const z = stat(r.zretry.map((x) => x.perSec));
  const p = r.plain.length ? stat(r.plain.map((x) => x.perSec)) : null;
  const ratio = p ? z.median / p.median : null;
  const zNode = stat(r.zretry.map((x) => x.nodeUsPerRecord));
  const pNode = r.plain.length ? stat(r.plain.map((x) => x.nodeUsPerRecord)) : null;
  const redisUs = stat(r.zretry.map((x) => x.redisUsPerRecord));
  const calls = stat(r.zretry.map((x) => x.redisCallsPerBatch));
  const p50s = r.zretry.map((x) => x.parkedP50Ms).filter((x): x is number => x !== null);
  const p99s = r.zretry.map((x) => x.parkedP99Ms).filter((x): x is number => x !== null);
  lines.push(
    `| ${r.workload}: ${r.title} | ${r.mode} | ${p ? fmt(p) : '-'} | ${fmt(z)} | ${ratio === null ? '-' : ratio.toFixed(2)} | ${pNode ? pNode.median.toFixed(1) : '-'} / ${zNode.median.toFixed(1)} | ${redisUs.median.toFixed(1)} | ${calls.median.toFixed(1)} | ${p50s.length ? `${med(p50s)} / ${med(p99s)}` : '-'} |`,
  );
  return { workload: r.workload, title: r.title, mode: r.mode, ratio, plain: r.plain, zretry: r.zretry };
});
const header = `${N} records, ${PARTITIONS} partitions, 100-byte values, ${ROUNDS} rounds; medians (min–max); ${new Date().toISOString()}`;
console.log(header);
console.log(lines.join('\n'));
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(`${OUT}.json`, JSON.stringify({ records: N, partitions: PARTITIONS, rounds: ROUNDS, fsyncWindowMs: FSYNC_WINDOW ?? 'auto', at: new Date().toISOString(), results: json }, null, 2) + '\n');
writeFileSync(`${OUT}.md`, `${header}\n\n${lines.join('\n')}\n`);
