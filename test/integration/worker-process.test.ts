/**
 * `zretry worker` as a process: /metrics scraped during a run (counters move,
 * gauges match `zretry stats`), the token enforced, and SIGTERM during
 * in-flight work loses nothing and runs nothing twice.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { TaskStore } from '../../src/store/store.js';
import { newRedis, redisUrl, testingCluster, uniqueNamespace, waitFor, dropNamespace } from '../helpers/env.js';
import { freePort, ownRedis } from '../helpers/redis-process.js';
import { failed } from '../lua/fixtures.js';

const cleanups: Array<() => Promise<void>> = [];
/** On the cluster, enough shards to reach every master. */
const SHARDS = testingCluster() ? 16 : 2;
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

/** A handler module that appends each record's offset to a file after sleepMs; fails offsets listed in FAIL. */
function handlerModule(dir: string, sleepMs: number): { path: string; log: string } {
  const log = join(dir, 'done.log');
  const path = join(dir, 'handler.mjs');
  writeFileSync(log, '');
  writeFileSync(
    path,
    `import { appendFileSync } from 'node:fs';
export default async function handler(record, ctx) {
  await new Promise((r) => setTimeout(r, ${sleepMs}));
  if ((process.env.FAIL ?? '').split(',').includes(record.message.offset) && ctx.attempt < 3) throw new Error('not yet');
  appendFileSync(${JSON.stringify(log)}, record.message.offset + '\\n');
}
`,
  );
  return { path, log };
}

async function startWorker(namespace: string, handler: string, env: Record<string, string> = {}): Promise<{ proc: ChildProcess; url: string; exited: Promise<number | null>; output: () => string }> {
  const proc = spawn('node', ['bin/zretry.js', 'worker', '--handler', handler], {
    env: { ...process.env, ZRETRY_REDIS_URL: redisUrl(), ...(testingCluster() ? { ZRETRY_REDIS_CLUSTER: '1' } : {}), ZRETRY_NAMESPACE: namespace, ZRETRY_SHARDS: String(SHARDS), ZRETRY_HTTP_PORT: '0', ZRETRY_LEASE_MS: '5000', ZRETRY_CLOSE_TIMEOUT_MS: '5000', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  cleanups.push(async () => {
    proc.kill('SIGKILL');
  });
  await waitFor(() => /admin endpoint listening/.test(out), 20_000, `the worker to start (output so far: ${out.slice(0, 300)})`);
  const url = /"url":"([^"]+)"/.exec(out)![1]!;
  return { proc, url, exited, output: () => out };
}

/** A namespace cleaned up after the test, and a handler module sleeping sleepMs. */
function setup(sleepMs: number): { redis: ReturnType<typeof newRedis>; namespace: string; h: { path: string; log: string } } {
  const redis = newRedis();
  const namespace = uniqueNamespace();
  cleanups.push(async () => {
    await dropNamespace(redis, namespace);
    await redis.quit();
  });
  return { redis, namespace, h: handlerModule(mkdtempSync(join(tmpdir(), 'zretry-worker-')), sleepMs) };
}

/** The value of the first series of name whose labels include these. */
function metricValue(body: string, name: string, labels: Record<string, string> = {}): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = body.split('\n').find((l) => (l.startsWith(name + '{') || l.startsWith(name + ' ')) && want.every((w) => l.includes(w)));
  return line ? Number(line.split(' ').at(-1)) : NaN;
}

it('/metrics shows the counters moving and the gauges matching the store; the token is enforced, and never logged', async () => {
  const { redis, namespace, h } = setup(5);
  const w = await startWorker(namespace, h.path, { FAIL: '3', ZRETRY_HTTP_TOKEN: 'sekrit-token', ZRETRY_LOG_LEVEL: 'trace' });
  const auth = { authorization: 'Bearer sekrit-token' };
  expect((await fetch(`${w.url}/metrics`)).status).toBe(401);
  expect((await fetch(`${w.url}/api/stats`, { headers: { authorization: 'Bearer sekrit-token-typo' } })).status).toBe(401);
  const ready = await fetch(`${w.url}/readyz`, { headers: auth });
  expect(ready.status).toBe(200);
  // on a cluster, one line per master
  if (testingCluster()) expect((await ready.text()).split('\n').filter((l) => / ok$/.test(l))).toHaveLength(3);

  const store = new TaskStore(redis, { namespace, shards: SHARDS, maxBatch: 100 });
  await store.schedule([failed(1, 'a'), failed(2, 'b'), failed(3, 'c'), failed(4, 'd', 60_000)]);
  await waitFor(() => readFileSync(h.log, 'utf8').split('\n').filter(Boolean).length === 3, 20_000, 'three tasks to succeed');
  // the counter moves when the ack is written, a moment after the handler's own log line
  let body = '';
  await waitFor(async () => {
    body = await (await fetch(`${w.url}/metrics`, { headers: auth })).text();
    return metricValue(body, 'zretry_succeeded_total') === 3;
  }, 5_000, 'zretry_succeeded_total to reach 3');
  expect(metricValue(body, 'zretry_succeeded_total')).toBe(3);
  expect(metricValue(body, 'zretry_retried_total')).toBe(1);
  expect(metricValue(body, 'zretry_lateness_seconds_count')).toBeGreaterThanOrEqual(4);
  const s = (await store.stats()).total;
  expect(metricValue(body, 'zretry_tasks', { namespace, state: 'scheduled' })).toBe(s.dueLater);
  expect(metricValue(body, 'zretry_tasks', { namespace, state: 'inflight' })).toBe(s.inflight);
  expect(metricValue(body, 'zretry_tasks', { namespace, state: 'due' })).toBe(s.dueNow);
  expect(s.dueLater).toBe(1);
  // every handler call timed by topic and result: 3 successes, and the failure of offset 3
  expect(metricValue(body, 'zretry_handler_duration_seconds_count', { namespace, topic: 'orders', result: 'success' })).toBe(3);
  expect(metricValue(body, 'zretry_handler_duration_seconds_count', { namespace, topic: 'orders', result: 'error' })).toBe(1);
  expect(metricValue(body, 'zretry_succeeded_total', { namespace, topic: 'orders' })).toBe(3);
  // Node's process metrics, from the standalone worker only
  expect(metricValue(body, 'process_cpu_seconds_total')).toBeGreaterThan(0);
  expect(metricValue(body, 'nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
  // at level trace, through start-up, a refused request and the work: the token (right or mistyped) is in no line
  expect(w.output()).toMatch(/admin endpoint listening/);
  expect(w.output()).not.toContain('sekrit-token');
});

it('started before its Redis, the worker logs each try with the address and starts when Redis comes up', async () => {
  const own = await ownRedis();
  cleanups.push(() => own.cleanup());
  await own.kill();
  const namespace = uniqueNamespace();
  const h = handlerModule(mkdtempSync(join(tmpdir(), 'zretry-worker-')), 0);
  const proc = spawn('node', ['bin/zretry.js', 'worker', '--handler', h.path], {
    env: { ...process.env, ZRETRY_REDIS_URL: own.url, ZRETRY_NAMESPACE: namespace, ZRETRY_HTTP_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  cleanups.push(async () => void proc.kill('SIGKILL'));
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const tries = () => out.split('\n').filter((l) => l.includes('cannot start yet; retrying'));
  await waitFor(() => tries().length >= 2, 20_000, `two logged tries (output: ${out.slice(0, 500)})`);
  const first = JSON.parse(tries()[0]!) as { level: number; attempt: number; retryInMs: number; err: string };
  expect(first).toMatchObject({ level: 40, attempt: 1 });
  expect(first.err).toBe(`cannot reach Redis at ${own.url} (ECONNREFUSED): is it running? Point --redis or ZRETRY_REDIS_URL at it`);
  expect(out).not.toContain('Unhandled error event');
  await own.start();
  await waitFor(() => /admin endpoint listening/.test(out), 30_000, 'the worker to start once Redis is up');
  expect(out).toMatch(/"level":30,.*"msg":"connected: worker starting"/);
  proc.kill('SIGTERM');
  expect(await exited).toBe(0);
});

it('ZRETRY_LOG_LEVEL=warn: the worker runs and serves, and logs no info lines', async () => {
  const { namespace, h } = setup(0);
  const port = await freePort();
  const proc = spawn('node', ['bin/zretry.js', 'worker', '--handler', h.path], {
    env: { ...process.env, ZRETRY_REDIS_URL: redisUrl(), ...(testingCluster() ? { ZRETRY_REDIS_CLUSTER: '1' } : {}), ZRETRY_NAMESPACE: namespace, ZRETRY_HTTP_PORT: String(port), ZRETRY_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  cleanups.push(async () => void proc.kill('SIGKILL'));
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null))?.status === 200, 20_000, 'the worker to serve /healthz');
  proc.kill('SIGTERM');
  expect(await exited).toBe(0);
  expect(out).not.toContain('"level":30');
});

it('SIGTERM during in-flight work: running handlers finish, nothing is lost, nothing that succeeded runs twice', async () => {
  const { redis, namespace, h } = setup(400);
  const store = new TaskStore(redis, { namespace, shards: SHARDS, maxBatch: 100 });
  await store.schedule(Array.from({ length: 30 }, (_, i) => failed(i, null)));
  const w = await startWorker(namespace, h.path, { ZRETRY_TASK_CONCURRENCY: '10' });
  await waitFor(async () => (await store.stats()).total.inflight > 0, 10_000, 'work in flight');
  w.proc.kill('SIGTERM');
  expect(await w.exited).toBe(0);
  const doneFirst = readFileSync(h.log, 'utf8').split('\n').filter(Boolean);
  expect(doneFirst.length).toBeGreaterThan(0);
  expect((await store.stats()).total.inflight).toBe(0); // finished or released, none left claimed

  // a second worker finishes the rest
  const w2 = await startWorker(namespace, h.path, { ZRETRY_TASK_CONCURRENCY: '10' });
  await waitFor(async () => {
    const s = (await store.stats()).total;
    return s.dueNow + s.dueLater + s.inflight === 0;
  }, 20_000, 'the rest to finish');
  w2.proc.kill('SIGTERM');
  expect(await w2.exited).toBe(0);
  const done = readFileSync(h.log, 'utf8').split('\n').filter(Boolean);
  expect(new Set(done).size).toBe(30); // nothing lost
  expect(done.length).toBe(30); // nothing that succeeded ran twice
});
