/**
 * The Kafka broker killed (SIGKILL) and restarted while a worker republishes
 * due tasks, on a broker of the test's own: the republish is held and tried
 * again, the consumer rejoins, and the ledger shows nothing lost.
 */
import { afterEach, expect, it } from 'vitest';
import { waitFor } from '../helpers/env.js';
import { ownKafka, type OwnKafka } from '../helpers/kafka-process.js';
import { LedgerRun } from './ledger/ledger.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

it('broker SIGKILLed for 3 s during republish: nothing lost, order kept', async () => {
  const kafka: OwnKafka = await ownKafka();
  cleanups.push(kafka.cleanup);
  const r = new LedgerRun({ brokers: kafka.brokers, dispatch: 'republish', records: 300, backoffMs: 500 });
  cleanups.push(() => r.cleanup());
  await r.start();
  await r.consumer();
  const w = await r.worker();
  await r.produce();
  // the first republished copies are back: the worker is republishing now
  await waitFor(() => r.lines().some((l) => (l.attempt ?? 0) >= 2), 30_000, 'republished records to come back');
  await kafka.kill('SIGKILL');
  const downAt = Date.now();
  await new Promise((res) => setTimeout(res, 3_000));
  await kafka.start();
  const upAt = Date.now();
  await r.waitUntilFinished(120_000);
  const rep = r.report();
  const firstAfter = r.lines().find((l) => l.t > upAt);
  r.summary('Kafka broker kill -9 during republish, restarted after 3 s', rep, `handling resumed ${firstAfter ? firstAfter.t - upAt : '?'} ms after the broker was back (it answered ${upAt - downAt} ms after the kill); finished ${Date.now() - upAt} ms after`);
  expect(/republish failed; holding the tasks/.test(w.output())).toBe(true);
  expect(rep.lost).toEqual([]);
  expect(rep.outOfOrder).toEqual([]);
  expect(rep.wronglyDead).toEqual([]);
}, 240_000);
