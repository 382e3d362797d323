/**
 * consume(): a Kafka consumer whose failures are retried through Redis,
 * with an embedded worker, in one call.
 *
 *   const z = await consume({ kafka, groupId: 'billing', topics: ['orders'], handler });
 *   ...
 *   await z.close();
 */
import type { RedisClient } from './store/client.js';
import pino, { type Logger } from 'pino';
import { redisFromConfig } from './config/connections.js';
import { parseConfig } from './config/parse.js';
import { consumeConfigSchema, type ConsumeConfigInput } from './config/schema.js';
import { TypedEmitter, type DeadReason, type ZRetryEmitter, type ZRetryEvents } from './events.js';
import type { Handler, HandlerRecord } from './handler.js';
import { clientObject, openConsumer, type ConsumerOf, type ConsumerSettingsOf, type Kafka, type ProducerOf } from './kafka/client.js';
import { retryingConsumer, type RetryingConsumer } from './kafka/consumer.js';
import { keyAggregateId, offsetMessageId } from './kafka/ids.js';
import { resolveTopics } from './kafka/topics.js';

export { keyAggregateId, offsetMessageId };
import { republishRunner } from './kafka/republish-runner.js';
import { startKafkaSide, type KafkaSide } from './kafka/side.js';
import type { ClassifierOptions } from './policy/classify.js';
import type { RetryPolicy } from './policy/backoff.js';
import { claimShards } from './store/namespace.js';
import { preflight } from './store/preflight.js';
import { fsyncWindowMs, watchRestarts } from './store/fsync-window.js';
import { TaskStore } from './store/store.js';
import type { ClaimedTask } from './store/task.js';
import type { TaskRecord } from './store/record-codec.js';
import { Outcomes } from './worker/outcomes.js';
import { processRunner } from './worker/process-runner.js';
import { DispatchControl } from './worker/dispatch-control.js';
import { Worker } from './worker/worker.js';
import { RedisClock } from './util/redis-clock.js';
import { logRedisErrors } from './util/redis-errors.js';

/** Options of consume(); `config` is validated, the rest are code. */
export interface ConsumeOptions<K extends Kafka = Kafka> {
  /** A kafkajs client (`new Kafka({...})`) or Confluent's (`new KafkaJS.Kafka({ kafkaJS: {...} })`). */
  kafka: K;
  groupId: string;
  /** Topic names, or patterns matched against the topics that exist at start (as kafkajs does); zretry's own dead-letter and retry topics never match. */
  topics: Array<string | RegExp>;
  handler: Handler;
  config?: ConsumeConfigInput;
  /** An existing Redis client; default: one on config.store.redisUrl, closed by close(). */
  redis?: RedisClient;
  logger?: Logger;
  /** Overrides config.failure.policy (e.g. a custom backoff function). */
  policy?: RetryPolicy;
  classifier?: ClassifierOptions;
  /** The aggregate of a record; default: its key (null key: no ordering). */
  aggregateId?: (r: HandlerRecord) => string | null;
  /** The dedup id of a record; default: topic/partition/offset. */
  messageId?: (r: HandlerRecord) => string;
  /** Called after a dead letter is written; an error it throws is logged (the letter is not written again). */
  onDead?: (task: ClaimedTask, reason: DeadReason) => void | Promise<void>;
  /** Run a worker in this process (default true); false when standalone workers do it. */
  worker?: boolean;
  /** Extra consumer settings in the client's own shape: kafkajs's ConsumerConfig, or Confluent's `{ kafkaJS: {...}, 'librdkafka.key': ... }`. */
  consumerConfig?: ConsumerSettingsOf<K>;
  /** An emitter to report on (e.g. with metrics already listening); default: a new one. */
  events?: ZRetryEmitter;
}

/** A running retrying consumer. */
export interface ZRetryConsumer<K extends Kafka = Kafka> {
  /** The client's own consumer (the one consume() runs). */
  consumer: ConsumerOf<K>;
  /** The client's own producer of dead letters. */
  producer: ProducerOf<K>;
  store: TaskStore;
  worker: Worker | null;
  events: ZRetryEmitter;
  close(): Promise<void>;
}

/** Starts a retrying consumer (and, unless told not to, a worker). */
export async function consume<K extends Kafka>(opts: ConsumeOptions<K>): Promise<ZRetryConsumer<K>> {
  const cfg = parseConfig(consumeConfigSchema, opts.config ?? {}, 'zretry configuration');
  const logger = (opts.logger ?? pino({ name: 'zretry' })).child({ groupId: opts.groupId });
  const events: ZRetryEmitter = opts.events ?? new TypedEmitter<ZRetryEvents>();
  const ownRedis = !opts.redis;
  const redis = opts.redis ?? redisFromConfig(cfg.store);
  logRedisErrors(redis, logger, 'store');
  let store: TaskStore;
  const c = cfg.consumer;
  const consumer = openConsumer(opts.kafka, { groupId: opts.groupId, fromBeginning: c.fromBeginning, settings: opts.consumerConfig });
  let side: KafkaSide | null = null;

  const clock = new RedisClock(redis, cfg.store.namespace);
  const closing = new AbortController();
  let worker: Worker | null = null;
  /**
   * Without an embedded worker, the consumer's own view of dispatch control
   * (the breakers and throttles that `zretry worker` processes judge), so a
   * first try throttled or failing under an open breaker counts no attempt
   * there either; with one, the worker's.
   */
  let ownControl: DispatchControl | null = null;
  const control = () => worker?.control ?? ownControl;
  let workerRedis: RedisClient | null = null;
  let retrying: RetryingConsumer | null = null;
  let stopWatch = () => {};
  try {
    await preflight(redis, { allowEviction: cfg.store.allowEviction, waitReplicas: cfg.store.waitReplicas });
    store = new TaskStore(redis, { ...cfg.store, shards: await claimShards(redis, cfg.store.namespace, cfg.store.shards) });
    const fsyncWindow = await fsyncWindowMs(redis, cfg.store.fsyncWindowMs, logger);
    const topics = await resolveTopics(opts.kafka, opts.topics, [c.dltSuffix, ...(c.retryTopicSuffix ? [c.retryTopicSuffix] : [])], logger);
    side = await startKafkaSide(opts.kafka, c, { sourceTopics: topics, groupId: opts.groupId, onDead: opts.onDead, logger });
    const { deadLetter, retryTopic } = side;
    // topics an operator may name in `zretry limit set --topic` (docs/dispatch-control.md)
    await store.control.registerTopics(topics);
    const outcomeOptions = {
      ...cfg.failure,
      policy: opts.policy ?? cfg.failure.policy,
      classifier: opts.classifier ?? {},
      deadLetter,
      // republished copies the consumer runs: a throttle or an open breaker sends them back without an attempt, as the worker does
      defer: (t: ClaimedTask, e: unknown) => control()?.defer(t, e) ?? null,
    };
    await clock.start();
    const outcomes = new Outcomes(store, outcomeOptions, events, logger.child({ component: 'consumer-outcomes' }), () => clock.now());

    if (opts.worker !== false) {
      // the worker's own connection: its claims and acks must not queue behind the consumer's large schedule calls
      workerRedis = redis.duplicate();
      logRedisErrors(workerRedis, logger, 'worker-store');
      const workerStore = new TaskStore(workerRedis, { ...cfg.store, shards: store.options.shards });
      worker = new Worker({
        store: workerStore,
        logger,
        events,
        ...cfg.worker,
        concurrency: cfg.worker.taskConcurrency,
        outcomes: outcomeOptions,
        dispatch: cfg.dispatch,
        runner:
          c.dispatch === 'republish'
            ? republishRunner({ producer: side.republishProducer!, store: workerStore, logger, retryTopic, republishLeaseMs: c.republishLeaseMs, secret: c.republishSecret })
            : processRunner(opts.handler, cfg.failure.attemptTimeoutMs, events),
      });
      await worker.start();
    } else {
      ownControl = new DispatchControl(store, cfg.dispatch, events, logger.child({ component: 'dispatch-control' }));
      await ownControl.start();
    }

    await consumer.connect();
    await consumer.subscribe({ topics: [...topics, ...(retryTopic ? topics.map(retryTopic) : [])], fromBeginning: c.fromBeginning });
    retrying = retryingConsumer({
      consumer,
      store,
      handler: opts.handler,
      outcomes,
      policy: outcomeOptions.policy,
      classifier: outcomeOptions.classifier,
      aggregateId: opts.aggregateId ?? keyAggregateId,
      messageId: opts.messageId ?? offsetMessageId,
      concurrency: c.aggregateConcurrency,
      blocking: c.blocking,
      redisProbeMs: c.redisProbeMs,
      maxRecordBytes: c.maxRecordBytes,
      maxStackChars: cfg.failure.maxStackChars,
      // a first try throttled, or failing while its breaker is open, counts no attempt
      deferFresh: (record: TaskRecord, e: unknown) => control()?.deferFresh(record, e) ?? null,
      republishSecret: c.republishSecret,
      deadLetter,
      leaseMs: cfg.worker.leaseMs,
      attemptTimeoutMs: cfg.failure.attemptTimeoutMs,
      fsyncWindowMs: fsyncWindow,
      signal: closing.signal,
      logger,
      events,
    });
    // a Redis that comes back as another server (a restart) may have lost what was not yet on disk
    const offsets = retrying.offsets;
    stopWatch = await watchRestarts(redis, () => offsets.rewind(), logger);
    await consumer.run({
      partitionsConsumedConcurrently: c.partitionsConsumedConcurrently,
      eachBatchAutoResolve: false,
      // offsets are committed by DurableOffsets: once what a batch stored is past Redis's fsync window
      autoCommit: false,
      eachBatch: retrying.eachBatch,
    });
  } catch (e) {
    stopWatch();
    clock.stop();
    await Promise.allSettled([worker?.close(), ownControl?.stop(), consumer.disconnect(), side?.close()]);
    workerRedis?.disconnect();
    if (ownRedis) redis.disconnect();
    throw e;
  }

  let closed: Promise<void> | null = null;
  const kafkaSide = side!;
  const durable = retrying!.offsets;
  return {
    consumer: clientObject<ConsumerOf<K>>(consumer),
    producer: clientObject<ProducerOf<K>>(kafkaSide.producer),
    store,
    worker,
    events,
    close: () =>
      (closed ??= (async () => {
        closing.abort();
        // offsets of batches that stored tasks move once those writes are past Redis's fsync window
        await durable.flush();
        await consumer.disconnect();
        stopWatch();
        await worker?.close();
        await ownControl?.stop();
        await workerRedis?.quit().catch(() => workerRedis?.disconnect());
        clock.stop();
        await kafkaSide.close();
        if (ownRedis) await redis.quit().catch(() => redis.disconnect());
      })()),
  };
}
