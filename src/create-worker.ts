/**
 * createWorker: the embedded, direct-mode worker in one call. Validates the
 * configuration, checks Redis, and starts claiming.
 */
import { Redis } from 'ioredis';
import pino, { type Logger } from 'pino';
import { parseConfig } from './config/parse.js';
import { workerConfigSchema, type WorkerConfigInput } from './config/schema.js';
import type { Handler } from './handler.js';
import type { ClassifierOptions } from './policy/classify.js';
import type { RetryPolicy } from './policy/backoff.js';
import { preflight } from './store/preflight.js';
import { TaskStore } from './store/store.js';
import type { DeadLetterSink } from './worker/outcomes.js';
import { processRunner } from './worker/process-runner.js';
import { Worker, type TaskRunner } from './worker/worker.js';

/** Options of createWorker; `config` is validated, the rest are code. */
export interface CreateWorkerOptions {
  /** Settings that could come from a file or the environment. */
  config?: WorkerConfigInput;
  /** Process mode: the handler the worker calls on due tasks. */
  handler?: Handler;
  /** Or any runner (republish mode brings its own). */
  runner?: TaskRunner;
  /** An existing client; default: one on config.store.redisUrl, closed with the worker. */
  redis?: Redis;
  logger?: Logger;
  /** Overrides config.failure.policy, e.g. with a custom backoff function. */
  policy?: RetryPolicy;
  classifier?: ClassifierOptions;
  /** Where dead tasks are written (the dead-letter topic); must resolve only once durable. */
  deadLetter?: DeadLetterSink;
}

/** A started worker and what it was built on. */
export interface StartedWorker {
  worker: Worker;
  store: TaskStore;
  close(): Promise<void>;
}

/** Validates, checks Redis, starts a worker. */
export async function createWorker(opts: CreateWorkerOptions): Promise<StartedWorker> {
  const cfg = parseConfig(workerConfigSchema, opts.config ?? {}, 'worker configuration');
  const runner = opts.runner ?? (opts.handler ? processRunner(opts.handler) : undefined);
  if (!runner) throw new TypeError('createWorker needs a handler (process mode) or a runner (republish mode)');
  const logger = opts.logger ?? pino({ name: 'zretry' });
  const ownRedis = !opts.redis;
  const redis = opts.redis ?? new Redis(cfg.store.redisUrl, { maxRetriesPerRequest: 3 });
  try {
    await preflight(redis, { allowEviction: cfg.store.allowEviction });
  } catch (e) {
    if (ownRedis) redis.disconnect();
    throw e;
  }
  const store = new TaskStore(redis, cfg.store);
  const worker = new Worker({
    store,
    runner,
    logger,
    ...cfg.worker,
    outcomes: {
      ...cfg.failure,
      policy: opts.policy ?? cfg.failure.policy,
      classifier: opts.classifier ?? {},
      deadLetter: opts.deadLetter,
    },
  });
  await worker.start();
  let closed: Promise<void> | null = null;
  return {
    worker,
    store,
    close: () =>
      (closed ??= worker.close().finally(async () => {
        if (ownRedis) await redis.quit().catch(() => redis.disconnect());
      })),
  };
}
