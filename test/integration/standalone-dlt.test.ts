/**
 * A standalone worker with a kafka section learns its topics from its
 * tasks: the first dead letter of a topic creates `<topic>.dlt` like its
 * source (partition count) and lands on the record's own partition. The
 * worker's client comes from kafka.client: kafkajs, or Confluent's with
 * ZRETRY_TEST_KAFKA_CLIENT=confluent (npm run test:confluent).
 */
import { afterEach, expect, it } from 'vitest';
import { createWorker } from '../../src/create-worker.js';
import { clientUnderTest, collect, createTopic, kafkaBrokers, uniqueTopic, waitFor } from '../helpers/env.js';
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
