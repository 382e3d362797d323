import { randomUUID } from 'node:crypto';
import kafkajs from 'kafkajs';
import { Redis } from 'ioredis';
import pino from 'pino';
import { consume } from '../src/consume.js';
import { ShardScripts } from '../src/store/scripts.js';
const N = 100_000;
const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const kafka = new kafkajs.Kafka({ clientId: 'dbg', brokers, logLevel: kafkajs.logLevel.NOTHING });
const topic = `dbg-${randomUUID().slice(0, 8)}`;
const admin = kafka.admin(); await admin.connect();
await admin.createTopics({ topics: [{ topic, numPartitions: 4 }], waitForLeaders: true }); await admin.disconnect();
const producer = kafka.producer(); await producer.connect();
const value = Buffer.alloc(100, 120);
const keys = Number(process.env.KEYS ?? 1000);
for (let i = 0; i < N; i += 5000) await producer.send({ topic, acks: -1, messages: Array.from({ length: 5000 }, (_, k) => ({ key: `k${(i + k) % keys}`, value })) });
await producer.disconnect();
const stats: Record<string, { n: number; ms: number; items: number }> = {};
for (const m of ['admitColumns', 'schedule', 'claim', 'ack'] as const) {
  const orig = (ShardScripts.prototype as any)[m];
  (ShardScripts.prototype as any)[m] = async function (...a: any[]) {
    const t = performance.now();
    try { return await orig.apply(this, a); } finally {
      const s = (stats[m] ??= { n: 0, ms: 0, items: 0 }); s.n++; s.ms += performance.now() - t; s.items += Array.isArray(a[0]) ? a[0].length : Array.isArray(a[2]) ? a[2].length : 0;
    }
  };
}
const done = Array.from({ length: 4 }, () => new Uint8Array(N));
let succeeded = 0, fresh = 0, fromWorker = 0, fails = 0;
const FAIL = Number(process.env.FAIL ?? 20);
const redis = new Redis(process.env.REDIS_URL!);
const z = await consume({ kafka, groupId: `g-${topic}`, topics: [topic], redis, logger: pino({ level: process.env.LOG ?? 'silent' }), worker: process.env.NOWORKER ? false : true,
  handler: (r, ctx) => {
    const o = Number(r.message.offset);
    if (FAIL > 0 && ctx.attempt <= 1 && (Math.imul(o ^ (r.partition << 24), 0x9e3779b1) >>> 0) % FAIL === 0) { fails++; throw new Error('x'); }
    if (ctx.taskId === null) fresh++; else fromWorker++;
    if (!done[r.partition]![o]) { done[r.partition]![o] = 1; succeeded++; }
  },
  config: { store: { namespace: `dbg-${topic}` }, failure: { policy: { backoff: { type: 'fixed', delayMs: 100 }, maxAttempts: 5 } }, consumer: { fromBeginning: true, partitionsConsumedConcurrently: Number(process.env.PCC ?? 4) } } });
let scheduled = 0; z.events.on('scheduled', () => scheduled++);
let batches = 0; let batchMs = 0; let bt = 0;
z.consumer.on(z.consumer.events.START_BATCH_PROCESS, () => { bt = performance.now(); });
z.consumer.on(z.consumer.events.END_BATCH_PROCESS, () => { batches++; batchMs += performance.now() - bt; });
const t0 = Date.now();
while (succeeded + (process.env.NOWORKER ? scheduled : 0) < N) {
  await new Promise((r) => setTimeout(r, 500));
  const s = (await z.store.stats()).total;
  console.log(`${Date.now() - t0} ms: ok ${succeeded} (fresh ${fresh}, worker ${fromWorker}), fails ${fails}, scheduled ${scheduled}; batches ${batches} avg ${(batchMs / batches).toFixed(1)} ms; due ${s.dueNow}/${s.dueLater} inflight ${s.inflight} queued ${s.queued}; ${Object.entries(stats).map(([k, v]) => `${k} ${v.n}x ${(v.ms / v.n).toFixed(1)}ms`).join(', ')}`);
}
await z.close(); await redis.quit();
