/**
 * Writes dead tasks to the dead-letter topic (`<topic>.dlt` by default), on
 * the original partition where the DLT has it, with the reason in headers;
 * optionally Spring Kafka's kafka_dlt-* headers so Java tooling reads them.
 * A letter is stamped with the time it is written, as Spring's are: the
 * original timestamp would put an old record past the DLT's retention, or
 * have it refused by a broker that limits timestamps; it stays in the
 * headers (zretry-original-timestamp, kafka_dlt-original-timestamp).
 * Resolves only once Kafka has the record (acks=all): until then the task
 * stays in Redis.
 */
import type { Producer } from './client.js';
import type { Logger } from 'pino';
import { describeError } from '../policy/classify.js';
import type { DeadReason } from '../events.js';
import type { RecordHeader } from '../store/record-codec.js';
import type { ClaimedTask } from '../store/task.js';
import type { DeadLetterSink } from '../worker/outcomes.js';
import { startProducerSpan, traceparentOf } from '../tracing.js';
import { errorHeaders, H, taskHeaders, toKafkaHeaders, withTraceparent } from './headers.js';
import type { TopicInfo } from './topics.js';

/** How dead letters are named and labelled. */
export interface DeadLetterOptions {
  /** The DLT of a source topic; default `${topic}.dlt`. */
  topicFor: (sourceTopic: string) => string;
  /** Add Spring Kafka's kafka_dlt-* headers. */
  springHeaders: boolean;
  /** Consumer group, for Spring's kafka_dlt-original-consumer-group. */
  groupId?: string;
  /** Called after a dead letter is written; an error it throws is logged, and the letter is not written again. */
  onDead?: (task: ClaimedTask, reason: DeadReason) => void | Promise<void>;
  /** Where an onDead error is reported. */
  logger?: Logger;
  /** Create a dead-letter topic met for the first time (a standalone worker does not know its topics up front). */
  autoCreate?: boolean;
}

const int32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const int64 = (s: string): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(BigInt(s));
  return b;
};

/** The headers of a dead letter. */
export function deadLetterHeaders(task: ClaimedTask, reason: DeadReason, opts: Pick<DeadLetterOptions, 'springHeaders' | 'groupId'>, traceparent?: string): RecordHeader[] {
  const r = task.record;
  const h = taskHeaders(task, [
    [H.deadReason, Buffer.from(reason.kind)],
    [H.deadDetail, Buffer.from(reason.detail)],
    // attempts made: a doomed task's count is complete, else the attempt that just failed counts too
    [H.attempt, Buffer.from(String(task.attempt + (task.doomed ? 0 : 1)))],
  ]);
  if (reason.error) h.push(...errorHeaders(reason.error, true));
  if (opts.springHeaders) {
    h.push(
      ['kafka_dlt-original-topic', Buffer.from(r.topic)],
      ['kafka_dlt-original-partition', int32(r.partition)],
      ['kafka_dlt-original-offset', int64(r.offset)],
      ['kafka_dlt-original-timestamp', int64(r.timestamp)],
      ['kafka_dlt-original-timestamp-type', Buffer.from('CreateTime')],
    );
    if (opts.groupId) h.push(['kafka_dlt-original-consumer-group', Buffer.from(opts.groupId)]);
    if (reason.error) {
      h.push(
        ['kafka_dlt-exception-fqcn', Buffer.from(reason.error.class)],
        ['kafka_dlt-exception-message', Buffer.from(reason.error.message)],
        ['kafka_dlt-exception-stacktrace', Buffer.from(reason.error.stack ?? '')],
      );
    }
  }
  return withTraceparent(h, traceparent);
}

/** A DeadLetterSink that writes to Kafka with the given idempotent producer. */
export function kafkaDeadLetterSink(producer: Producer, topics: TopicInfo, opts: DeadLetterOptions): DeadLetterSink {
  return async (task, reason) => {
    const r = task.record;
    const topic = opts.topicFor(r.topic);
    // missing: created like its source topic, or an error naming it (the task stays in Redis)
    const traced = startProducerSpan('dead-letter', task, topic);
    try {
      const partitions = await topics.ensureOne(topic, r.topic, opts.autoCreate ?? false);
      await producer.send({
        topic,
        acks: -1,
        messages: [
          {
            key: r.key,
            value: r.value,
            partition: r.partition < partitions ? r.partition : undefined,
            // written now (Spring does the same): an old record's timestamp could be past the DLT's retention; it stays in the headers
            timestamp: String(Date.now()),
            headers: toKafkaHeaders(deadLetterHeaders(task, reason, opts, traced ? traceparentOf(traced.span) : undefined)),
          },
        ],
      });
      traced?.done();
    } catch (e) {
      traced?.done(e);
      throw e;
    }
    try {
      await opts.onDead?.(task, reason);
    } catch (e) {
      opts.logger?.error({ taskId: task.id, err: describeError(e, 2_000) }, 'onDead hook failed (the dead letter is written)');
    }
  };
}
