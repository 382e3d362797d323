/**
 * The consumer process killed between storing a failure in Redis and the
 * offset commit, and a rebalance in the middle of a batch: checked by the
 * ledger (nothing lost, order per aggregate, duplicates counted).
 */
import { expect, it } from 'vitest';
import { waitFor } from '../helpers/env.js';
import { ledgerRuns } from './ledger/ledger.js';

const run = ledgerRuns();

it('consumer SIGKILLed after a failure is stored, before the offset commit: the re-read skips the stored record, nothing lost', async () => {
  const r = await run();
  const c1 = await r.consumer({ LEDGER_KILL: 'scheduled' });
  await r.produce();
  expect(await c1.exited).toBeNull();
  const kill = r.lines().find((l) => l.ev === 'killed')!;
  const restartedAt = Date.now();
  await r.consumer();
  // the worker starts once the new consumer has re-read everything, so the stored task is still live when it is re-read
  await waitFor(async () => (await r.lag()) === 0, 60_000, 'the new consumer to re-read and commit the topic');
  await r.worker();
  await r.waitUntilFinished();
  const rep = r.report();
  const lines = r.lines();
  // the stored record is a task now: re-reading it must not run it again as a first try
  const firstTries = lines.filter((l) => l.id === kill.stored && l.attempt === 1).length;
  const resumedAfter = lines.find((l) => l.t > restartedAt && l.role === 'consumer' && l.ev !== 'killed')!.t - restartedAt;
  r.summary('consumer kill -9 between schedule and commit', rep, `re-read after restart: first records handled ${resumedAfter} ms after the new consumer started`);
  expect(kill.stored).toBeTruthy();
  expect(firstTries).toBe(1);
  expect(rep.lost).toEqual([]);
  expect(rep.outOfOrder).toEqual([]);
  expect(rep.wronglyDead).toEqual([]);
  // redelivered: what the dead consumer handled past its last commit, at most the records it read
  expect(rep.duplicates).toBeLessThanOrEqual(lines.filter((l) => l.pid === kill.pid && l.ev === 'ok').length);
}, 120_000);

it('a second consumer joins mid-batch (rebalance): nothing lost, order kept, duplicates counted', async () => {
  const r = await run({ records: 300 });
  const a = await r.consumer({ LEDGER_SLOW_MS: '150' });
  await r.worker();
  await r.produce();
  await waitFor(() => r.lines().filter((l) => l.role === 'consumer').length >= 30, 30_000, 'the first consumer to be mid-stream');
  const b = await r.consumer({ LEDGER_SLOW_MS: '150' });
  await r.waitUntilFinished(90_000);
  const rep = r.report();
  const byB = r.lines().filter((l) => l.pid === b.proc.pid).length;
  r.summary('rebalance mid-batch (second consumer joins)', rep, `second consumer handled ${byB} calls`);
  expect(/group joined/.test(a.output())).toBe(true);
  expect(byB, 'the second consumer should have taken a partition over').toBeGreaterThan(0);
  expect(rep.lost).toEqual([]);
  expect(rep.outOfOrder).toEqual([]);
  expect(rep.wronglyDead).toEqual([]);
  expect(rep.duplicates).toBeLessThanOrEqual(300);
}, 150_000);
