/**
 * The Kafka client's types, by what zretry uses of it: both kafkajs 2.x and
 * Confluent's KafkaJS-compatible client fit them structurally (see
 * client.ts). Apart from client.ts so that the Confluent adapter
 * (confluent.ts) takes its types from here, and client.ts its adapter
 * from there, without an import circle.
 */
/** Headers as both clients give and take them: repeated names become arrays. */
export interface IHeaders {
  [key: string]: Buffer | string | (Buffer | string)[] | undefined;
}

/** A record as a consumer delivers it. */
export interface KafkaMessage {
  key: Buffer | null;
  /** null for a tombstone. */
  value: Buffer | null;
  /** Milliseconds, as a decimal string. */
  timestamp: string;
  /** A decimal string. */
  offset: string;
  /** kafkajs gives {} when a record has none; Confluent's client nothing (its adapter gives {}). */
  headers?: IHeaders;
}

/** What eachBatch receives. */
export interface EachBatchPayload {
  batch: { topic: string; partition: number; messages: KafkaMessage[] };
  /** Marks the records up to this offset done: fetching goes on after it, and a commit would take it. */
  resolveOffset(offset: string): void;
  /** kafkajs: rejects when a rebalance is under way; Confluent: a no-op (librdkafka heartbeats by itself). */
  heartbeat(): Promise<void>;
  isRunning(): boolean;
  /** The batch's partition was paused, sought, or reassigned meanwhile: start no more of its records. */
  isStale(): boolean;
  commitOffsetsIfNecessary(): Promise<void>;
}

/** consumer.run() as zretry calls it. */
export interface ConsumerRunConfig {
  eachBatch: (payload: EachBatchPayload) => Promise<void>;
  eachBatchAutoResolve?: boolean;
  partitionsConsumedConcurrently?: number;
  /** kafkajs reads it here; Confluent's client when the consumer is created (openConsumer sets it there). */
  autoCommit?: boolean;
}

export interface TopicPartitions {
  topic: string;
  partitions?: number[];
}

export interface TopicPartitionOffset {
  topic: string;
  partition: number;
  offset: string;
}

/** What a client's consumer() returns, as far as zretry uses it. */
export interface KafkaConsumer {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  subscribe(subscription: { topics: Array<string | RegExp>; fromBeginning?: boolean }): Promise<void>;
  run(config: ConsumerRunConfig): Promise<void>;
  pause(topics: TopicPartitions[]): void;
  resume(topics: TopicPartitions[]): void;
  seek(target: TopicPartitionOffset): void;
  commitOffsets(offsets: TopicPartitionOffset[]): Promise<void>;
}

/** Names of the consumer events zretry listens to (kafkajs's instrumentation events). */
export interface ConsumerEventNames {
  /** The consumer joined its group and has its partitions (again). */
  readonly GROUP_JOIN: string;
  /** The consumer stops (disconnect). */
  readonly STOP: string;
  /** The consumer crashed (kafkajs; Confluent's consumer restarts by itself and never reports one). */
  readonly CRASH: string;
  readonly START_BATCH_PROCESS: string;
  readonly END_BATCH_PROCESS: string;
}

/** kafkajs's instrumentation event. */
export interface InstrumentationEvent<T = unknown> {
  id: string;
  type: string;
  timestamp: number;
  payload: T;
}

/** The consumer zretry's stages use: a client's consumer with the events above. */
export interface Consumer extends KafkaConsumer {
  readonly events: ConsumerEventNames;
  on(eventName: string, listener: (event: InstrumentationEvent) => void): () => void;
}

/** A record to produce. */
export interface Message {
  key?: Buffer | string | null;
  value: Buffer | string | null;
  /** Unset: the client's partitioner picks one. */
  partition?: number;
  headers?: IHeaders;
  /** Milliseconds, as a decimal string. */
  timestamp?: string;
}

export interface TopicMessages {
  topic: string;
  messages: Message[];
}

/** A producer as zretry uses it; zretry always asks for acks=all (-1). */
export interface Producer {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  send(record: { topic: string; messages: Message[]; acks?: number }): Promise<unknown>;
  sendBatch(batch: { topicMessages: TopicMessages[]; acks?: number }): Promise<unknown>;
}

/** A topic to create. */
export interface TopicSpec {
  topic: string;
  numPartitions?: number;
  configEntries?: Array<{ name: string; value: string }>;
}

/** Topic metadata, as kafkajs returns it. */
export interface TopicsMetadata {
  topics: Array<{ name: string; partitions: Array<{ partitionId: number; leader: number }> }>;
}

/** An admin client as zretry uses it. */
export interface Admin {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  listTopics(): Promise<string[]>;
  /** Resolves true when every topic was created, false when one existed already. */
  createTopics(options: { topics: TopicSpec[]; waitForLeaders?: boolean }): Promise<boolean>;
  fetchTopicMetadata(options: { topics: string[] }): Promise<TopicsMetadata>;
  /** kafkajs only: Confluent's admin client cannot read topic configurations. */
  describeConfigs?(query: {
    resources: Array<{ type: number; name: string; configNames?: string[] }>;
    includeSynonyms: boolean;
  }): Promise<{ resources: Array<{ configEntries: Array<{ configName: string; configValue: string }> }> }>;
}

/**
 * A Kafka client: kafkajs's `new Kafka({...})`, or Confluent's
 * `new KafkaJS.Kafka({ kafkaJS: {...} })`. Their settings objects differ,
 * so zretry builds them (openConsumer, openProducer, openAdmin).
 */
export interface Kafka {
  consumer(config: object): KafkaConsumer;
  producer(config?: object): Pick<Producer, 'connect' | 'disconnect'>;
  admin(config?: object): Pick<Admin, 'connect' | 'disconnect'>;
}

/** The two clients zretry knows. */
export type KafkaClientName = 'kafkajs' | 'confluent';

/** The consumer, producer and settings types of a client, for the public API's generics. */
export type ConsumerOf<K extends Kafka> = ReturnType<K['consumer']>;
export type ProducerOf<K extends Kafka> = ReturnType<K['producer']>;
export type ConsumerSettingsOf<K extends Kafka> = PartialSettings<NonNullable<Parameters<K['consumer']>[0]>>;
/** Partial settings; Confluent's kafkaJS block partial too (zretry fills in its groupId). */
type PartialSettings<C> = 'kafkaJS' extends keyof C ? Omit<Partial<C>, 'kafkaJS'> & { kafkaJS?: Partial<NonNullable<C['kafkaJS']>> } : Partial<C>;

/** How a consumer is created. */
export interface OpenConsumerOptions {
  groupId: string;
  /** Where a group without a committed offset starts. */
  fromBeginning: boolean;
  /** The user's extra settings, in the client's own shape (kafkajs's ConsumerConfig, or Confluent's { kafkaJS: {...}, 'librdkafka.key': ... }). */
  settings?: object;
}
