/**
 * The Kafka side of a worker or consumer: the idempotent producer, the
 * topics zretry writes to, and the dead-letter sink. consume() and a
 * standalone worker build it the same way.
 */
import type { Kafka, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import type { ConsumerConfig } from '../config/schema.js';
import type { DeadReason } from '../events.js';
import type { ClaimedTask } from '../store/task.js';
import type { DeadLetterSink } from '../worker/outcomes.js';
import { kafkaDeadLetterSink } from './dead-letter.js';
import { TopicInfo } from './topics.js';

/** A connected producer and admin, and what is built on them. */
export interface KafkaSide {
  producer: Producer;
  deadLetter: DeadLetterSink;
  /** The retry topic of a source topic, when republishing goes to one. */
  retryTopic?: (sourceTopic: string) => string;
  /** Creates a topic like its source when missing (and allowed). */
  ensureTopic: (topic: string, like: string) => Promise<void>;
  close(): Promise<void>;
}

/** Connects; makes sure the dead-letter (and retry) topics of the known source topics exist. */
export async function startKafkaSide(
  kafka: Kafka,
  c: Pick<ConsumerConfig, 'dltSuffix' | 'retryTopicSuffix' | 'autoCreateTopics' | 'springHeaders'>,
  opts: { sourceTopics?: string[]; groupId?: string; onDead?: (task: ClaimedTask, reason: DeadReason) => void | Promise<void>; logger?: Logger } = {},
): Promise<KafkaSide> {
  const admin = kafka.admin();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const retryTopic = c.retryTopicSuffix ? (t: string) => t + c.retryTopicSuffix : undefined;
  const dltFor = (t: string) => t + c.dltSuffix;
  try {
    await admin.connect();
    const topics = new TopicInfo(admin);
    const sources = opts.sourceTopics ?? [];
    await topics.ensure(
      [...sources.map((t) => ({ topic: dltFor(t), like: t })), ...(retryTopic ? sources.map((t) => ({ topic: retryTopic(t), like: t })) : [])],
      c.autoCreateTopics,
    );
    await producer.connect();
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
      deadLetter,
      retryTopic,
      ensureTopic: async (topic, like) => void (await topics.ensureOne(topic, like, c.autoCreateTopics)),
      close: async () => {
        await Promise.allSettled([producer.disconnect(), admin.disconnect()]);
      },
    };
  } catch (e) {
    await Promise.allSettled([producer.disconnect(), admin.disconnect()]);
    throw e;
  }
}
