import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import type { Redis } from 'ioredis';
import { Waker } from '../../src/worker/waker.js';

/** Stands in for the subscriber connection: the wake channel is a plain event here (pure logic, no I/O). */
function fakeSub(): Redis & EventEmitter {
  const ee = new EventEmitter() as EventEmitter & { ssubscribe: () => Promise<void>; disconnect: () => void };
  ee.ssubscribe = async () => undefined;
  ee.disconnect = () => undefined;
  return ee as unknown as Redis & EventEmitter;
}

const elapsed = async (p: Promise<void>) => {
  const t0 = performance.now();
  await p;
  return performance.now() - t0;
};

describe('Waker', () => {
  it('a nudge for an earlier due time ends the sleep; a later one does not', async () => {
    const sub = fakeSub();
    const w = new Waker(sub, ['ch'], pino({ level: 'silent' }));
    await w.start();
    const sleeping = w.sleep(200, 1_000_200);
    sub.emit('smessage', 'ch', '1000300'); // later than the wake-up: ignored
    sub.emit('smessage', 'ch', '1000050'); // earlier: wakes
    expect(await elapsed(sleeping)).toBeLessThan(150);
  });

  it('a nudge that arrives during a claim round, before the sleep starts, is not lost', async () => {
    const sub = fakeSub();
    const w = new Waker(sub, ['ch'], pino({ level: 'silent' }));
    await w.start();
    w.beginRound();
    sub.emit('smessage', 'ch', '1000050'); // while the worker is busy claiming
    expect(await elapsed(w.sleep(5_000, 1_005_000))).toBeLessThan(100);
    // the memory is used once: the next sleep runs its course
    w.beginRound();
    expect(await elapsed(w.sleep(60, 1_000_060))).toBeGreaterThanOrEqual(55);
  });
});
