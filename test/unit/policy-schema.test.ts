import { describe, expect, it } from 'vitest';
import type { ZodIssue } from 'zod';
import { retryPolicySchema, type RetryPolicyConfig } from '../../src/policy/schema.js';
import type { RetryPolicy } from '../../src/policy/backoff.js';
import { parseConfig } from '../../src/config/parse.js';
import { ConfigError } from '../../src/errors.js';

function issues(input: unknown): Array<Pick<ZodIssue, 'path' | 'message'>> {
  const r = retryPolicySchema.safeParse(input);
  expect(r.success).toBe(false);
  return r.success ? [] : r.error.issues.map(({ path, message }) => ({ path, message }));
}

describe('retryPolicySchema defaults', () => {
  it('empty input: exponential 1 s x2 capped at 5 min, no jitter, 5 attempts, no budget', () => {
    expect(retryPolicySchema.parse({})).toEqual({
      backoff: { type: 'exponential', initialMs: 1000, multiplier: 2, maxMs: 300_000, jitter: 'none' },
      maxAttempts: 5,
    });
  });

  it('fixed fills its defaults', () => {
    expect(retryPolicySchema.parse({ backoff: { type: 'fixed' } }).backoff).toEqual({ type: 'fixed', delayMs: 1000, jitter: 'none' });
  });

  it('the output is a RetryPolicy', () => {
    const parsed: RetryPolicyConfig = retryPolicySchema.parse({
      backoff: { type: 'exponential', initialMs: 200, maxMs: 60_000, jitter: 'decorrelated' },
      maxAttempts: 3,
      maxElapsedMs: 600_000,
      retryAfter: { minMs: 100, maxMs: 30_000 },
    });
    const policy: RetryPolicy = parsed;
    expect(policy).toEqual({
      backoff: { type: 'exponential', initialMs: 200, multiplier: 2, maxMs: 60_000, jitter: 'decorrelated' },
      maxAttempts: 3,
      maxElapsedMs: 600_000,
      retryAfter: { minMs: 100, maxMs: 30_000 },
    });
  });
});

describe('retryPolicySchema errors name the field and what is allowed', () => {
  it('unknown backoff type', () => {
    expect(issues({ backoff: { type: 'linear' } })).toEqual([{ path: ['backoff', 'type'], message: 'type must be "fixed" or "exponential"' }]);
  });

  it('custom is not configurable as JSON', () => {
    expect(issues({ backoff: { type: 'custom' } })[0]).toEqual({ path: ['backoff', 'type'], message: 'type must be "fixed" or "exponential"' });
  });

  it('bad jitter lists the allowed values', () => {
    expect(issues({ backoff: { type: 'exponential', jitter: 'random' } })).toEqual([
      { path: ['backoff', 'jitter'], message: 'must be one of "none", "full", "equal", "decorrelated"' },
    ]);
  });

  it('multiplier below 1', () => {
    expect(issues({ backoff: { type: 'exponential', multiplier: 0.5 } })).toEqual([
      { path: ['backoff', 'multiplier'], message: 'must be at least 1 (1 means a fixed delay)' },
    ]);
  });

  it('maxMs below initialMs', () => {
    expect(issues({ backoff: { type: 'exponential', initialMs: 5000, maxMs: 1000 } })).toEqual([
      { path: ['backoff', 'maxMs'], message: 'must be at least initialMs (5000)' },
    ]);
  });

  it('milliseconds must be whole and non-negative', () => {
    expect(issues({ backoff: { type: 'fixed', delayMs: -1 } })).toEqual([{ path: ['backoff', 'delayMs'], message: 'must be at least 0 ms' }]);
    expect(issues({ backoff: { type: 'fixed', delayMs: 1.5 } })).toEqual([
      { path: ['backoff', 'delayMs'], message: 'must be a whole number of milliseconds' },
    ]);
    expect(issues({ backoff: { type: 'exponential', initialMs: '1s' } })).toEqual([
      { path: ['backoff', 'initialMs'], message: 'must be a whole number of milliseconds' },
    ]);
  });

  it('maxAttempts', () => {
    expect(issues({ maxAttempts: 0 })).toEqual([{ path: ['maxAttempts'], message: 'must be at least 1 (1 means no retry)' }]);
    expect(issues({ maxAttempts: 2.5 })).toEqual([{ path: ['maxAttempts'], message: 'must be a whole number of at least 1' }]);
    expect(issues({ maxAttempts: 'many' })).toEqual([{ path: ['maxAttempts'], message: 'must be a whole number of at least 1' }]);
  });

  it('maxElapsedMs must be positive', () => {
    expect(issues({ maxElapsedMs: 0 })).toEqual([{ path: ['maxElapsedMs'], message: 'must be at least 1 ms' }]);
  });

  it('retryAfter: minMs must not exceed maxMs; both required', () => {
    expect(issues({ retryAfter: { minMs: 5000, maxMs: 100 } })).toEqual([
      { path: ['retryAfter', 'maxMs'], message: 'must be at least minMs (5000)' },
    ]);
    expect(issues({ retryAfter: { minMs: 0 } })).toEqual([
      { path: ['retryAfter', 'maxMs'], message: 'is required: a whole number of milliseconds' },
    ]);
  });

  it('parseConfig turns them into one sentence per field, with the value given', () => {
    let caught: unknown;
    try {
      parseConfig(retryPolicySchema, { maxAttempts: 0, backoff: { type: 'exponential', jitter: 'random' } }, 'retry policy');
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const message = (caught as ConfigError).message;
    expect(message).toContain('backoff.jitter: must be one of "none", "full", "equal", "decorrelated" (got "random")');
    expect(message).toContain('maxAttempts: must be at least 1 (1 means no retry) (got 0)');
  });
});
