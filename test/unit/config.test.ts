import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/parse.js';
import { consumeConfigSchema, workerConfigSchema } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';

const fails = (input: unknown) => {
  try {
    parseConfig(consumeConfigSchema, input);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).message;
  }
  throw new Error('expected a ConfigError');
};

describe('configuration', () => {
  it('defaults make a working config', () => {
    const c = parseConfig(workerConfigSchema, {});
    expect(c.failure.policy).toEqual({ backoff: { type: 'exponential', initialMs: 1000, multiplier: 2, maxMs: 300_000, jitter: 'none' }, maxAttempts: 5 });
    expect(c.store).toMatchObject({ namespace: 'zretry', shards: 4 });
    expect(c.failure.followerPolicy).toBe('release');
  });

  it('names the field, the value and what is allowed', () => {
    expect(fails({ worker: { concurrency: 0 } })).toMatch(/worker\.concurrency: .*greater than or equal to 1.*\(got 0\)/);
    expect(fails({ failure: { followerPolicy: 'drop' } })).toMatch(/failure\.followerPolicy: .*'release' \| 'dead-letter' \| 'hold'.*\(got "drop"\)/);
    expect(fails({ failure: { policy: { backoff: { type: 'linear' } } } })).toContain('failure.policy.backoff.type: type must be "fixed" or "exponential"');
    expect(fails({ failure: { policy: { backoff: { type: 'exponential', initialMs: 5000, maxMs: 100 } } } })).toContain(
      'failure.policy.backoff.maxMs: must be at least initialMs (5000) (got 100)',
    );
    expect(fails({ failure: { policy: { backoff: { type: 'exponential', jitter: 'lots' } } } })).toContain(
      'failure.policy.backoff.jitter: must be one of "none", "full", "equal", "decorrelated" (got "lots")',
    );
    expect(fails({ store: { namespace: 'a b' } })).toContain('store.namespace: must be 1 to 64 letters, digits, "-", "_" or "." (got "a b")');
    expect(fails({ store: { redisUrl: 'localhost' } })).toContain('store.redisUrl: must be a Redis URL');
    expect(fails({ consumer: { dispatch: 'teleport' } })).toMatch(/consumer\.dispatch: .*'process' \| 'republish'/);
  });

  it('reports every bad field at once', () => {
    const e = (() => {
      try {
        parseConfig(consumeConfigSchema, { worker: { leaseMs: 1 }, failure: { policy: { maxAttempts: 0 } } });
      } catch (err) {
        return err as ConfigError;
      }
    })()!;
    expect(e.issues.map((i) => i.path)).toEqual(['worker.leaseMs', 'failure.policy.maxAttempts']);
    expect(e.message).toContain('failure.policy.maxAttempts: must be at least 1 (1 means no retry) (got 0)');
  });
});
