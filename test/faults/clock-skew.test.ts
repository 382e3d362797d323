/**
 * A worker whose wall clock is minutes off: due times and leases come from
 * Redis TIME, so its tasks still fire on time, neither at once (clock ahead)
 * nor minutes late (clock behind).
 */
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { ledgerRuns } from './ledger/ledger.js';

const run = ledgerRuns();

const SKEW = join(import.meta.dirname, 'ledger/skew-clock.mjs');

for (const skewMs of [5 * 60_000, -5 * 60_000]) {
  it(`worker clock ${skewMs > 0 ? 'ahead' : 'behind'} by 5 minutes: retries still fire 1 s after the failure`, async () => {
    const r = await run({ records: 100, backoffMs: 1_000 });
    await r.consumer();
    const w = await r.worker({ CLOCK_SKEW_MS: String(skewMs) }, ['--import', SKEW]);
    // the skew is real: the worker's own log timestamps are 5 minutes off
    const logged = JSON.parse(w.output().split('\n').find((l) => l.includes('worker started'))!) as { time: number };
    expect(Math.abs(logged.time - Date.now() - skewMs)).toBeLessThan(30_000);
    await r.produce();
    await r.waitUntilFinished(60_000);
    const rep = r.report();
    const lines = r.lines();
    // gap between the consumer's failed first try and the skewed worker's second attempt (both on the real clock)
    const gaps = lines
      .filter((l) => l.attempt === 2 && l.pid === w.proc.pid)
      .map((l) => l.t - lines.find((f) => f.id === l.id && f.attempt === 1 && f.ev === 'fail')!.t)
      .sort((a, b) => a - b);
    r.summary(`worker clock ${skewMs > 0 ? '+' : '-'}5 min`, rep, `retry gaps ${gaps[0]}..${gaps.at(-1)} ms for a 1000 ms backoff (${gaps.length} retries)`);
    expect(gaps.length).toBeGreaterThan(10);
    expect(gaps[0]).toBeGreaterThanOrEqual(950);
    expect(gaps.at(-1)).toBeLessThan(3_000);
    expect(rep.lost).toEqual([]);
    expect(rep.outOfOrder).toEqual([]);
  }, 90_000);
}
