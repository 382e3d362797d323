import { describe, expect, it } from 'vitest';
import { computeDelay, decide, type BackoffSpec, type Jitter, type RetryPolicy } from '../../src/policy/backoff.js';
import type { Classification } from '../../src/policy/classify.js';

const retriable: Classification = { kind: 'retriable' };
const fixedRandom = (v: number) => () => v;

function input(attempt: number, over: Partial<Parameters<typeof decide>[1]> = {}): Parameters<typeof decide>[1] {
  return { attempt, firstFailureAt: 0, now: 0, previousDelayMs: null, error: new Error('boom'), classification: retriable, ...over };
}

describe('seed case: exponential 1000 x2, 4 attempts', () => {
  const policy: RetryPolicy = {
    backoff: { type: 'exponential', initialMs: 1000, multiplier: 2, maxMs: Number.MAX_SAFE_INTEGER },
    maxAttempts: 4,
  };

  it('retries after 1000, 2000, 4000 ms, then dies', () => {
    expect(decide(policy, input(1))).toEqual({ action: 'retry', delayMs: 1000, reason: 'backoff' });
    expect(decide(policy, input(2, { previousDelayMs: 1000 }))).toEqual({ action: 'retry', delayMs: 2000, reason: 'backoff' });
    expect(decide(policy, input(3, { previousDelayMs: 2000 }))).toEqual({ action: 'retry', delayMs: 4000, reason: 'backoff' });
    expect(decide(policy, input(4, { previousDelayMs: 4000 }))).toEqual({
      action: 'dead',
      reason: 'attempts-exhausted',
      detail: '4 of 4 attempts failed',
    });
  });
});

describe('computeDelay', () => {
  it('fixed: always delayMs', () => {
    const spec: BackoffSpec = { type: 'fixed', delayMs: 750 };
    for (const attempt of [1, 2, 10, 100]) expect(computeDelay(spec, { attempt, previousDelayMs: null })).toBe(750);
  });

  it('exponential: capped at maxMs', () => {
    const spec: BackoffSpec = { type: 'exponential', initialMs: 100, multiplier: 3, maxMs: 1000 };
    const delays = [1, 2, 3, 4, 5, 50, 5000].map((attempt) => computeDelay(spec, { attempt, previousDelayMs: null }));
    expect(delays).toEqual([100, 300, 900, 1000, 1000, 1000, 1000]);
  });

  it('results are integers', () => {
    const spec: BackoffSpec = { type: 'exponential', initialMs: 100, multiplier: 1.5, maxMs: 10_000 };
    expect(computeDelay(spec, { attempt: 2, previousDelayMs: null })).toBe(150);
    expect(computeDelay(spec, { attempt: 3, previousDelayMs: null })).toBe(225);
    expect(computeDelay(spec, { attempt: 4, previousDelayMs: null })).toBe(338); // 337.5 rounded
  });

  describe('jitter with a deterministic random', () => {
    const exp = (jitter: Jitter): BackoffSpec => ({
      type: 'exponential',
      initialMs: 1000,
      multiplier: 2,
      maxMs: 8000,
      jitter,
    });
    const ctx = { attempt: 3, previousDelayMs: 2000 }; // uncapped d = 4000

    it('none: d whatever random says', () => {
      for (const r of [0, 0.5, 0.999]) expect(computeDelay(exp('none'), ctx, fixedRandom(r))).toBe(4000);
    });

    it('full: random * d, within [0, d)', () => {
      expect(computeDelay(exp('full'), ctx, fixedRandom(0))).toBe(0);
      expect(computeDelay(exp('full'), ctx, fixedRandom(0.5))).toBe(2000);
      expect(computeDelay(exp('full'), ctx, fixedRandom(0.999))).toBe(3996);
    });

    it('equal: d/2 + random * d/2, within [d/2, d)', () => {
      expect(computeDelay(exp('equal'), ctx, fixedRandom(0))).toBe(2000);
      expect(computeDelay(exp('equal'), ctx, fixedRandom(0.5))).toBe(3000);
      expect(computeDelay(exp('equal'), ctx, fixedRandom(0.999))).toBe(3998);
    });

    it('full and equal apply after the cap', () => {
      const big = { attempt: 20, previousDelayMs: 8000 };
      expect(computeDelay(exp('full'), big, fixedRandom(0.5))).toBe(4000);
      expect(computeDelay(exp('equal'), big, fixedRandom(0))).toBe(4000);
    });

    it('decorrelated: between initial and 3 x previous, capped at maxMs', () => {
      // prev 2000: range [1000, 6000]
      expect(computeDelay(exp('decorrelated'), ctx, fixedRandom(0))).toBe(1000);
      expect(computeDelay(exp('decorrelated'), ctx, fixedRandom(0.5))).toBe(3500);
      expect(computeDelay(exp('decorrelated'), ctx, fixedRandom(0.999))).toBe(5995);
      // no previous delay: previous counts as initial, range [1000, 3000]
      expect(computeDelay(exp('decorrelated'), { attempt: 1, previousDelayMs: null }, fixedRandom(0.999))).toBe(2998);
      // prev 5000: range [1000, 15000] capped at 8000
      expect(computeDelay(exp('decorrelated'), { attempt: 4, previousDelayMs: 5000 }, fixedRandom(0.999))).toBe(8000);
    });

    it('decorrelated: a chain of delays grows but stays within [initial, max]', () => {
      for (const r of [0, 0.5, 0.999]) {
        let prev: number | null = null;
        const seen: number[] = [];
        for (let attempt = 1; attempt <= 30; attempt++) {
          const d = computeDelay(exp('decorrelated'), { attempt, previousDelayMs: prev }, fixedRandom(r));
          expect(d).toBeGreaterThanOrEqual(1000);
          expect(d).toBeLessThanOrEqual(8000);
          expect(Number.isInteger(d)).toBe(true);
          seen.push(d);
          prev = d;
        }
        if (r === 0.999) expect(seen.at(-1)).toBe(8000); // grows to the cap
      }
    });

    it('decorrelated with Math.random stays within [initial, max]', () => {
      let prev: number | null = null;
      for (let attempt = 1; attempt <= 1000; attempt++) {
        const d = computeDelay(exp('decorrelated'), { attempt, previousDelayMs: prev });
        expect(d).toBeGreaterThanOrEqual(1000);
        expect(d).toBeLessThanOrEqual(8000);
        prev = d;
      }
    });

    it('fixed: jitter on delayMs; decorrelated degenerates to delayMs', () => {
      const fx = (jitter: Jitter): BackoffSpec => ({ type: 'fixed', delayMs: 1000, jitter });
      expect(computeDelay(fx('full'), { attempt: 1, previousDelayMs: null }, fixedRandom(0.5))).toBe(500);
      expect(computeDelay(fx('equal'), { attempt: 1, previousDelayMs: null }, fixedRandom(0.5))).toBe(750);
      for (const r of [0, 0.5, 0.999]) {
        expect(computeDelay(fx('decorrelated'), { attempt: 3, previousDelayMs: 1000 }, fixedRandom(r))).toBe(1000);
      }
    });
  });

  describe('custom', () => {
    it('calls fn with the context and rounds the result', () => {
      const err = new Error('x');
      const seen: unknown[] = [];
      const spec: BackoffSpec = {
        type: 'custom',
        fn: (ctx) => {
          seen.push(ctx);
          return ctx.attempt * 100.4;
        },
      };
      expect(computeDelay(spec, { attempt: 3, previousDelayMs: 200, error: err })).toBe(301);
      expect(seen).toEqual([{ attempt: 3, previousDelayMs: 200, error: err }]);
    });

    it.each([NaN, Infinity, -1])('throws a RangeError naming the attempt and the value for %s', (bad) => {
      const spec: BackoffSpec = { type: 'custom', fn: () => bad };
      expect(() => computeDelay(spec, { attempt: 7, previousDelayMs: null })).toThrow(RangeError);
      expect(() => computeDelay(spec, { attempt: 7, previousDelayMs: null })).toThrow(
        `custom backoff returned ${bad} for attempt 7: it must be a finite number of ms >= 0`,
      );
    });

    it('propagates through decide', () => {
      const policy: RetryPolicy = { backoff: { type: 'custom', fn: () => NaN }, maxAttempts: 3 };
      expect(() => decide(policy, input(1))).toThrow(RangeError);
    });
  });

  it('never returns NaN for bad numbers: throws a RangeError instead', () => {
    expect(() => computeDelay({ type: 'fixed', delayMs: NaN }, { attempt: 1, previousDelayMs: null })).toThrow(RangeError);
    expect(() =>
      computeDelay({ type: 'exponential', initialMs: 1000, multiplier: 2, maxMs: 5000, jitter: 'full' }, { attempt: 1, previousDelayMs: null }, () => NaN),
    ).toThrow(/exponential backoff gave NaN for attempt 1/);
  });

  it('never negative', () => {
    expect(computeDelay({ type: 'fixed', delayMs: -5 }, { attempt: 1, previousDelayMs: null })).toBe(0);
  });
});

describe('decide', () => {
  const policy: RetryPolicy = { backoff: { type: 'fixed', delayMs: 1000 }, maxAttempts: 5 };

  it('fatal classification dies at once, even on attempt 1', () => {
    const d = decide(policy, input(1, { classification: { kind: 'fatal', matched: 'SyntaxError' } }));
    expect(d).toEqual({ action: 'dead', reason: 'fatal', detail: 'error is not retried (SyntaxError)' });
  });

  it('maxAttempts 1 means no retry', () => {
    expect(decide({ ...policy, maxAttempts: 1 }, input(1))).toMatchObject({ action: 'dead', reason: 'attempts-exhausted', detail: '1 of 1 attempts failed' });
  });

  describe('time budget', () => {
    const budget: RetryPolicy = { ...policy, maxElapsedMs: 10_000 };

    it('retries while now + delay stays within the budget', () => {
      expect(decide(budget, input(2, { firstFailureAt: 1_000, now: 10_000 }))).toEqual({ action: 'retry', delayMs: 1000, reason: 'backoff' });
    });

    it('dies when the next attempt would fall past the budget', () => {
      const d = decide(budget, input(2, { firstFailureAt: 1_000, now: 10_001 }));
      expect(d).toEqual({
        action: 'dead',
        reason: 'time-budget-exhausted',
        detail: 'the next attempt would be 10001 ms after the first failure, past the budget of 10000 ms',
      });
    });

    it('attempts are checked before the budget', () => {
      expect(decide({ ...budget, maxAttempts: 2 }, input(2, { now: 1e9 }))).toMatchObject({ reason: 'attempts-exhausted' });
    });
  });

  describe('error-requested delay', () => {
    const withAfter = (props: Record<string, unknown>) => Object.assign(new Error('throttled'), props);

    it('retryAfterMs is honoured over the backoff', () => {
      expect(decide(policy, input(1, { error: withAfter({ retryAfterMs: 2500 }) }))).toEqual({
        action: 'retry',
        delayMs: 2500,
        reason: 'retry-after',
      });
    });

    it('retryAfter in seconds, found in the cause chain', () => {
      const err = new Error('wrapper', { cause: withAfter({ retryAfter: 1.5 }) });
      expect(decide(policy, input(1, { error: err }))).toEqual({ action: 'retry', delayMs: 1500, reason: 'retry-after' });
    });

    it('clamped into policy.retryAfter', () => {
      const bounded: RetryPolicy = { ...policy, retryAfter: { minMs: 500, maxMs: 5000 } };
      expect(decide(bounded, input(1, { error: withAfter({ retryAfterMs: 10 }) }))).toMatchObject({ delayMs: 500, reason: 'retry-after' });
      expect(decide(bounded, input(1, { error: withAfter({ retryAfterMs: 60_000 }) }))).toMatchObject({ delayMs: 5000, reason: 'retry-after' });
      expect(decide(bounded, input(1, { error: withAfter({ retryAfterMs: 1234 }) }))).toMatchObject({ delayMs: 1234, reason: 'retry-after' });
    });

    it('without policy.retryAfter: clamped to 1 hour, even past the backoff cap', () => {
      expect(decide(policy, input(1, { error: withAfter({ retryAfterMs: 7_200_000 }) }))).toMatchObject({ delayMs: 3_600_000 });
      expect(decide(policy, input(1, { error: withAfter({ retryAfterMs: 30_000 }) }))).toMatchObject({ delayMs: 30_000 });
    });

    it('ignores negative and non-finite requests', () => {
      for (const v of [-1, NaN, Infinity, '100']) {
        expect(decide(policy, input(1, { error: withAfter({ retryAfterMs: v }) }))).toEqual({ action: 'retry', delayMs: 1000, reason: 'backoff' });
      }
    });

    it('still subject to maxAttempts and the time budget', () => {
      const err = withAfter({ retryAfterMs: 20_000 });
      expect(decide({ ...policy, maxAttempts: 2 }, input(2, { error: err }))).toMatchObject({ reason: 'attempts-exhausted' });
      expect(decide({ ...policy, maxElapsedMs: 10_000 }, input(1, { error: err }))).toMatchObject({ reason: 'time-budget-exhausted' });
    });
  });
});
