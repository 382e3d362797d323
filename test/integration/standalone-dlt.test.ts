/**
 * A standalone worker with a kafka section learns its topics from its
 * tasks: the first dead letter of a topic creates `<topic>.dlt` like its
 * source (partition count) and lands on the record's own partition. The
 * worker's client comes from kafka.client: kafkajs, or Confluent's with
 * ZRETRY_TEST_KAFKA_CLIENT=confluent (npm run test:confluent).
 */
import { afterEach, expect, it } from 'vitest';
import { createWorker } from '../../src/create-worker.js';
import { kafkaDeadLetterSink } from '../../src/kafka/dead-letter.js';
import { TopicInfo } from '../../src/kafka/topics.js';
import type { ClaimedTask } from '../../src/store/task.js';
import { clientUnderTest, collect, createTopic, kafka, kafkaBrokers, uniqueTopic, waitFor } from '../helpers/env.js';
import { failed, freshStore } from '../lua/fixtures.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

it(`[${clientUnderTest}] the first dead letter of a topic creates its DLT with the same partitions and keeps the partition`, async () => {
  const { store, redis, namespace, close } = await freshStore(1);
  cleanups.push(close);
  const topic = uniqueTopic('standalone');
  await createTopic(topic, 3);
  const task = failed(7, 'A');
  await store.schedule([{ ...task, record: { ...task.record, topic, partition: 2 }, doom: 'fatal' }]);

  const w = await createWorker({
    redis,
    handler: () => {
      throw new Error('a doomed task must not reach the handler');
    },
    config: { store: { namespace, shards: 1 }, worker: { maxSleepMs: 100 }, kafka: { brokers: kafkaBrokers().split(','), client: clientUnderTest } },
  });
  cleanups.push(() => w.close());
  expect(w.deadLetters).toBe(true);
  await waitFor(async () => (await store.stats()).total.dead === 1, 20_000, 'the task to die');
  const dlt = await collect(`${topic}.dlt`);
  cleanups.push(dlt.stop);
  await waitFor(() => dlt.messages.length === 1, 15_000, 'the dead letter');
  expect(dlt.messages[0]!.partition).toBe(2);
  expect(dlt.messages[0]!.headers['zretry-dead-reason']?.toString()).toBe('fatal');
  expect(dlt.messages[0]!.value?.toString()).toBe('v7');
});

it('a dead letter is stamped with the time it is written, the original timestamp in its headers, so a DLT that refuses old records takes it', async () => {
  const topic = uniqueTopic('old');
  const admin = kafka().admin();
  const producer = kafka().producer({ idempotent: true });
  await Promise.all([admin.connect(), producer.connect()]);
  cleanups.push(() => Promise.all([admin.disconnect(), producer.disconnect()]).then(() => undefined));
  // a broker that limits timestamps (KIP-937): records stamped more than an hour ago are refused
  await admin.createTopics({
    topics: [{ topic: `${topic}.dlt`, numPartitions: 1, configEntries: [{ name: 'message.timestamp.before.max.ms', value: '3600000' }] }],
    waitForLeaders: true,
  });
  const { record } = failed(7, null);
  const task: ClaimedTask = {
    id: 'orders/0/7', shard: 0, token: '1', attempt: 3, aggregateId: null, firstFailureAt: 1_700_000_000_500,
    lastError: null, dueAt: 0, doomed: null, record: { ...record, topic, timestamp: '1700000000000' },
  };
  const write = kafkaDeadLetterSink(producer, new TopicInfo(admin), { topicFor: (t) => `${t}.dlt`, springHeaders: true });
  const before = Date.now();
  await write(task, { kind: 'attempts-exhausted', detail: '4 of 4 attempts failed', error: { class: 'Error', message: 'boom' } });
  const dlt = await collect(`${topic}.dlt`);
  cleanups.push(dlt.stop);
  await waitFor(() => dlt.messages.length === 1, 15_000, 'the dead letter');
  const m = dlt.messages[0]!;
  expect(Number(m.timestamp), 'the letter\'s Kafka timestamp').toBeGreaterThanOrEqual(before - 1_000);
  expect(m.headers['zretry-original-timestamp']?.toString()).toBe('1700000000000');
  expect((m.headers['kafka_dlt-original-timestamp'] as Buffer).readBigInt64BE()).toBe(1_700_000_000_000n);
});
