/** The pure decisions of dispatch control (src/policy/dispatch.ts) and its configuration: no Redis. */
import { describe, expect, it } from 'vitest';
import { rawConfig } from '../../src/cli/env-config.js';
import { parseConfig } from '../../src/config/parse.js';
import { workerConfigSchema } from '../../src/config/schema.js';
import { ConfigError, OperatorInputError, parseRetryAfter, ThrottledError } from '../../src/errors.js';
import { checkLimit, scopeName, taskScopes, throttleOf } from '../../src/policy/dispatch.js';
import type { TaskRecord } from '../../src/store/record-codec.js';

const rec = { topic: 'orders' } as TaskRecord;
const refusal = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(OperatorInputError);
    return (e as Error).message;
  }
  throw new Error('expected an OperatorInputError');
};

describe('limits', () => {
  it('a rate above 0, a whole burst; the default burst is a tenth of a second, at least 1', () => {
    expect(checkLimit({ rate: 200 })).toEqual({ rate: 200, burst: 20, concurrency: null });
    expect(checkLimit({ rate: '0.5' })).toEqual({ rate: 0.5, burst: 1, concurrency: null });
    expect(checkLimit({ rate: '15', burst: '3' })).toEqual({ rate: 15, burst: 3, concurrency: null });
    expect(checkLimit({ concurrency: '8' })).toEqual({ rate: null, burst: null, concurrency: 8 });
    expect(refusal(() => checkLimit({ concurrency: 0 }))).toMatch(/^concurrency must be a whole number of tasks from 1 to 1000000 \(got 0\)/);
    expect(refusal(() => checkLimit({}))).toBe('give a rate (--rate, tasks per second), a concurrency (--concurrency), or both');
    expect(refusal(() => checkLimit({ burst: 5 }))).toBe('burst needs a rate (--rate, tasks per second)');
    expect(refusal(() => checkLimit({ rate: 0 }))).toMatch(/^rate must be a number of tasks per second above 0 \(got 0\); to stop dispatch use `zretry pause`/);
    expect(refusal(() => checkLimit({ rate: '-3' }))).toContain('(got "-3")');
    expect(refusal(() => checkLimit({ rate: 'fast' }))).toContain('(got "fast")');
    expect(refusal(() => checkLimit({ rate: '' }))).toContain('(got "")');
    expect(refusal(() => checkLimit({ rate: 2e6 }))).toContain('at most 1000000');
    expect(refusal(() => checkLimit({ rate: 5, burst: 0 }))).toMatch(/^burst must be a whole number of tasks from 1 to 1000000 \(got 0\)/);
    expect(refusal(() => checkLimit({ rate: 5, burst: '2.5' }))).toContain('(got "2.5")');
  });

  it('scopes: the namespace, a topic or an error class, never both or an empty name', () => {
    expect(scopeName({})).toBe('all');
    expect(scopeName({ topic: 'orders' })).toBe('topic:orders');
    expect(scopeName({ errorClass: 'TimeoutError' })).toBe('error:TimeoutError');
    expect(refusal(() => scopeName({ topic: 'a', errorClass: 'b' }, 'limit'))).toBe('limit a topic or an error class, not both');
    expect(refusal(() => scopeName({ topic: '' }))).toBe('the topic must not be empty');
  });

  it('a task counts under its topic and the class of its last error', () => {
    expect(taskScopes({ record: rec, lastError: null })).toEqual(['topic:orders']);
    expect(taskScopes({ record: rec, lastError: { class: 'PaymentDown', message: 'x' } })).toEqual(['topic:orders', 'error:PaymentDown']);
  });
});

describe('throttles', () => {
  it('ThrottledError, or any error with throttled: true, asks to slow down; the wait is clamped', () => {
    expect(throttleOf(new ThrottledError(2_500), 1_000, 60_000)).toBe(2_500);
    expect(throttleOf(new ThrottledError(), 1_000, 60_000)).toBe(1_000);
    expect(throttleOf(Object.assign(new Error('429'), { throttled: true, retryAfterMs: 10_000_000 }), 1_000, 60_000)).toBe(60_000);
    expect(throttleOf(Object.assign(new Error('429'), { throttled: true, retryAfterMs: -1 }), 1_000, 60_000)).toBe(1_000);
    expect(throttleOf(new Error('boom'), 1_000, 60_000)).toBeNull();
    expect(throttleOf(undefined, 1_000, 60_000)).toBeNull();
  });

  it('Retry-After in seconds or as an HTTP date', () => {
    const now = Date.parse('2026-12-02T12:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter(' 1.5 ', now)).toBe(1_500);
    expect(parseRetryAfter('Wed, 02 Dec 2026 12:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 02 Dec 2026 11:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeNull();
    expect(parseRetryAfter(undefined, now)).toBeNull();
    expect(ThrottledError.fromRetryAfter('2', now).retryAfterMs).toBe(2_000);
    expect(ThrottledError.fromRetryAfter('garbage', now).retryAfterMs).toBeUndefined();
  });
});

describe('dispatch configuration', () => {
  const fails = (input: unknown) => {
    try {
      parseConfig(workerConfigSchema, input);
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return (e as ConfigError).message;
    }
    throw new Error('expected a ConfigError');
  };

  it('defaults: the breaker on at 80 % of at least 50 attempts in 30 s, probes every 5 s, the ramp from 5/s doubling every 2 s', () => {
    expect(parseConfig(workerConfigSchema, {}).dispatch).toEqual({
      syncMs: 500,
      breaker: { enabled: true, failureRate: 0.8, minAttempts: 50, windowMs: 30_000, probeIntervalMs: 5_000 },
      ramp: { startRate: 5, doublingMs: 2_000, endRate: 1_000 },
      throttle: { defaultRetryAfterMs: 1_000, maxRetryAfterMs: 300_000 },
    });
  });

  it('bad values name the field and the fix; an unknown key names the one meant', () => {
    expect(fails({ dispatch: { breaker: { failureRate: 0 } } })).toContain('dispatch.breaker.failureRate: must be above 0 (a share such as 0.8); to turn the breaker off set dispatch.breaker.enabled: false');
    expect(fails({ dispatch: { breaker: { failureRate: 1.5 } } })).toMatch(/dispatch\.breaker\.failureRate: .*less than or equal to 1/);
    expect(fails({ dispatch: { ramp: { startRate: -1 } } })).toContain('dispatch.ramp.startRate: must be above 0 tasks per second');
    expect(fails({ dispatch: { ramp: { startRate: 50, endRate: 10 } } })).toContain('dispatch.ramp.endRate: must be at least ramp.startRate (50)');
    expect(fails({ dispatch: { breaker: { probeInterval: 100 } } })).toContain('dispatch.breaker.probeInterval: unknown option; did you mean "probeIntervalMs"?');
  });

  it('ZRETRY_BREAKER* variables map into dispatch.breaker', () => {
    expect(rawConfig(undefined, { ZRETRY_BREAKER: '0', ZRETRY_BREAKER_FAILURE_RATE: '0.5', ZRETRY_BREAKER_MIN_ATTEMPTS: '10', ZRETRY_DISPATCH_SYNC_MS: '250' })).toEqual({
      dispatch: { syncMs: 250, breaker: { enabled: false, failureRate: 0.5, minAttempts: 10 } },
    });
  });
});
