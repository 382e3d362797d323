/**
 * Redis time of one script call (INFO commandstats, EVALSHA usec per call)
 * for schedule, claim and ack at batch 100, 500 and 1000 on one shard,
 * 20,000 tasks each: what bounds worker.batchSize and store.maxBatch if no
 * call may hold Redis over 5 ms.
 *   npx tsx bench/call-times.ts   (REDIS_URL from .services/env)
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { TaskStore } from '../src/store/store.js';
import { dropNamespace } from './lib.js';
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const payload = Buffer.alloc(100, 120);
const task = (i: number) => ({ id: `bench/0/${i}`, aggregateId: null, delayMs: 0, attempt: 1, error: { class: 'Error', message: 'boom' },
  record: { topic: 'bench', partition: 0, offset: String(i), timestamp: '1700000000000', key: Buffer.from(`k${i}`), value: payload, headers: [] } });
const ev = async () => { const m = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(await redis.info('commandstats'))!; await redis.config('RESETSTAT'); return (Number(m[2]) / Number(m[1]) / 1000).toFixed(2) + ' ms/call'; };
for (const b of [100, 500, 1000]) {
  const ns = `calls-${randomUUID().slice(0, 8)}`;
  const store = new TaskStore(redis, { namespace: ns, shards: 1, maxBatch: b });
  await store.schedule([task(-1)]); await redis.config('RESETSTAT');
  for (let i = 0; i < 20000; i += b) await store.schedule(Array.from({ length: b }, (_, k) => task(i + k)));
  const s = await ev();
  let done = 0; const leases: any[] = [];
  while (done < 20000) { const c = await store.claim(0, b, 60000); done += c.tasks.length; leases.push(c.tasks.map((t) => ({ id: t.id, shard: 0, token: t.token }))); }
  const c = await ev();
  for (const l of leases) await store.ack(l);
  const a = await ev();
  console.log(`batch ${b}: schedule ${s}, claim ${c}, ack ${a}`);
  await dropNamespace(redis, ns);
}
await redis.quit();
