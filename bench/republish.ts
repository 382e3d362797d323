/**
 * Republish throughput to the real Kafka: N due tasks, one worker in
 * republish mode (createWorker's own producer: acks=all, batched sends,
 * several requests in flight), time until
 * every task is republished (in flight under its republish lease). Median
 * of BENCH_RUNS runs for each Kafka client (kafkajs, and Confluent's
 * @confluentinc/kafka-javascript when it is built: bash scripts/confluent
 * build), against the direct-mode drain of the same tasks in the same run
 * as the baseline.
 *   npm run bench:republish
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import kafkajs from 'kafkajs';
import { Redis } from 'ioredis';
import pino from 'pino';
import { createWorker } from '../src/create-worker.js';
import type { Kafka, KafkaClientName } from '../src/kafka/client.js';
import { TaskStore } from '../src/store/store.js';
import { dropNamespace, profiled } from './lib.js';

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const N = Number(process.env.BENCH_TASKS ?? 20_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const redis = new Redis(redisUrl);
const silent = pino({ level: 'silent' });
const kafka = new kafkajs.Kafka({ clientId: 'zretry-bench', brokers, logLevel: kafkajs.logLevel.NOTHING });

/** The clients to measure: kafkajs, and Confluent's when it loads. */
const clients: Partial<Record<KafkaClientName, { kafka: Kafka; version: string }>> = {
  kafkajs: { kafka, version: (createRequire(import.meta.url)('kafkajs/package.json') as { version: string }).version },
};
try {
  const require = createRequire(import.meta.url);
  const ck = require('@confluentinc/kafka-javascript') as { KafkaJS: { Kafka: new (c: object) => Kafka }; librdkafkaVersion: string };
  const version = (require('@confluentinc/kafka-javascript/package.json') as { version: string }).version;
  clients.confluent = { kafka: new ck.KafkaJS.Kafka({ kafkaJS: { clientId: 'zretry-bench', brokers, logLevel: 0 } }), version: `${version} (librdkafka ${ck.librdkafkaVersion})` };
} catch (e) {
  console.error(`Confluent's client is not built (${(e as Error).message.split('\n')[0]}): kafkajs only; bash scripts/confluent build builds it`);
}
const payload = Buffer.alloc(100, 120);

async function fill(ns: string, topic: string): Promise<TaskStore> {
  const store = new TaskStore(redis, { namespace: ns, shards: 4, maxBatch: 500 });
  for (let i = 0; i < N; i += 500) {
    await store.schedule(Array.from({ length: Math.min(500, N - i) }, (_, k) => ({
      id: `${topic}/0/${i + k}`, aggregateId: null, delayMs: 0, attempt: 1, error: { class: 'Error', message: 'boom' },
      record: { topic, partition: 0, offset: String(i + k), timestamp: String(Date.now()), key: Buffer.from(`k${i + k}`), value: payload, headers: [] },
    })));
  }
  return store;
}

async function run(mode: 'republish' | 'process', client: Kafka = kafka): Promise<number> {
  const ns = `rep-${randomUUID().slice(0, 8)}`;
  const topic = `bench-republish-${randomUUID().slice(0, 8)}`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  const store = await fill(ns, topic);
  let done = 0;
  const t0 = performance.now();
  // the worker as a user runs it: createWorker builds its own republishing producer
  const w = await createWorker({
    redis: new Redis(redisUrl),
    logger: silent,
    config: { store: { namespace: ns, shards: 4 }, worker: { taskConcurrency: 500, batchSize: 500 }, ...(mode === 'republish' ? { consumer: { dispatch: 'republish' as const, republishLeaseMs: 300_000 } } : {}) },
    ...(mode === 'republish' ? { kafka: client } : { handler: () => void done++ }),
  });
  for (;;) {
    const s = (await store.stats()).total;
    if (mode === 'process' ? done >= N : s.dueNow === 0 && s.inflight === N && w.worker.active === 0) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  const perSec = N / ((performance.now() - t0) / 1000);
  await w.close();
  await w.store.redis.quit();
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect();
  await dropNamespace(redis, ns);
  return perSec;
}

const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const summary = (xs: number[]) => ({ median: Math.round(med(xs)), min: Math.round(Math.min(...xs)), max: Math.round(Math.max(...xs)) });
const names = Object.keys(clients) as KafkaClientName[];
const rep: Partial<Record<KafkaClientName, number[]>> = {};
const dir: number[] = [];
// interleaved, so that both clients and the baseline see the same machine
for (let i = 0; i < RUNS; i++) {
  for (const name of names) (rep[name] ??= []).push(await profiled(`republish-${name}-${i + 1}`, () => run('republish', clients[name]!.kafka)));
  dir.push(await run('process'));
}
const result = JSON.stringify({
  tasks: N,
  clients: Object.fromEntries(names.map((n) => [n, clients[n]!.version])),
  republishPerSec: Object.fromEntries(names.map((n) => [n, summary(rep[n]!)])),
  directPerSec: summary(dir),
  ratioRepublishVsDirect: Object.fromEntries(names.map((n) => [n, Number((med(rep[n]!) / med(dir)).toFixed(2))])),
  ...(rep.confluent ? { ratioConfluentVsKafkajs: Number((med(rep.confluent) / med(rep.kafkajs!)).toFixed(2)) } : {}),
});
console.log(result);
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/republish.json', result + '\n');
await redis.quit();
