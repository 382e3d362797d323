/**
 * The demo: a consumer whose handler fails some records. Retries flow
 * through Redis and back, one record ends in the dead-letter topic, and the
 * queue stats are printed. Run with `npm run demo` (it starts the services).
 */
import { randomUUID } from 'node:crypto';
import kafkajs from 'kafkajs';
import pino from 'pino';
import { consume } from '../src/index.js';
import { statsReport } from '../src/cli/stats.js';

const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const run = randomUUID().slice(0, 6);
const topic = `demo-orders-${run}`;
const t0 = Date.now();
const say = (msg: string) => console.log(`[+${String(Date.now() - t0).padStart(5)} ms] ${msg}`);

const kafka = new kafkajs.Kafka({ clientId: 'zretry-demo', brokers, logLevel: kafkajs.logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();
await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
say(`created topic ${topic}; Redis ${redisUrl}, Kafka ${brokers.join(',')}`);

// The handler: order-2 fails twice (a flaky payment service), order-4 always fails.
const failuresOf = new Map<string, number>();
const done = new Set<string>();
const handler = async ({ message }: { message: { value: Buffer | null } }, ctx: { attempt: number }) => {
  const order = JSON.parse(message.value!.toString()) as { id: string; customer: string };
  const n = (failuresOf.get(order.id) ?? 0) + 1;
  failuresOf.set(order.id, n);
  if ((order.id === 'order-2' && n <= 2) || order.id === 'order-4') {
    say(`handler  ${order.id} (customer ${order.customer}) attempt ${ctx.attempt}: FAILED`);
    throw new Error(order.id === 'order-4' ? 'card declined by a test stub' : 'payment service timeout');
  }
  say(`handler  ${order.id} (customer ${order.customer}) attempt ${ctx.attempt}: ok`);
  done.add(order.id);
};

const z = await consume({
  kafka,
  groupId: `demo-${run}`,
  topics: [topic],
  handler,
  logger: pino({ level: 'warn' }),
  config: {
    store: { redisUrl, namespace: `demo-${run}`, shards: 2 },
    failure: { policy: { backoff: { type: 'exponential', delayMs: 500, multiplier: 2, maxMs: 5_000 }, maxAttempts: 3 } },
    consumer: { dispatch: 'republish', fromBeginning: true },
  },
  onDead: (task, reason) => say(`DLT      ${task.id} -> ${topic}.dlt: ${reason.kind} (${reason.detail})`),
});
z.events.on('scheduled', (e) => say(`redis    ${e.id} ${e.outcome} after attempt ${e.attempt}`));
z.events.on('retried', (e) => say(`redis    ${e.task.id} rescheduled in ${e.delayMs} ms`));

const producer = kafka.producer();
await producer.connect();
const orders = [
  { id: 'order-1', customer: 'alice' },
  { id: 'order-2', customer: 'bob' },
  { id: 'order-3', customer: 'bob' },
  { id: 'order-4', customer: 'carol' },
  { id: 'order-5', customer: 'alice' },
  { id: 'order-6', customer: 'dave' },
];
await producer.send({ topic, acks: -1, messages: orders.map((o) => ({ key: o.customer, value: JSON.stringify(o) })) });
say(`produced ${orders.length} orders (key = customer: bob's order-3 must wait behind order-2)`);

await new Promise((r) => setTimeout(r, 700));
console.log(`\nqueue stats while retries are pending:\n${await statsReport(z.store, false)}\n`);

const deadline = Date.now() + 30_000;
while ((done.size < 5 || (await z.store.stats()).total.dead < 1) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));

const dlt = kafka.consumer({ groupId: `demo-dlt-${run}` });
await dlt.connect();
await dlt.subscribe({ topic: `${topic}.dlt`, fromBeginning: true });
const dead: string[] = [];
await dlt.run({
  eachMessage: async ({ message }) => {
    const h = (n: string) => message.headers?.[n]?.toString();
    dead.push(`${message.value?.toString()}  reason=${h('zretry-dead-reason')}  error="${h('zretry-error-message')}"  original=${h('zretry-original-topic')}/${h('zretry-original-partition')}@${h('zretry-original-offset')}`);
  },
});
while (dead.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
console.log(`\ndead-letter topic ${topic}.dlt:\n  ${dead.join('\n  ')}`);
console.log(`\nqueue stats at the end:\n${await statsReport(z.store, false)}`);

await dlt.disconnect();
await producer.disconnect();
await z.close();
await admin.deleteTopics({ topics: [topic, `${topic}.dlt`] }).catch(() => undefined);
await admin.disconnect();
const ok = done.size === 5 && dead.length === 1;
console.log(ok ? '\ndemo: ok (5 orders handled, order-2 after 2 retries, order-4 dead-lettered)' : '\ndemo: FAILED');
process.exit(ok ? 0 : 1);
