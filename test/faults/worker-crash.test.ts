/**
 * Workers killed with SIGKILL at the worst moments, consumer and workers as
 * separate processes (the consumer app and the real `zretry worker`), checked
 * by the ledger: nothing lost, each aggregate in order, duplicates counted
 * and bounded by what the dead worker had in flight.
 */
import { expect, it } from 'vitest';
import { waitFor } from '../helpers/env.js';
import { ledgerRuns } from './ledger/ledger.js';

const run = ledgerRuns();

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

it('worker stopped (SIGSTOP) past its lease, then resumed: another worker took its tasks, its stale outcomes are refused', async () => {
  const r = await run({ leaseMs: 1_000 });
  await r.consumer();
  const a = await r.worker({ LEDGER_SLOW_MS: '300' });
  await r.produce();
  await waitFor(() => r.lines().some((l) => l.pid === a.proc.pid), 30_000, 'the first worker to run tasks');
  a.signal('SIGSTOP');
  const stoppedAt = Date.now();
  await r.worker({ LEDGER_SLOW_MS: '300' });
  await waitFor(() => r.lines().some((l) => l.t > stoppedAt + 1_000 && l.role === 'worker'), 30_000, 'the second worker to take over');
  await new Promise((res) => setTimeout(res, 2_500 - (Date.now() - stoppedAt)));
  a.signal('SIGCONT');
  await r.waitUntilFinished();
  await waitFor(() => /outcome refused|lease lost while running/.test(a.output()), 10_000, 'the resumed worker to report its lost leases');
  const rep = r.report();
  const refused = (a.output().match(/outcome refused|lease lost while running/g) ?? []).length;
  r.summary('worker SIGSTOP 2.5 s past a 1 s lease', rep, `the resumed worker logged ${refused} refused outcomes/lost leases`);
  expect(rep.lost).toEqual([]);
  expect(rep.outOfOrder).toEqual([]);
  expect(rep.wronglyDead).toEqual([]);
  expect(rep.duplicates).toBeLessThanOrEqual(20);
}, 120_000);

it('republish mode: worker SIGKILLed right after its first republished batch reached Kafka: nothing lost', async () => {
  const r = await run({ dispatch: 'republish' });
  await r.consumer();
  const w1 = await r.worker();
  await r.produce();
  const admin = r.kafka.admin();
  await admin.connect();
  const published = async () => (await admin.fetchTopicOffsets(r.topic)).reduce((s, p) => s + Number(p.high), 0);
  await waitFor(async () => (await published()) > r.specs.length, 30_000, 'a republished record on the topic');
  w1.signal('SIGKILL');
  await admin.disconnect();
  await w1.exited;
  await r.worker();
  await r.waitUntilFinished();
  const rep = r.report();
  r.summary('republish: worker kill -9 after its first republish', rep);
  expect(rep.lost).toEqual([]);
  expect(rep.outOfOrder).toEqual([]);
  expect(rep.wronglyDead).toEqual([]);
  expect(rep.duplicates).toBeLessThanOrEqual(20);
}, 120_000);
