/**
 * Redis faults under a running consumer and worker (separate processes), on
 * a redis-server of the test's own: killed and restarted from its
 * append-only file (fsync always, and everysec), frozen for 10 s, out of
 * memory under noeviction, and its script cache flushed. Checked by the
 * ledger: nothing lost, order kept, duplicates counted.
 */
import { Redis } from 'ioredis';
import { afterEach, expect, it } from 'vitest';
import { waitFor } from '../helpers/env.js';
import { ownRedis, type OwnRedis } from '../helpers/redis-process.js';
import { LedgerRun } from './ledger/ledger.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function setup(appendfsync: 'always' | 'everysec' = 'always'): Promise<{ redis: OwnRedis; r: LedgerRun }> {
  const redis = await ownRedis({ appendfsync });
  cleanups.push(redis.cleanup);
  const r = new LedgerRun({ redisUrl: redis.url, records: 300 });
  cleanups.push(() => r.cleanup());
  await r.start();
  return { redis, r };
}

/** Waits until the consumer is mid-stream with tasks in Redis. */
async function midStream(r: LedgerRun): Promise<void> {
  await waitFor(() => r.lines().filter((l) => l.ev === 'fail').length >= 10 && r.lines().length >= 60, 30_000, 'the run to be mid-stream');
}

for (const fsync of ['always', 'everysec'] as const) {
  it(`Redis SIGKILLed mid-run and restarted from its AOF (appendfsync ${fsync}): nothing lost`, async () => {
    const { redis, r } = await setup(fsync);
    await r.consumer({ LEDGER_SLOW_MS: '5' });
    await r.worker();
    await r.produce(0, 150);
    await midStream(r);
    await redis.kill('SIGKILL');
    const downAt = Date.now();
    // records keep arriving while Redis is down
    await Promise.all([r.produce(150, 300), new Promise((res) => setTimeout(res, 1_000))]);
    await redis.start();
    const upAt = Date.now();
    await r.waitUntilFinished(90_000);
    const rep = r.report();
    const firstAfter = r.lines().find((l) => l.t > upAt && l.ev !== 'killed');
    r.summary(`Redis kill -9, 1 s down, appendfsync ${fsync}`, rep, `work resumed ${firstAfter ? firstAfter.t - upAt : '?'} ms after Redis was back (down ${upAt - downAt} ms)`);
    expect(rep.lost).toEqual([]);
    expect(rep.outOfOrder).toEqual([]);
    expect(rep.wronglyDead).toEqual([]);
  }, 150_000);
}

it('Redis unreachable for 10 s (SIGSTOP, connections hang): calls time out, the consumer pauses, then resumes; nothing lost', async () => {
  const { redis, r } = await setup();
  const c = await r.consumer({ LEDGER_SLOW_MS: '5' });
  await r.worker();
  await r.produce(0, 150);
  await midStream(r);
  redis.signal('SIGSTOP');
  const frozenAt = Date.now();
  // records keep arriving while Redis does not answer
  await Promise.all([r.produce(150, 300), new Promise((res) => setTimeout(res, 10_000))]);
  const during = r.lines().filter((l) => l.t > frozenAt + 2_000 && l.t < frozenAt + 10_000 && l.role === 'consumer' && l.ev === 'fail').length;
  redis.signal('SIGCONT');
  const backAt = Date.now();
  await r.waitUntilFinished(90_000);
  const rep = r.report();
  const firstAfter = r.lines().find((l) => l.t > backAt);
  r.summary('Redis unreachable 10 s (SIGSTOP)', rep, `work resumed ${firstAfter ? firstAfter.t - backAt : '?'} ms after Redis answered again`);
  // failures cannot be stored while Redis is frozen, so the consumer does not run ahead of them
  expect(during).toBe(0);
  expect(c.proc.exitCode).toBeNull();
  // store.commandTimeoutMs (2 s here) turns the hang into an error: the partition pauses instead of waiting silently
  expect(c.output(), c.output().slice(-4000)).toMatch(/Command timed out.*partition paused/);
  expect(rep.lost).toEqual([]);
  expect(rep.outOfOrder).toEqual([]);
  expect(rep.wronglyDead).toEqual([]);
}, 150_000);

it('Redis out of memory under noeviction: writes refused, offsets held back, everything goes through once memory frees', async () => {
  const { redis, r } = await setup();
  const admin = new Redis(redis.url);
  cleanups.push(async () => admin.disconnect());
  const c = await r.consumer();
  await r.worker();
  const used = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]);
  await admin.config('SET', 'maxmemory', String(used + 64 * 1024));
  await r.produce();
  await waitFor(() => /OOM/.test(c.output()), 30_000, 'the consumer to meet the out-of-memory refusal');
  await new Promise((res) => setTimeout(res, 2_000));
  const lagWhileFull = await r.lag();
  const okWhileFull = new Set(r.lines().filter((l) => l.ev === 'ok').map((l) => l.id)).size;
  await admin.config('SET', 'maxmemory', '0');
  const freedAt = Date.now();
  await r.waitUntilFinished(90_000);
  const rep = r.report();
  r.summary('Redis OOM (noeviction)', rep, `${okWhileFull} records done and ${lagWhileFull} not committed while full; finished ${Date.now() - freedAt} ms after memory freed`);
  expect(/partition paused/.test(c.output())).toBe(true);
  expect(lagWhileFull).toBeGreaterThan(0);
  expect(rep.lost).toEqual([]);
  expect(rep.outOfOrder).toEqual([]);
  expect(rep.wronglyDead).toEqual([]);
}, 150_000);

it('SCRIPT FLUSH every 200 ms while running: scripts are loaded again, nothing lost', async () => {
  const { redis, r } = await setup();
  const admin = new Redis(redis.url);
  cleanups.push(async () => admin.disconnect());
  await r.consumer();
  await r.worker();
  let flushes = 0;
  const flusher = setInterval(() => void admin.script('FLUSH').then(() => flushes++), 200);
  cleanups.push(async () => clearInterval(flusher));
  await r.produce();
  await r.waitUntilFinished(90_000);
  clearInterval(flusher);
  const rep = r.report();
  r.summary('SCRIPT FLUSH every 200 ms', rep, `${flushes} flushes`);
  expect(flushes).toBeGreaterThan(5);
  expect(rep.lost).toEqual([]);
  expect(rep.outOfOrder).toEqual([]);
  expect(rep.wronglyDead).toEqual([]);
}, 150_000);
