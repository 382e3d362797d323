/**
 * Configuration of zretry: one zod schema per object, the TypeScript type
 * inferred from it, each default next to its field. The CLI and the
 * environment only map into these schemas. Every object is strict: an
 * unknown key is an error naming the option it most likely meant
 * (parseConfig), so a typo never silently falls back to a default.
 */
import { z } from 'zod';
import { retryPolicySchema } from '../policy/schema.js';
import { withRenamedKeys } from './renamed.js';

/** Where tasks live in Redis. */
export const storeSchema = z.object({
  /** Redis URL; rediss:// for TLS. */
  redisUrl: z.string().url({ message: 'must be a Redis URL such as redis://127.0.0.1:6379 (rediss:// for TLS)' }).default('redis://127.0.0.1:6379'),
  /** Key prefix; every key is under the hash tag {namespace:shard}. Letters, digits, - _ . only. */
  namespace: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, { message: 'must be 1 to 64 letters, digits, "-", "_" or "."' })
    .default('zretry'),
  /**
   * Redis Cluster: false for one Redis; true to use the redisUrl's host as
   * the seed node; or seed nodes as host:port (the URL still gives user,
   * password and TLS). docs/scale-out.md.
   */
  cluster: z
    .union([z.boolean(), z.array(z.string().regex(/^[^\s:]+:\d{1,5}$/, { message: 'must be host:port' })).min(1, { message: 'needs at least one seed node, e.g. ["10.0.0.1:6379"]' })])
    .default(false),
  /**
   * Shards spread tasks by aggregate; fixed for the life of a namespace.
   * Unset: the count the namespace already has, or DEFAULT_SHARDS (16) for
   * a new one (docs/scale-out.md says why 16).
   */
  shards: z.number().int().min(1).max(1024).optional(),
  /**
   * Replicas that must have each stored failure before its offset is
   * committed (Redis WAIT after the schedule); 0: do not wait. On a cluster,
   * 1 keeps acknowledged schedules through a failover (docs/guarantees.md).
   */
  waitReplicas: z.number().int().min(0).max(16).default(0),
  /** Longest WAIT for those replicas; fewer in time fails the write, which is tried again (the partition pauses). */
  waitTimeoutMs: z.number().int().min(10).max(60_000).default(1_000),
  /** Most tasks one Lua call handles, so no call stalls Redis. */
  maxBatch: z.number().int().min(1).max(1000).default(250),
  /** Accept a Redis whose maxmemory-policy evicts keys (tasks could vanish). */
  allowEviction: z.boolean().default(false),
  /**
   * A Redis call that gets no answer for this long fails, and the work is
   * paused and tried again (every step is safe to repeat). Without it a
   * connection that hangs (a network partition, a frozen server) stalls
   * the consumer silently until TCP gives up.
   */
  commandTimeoutMs: z.number().int().min(100).max(600_000).default(10_000),
  /**
   * How long after acknowledging a write Redis may still lose it in a host
   * crash: the consumer commits the offsets of a batch that stored tasks
   * only after this. 'auto': 2000 ms (appendfsync everysec) when Redis has
   * an append-only file, 0 with a warning when it has none; set 0 for a
   * Redis on appendfsync always.
   */
  fsyncWindowMs: z.union([z.literal('auto'), z.number().int().min(0).max(60_000)]).default('auto'),
  /** TLS to Redis beyond what a rediss:// URL gives: a private CA or a client certificate (file paths). */
  tls: z
    .object({
      caFile: z.string().min(1).optional(),
      certFile: z.string().min(1).optional(),
      keyFile: z.string().min(1).optional(),
      /** Only for tests against self-signed servers. */
      rejectUnauthorized: z.boolean().default(true),
    })
    .strict()
    .optional(),
}).strict();

/** How the worker claims and runs tasks. */
export const workerSchema = withRenamedKeys('worker', z.object({
  /** Most tasks (handler calls or republishes) running at once in this worker; was `concurrency`. */
  taskConcurrency: z.number().int().min(1).max(10_000).default(100),
  /** Most tasks claimed per script call; 500 keeps a claim near 3 ms of Redis time (docs/benchmarks.md). */
  batchSize: z.number().int().min(1).max(500).default(100),
  /**
   * Process mode: a claimed head of an aggregate takes up to this many
   * tasks in all (itself and those queued behind it) to run in order under
   * one lease and one ack, so a queue of parked records does not cost a
   * claim and an ack per record; 1 turns chains off.
   */
  chainLength: z.number().int().min(1).max(100).default(10),
  /** How long a claim holds a task before another worker may take it; extended while the handler runs. */
  leaseMs: z.number().int().min(100).max(3_600_000).default(30_000),
  /** The safety net under pushed wake-ups: no shard goes unclaimed longer than this, however often other shards wake the worker. */
  maxSleepMs: z.number().int().min(10).max(600_000).default(5_000),
  /** How long close() waits for running tasks before giving them back. */
  closeTimeoutMs: z.number().int().min(0).max(600_000).default(10_000),
}).strict(), { concurrency: 'taskConcurrency' });

/** What happens to failures. */
export const failureSchema = z.object({
  policy: retryPolicySchema.default({}),
  /** The tasks behind a head that dies: release the next, dead-letter them all, or hold the aggregate. */
  followerPolicy: z.enum(['release', 'dead-letter', 'hold']).default('release'),
  /** Keep dead tasks in Redis for inspection and replay. */
  keepDead: z.boolean().default(true),
  /** Delay before a failed dead-letter write is tried again. */
  deadLetterRetryMs: z.number().int().min(10).max(3_600_000).default(5_000),
  /** Longest stack trace kept with a task's last error. */
  maxStackChars: z.number().int().min(0).max(100_000).default(2_000),
  /**
   * An attempt of the handler (a first try in the consumer, or a retry)
   * that runs longer than this fails with HandlerTimeoutError, retried by
   * the policy, and its ctx.signal aborts; without it, one hung call would
   * hold its aggregate (and its lease) forever. 0 turns it off.
   */
  attemptTimeoutMs: z.number().int().min(0).max(86_400_000).default(60_000),
}).strict();

/**
 * Dispatch control (docs/dispatch-control.md): the circuit breaker per
 * topic and error class, the ramp that releases a backlog after it, and
 * handler throttles. Rate limits themselves are set at run time
 * (`zretry limit set`), not here.
 */
export const dispatchSchema = z.object({
  /** How often a worker reports outcomes and learns of new limits and breakers when it has not claimed meanwhile; a change applies within this. */
  syncMs: z.number().int().min(50).max(60_000).default(500),
  breaker: z.object({
    /** On: a dependency outage pauses dispatch of what fails instead of burning attempts into dead letters (why on: docs/dispatch-control.md). */
    enabled: z.boolean().default(true),
    /** Share of the attempts in a window that must fail for the breaker to open. */
    failureRate: z.number().gt(0, { message: 'must be above 0 (a share such as 0.8); to turn the breaker off set dispatch.breaker.enabled: false' }).max(1).default(0.8),
    /** Fewest attempts in a window before the rate is judged, so a few failures never open it. */
    minAttempts: z.number().int().min(1).max(1_000_000).default(50),
    /** The window over which the rate is counted (tumbling). */
    windowMs: z.number().int().min(1_000).max(3_600_000).default(30_000),
    /** While open, one task goes through as a probe this often; its success closes the breaker. */
    probeIntervalMs: z.number().int().min(100).max(3_600_000).default(5_000),
  }).strict().default({}),
  ramp: z.object({
    /** After a breaker closes or a throttle ends, dispatch of the scope starts at this rate (tasks/s)... */
    startRate: z.number().gt(0, { message: 'must be above 0 tasks per second' }).max(1_000_000).default(5),
    /** ...and doubles this often... */
    doublingMs: z.number().int().min(100).max(3_600_000).default(2_000),
    /** ...until it reaches the scope's own limit, or this rate when it has none; then the ramp ends. */
    endRate: z.number().gt(0, { message: 'must be above 0 tasks per second' }).max(1_000_000).default(1_000),
  }).strict().default({}),
  throttle: z.object({
    /** The wait when a ThrottledError names none. */
    defaultRetryAfterMs: z.number().int().min(0).max(3_600_000).default(1_000),
    /** The longest wait a throttle may ask for (a wrong Retry-After must not stop a topic for a day). */
    maxRetryAfterMs: z.number().int().min(0).max(86_400_000).default(300_000),
  }).strict().default({}),
}).strict().superRefine((d, ctx) => {
  if (d.ramp.endRate < d.ramp.startRate) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['ramp', 'endRate'], message: `must be at least ramp.startRate (${d.ramp.startRate})` });
});

export type DispatchConfig = z.infer<typeof dispatchSchema>;

/** Everything a direct-mode worker needs besides its handler. */
export const workerConfigSchema = z.object({
  store: storeSchema.default({}),
  worker: workerSchema.default({}),
  failure: failureSchema.default({}),
  dispatch: dispatchSchema.default({}),
}).strict();

export type StoreConfig = z.infer<typeof storeSchema>;
export type WorkerConfig = z.infer<typeof workerSchema>;
export type FailureConfig = z.infer<typeof failureSchema>;
export type WorkerConfigInput = z.input<typeof workerConfigSchema>;
export type WorkerFullConfig = z.infer<typeof workerConfigSchema>;

/** The admin HTTP endpoint of a standalone worker or `zretry dashboard` (/metrics, /healthz, /readyz, the admin API and its page). */
export const adminSchema = z.object({
  /** Serve the endpoint. */
  enabled: z.boolean().default(true),
  /** Loopback only by default. */
  host: z.string().min(1).default('127.0.0.1'),
  /** 9464 is the conventional Prometheus exporter port; 0 picks a free one. */
  port: z.number().int().min(0).max(65535).default(9464),
  /** When set, requests need "Authorization: Bearer <token>"; the admin API and its page need one. */
  token: z.string().min(8, { message: 'must be at least 8 characters' }).optional(),
  /** Serve the admin API (/api/...) and the dashboard page (/); the API answers only with a token set. */
  api: z.boolean().default(true),
  /** Let reads (GET: stats, lists, a task, /metrics) through without the token; actions always need it. */
  openReads: z.boolean().default(false),
  /** The API may return a task's key, value and header values (base64) when asked with ?payload=1; off: sizes only. */
  showPayloads: z.boolean().default(false),
  /**
   * Export the namespace-wide gauges (zretry_tasks, zretry_blocked_aggregates,
   * zretry_oldest_due_age_seconds). Every worker reads the same values from
   * Redis: turn this off on all but one worker, or aggregate with max().
   */
  queueGauges: z.boolean().default(true),
}).strict();

export type AdminConfig = z.infer<typeof adminSchema>;

/** How the retrying consumer behaves. */
export const consumerSchema = withRenamedKeys('consumer', z.object({
  /** 'process': the worker calls the handler; 'republish': the worker sends due records back to Kafka. */
  dispatch: z.enum(['process', 'republish']).default('process'),
  /** Aggregates whose records the consumer handles at once within one batch; was `concurrency`. */
  aggregateConcurrency: z.number().int().min(1).max(10_000).default(10),
  /**
   * Batches of different partitions handled at once (kafkajs's
   * partitionsConsumedConcurrently): while one batch waits on Redis, another
   * runs. Records of one partition are always handled batch after batch.
   */
  partitionsConsumedConcurrently: z.number().int().min(1).max(1_000).default(4),
  /** Quick in-process attempts before a failure goes to Redis; 0 turns the blocking phase off. */
  blocking: z
    .object({
      /** Extra attempts in the consumer. */
      attempts: z.number().int().min(0).max(10).default(0),
      /** Pause between them. */
      delayMs: z.number().int().min(0).max(10_000).default(100),
    })
    .strict()
    .default({}),
  /** Suffix of the dead-letter topic: `<topic><suffix>`. */
  dltSuffix: z.string().min(1).default('.dlt'),
  /** Republish to `<topic><suffix>` instead of the original topic (and subscribe to it); unset: the original topic. */
  retryTopicSuffix: z.string().min(1).optional(),
  /** Create missing dead-letter and retry topics; off: a clear error naming the topic. */
  autoCreateTopics: z.boolean().default(true),
  /** Add Spring Kafka's kafka_dlt-* headers to dead letters. */
  springHeaders: z.boolean().default(false),
  /** Republish mode: how long a republished record may take to come back through the consumer. */
  republishLeaseMs: z.number().int().min(1_000).max(86_400_000).default(300_000),
  /** How often a partition paused for a Redis outage checks whether Redis is back. */
  redisProbeMs: z.number().int().min(10).max(60_000).default(500),
  /** Read new groups from the beginning of the topics. */
  fromBeginning: z.boolean().default(false),
  /**
   * Signs republished copies (HMAC-SHA256 over their zretry headers); the
   * consumer then takes only signed records for copies. Without it, whoever
   * can write to the topic can forge headers that make a record be skipped
   * as a stale copy. The same value on every consumer and worker.
   */
  republishSecret: z.string().min(16, { message: 'must be at least 16 characters' }).optional(),
  /**
   * Largest record (key + value + headers, bytes) zretry keeps in Redis. A
   * larger record is never stored: it goes straight to the dead-letter topic
   * with reason "too-large", without a handler call.
   */
  maxRecordBytes: z.number().int().min(1_024).max(64 * 1024 * 1024).default(1024 * 1024),
}).strict(), { concurrency: 'aggregateConcurrency' });

/** The Kafka client of a standalone worker (consume() takes the user's own client instead). */
export const kafkaSchema = z.object({
  /** Which package the worker's client comes from, a peer dependency to install: kafkajs, or @confluentinc/kafka-javascript (librdkafka, its KafkaJS-compatible API). */
  client: z.enum(['kafkajs', 'confluent']).default('kafkajs'),
  /** Bootstrap brokers, host:port. */
  brokers: z.array(z.string().regex(/^[^\s:]+:\d{1,5}$/, { message: 'must be host:port' })).min(1, { message: 'needs at least one broker, e.g. ["127.0.0.1:9092"]' }),
  clientId: z.string().min(1).default('zretry-worker'),
  /** true: TLS with the system CAs; an object: a private CA or a client certificate (file paths). */
  ssl: z
    .union([
      z.boolean(),
      z.object({
        caFile: z.string().min(1).optional(),
        certFile: z.string().min(1).optional(),
        keyFile: z.string().min(1).optional(),
        rejectUnauthorized: z.boolean().default(true),
      }).strict(),
    ])
    .default(false),
  /** SASL authentication; the password is best given as ZRETRY_KAFKA_SASL_PASSWORD. */
  sasl: z
    .object({
      mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
      username: z.string().min(1),
      password: z.string().min(1),
    })
    .strict()
    .optional(),
}).strict();

export type KafkaClientConfig = z.infer<typeof kafkaSchema>;

/** Everything consume() needs besides code. */
export const consumeConfigSchema = workerConfigSchema.extend({
  consumer: consumerSchema.default({}),
});

/** Republish mode sends records to Kafka, so it needs a Kafka client. */
function republishNeedsKafka(c: { consumer: { dispatch: string }; kafka?: unknown }, ctx: z.RefinementCtx): void {
  if (c.consumer.dispatch === 'republish' && c.kafka === undefined) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['consumer', 'dispatch'], message: 'dispatch "republish" needs a kafka section (kafka.brokers, or ZRETRY_KAFKA_BROKERS)' });
  }
}

const standaloneWorkerObject = consumeConfigSchema.extend({ kafka: kafkaSchema.optional() });

/**
 * A standalone worker: with a `kafka` section it writes dead letters to the
 * dead-letter topic (and can republish); without one, dead tasks stay in
 * Redis only (`zretry dead list`).
 */
/** A worker's configuration when a Kafka client is given in code: that client serves republishing as a kafka section would. */
export const workerWithKafkaSchema = standaloneWorkerObject;

export const standaloneWorkerSchema = standaloneWorkerObject.superRefine(republishNeedsKafka);

/** How much the `zretry worker` process logs. */
export const logSchema = z.object({
  /** pino's levels; 'info' logs starts, stops and outages, never payloads. */
  level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
}).strict();

/** Everything the `zretry` command reads from its config file and ZRETRY_* variables. */
export const cliConfigSchema = standaloneWorkerObject
  .extend({ http: adminSchema.default({}), log: logSchema.default({}) })
  .superRefine(republishNeedsKafka);

export type CliConfig = z.infer<typeof cliConfigSchema>;

export type StandaloneWorkerConfigInput = z.input<typeof standaloneWorkerSchema>;

export type ConsumerConfig = z.infer<typeof consumerSchema>;
export type ConsumeConfigInput = z.input<typeof consumeConfigSchema>;
