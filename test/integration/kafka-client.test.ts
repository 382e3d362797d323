/**
 * The Kafka client behind zretry's consumer, producer and admin client
 * (src/kafka/client.ts), against the real Kafka: what the consumer's stages
 * rely on (the events, no commit but zretry's own), and the producer taking
 * the same messages twice (a republish retried after a failed send). Runs
 * with kafkajs, and with Confluent's client in npm run test:confluent,
 * where src/kafka/confluent.ts provides what that client lacks.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, expect, it } from 'vitest';
import { clientName, openAdmin, openConsumer, openProducer, type EachBatchPayload, type InstrumentationEvent, type Message } from '../../src/kafka/client.js';
import { clientUnderTest, collect, consumerSettings, createTopic, kafka, uniqueTopic, waitFor, zretryKafka } from '../helpers/env.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function produce(topic: string, n: number): Promise<void> {
  const p = kafka().producer();
  await p.connect();
  await p.send({ topic, acks: -1, messages: Array.from({ length: n }, (_, i) => ({ key: `k${i}`, value: `v${i}`, partition: i % 2 })) });
  await p.disconnect();
}

/** The group's committed offsets, read with kafkajs: partition -> offset ('-1': none). */
async function committed(groupId: string, topic: string): Promise<Record<number, string>> {
  const admin = kafka().admin();
  await admin.connect();
  try {
    const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return Object.fromEntries(t!.partitions.map((p) => [p.partition, p.offset]));
  } finally {
    await admin.disconnect();
  }
}

it(`[${clientUnderTest}] the consumer zretry opens reports GROUP_JOIN with its partitions, each batch, and STOP; it commits only what commitOffsets is given`, async () => {
  const topic = uniqueTopic('client');
  await createTopic(topic, 2);
  await produce(topic, 10);
  const client = zretryKafka('client-events');
  expect(clientName(client)).toBe(clientUnderTest);
  const groupId = `g-${randomUUID().slice(0, 8)}`;
  const consumer = openConsumer(client, { groupId, fromBeginning: true, settings: consumerSettings({ maxWaitTimeInMs: 50 }) });
  const seen: Array<{ type: string; payload: unknown }> = [];
  const record = (e: InstrumentationEvent) => void seen.push({ type: e.type, payload: e.payload });
  for (const name of ['GROUP_JOIN', 'START_BATCH_PROCESS', 'END_BATCH_PROCESS', 'STOP'] as const) consumer.on(consumer.events[name], record);
  const messages: EachBatchPayload['batch']['messages'] = [];
  await consumer.connect();
  let connected = true;
  cleanups.push(async () => void (connected && (await consumer.disconnect())));
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    eachBatchAutoResolve: false,
    autoCommit: false,
    partitionsConsumedConcurrently: 2,
    eachBatch: async (p) => {
      messages.push(...p.batch.messages);
      p.resolveOffset(p.batch.messages.at(-1)!.offset);
    },
  });
  await waitFor(() => messages.length === 10, 20_000, 'the ten records');
  // every record has headers, {} when it carries none, as the handler's record promises
  expect(messages.every((m) => m.headers !== undefined && Object.keys(m.headers).length === 0)).toBe(true);
  const joins = seen.filter((e) => e.type === consumer.events.GROUP_JOIN);
  expect(joins.length).toBeGreaterThanOrEqual(1);
  expect((joins.at(-1)!.payload as { memberAssignment: Record<string, number[]> }).memberAssignment[topic]?.sort()).toEqual([0, 1]);
  expect(seen.filter((e) => e.type === consumer.events.START_BATCH_PROCESS).length).toBeGreaterThanOrEqual(2);
  await waitFor(() => seen.filter((e) => e.type === consumer.events.END_BATCH_PROCESS).length >= 2, 5_000, 'the batches to end');

  // resolved is not committed: past Confluent's auto-commit interval (5 s) nothing is, until commitOffsets says so
  await new Promise((r) => setTimeout(r, 6_000));
  expect(await committed(groupId, topic)).toEqual({ 0: '-1', 1: '-1' });
  await consumer.commitOffsets([{ topic, partition: 0, offset: '2' }]);
  expect(await committed(groupId, topic)).toEqual({ 0: '2', 1: '-1' });

  await consumer.disconnect();
  connected = false;
  expect(seen.at(-1)!.type).toBe(consumer.events.STOP);
  expect(await committed(groupId, topic)).toEqual({ 0: '2', 1: '-1' });
}, 60_000);

it(`[${clientUnderTest}] the producer takes the same messages twice (a republish retried), an unset partition included`, async () => {
  const topic = uniqueTopic('client-send');
  await createTopic(topic, 1);
  const producer = openProducer(zretryKafka('client-send'), { idempotent: false, maxInFlightRequests: 5 });
  await producer.connect();
  cleanups.push(() => producer.disconnect());
  const messages: Message[] = [{ key: Buffer.from('k'), value: 'v', partition: undefined, headers: { h: 'x', b: Buffer.from([0, 255]) }, timestamp: '1700000000000' }];
  await producer.sendBatch({ topicMessages: [{ topic, messages }], acks: -1 });
  await producer.send({ topic, messages, acks: -1 });
  const out = await collect(topic);
  cleanups.push(out.stop);
  await waitFor(() => out.messages.length === 2, 15_000, 'both records');
  for (const m of out.messages) {
    expect([m.key?.toString(), m.value?.toString()]).toEqual(['k', 'v']);
    expect(m.headers).toEqual({ h: Buffer.from('x'), b: Buffer.from([0, 255]) });
  }
  expect(messages[0]).toEqual({ key: Buffer.from('k'), value: 'v', partition: undefined, headers: { h: 'x', b: Buffer.from([0, 255]) }, timestamp: '1700000000000' });
});

it(`[${clientUnderTest}] the admin client creates a topic and waits for its leaders; an unknown topic has no metadata`, async () => {
  const admin = openAdmin(zretryKafka('client-admin'));
  await admin.connect();
  cleanups.push(() => admin.disconnect());
  const topic = uniqueTopic('client-admin');
  expect(await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true })).toBe(true);
  const md = await admin.fetchTopicMetadata({ topics: [topic] });
  expect(md.topics.map((t) => [t.name, t.partitions.length, t.partitions.every((p) => p.leader >= 0)])).toEqual([[topic, 3, true]]);
  expect(await admin.listTopics()).toContain(topic);
  await expect(admin.fetchTopicMetadata({ topics: [uniqueTopic('never-created')] })).rejects.toMatchObject({
    type: clientUnderTest === 'kafkajs' ? 'UNKNOWN_TOPIC_OR_PARTITION' : 'ERR_UNKNOWN_TOPIC_OR_PART',
  });
  expect(typeof admin.describeConfigs).toBe(clientUnderTest === 'kafkajs' ? 'function' : 'undefined');
});

it.runIf(clientUnderTest === 'confluent')('[confluent] consumer settings that turn auto-commit on are refused, naming the fix; an event it cannot report is an error', async () => {
  const client = zretryKafka('client-refuse');
  for (const settings of [{ kafkaJS: { autoCommit: true } }, { 'enable.auto.commit': true }]) {
    expect(() => openConsumer(client, { groupId: 'g', fromBeginning: false, settings })).toThrow(
      'consumerConfig turns auto-commit on (kafkaJS.autoCommit or enable.auto.commit): zretry commits offsets itself, once what a batch stored is durable in Redis; remove the setting',
    );
  }
  const consumer = openConsumer(client, { groupId: 'g', fromBeginning: false });
  expect(() => consumer.on('consumer.heartbeat', () => undefined)).toThrow(`Confluent's consumer reports no "consumer.heartbeat" event; zretry provides consumer.group_join, consumer.stop, consumer.crash, consumer.start_batch_process, consumer.end_batch_process`);
});
