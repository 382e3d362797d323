/**
 * Configuration of zretry: one zod schema per object, the TypeScript type
 * inferred from it, each default next to its field. The CLI and the
 * environment only map into these schemas.
 */
import { z } from 'zod';
import { retryPolicySchema } from '../policy/schema.js';

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
  maxBatch: z.number().int().min(1).max(1000).default(500),
  /** Accept a Redis whose maxmemory-policy evicts keys (tasks could vanish). */
  allowEviction: z.boolean().default(false),
  /**
   * A Redis call that gets no answer for this long fails, and the work is
   * paused and tried again (every step is safe to repeat). Without it a
   * connection that hangs (a network partition, a frozen server) stalls
   * the consumer silently until TCP gives up.
   */
  commandTimeoutMs: z.number().int().min(100).max(600_000).default(10_000),
  /** TLS to Redis beyond what a rediss:// URL gives: a private CA or a client certificate (file paths). */
  tls: z
    .object({
      caFile: z.string().min(1).optional(),
      certFile: z.string().min(1).optional(),
      keyFile: z.string().min(1).optional(),
      /** Only for tests against self-signed servers. */
      rejectUnauthorized: z.boolean().default(true),
    })
    .optional(),
});

/** How the worker claims and runs tasks. */
export const workerSchema = z.object({
  /** Most tasks running at once in this worker. */
  concurrency: z.number().int().min(1).max(10_000).default(100),
  /** Most tasks claimed per script call; 500 keeps a claim near 3 ms of Redis time (docs/benchmarks.md). */
  batchSize: z.number().int().min(1).max(500).default(100),
  /** How long a claim holds a task before another worker may take it; extended while the handler runs. */
  leaseMs: z.number().int().min(100).max(3_600_000).default(30_000),
  /** Longest sleep when nothing is due; wake-ups are pushed, this is a safety net. */
  maxSleepMs: z.number().int().min(10).max(600_000).default(5_000),
  /** How long close() waits for running tasks before giving them back. */
  closeTimeoutMs: z.number().int().min(0).max(600_000).default(10_000),
});

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
});

/** Everything a direct-mode worker needs besides its handler. */
export const workerConfigSchema = z.object({
  store: storeSchema.default({}),
  worker: workerSchema.default({}),
  failure: failureSchema.default({}),
});

export type StoreConfig = z.infer<typeof storeSchema>;
export type WorkerConfig = z.infer<typeof workerSchema>;
export type FailureConfig = z.infer<typeof failureSchema>;
export type WorkerConfigInput = z.input<typeof workerConfigSchema>;
export type WorkerFullConfig = z.infer<typeof workerConfigSchema>;

/** The admin HTTP endpoint of a standalone worker (/metrics, /healthz, /readyz). */
export const adminSchema = z.object({
  /** Serve the endpoint. */
  enabled: z.boolean().default(true),
  /** Loopback only by default. */
  host: z.string().min(1).default('127.0.0.1'),
  /** 9464 is the conventional Prometheus exporter port; 0 picks a free one. */
  port: z.number().int().min(0).max(65535).default(9464),
  /** When set, requests need "Authorization: Bearer <token>". */
  token: z.string().min(8, { message: 'must be at least 8 characters' }).optional(),
});

export type AdminConfig = z.infer<typeof adminSchema>;

/** How the retrying consumer behaves. */
export const consumerSchema = z.object({
  /** 'process': the worker calls the handler; 'republish': the worker sends due records back to Kafka. */
  dispatch: z.enum(['process', 'republish']).default('process'),
  /** Aggregates handled concurrently within one batch. */
  concurrency: z.number().int().min(1).max(10_000).default(10),
  /** Quick in-process attempts before a failure goes to Redis; 0 turns the blocking phase off. */
  blocking: z
    .object({
      /** Extra attempts in the consumer. */
      attempts: z.number().int().min(0).max(10).default(0),
      /** Pause between them. */
      delayMs: z.number().int().min(0).max(10_000).default(100),
    })
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
});

/** The Kafka client of a standalone worker (consume() takes the user's own kafkajs instance instead). */
export const kafkaSchema = z.object({
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
      }),
    ])
    .default(false),
  /** SASL authentication; the password is best given as ZRETRY_KAFKA_SASL_PASSWORD. */
  sasl: z
    .object({
      mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
      username: z.string().min(1),
      password: z.string().min(1),
    })
    .optional(),
});

export type KafkaClientConfig = z.infer<typeof kafkaSchema>;

/** Everything consume() needs besides code. */
export const consumeConfigSchema = workerConfigSchema.extend({
  consumer: consumerSchema.default({}),
});

/**
 * A standalone worker: with a `kafka` section it writes dead letters to the
 * dead-letter topic (and can republish); without one, dead tasks stay in
 * Redis only (`zretry dead list`).
 */
export const standaloneWorkerSchema = consumeConfigSchema
  .extend({ kafka: kafkaSchema.optional() })
  .refine((c) => c.consumer.dispatch !== 'republish' || c.kafka !== undefined, {
    message: 'dispatch "republish" needs a kafka section (kafka.brokers, or ZRETRY_KAFKA_BROKERS)',
    path: ['consumer', 'dispatch'],
  });

export type StandaloneWorkerConfigInput = z.input<typeof standaloneWorkerSchema>;

export type ConsumerConfig = z.infer<typeof consumerSchema>;
export type ConsumeConfigInput = z.input<typeof consumeConfigSchema>;
