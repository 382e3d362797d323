import { describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../src/config/parse.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rawConfig } from '../../src/cli/env-config.js';
import { consumeConfigSchema, standaloneWorkerSchema, workerConfigSchema } from '../../src/config/schema.js';
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
    // no shard count: the namespace's stored one, or DEFAULT_SHARDS for a new namespace (store/namespace.ts)
    expect(c.store).toMatchObject({ namespace: 'zretry', cluster: false, waitReplicas: 0 });
    expect(c.store.shards).toBeUndefined();
    expect(c.failure.followerPolicy).toBe('release');
  });

  it('store.cluster takes true (the URL is the seed) or seed nodes; ZRETRY_REDIS_CLUSTER gives either', () => {
    expect(parseConfig(workerConfigSchema, { store: { cluster: true } }).store.cluster).toBe(true);
    expect(parseConfig(workerConfigSchema, { store: { cluster: ['10.0.0.1:7000', 'redis-2:7001'] } }).store.cluster).toEqual(['10.0.0.1:7000', 'redis-2:7001']);
    expect(fails({ store: { cluster: ['10.0.0.1'] } })).toMatch(/store\.cluster\.0: must be host:port \(got "10\.0\.0\.1"\)/);
    expect(rawConfig(undefined, { ZRETRY_REDIS_CLUSTER: '1' })).toEqual({ store: { cluster: true } });
    expect(rawConfig(undefined, { ZRETRY_REDIS_CLUSTER: 'a:1, b:2' })).toEqual({ store: { cluster: ['a:1', 'b:2'] } });
    expect(rawConfig(undefined, { ZRETRY_WAIT_REPLICAS: '1' })).toEqual({ store: { waitReplicas: 1 } });
  });

  it('names the field, the value and what is allowed', () => {
    expect(fails({ worker: { taskConcurrency: 0 } })).toMatch(/worker\.taskConcurrency: .*greater than or equal to 1.*\(got 0\)/);
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

  it('kafka.client picks the Kafka client package (kafkajs by default, or ZRETRY_KAFKA_CLIENT); another name says which exist', () => {
    expect(parseConfig(standaloneWorkerSchema, { kafka: { brokers: ['127.0.0.1:9092'] } }).kafka?.client).toBe('kafkajs');
    expect(parseConfig(standaloneWorkerSchema, rawConfig(undefined, { ZRETRY_KAFKA_BROKERS: '127.0.0.1:9092', ZRETRY_KAFKA_CLIENT: 'confluent' })).kafka?.client).toBe('confluent');
    expect(() => parseConfig(standaloneWorkerSchema, { kafka: { brokers: ['127.0.0.1:9092'], client: 'rdkafka' } })).toThrow(/kafka\.client: .*'kafkajs' \| 'confluent'.*\(got "rdkafka"\)/);
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

describe('strict configuration: a typo is an error, never a silent default', () => {
  it('an unknown key names itself and the option it most likely meant', () => {
    const message = fails({ failure: { policy: { maxAttempt: 2, backoff: { type: 'exponential', delayMs: 50 } } }, consumer: { dltSufix: '-dlt' } });
    expect(message).toBe(
      'invalid configuration:\n  failure.policy.maxAttempt: unknown option; did you mean "maxAttempts"?\n  consumer.dltSufix: unknown option; did you mean "dltSuffix"?',
    );
  });

  it('nothing close: the valid options of that object are listed', () => {
    expect(fails({ store: { tls: { pem: 'x' } } })).toContain('store.tls.pem: unknown option; the options here are "caFile", "certFile", "keyFile", "rejectUnauthorized"');
    expect(fails({ wrker: {} })).toContain('wrker: unknown option; did you mean "worker"?');
  });

  it('unknown keys are found inside unions: the backoff of the kind given, the kafka.ssl object', () => {
    expect(fails({ failure: { policy: { backoff: { type: 'fixed', initialMs: 50 } } } })).toContain('failure.policy.backoff.initialMs: unknown option; did you mean "delayMs"?');
    expect(() => parseConfig(standaloneWorkerSchema, { kafka: { brokers: ['a:1'], ssl: { caFIle: '/ca.pem' } } })).toThrow('kafka.ssl.caFIle: unknown option; did you mean "caFile"?');
  });

  it("Spring's @RetryableTopic / @Backoff names point to zretry's", () => {
    const message = fails({ failure: { policy: { attempts: 3, backoff: { type: 'exponential', delay: 100, maxDelay: 1000 } } } });
    expect(message).toContain('failure.policy.attempts: unknown option; did you mean "maxAttempts"?');
    expect(message).toContain('failure.policy.backoff.delay: unknown option; did you mean "delayMs"?');
    expect(message).toContain('failure.policy.backoff.maxDelay: unknown option; did you mean "maxMs"?');
  });

  it('delayMs is the delay of both backoff kinds, so switching the kind keeps it; initialMs still works for exponential', () => {
    const backoff = (b: unknown) => parseConfig(consumeConfigSchema, { failure: { policy: { backoff: b } } }).failure.policy.backoff;
    expect(backoff({ type: 'fixed', delayMs: 50 })).toEqual({ type: 'fixed', delayMs: 50, jitter: 'none' });
    expect(backoff({ type: 'exponential', delayMs: 50 })).toMatchObject({ type: 'exponential', initialMs: 50 });
    expect(backoff({ type: 'exponential', initialMs: 70 })).toMatchObject({ type: 'exponential', initialMs: 70 });
    expect(fails({ failure: { policy: { backoff: { type: 'exponential', delayMs: 50, initialMs: 70 } } } })).toContain(
      'failure.policy.backoff.initialMs: is another name for delayMs; give only one of them (got 70)',
    );
    expect(fails({ failure: { policy: { backoff: { type: 'exponential', delayMs: 5000, maxMs: 100 } } } })).toContain('failure.policy.backoff.maxMs: must be at least delayMs (5000) (got 100)');
  });

  it('the two concurrencies say what they limit; the old name still works, with a DeprecationWarning', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      const c = parseConfig(consumeConfigSchema, { worker: { concurrency: 7 }, consumer: { concurrency: 3 } });
      expect(c.worker.taskConcurrency).toBe(7);
      expect(c.consumer.aggregateConcurrency).toBe(3);
      expect(warn.mock.calls.map((a) => a[0])).toEqual([
        'worker.concurrency is deprecated: it was renamed worker.taskConcurrency, which says what it limits; the old name will be removed in a later version',
        'consumer.concurrency is deprecated: it was renamed consumer.aggregateConcurrency, which says what it limits; the old name will be removed in a later version',
      ]);
    } finally {
      warn.mockRestore();
    }
    expect(fails({ worker: { concurrency: 7, taskConcurrency: 4 } })).toBe('invalid configuration:\n  worker.concurrency: is the old name of taskConcurrency; give only taskConcurrency (got 7)');
  });
});

describe('rawConfig: file, ZRETRY_* and REDIS_URL', () => {
  it('an unknown ZRETRY_* variable is an error naming the closest one', () => {
    expect(() => rawConfig(undefined, { ZRETRY_MAX_ATTEMPT: '3', ZRETRY_NAMESPACE: 'x' })).toThrow('invalid environment:\n  ZRETRY_MAX_ATTEMPT: unknown variable; did you mean ZRETRY_MAX_ATTEMPTS?');
    expect(() => rawConfig(undefined, { ZRETRY_WHATEVER_ELSE: '1' })).toThrow('ZRETRY_WHATEVER_ELSE: unknown variable; the variables are listed in docs/configuration.md');
    expect(rawConfig(undefined, { ZRETRY_HANDLER: './h.js', ZRETRY_LOG_LEVEL: 'debug', OTHER: 'x' })).toEqual({ log: { level: 'debug' } });
  });
  it('ZRETRY_CONCURRENCY still sets the task concurrency, with a DeprecationWarning; both names is an error', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      expect(rawConfig(undefined, { ZRETRY_CONCURRENCY: '12' })).toEqual({ worker: { taskConcurrency: 12 } });
      expect(String(warn.mock.calls[0]?.[0])).toContain('ZRETRY_CONCURRENCY is deprecated: it was renamed ZRETRY_TASK_CONCURRENCY');
    } finally {
      warn.mockRestore();
    }
    expect(() => rawConfig(undefined, { ZRETRY_CONCURRENCY: '12', ZRETRY_TASK_CONCURRENCY: '3' })).toThrow('ZRETRY_CONCURRENCY: is the old name of ZRETRY_TASK_CONCURRENCY; set only ZRETRY_TASK_CONCURRENCY');
  });
  const file = (cfg: unknown): string => {
    const p = join(mkdtempSync(join(tmpdir(), 'zretry-cfg-')), 'c.json');
    writeFileSync(p, JSON.stringify(cfg));
    return p;
  };
  it('a redisUrl in the file wins over the conventional REDIS_URL; ZRETRY_REDIS_URL wins over both', () => {
    const f = file({ store: { redisUrl: 'redis://file:1' } });
    expect((rawConfig(f, { REDIS_URL: 'redis://env:2' }).store as { redisUrl: string }).redisUrl).toBe('redis://file:1');
    expect((rawConfig(f, { REDIS_URL: 'redis://env:2', ZRETRY_REDIS_URL: 'redis://z:3' }).store as { redisUrl: string }).redisUrl).toBe('redis://z:3');
    expect((rawConfig(undefined, { REDIS_URL: 'redis://env:2' }).store as { redisUrl: string }).redisUrl).toBe('redis://env:2');
  });
  it('ZRETRY_KAFKA_BROKERS is a comma-separated list, validated as host:port', () => {
    const raw = rawConfig(undefined, { ZRETRY_KAFKA_BROKERS: 'a:9092, b:9093' });
    expect(raw.kafka).toEqual({ brokers: ['a:9092', 'b:9093'] });
    expect(() => parseConfig(standaloneWorkerSchema, rawConfig(undefined, { ZRETRY_KAFKA_BROKERS: 'nohost' }))).toThrow(/kafka\.brokers\.0: must be host:port \(got "nohost"\)/);
  });
  it('republish dispatch without a kafka section names the fix', () => {
    expect(() => parseConfig(standaloneWorkerSchema, { consumer: { dispatch: 'republish' } })).toThrow(/consumer\.dispatch: dispatch "republish" needs a kafka section/);
  });
  it('a file that is not JSON names the file', () => {
    const p = join(mkdtempSync(join(tmpdir(), 'zretry-cfg-')), 'bad.json');
    writeFileSync(p, '{ store: ');
    expect(() => rawConfig(p, {})).toThrow(new RegExp(`cannot read config file ${p}`));
  });
});
