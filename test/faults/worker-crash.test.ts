/**
 * Workers killed with SIGKILL at the worst moments, consumer and workers as
 * separate processes (the consumer app and the real `zretry worker`), checked
 * by the ledger: nothing lost, each aggregate in order, duplicates counted
 * and bounded by what the dead worker had in flight.
 */
import { afterEach, expect, it } from 'vitest';
import { LedgerRun } from './ledger/ledger.js';

const runs: LedgerRun[] = [];
afterEach(async () => {
  for (const r of runs.splice(0)) await r.cleanup();
});

async function run(opts: ConstructorParameters<typeof LedgerRun>[0] = {}): Promise<LedgerRun> {
  const r = new LedgerRun(opts);
  runs.push(r);
  return r.start();
}

it('no fault: the ledger sees every record once, in order, and the always-failing ones in the DLT', async () => {
  const r = await run();
  await r.consumer();
  await r.worker();
  await r.produce();
  await r.waitUntilFinished();
  const rep = r.report();
  r.summary('none (baseline)', rep);
  expect(rep.lost).toEqual([]);
  expect(rep.outOfOrder).toEqual([]);
  expect(rep.wronglyDead).toEqual([]);
  expect(rep.dead).toBe(r.alwaysFailing().length);
  expect(rep.duplicates).toBe(0);
}, 90_000);

it('worker SIGKILLed after a claim, before its handler did anything: the task runs again once the lease ends', async () => {
  const r = await run();
  await r.consumer();
  // r3 fails once in the consumer; its attempt 2 is the worker's
  const w1 = await r.worker({ LEDGER_KILL: 'before:r3@2' });
  await r.produce();
  expect(await w1.exited).toBeNull();
  const killedAt = Date.now();
  await r.worker();
  await r.waitUntilFinished();
  const rep = r.report();
  const firstOkAfter = r.lines().find((l) => l.ev === 'ok' && l.id === 'r3')!.t;
  r.summary('worker kill -9 after claim', rep, `r3 done ${firstOkAfter - killedAt} ms after the kill (lease 2 s)`);
  expect(rep.lost).toEqual([]);
  expect(rep.outOfOrder).toEqual([]);
  expect(rep.wronglyDead).toEqual([]);
  // what the dead worker had in flight may have run (its acks died with it): at most its concurrency
  expect(rep.duplicates).toBeLessThanOrEqual(20);
}, 90_000);

it('worker SIGKILLed after a handler succeeded, before the ack: one duplicate, nothing lost', async () => {
  const r = await run();
  await r.consumer();
  const w1 = await r.worker({ LEDGER_KILL: 'after:r3@2' });
  await r.produce();
  expect(await w1.exited).toBeNull();
  await r.worker();
  await r.waitUntilFinished();
  const rep = r.report();
  r.summary('worker kill -9 after handler, before ack', rep);
  expect(rep.lost).toEqual([]);
  expect(rep.outOfOrder).toEqual([]);
  expect(rep.duplicateIds).toContain('r3');
  expect(rep.duplicates).toBeLessThanOrEqual(20);
}, 90_000);

it('worker SIGKILLed in the middle of a batch (slow handlers, 20 in flight): nothing lost, duplicates within the batch', async () => {
  const r = await run();
  await r.consumer();
  const w1 = await r.worker({ LEDGER_KILL: 'nth:15', LEDGER_SLOW_MS: '40' });
  await r.produce();
  expect(await w1.exited).toBeNull();
  await r.worker({ LEDGER_SLOW_MS: '40' });
  await r.waitUntilFinished();
  const rep = r.report();
  r.summary('worker kill -9 mid-batch', rep);
  expect(rep.lost).toEqual([]);
  expect(rep.outOfOrder).toEqual([]);
  expect(rep.wronglyDead).toEqual([]);
  expect(rep.duplicates).toBeLessThanOrEqual(20);
}, 90_000);
