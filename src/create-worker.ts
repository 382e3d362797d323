/**
 * createWorker: a worker in one call, embedded or standalone. Validates the
 * configuration, checks Redis, connects to Kafka when it has a client or a
 * kafka section (dead letters to the dead-letter topic; republish mode), and
 * starts claiming.
 */
import type { RedisClient } from './store/client.js';
import pino, { type Logger } from 'pino';
import { redisFromConfig } from './config/connections.js';
import { parseConfig } from './config/parse.js';
import { standaloneWorkerSchema, workerWithKafkaSchema, type StandaloneWorkerConfigInput } from './config/schema.js';
import { TypedEmitter, type ZRetryEmitter, type ZRetryEvents } from './events.js';
import type { Kafka } from './kafka/client.js';
import { kafkaFromConfig } from './kafka/from-config.js';
import { republishRunner } from './kafka/republish-runner.js';
import { startKafkaSide, type KafkaSide } from './kafka/side.js';
import type { Handler } from './handler.js';
import type { ClassifierOptions } from './policy/classify.js';
import type { RetryPolicy } from './policy/backoff.js';
import { claimShards } from './store/namespace.js';
import { preflight } from './store/preflight.js';
import { TaskStore } from './store/store.js';
import type { DeadLetterSink } from './worker/outcomes.js';
import { processRunner } from './worker/process-runner.js';
import { Worker, type TaskRunner } from './worker/worker.js';

/** Options of createWorker; `config` is validated, the rest are code. */
export interface CreateWorkerOptions {
  /** Settings that could come from a file or the environment. */
  config?: StandaloneWorkerConfigInput;
  /** Process mode: the handler the worker calls on due tasks. */
  handler?: Handler;
  /** Or any runner; default: the handler, or republishing when config.consumer.dispatch is "republish". */
  runner?: TaskRunner;
  /** A Kafka client (kafkajs, or Confluent's KafkaJS.Kafka) for dead letters and republishing; default: one from config.kafka, if any. */
  kafka?: Kafka;
  /** An emitter to report on (e.g. with metrics listening); default: a new one. */
  events?: ZRetryEmitter;
  /** An existing client; default: one on config.store.redisUrl, closed with the worker. */
  redis?: RedisClient;
  logger?: Logger;
  /** Overrides config.failure.policy, e.g. with a custom backoff function. */
  policy?: RetryPolicy;
  classifier?: ClassifierOptions;
  /** Where dead tasks are written; must resolve only once durable. Default: the dead-letter topic when Kafka is configured, else dead tasks stay in Redis only. */
  deadLetter?: DeadLetterSink;
}

/** A started worker and what it was built on. */
export interface StartedWorker {
  worker: Worker;
  store: TaskStore;
  /** Whether dead tasks go to a dead-letter topic (false: Redis only). */
  deadLetters: boolean;
  close(): Promise<void>;
}

/** Validates, checks Redis (and Kafka), starts a worker. */
export async function createWorker(opts: CreateWorkerOptions): Promise<StartedWorker> {
  // a Kafka client given in code serves republishing as a kafka section would
  const cfg = parseConfig(opts.kafka ? workerWithKafkaSchema : standaloneWorkerSchema, opts.config ?? {}, 'worker configuration');
  const logger = opts.logger ?? pino({ name: 'zretry' });
  const kafka = opts.kafka ?? (cfg.kafka ? await kafkaFromConfig(cfg.kafka, logger) : undefined);
  const republish = !opts.runner && cfg.consumer.dispatch === 'republish';
  if (!opts.runner && !republish && !opts.handler) throw new TypeError('createWorker needs a handler (process mode), a runner, or dispatch "republish"');
  if (republish && !kafka) throw new TypeError('dispatch "republish" needs a Kafka client: the kafka option or a kafka config section');
  const events = opts.events ?? new TypedEmitter<ZRetryEvents>();
  const ownRedis = !opts.redis;
  const redis = opts.redis ?? redisFromConfig(cfg.store);
  let side: KafkaSide | null = null;
  let worker: Worker;
  let store: TaskStore;
  let deadLetter: DeadLetterSink | undefined;
  try {
    await preflight(redis, { allowEviction: cfg.store.allowEviction });
    const shards = await claimShards(redis, cfg.store.namespace, cfg.store.shards);
    if (kafka && (republish || !opts.deadLetter)) side = await startKafkaSide(kafka, cfg.consumer, { logger });
    store = new TaskStore(redis, { ...cfg.store, shards });
    const runner =
      opts.runner ??
      (republish
        ? republishRunner({
            producer: side!.republishProducer!,
            store,
            logger,
            retryTopic: side!.retryTopic,
            ensureTopic: side!.ensureTopic,
            republishLeaseMs: cfg.consumer.republishLeaseMs,
            secret: cfg.consumer.republishSecret,
          })
        : processRunner(opts.handler!, cfg.failure.attemptTimeoutMs, events));
    deadLetter = opts.deadLetter ?? side?.deadLetter;
    worker = new Worker({
      store,
      runner,
      logger,
      events,
      ...cfg.worker,
      concurrency: cfg.worker.taskConcurrency,
      dispatch: cfg.dispatch,
      outcomes: {
        ...cfg.failure,
        policy: opts.policy ?? cfg.failure.policy,
        classifier: opts.classifier ?? {},
        deadLetter,
      },
    });
    await worker.start();
  } catch (e) {
    await side?.close();
    if (ownRedis) redis.disconnect();
    throw e;
  }
  let closed: Promise<void> | null = null;
  return {
    worker,
    store,
    deadLetters: deadLetter !== undefined,
    close: () =>
      (closed ??= worker.close().finally(async () => {
        await side?.close();
        if (ownRedis) await redis.quit().catch(() => redis.disconnect());
      })),
  };
}
