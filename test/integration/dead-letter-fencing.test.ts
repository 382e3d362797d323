/**
 * A worker that stalled past its lease must not write a dead letter for a
 * task another claim now owns: the dead-letter step checks (and holds) the
 * lease first, so the task's dead letter is written once.
 */
import pino from 'pino';
import { afterEach, expect, it } from 'vitest';
import { TypedEmitter, type ZRetryEvents } from '../../src/events.js';
import { retryPolicySchema } from '../../src/policy/schema.js';
import type { ClaimedTask } from '../../src/store/task.js';
import { Outcomes, type DeadLetterSink } from '../../src/worker/outcomes.js';
import { failed, freshStore } from '../lua/fixtures.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

it('a stale run does not write the dead letter; the current owner does, once', async () => {
  const { store, close } = await freshStore(1);
  cleanups.push(close);
  await store.schedule([failed(1, 'A')]);
  const [stale] = (await store.claim(0, 1, 100)).tasks;
  await new Promise((r) => setTimeout(r, 150));
  const [current] = (await store.claim(0, 1, 10_000)).tasks; // the lease ran out: claimed again, new token
  expect(current!.token).not.toBe(stale!.token);

  const written: ClaimedTask[] = [];
  const sink: DeadLetterSink = async (t) => void written.push(t);
  const events = new TypedEmitter<ZRetryEvents>();
  const lost: string[] = [];
  events.on('lease-lost', (e) => lost.push(e.op));
  const outcomes = new Outcomes(
    store,
    { policy: retryPolicySchema.parse({ backoff: { type: 'fixed', delayMs: 100 }, maxAttempts: 2 }), classifier: {}, followerPolicy: 'release', keepDead: true, deadLetter: sink, deadLetterRetryMs: 100, maxStackChars: 100 },
    events,
    pino({ level: 'silent' }),
    () => Date.now(),
  );
  const reason = { kind: 'fatal' as const, detail: 'test', error: null };
  await outcomes.die(stale!, reason);
  expect(written).toEqual([]);
  expect(lost).toEqual(['dead-letter']);
  await outcomes.die(current!, reason);
  expect(await outcomes.drain(5_000)).toBe(true);
  expect(written.map((t) => t.token)).toEqual([current!.token]);
  expect((await store.stats()).total).toMatchObject({ dead: 1, inflight: 0 });
});
