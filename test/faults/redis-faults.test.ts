/**
 * Redis faults under a running consumer and worker (separate processes), on
 * a redis-server of the test's own: killed and restarted from its
 * append-only file (fsync always, and everysec), frozen for 10 s, out of
 * memory under noeviction, and its script cache flushed. Checked by the
 * ledger: nothing lost, order kept, duplicates counted.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

/** Builds the LD_PRELOAD shim that keeps AOF writes in memory until fsync (ledger/crash-sim.c). */
function crashSim(): string {
  const dir = mkdtempSync(join(tmpdir(), 'zretry-crashsim-'));
  const so = join(dir, 'crash-sim.so');
  execFileSync('gcc', ['-shared', '-fPIC', '-O2', '-o', so, join(import.meta.dirname, 'ledger/crash-sim.c'), '-ldl', '-lpthread']);
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  return so;
}

for (const fsync of ['always', 'everysec'] as const) {
  it(`host crash, simulated (AOF writes not yet fsynced are lost), appendfsync ${fsync}: nothing lost${fsync === 'everysec' ? ' (offsets wait out the fsync window)' : ''}`, async () => {
    const redis = await ownRedis({ appendfsync: fsync, env: { LD_PRELOAD: crashSim() } });
    cleanups.push(redis.cleanup);
    const r = new LedgerRun({ redisUrl: redis.url, records: 300 });
    cleanups.push(() => r.cleanup());
    await r.start();
    await r.consumer({ LEDGER_SLOW_MS: '5' });
    await r.worker();
    await r.produce(0, 150);
    await midStream(r);
    const producing = r.produce(150, 300);
    await new Promise((res) => setTimeout(res, 300));
    await redis.kill('SIGKILL');
    const crashedAt = Date.now();
    await producing;
    await new Promise((res) => setTimeout(res, 500));
    await redis.start();
    const finished = await r.waitUntilFinished(30_000).then(
      () => true,
      () => false,
    );
    const rep = r.report();
    const lines = r.lines();
    // what was lost: stored failures whose offsets were committed, when the store lost them; how long before the crash they failed
    // (a record parked behind its aggregate's head was stored without a handler call: it has no line)
    const tried = rep.lost.filter((id) => lines.some((l) => l.id === id && l.attempt === 1));
    const ages = tried.map((id) => crashedAt - lines.find((l) => l.id === id && l.attempt === 1)!.t).sort((a, b) => a - b);
    r.summary(
      `host crash (simulated), appendfsync ${fsync}`,
      rep,
      rep.lost.length
        ? `lost: ${tried.length} failed ${ages[0]}..${ages.at(-1)} ms before the crash, ${rep.lost.length - tried.length} parked behind a failure`
        : 'nothing stored before the crash was lost',
    );
    expect(rep.outOfOrder).toEqual([]);
    expect(rep.wronglyDead).toEqual([]);
    // with everysec, the offsets of a batch that stored tasks are committed only after Redis's fsync
    // window (store.fsyncWindowMs 'auto': 2 s), so what the crash took from Redis is read again from Kafka
    expect(finished).toBe(true);
    expect(rep.lost).toEqual([]);
  }, 150_000);
}
