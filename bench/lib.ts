/** Small helpers shared by the benchmarks. */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { createWorker } from '../src/create-worker.js';
import type { RedisClient } from '../src/store/client.js';
import type { NewTask } from '../src/store/task.js';

/** The benchmarks' task: a first failure of record i of topic bench, due at once. */
export function benchTask(i: number, payload: Buffer, agg: string | null = null): NewTask {
  return {
    id: `bench/0/${i}`,
    aggregateId: agg,
    delayMs: 0,
    attempt: 1,
    error: { class: 'Error', message: 'boom' },
    record: { topic: 'bench', partition: 0, offset: String(i), timestamp: '1700000000000', key: Buffer.from(`k${i}`), value: payload, headers: [] },
  };
}

/**
 * Redis time in Lua scripts (EVAL and EVALSHA in INFO commandstats: calls
 * and usec) since the last CONFIG RESETSTAT; reset starts a new count.
 */
export async function scriptStats(redis: Redis, reset = false): Promise<{ calls: number; usec: number }> {
  const text = await redis.info('commandstats');
  let calls = 0;
  let usec = 0;
  for (const m of text.matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+),usec=(\d+)/g)) {
    calls += Number(m[1]);
    usec += Number(m[2]);
  }
  if (reset) await redis.config('RESETSTAT');
  return { calls, usec };
}

/** Deletes every key of a namespace. */
export async function dropNamespace(redis: Redis, namespace: string): Promise<void> {
  const keys = await redis.keys(`{${namespace}:*`);
  if (keys.length) await redis.del(...keys);
}

/** The Redis a benchmark runs against: BENCH_REDIS_URL, or a redis-server of its own. */
export interface BenchRedis {
  url: URL;
  /** The own server's pid; null for BENCH_REDIS_URL. */
  pid: number | null;
  /** Stops the own server and removes its directory. */
  stop(): Promise<void>;
}

/**
 * BENCH_REDIS_URL if set; else a redis-server of the benchmark's own on a
 * free port, configured as scripts/services configures the shared one (AOF
 * everysec, noeviction), so its slow log and INFO commandstats see only the
 * benchmark.
 */
export async function benchRedis(label: string): Promise<BenchRedis> {
  if (process.env.BENCH_REDIS_URL) return { url: new URL(process.env.BENCH_REDIS_URL), pid: null, stop: async () => {} };
  const port = await new Promise<number>((res) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => res(p));
    });
  });
  const dir = mkdtempSync(join(tmpdir(), `zretry-${label}-redis-`));
  const proc = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '', '--maxmemory-policy', 'noeviction'], { stdio: 'ignore' });
  const stop = async () => {
    proc.kill();
    await new Promise((r) => proc.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 100; i++) {
    try {
      const r = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      r.on('error', () => {});
      await r.connect();
      await r.ping();
      r.disconnect();
      return { url: new URL(`redis://127.0.0.1:${port}`), pid: proc.pid ?? null, stop };
    } catch {
      await new Promise((res) => setTimeout(res, 100));
    }
  }
  await stop();
  throw new Error(`${label}: redis-server did not start on port ${port}`);
}

/**
 * Drains a namespace with one direct-mode worker as the benchmarks configure
 * it (no-op handler, concurrency 100, batchSize 100, 4 shards unless told,
 * the default chainLength unless given) until n tasks ran; returns the
 * seconds from start to the n-th run (close not counted). connection: a
 * single Redis's address, or a client (a cluster's) the worker takes and
 * the caller closes.
 */
export async function drainWithWorker(connection: { host: string; port: number } | RedisClient, ns: string, n: number, logger: Logger, shards = 4, chainLength?: number): Promise<number> {
  let done = 0;
  const own = !('status' in connection);
  const t0 = performance.now();
  const w = await createWorker({
    redis: own ? new Redis({ ...(connection as { host: string; port: number }), maxRetriesPerRequest: 3 }) : (connection as RedisClient),
    handler: () => void done++,
    logger,
    config: { store: { namespace: ns, shards }, worker: { taskConcurrency: 100, batchSize: 100, ...(chainLength ? { chainLength } : {}) } },
  });
  while (done < n) await new Promise((r) => setTimeout(r, 5));
  const secs = (performance.now() - t0) / 1000;
  await w.close();
  if (own) await w.store.redis.quit();
  return secs;
}

/**
 * Runs fn under the V8 profiler when BENCH_PROFILE names a directory, and
 * writes <dir>/<name>.cpuprofile: a profile of that run alone (not the
 * setup, not the baseline), for chrome://inspect or speedscope.
 */
export async function profiled<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const dir = process.env.BENCH_PROFILE;
  if (!dir) return fn();
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  try {
    return await fn();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    mkdirSync(dir, { recursive: true });
    writeFileSync(`${dir}/${name}.cpuprofile`, JSON.stringify(profile));
    session.disconnect();
  }
}
