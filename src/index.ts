/**
 * zretry's public API. Nothing leaves the package except through here.
 */
export { createWorker, type CreateWorkerOptions, type StartedWorker } from './create-worker.js';
export { Worker, type TaskRunner, type WorkerOptions } from './worker/worker.js';
export { processRunner } from './worker/process-runner.js';
export { Outcomes, type DeadLetterSink, type OutcomeOptions } from './worker/outcomes.js';
export { TaskStore, ShardsFailedError, type Lease, type StoreOptions } from './store/store.js';
export { isCluster, type RedisClient } from './store/client.js';
export { preflight } from './store/preflight.js';
export { aclRules, workerAclRules, operatorAclRules, aclSetUserLine } from './store/acl.js';
export { redisFromConfig } from './config/connections.js';
export { kafkaFromConfig } from './kafka/from-config.js';
export type { Kafka, KafkaClientName, Consumer, Producer, Admin, KafkaMessage, EachBatchPayload, IHeaders } from './kafka/client.js';
export { encodeRecord, decodeRecord, type TaskRecord, type RecordHeader } from './store/record-codec.js';
export type * from './store/task.js';
export { storedRecord, type Handler, type HandlerRecord, type RecordMessage, type RetryContext, type RecordHeaders } from './handler.js';
export { TypedEmitter, type ZRetryEvents, type ZRetryEmitter, type DeadReason } from './events.js';
export * from './errors.js';
export * from './policy/backoff.js';
export * from './policy/classify.js';
export { retryPolicySchema } from './policy/schema.js';
export * from './config/schema.js';
export { parseConfig } from './config/parse.js';
export { createMetrics, TASK_STATES, type AnyRegistry, type MetricsOptions, type ZRetryMetrics } from './metrics/metrics.js';
export { startAdminServer, type AdminServerOptions } from './metrics/http.js';
export { consume, keyAggregateId, offsetMessageId, type ConsumeOptions, type ZRetryConsumer } from './consume.js';
export type { HandlerRecord as DeliveredRecord } from './handler.js';
export { deadLetterHeaders } from './kafka/dead-letter.js';
export { H as HEADERS } from './kafka/headers.js';
