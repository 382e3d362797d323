/**
 * Confluent's KafkaJS-compatible client (@confluentinc/kafka-javascript,
 * `KafkaJS.Kafka`) behind zretry's Consumer, Producer and Admin. Where it
 * differs from kafkajs (the package's MIGRATION.md), and what is done here:
 *
 *  - Settings go under `kafkaJS: {...}`; fromBeginning and autoCommit are
 *    set when the consumer is created, acks when the producer is, and
 *    subscribe(), run() and send() refuse them: they are moved there.
 *    autoCommit is off, as with kafkajs: zretry commits offsets itself once
 *    what a batch stored is durable, and a consumerConfig that turns
 *    auto-commit on is refused.
 *  - The consumer has no instrumentation events (on() and `events` throw):
 *    GROUP_JOIN is raised from its rebalance callback when partitions are
 *    assigned, STOP when it disconnects, START/END_BATCH_PROCESS around
 *    each batch. CRASH is never raised: this consumer logs an error and
 *    carries on from the last resolved offset instead of crashing.
 *  - eachBatch hands out at most `js.consumer.max.batch.size` records (32 by
 *    default; 1,000 here unless the settings say otherwise), and a message
 *    without headers has `headers: undefined` where kafkajs gives {} (the
 *    handler's record keeps kafkajs's shape: {} is filled in).
 *  - send() converts the messages it is given in place (value, timestamp,
 *    headers) and takes no `partition: undefined`: each send gets copies.
 *  - The admin client has no describeConfigs (zretry then cannot size a
 *    new dead-letter topic like its source: src/kafka/topics.ts warns),
 *    createTopics no waitForLeaders (done here by reading the metadata
 *    until every partition has a leader), and fetchTopicMetadata returns
 *    the array that kafkajs wraps in { topics }.
 */
import { EventEmitter } from 'node:events';
import { ConfigError } from '../errors.js';
import { sleep } from '../util/sleep.js';
import type {
  Admin,
  Consumer,
  ConsumerEventNames,
  EachBatchPayload,
  InstrumentationEvent,
  Kafka,
  KafkaConsumer,
  Message,
  OpenConsumerOptions,
  Producer,
  TopicSpec,
} from './client-types.js';

/** kafkajs's event names, which zretry's listeners use. */
const EVENTS: ConsumerEventNames = {
  GROUP_JOIN: 'consumer.group_join',
  STOP: 'consumer.stop',
  CRASH: 'consumer.crash',
  START_BATCH_PROCESS: 'consumer.start_batch_process',
  END_BATCH_PROCESS: 'consumer.end_batch_process',
};
const KNOWN_EVENTS = new Set(Object.values(EVENTS));

/** librdkafka's RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, the rebalance callback's "partitions assigned". */
const ASSIGN_PARTITIONS = -175;

/** Records per eachBatch call unless the settings say otherwise (Confluent's default is 32: a Redis round trip per 32 records). */
const MAX_BATCH = 1_000;

/** How long createTopics({ waitForLeaders }) waits for the new partitions' leaders. */
const LEADER_WAIT_MS = 10_000;

/** The client's own objects behind the adapters. */
const own = new WeakMap<object, object>();

/** The Confluent object behind an adapter, if it is one. */
export function ownObject(adapter: object): object | undefined {
  return own.get(adapter);
}

type Settings = Record<string, unknown> & { kafkaJS?: Record<string, unknown> };
type Assignment = Array<{ topic: string; partition: number }>;
type RebalanceCb = (err: { code: number }, assignment: Assignment, fns: unknown) => unknown;

/** The consumer settings zretry cannot work with: auto-commit would commit offsets before their tasks are durable. */
function refuseAutoCommit(s: Settings): void {
  const outer = s['enable.auto.commit'];
  if (s.kafkaJS?.autoCommit === true || outer === true || outer === 'true') {
    throw new ConfigError(
      'consumerConfig turns auto-commit on (kafkaJS.autoCommit or enable.auto.commit): zretry commits offsets itself, once what a batch stored is durable in Redis; remove the setting',
    );
  }
}

function byTopic(assignment: Assignment): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const { topic, partition } of assignment) (out[topic] ??= []).push(partition);
  return out;
}

/** A Confluent consumer with kafkajs's behaviour where zretry relies on it (see the top of this file). */
export function confluentConsumer(kafka: Kafka, o: OpenConsumerOptions): Consumer {
  const settings = { ...(o.settings as Settings | undefined) };
  refuseAutoCommit(settings);
  const emitter = new EventEmitter();
  let seq = 0;
  const emit = (type: string, payload: unknown): void => {
    if (emitter.listenerCount(type) === 0) return;
    const event: InstrumentationEvent = { id: String(++seq), type, timestamp: Date.now(), payload };
    emitter.emit(type, event);
  };
  const userRebalance = settings.rebalance_cb as RebalanceCb | undefined;
  const raw = kafka.consumer({
    'js.consumer.max.batch.size': MAX_BATCH,
    ...settings,
    kafkaJS: { groupId: o.groupId, ...settings.kafkaJS, fromBeginning: o.fromBeginning, autoCommit: false },
    // the only word of a rebalance this client gives: kafkajs's GROUP_JOIN once partitions are assigned
    rebalance_cb: async (err: { code: number }, assignment: Assignment, fns: unknown) => {
      let chosen: unknown;
      try {
        chosen = typeof userRebalance === 'function' ? await userRebalance(err, assignment, fns) : undefined;
      } finally {
        if (err.code === ASSIGN_PARTITIONS) emit(EVENTS.GROUP_JOIN, { groupId: o.groupId, memberAssignment: byTopic(Array.isArray(chosen) ? chosen : assignment) });
      }
      return chosen;
    },
  });

  const eachBatchOf = (eachBatch: (p: EachBatchPayload) => Promise<void>) => async (p: EachBatchPayload): Promise<void> => {
    for (const m of p.batch.messages) m.headers ??= {};
    const { topic, partition, messages } = p.batch;
    emit(EVENTS.START_BATCH_PROCESS, { topic, partition, batchSize: messages.length });
    await eachBatch(p);
    emit(EVENTS.END_BATCH_PROCESS, { topic, partition, batchSize: messages.length });
  };

  const consumer: Consumer = {
    events: EVENTS,
    on(eventName, listener) {
      if (!KNOWN_EVENTS.has(eventName)) {
        throw new TypeError(`Confluent's consumer reports no "${eventName}" event; zretry provides ${[...KNOWN_EVENTS].join(', ')}`);
      }
      emitter.on(eventName, listener);
      return () => void emitter.off(eventName, listener);
    },
    connect: () => raw.connect(),
    disconnect: async () => {
      emit(EVENTS.STOP, null);
      await raw.disconnect();
    },
    subscribe: async ({ topics, fromBeginning }) => {
      if (fromBeginning !== undefined && fromBeginning !== o.fromBeginning) {
        throw new TypeError(`fromBeginning is fixed when Confluent's consumer is created (${o.fromBeginning}); subscribe() cannot change it`);
      }
      await raw.subscribe({ topics });
    },
    run: async ({ autoCommit, eachBatch, ...rest }) => {
      if (autoCommit === true) throw new TypeError('zretry runs its consumer with autoCommit off');
      await raw.run({ ...rest, eachBatch: eachBatchOf(eachBatch) });
    },
    pause: (topics) => raw.pause(topics),
    resume: (topics) => raw.resume(topics),
    seek: (target) => raw.seek(target),
    commitOffsets: (offsets) => raw.commitOffsets(offsets),
  };
  own.set(consumer, raw);
  return consumer;
}

/** Copies of messages as Confluent's send() takes them: it converts them in place, and an unset partition must be null. */
function copies(messages: Message[]): Message[] {
  return messages.map((m) => ({ ...m, partition: m.partition ?? (null as unknown as undefined) }));
}

function acksAll(acks: number | undefined): void {
  if (acks !== undefined && acks !== -1) throw new TypeError(`Confluent's producer is created with acks=all (-1); a send cannot ask for acks=${acks}`);
}

/** A Confluent producer with acks=all (set on the producer: its send() takes no acks). */
export function confluentProducer(kafka: Kafka, o: { idempotent: boolean; maxInFlightRequests: number }): Producer {
  const raw = kafka.producer({ kafkaJS: { idempotent: o.idempotent, maxInFlightRequests: o.maxInFlightRequests, acks: -1 } }) as Producer;
  const producer: Producer = {
    connect: () => raw.connect(),
    disconnect: () => raw.disconnect(),
    send: ({ topic, messages, acks }) => {
      acksAll(acks);
      return raw.send({ topic, messages: copies(messages) });
    },
    sendBatch: ({ topicMessages, acks }) => {
      acksAll(acks);
      return raw.sendBatch({ topicMessages: topicMessages.map((t) => ({ topic: t.topic, messages: copies(t.messages) })) });
    },
  };
  own.set(producer, raw);
  return producer;
}

/** Confluent's admin client: the methods zretry uses, as kafkajs's behave. */
interface ConfluentAdmin {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  listTopics(): Promise<string[]>;
  createTopics(options: { topics: TopicSpec[] }): Promise<boolean>;
  fetchTopicMetadata(options: { topics: string[] }): Promise<Array<{ name: string; partitions: Array<{ partitionId: number; leader: number }> }>>;
}

/** A Confluent admin client with kafkajs's createTopics({ waitForLeaders }) and fetchTopicMetadata shape; no describeConfigs. */
export function confluentAdmin(kafka: Kafka): Admin {
  const raw = kafka.admin() as ConfluentAdmin;
  const metadata = async (topics: string[]) => ({ topics: await raw.fetchTopicMetadata({ topics }) });

  /** Waits until every partition of the topics has a leader (kafkajs's waitForLeaders). */
  async function leaders(topics: string[]): Promise<void> {
    const end = Date.now() + LEADER_WAIT_MS;
    let last: unknown = null;
    while (Date.now() < end) {
      try {
        const md = await metadata(topics);
        if (md.topics.length === topics.length && md.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) return;
      } catch (e) {
        // a topic just created may be unknown to the broker answering for a moment
        last = e;
      }
      await sleep(100);
    }
    throw new Error(`topics ${topics.join(', ')} have no leader ${LEADER_WAIT_MS} ms after their creation${last ? ` (${(last as Error).message})` : ''}`);
  }

  return {
    connect: () => raw.connect(),
    disconnect: () => raw.disconnect(),
    listTopics: () => raw.listTopics(),
    createTopics: async ({ topics, waitForLeaders }) => {
      const created = await raw.createTopics({ topics });
      if (waitForLeaders) await leaders(topics.map((t) => t.topic));
      return created;
    },
    fetchTopicMetadata: ({ topics }) => metadata(topics),
  };
}
