/**
 * The Kafka side of a worker or consumer: the idempotent producer, the
 * topics zretry writes to, and the dead-letter sink. consume() and a
 * standalone worker build it the same way.
 */
import type { Logger } from 'pino';
import type { ConsumerConfig } from '../config/schema.js';
import type { DeadReason } from '../events.js';
import type { ClaimedTask } from '../store/task.js';
import type { DeadLetterSink } from '../worker/outcomes.js';
import { openAdmin, openProducer, type Kafka, type Producer } from './client.js';
import { kafkaDeadLetterSink } from './dead-letter.js';
import { TopicInfo } from './topics.js';

/** A connected producer and admin, and what is built on them. */
export interface KafkaSide {
  /** Idempotent, one request in flight: dead letters are written exactly once and in order. */
  producer: Producer;
  /**
   * Dispatch 'republish' only: the producer of republished copies, acks=all
   * but not idempotent, with several requests in flight. Neither a
   * duplicate nor a reordering can hurt there: at most one task of an
   * aggregate is in flight at a time, and the consumer skips a second copy
   * of an attempt as stale. It is what lets republishing run past one
   * request per round trip.
   */
  republishProducer?: Producer;
  deadLetter: DeadLetterSink;
  /** The retry topic of a source topic, when republishing goes to one. */
  retryTopic?: (sourceTopic: string) => string;
  /** Creates a topic like its source when missing (and allowed). */
  ensureTopic: (topic: string, like: string) => Promise<void>;
  close(): Promise<void>;
}

/** Produce requests of republished copies in flight per broker at once. */
const REPUBLISH_IN_FLIGHT = 5;

/** Connects; makes sure the dead-letter (and retry) topics of the known source topics exist. */
export async function startKafkaSide(
  kafka: Kafka,
  c: Pick<ConsumerConfig, 'dltSuffix' | 'retryTopicSuffix' | 'autoCreateTopics' | 'springHeaders'> & Partial<Pick<ConsumerConfig, 'dispatch'>>,
  opts: { sourceTopics?: string[]; groupId?: string; onDead?: (task: ClaimedTask, reason: DeadReason) => void | Promise<void>; logger?: Logger } = {},
): Promise<KafkaSide> {
  const admin = openAdmin(kafka);
  const producer = openProducer(kafka, { idempotent: true, maxInFlightRequests: 1 });
  const republishProducer = c.dispatch === 'republish' ? openProducer(kafka, { idempotent: false, maxInFlightRequests: REPUBLISH_IN_FLIGHT }) : undefined;
  const disconnect = () => Promise.allSettled([producer.disconnect(), republishProducer?.disconnect(), admin.disconnect()]);
  const retryTopic = c.retryTopicSuffix ? (t: string) => t + c.retryTopicSuffix : undefined;
  const dltFor = (t: string) => t + c.dltSuffix;
  try {
    await admin.connect();
    const topics = new TopicInfo(admin, opts.logger);
    const sources = opts.sourceTopics ?? [];
    await topics.ensure(
      [...sources.map((t) => ({ topic: dltFor(t), like: t })), ...(retryTopic ? sources.map((t) => ({ topic: retryTopic(t), like: t })) : [])],
      c.autoCreateTopics,
    );
    await producer.connect();
    await republishProducer?.connect();
    const deadLetter = kafkaDeadLetterSink(producer, topics, {
      topicFor: dltFor,
      springHeaders: c.springHeaders,
      groupId: opts.groupId,
      onDead: opts.onDead,
      logger: opts.logger,
      autoCreate: c.autoCreateTopics,
    });
    return {
      producer,
      republishProducer,
      deadLetter,
      retryTopic,
      ensureTopic: async (topic, like) => void (await topics.ensureOne(topic, like, c.autoCreateTopics)),
      close: async () => {
        await disconnect();
      },
    };
  } catch (e) {
    await disconnect();
    throw e;
  }
}
