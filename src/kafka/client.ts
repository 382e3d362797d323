/**
 * The Kafka client, typed by what zretry uses of it. Two clients fit:
 * kafkajs 2.x, and Confluent's @confluentinc/kafka-javascript through its
 * KafkaJS-compatible API (`KafkaJS.Kafka`, librdkafka underneath). Neither
 * package is imported here: both are optional peer dependencies, and their
 * objects are checked against these interfaces structurally
 * (test/types/kafka-client.ts, and test/types/confluent-client.ts in the
 * Confluent run).
 *
 * The clients differ where zretry creates consumers, producers and admin
 * clients (Confluent takes its settings under `kafkaJS: {...}`, fixes
 * fromBeginning, autoCommit and acks when a client is created rather than
 * per call, and has no instrumentation events and no describeConfigs).
 * openConsumer, openProducer and openAdmin hide that; the rest of the code
 * sees one Consumer, Producer and Admin. The adapter is src/kafka/confluent.ts.
 */
import type { Admin, Consumer, Kafka, KafkaClientName, OpenConsumerOptions, Producer } from './client-types.js';
import { confluentAdmin, confluentConsumer, confluentProducer, ownObject } from './confluent.js';

export type * from './client-types.js';

/**
 * Which client a Kafka object is: kafkajs's has a logger() method,
 * Confluent's KafkaJS.Kafka only consumer(), producer() and admin(). A
 * wrong guess fails loudly at the first client created (each refuses the
 * other's settings), never silently.
 */
export function clientName(kafka: Kafka): KafkaClientName {
  return typeof (kafka as { logger?: unknown }).logger === 'function' ? 'kafkajs' : 'confluent';
}

/** The client's own consumer or producer behind one of zretry's (itself for kafkajs): what the public API hands back. */
export function clientObject<T>(o: object): T {
  return (ownObject(o) ?? o) as T;
}


/** A consumer with autoCommit off: zretry commits offsets itself. */
export function openConsumer(kafka: Kafka, o: OpenConsumerOptions): Consumer {
  if (clientName(kafka) === 'confluent') return confluentConsumer(kafka, o);
  // kafkajs: fromBeginning and autoCommit go with subscribe() and run(), as the callers pass them
  return kafka.consumer({ groupId: o.groupId, ...o.settings }) as Consumer;
}

/** A producer with acks=all. */
export function openProducer(kafka: Kafka, o: { idempotent: boolean; maxInFlightRequests: number }): Producer {
  if (clientName(kafka) === 'confluent') return confluentProducer(kafka, o);
  return kafka.producer(o) as Producer;
}

/** An admin client. */
export function openAdmin(kafka: Kafka): Admin {
  if (clientName(kafka) === 'confluent') return confluentAdmin(kafka);
  return kafka.admin() as Admin;
}
