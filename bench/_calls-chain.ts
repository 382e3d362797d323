import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { TaskStore } from '../src/store/store.js';
import { dropNamespace } from './lib.js';
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const payload = Buffer.alloc(100, 120);
const task = (i: number, agg: string | null, attempt: number) => ({ id: `bench/0/${i}`, aggregateId: agg, delayMs: 0, attempt, error: attempt ? { class: 'Error', message: 'boom' } : null,
  record: { topic: 'bench', partition: 0, offset: String(i), timestamp: '1700000000000', key: Buffer.from(`k${i}`), value: payload, headers: [] } });
const ev = async () => { const t = await redis.info('commandstats'); let calls = 0, usec = 0; for (const m of t.matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+),usec=(\d+)/g)) { calls += Number(m[1]); usec += Number(m[2]); } await redis.config('RESETSTAT'); return { calls, usec }; };
const N = 20000;
for (const chain of [0, 9]) {
  const ns = `calls-${randomUUID().slice(0, 8)}`;
  const store = new TaskStore(redis, { namespace: ns, shards: 1, maxBatch: 500 });
  await redis.config('RESETSTAT');
  for (let i = 0; i < N; i += 500) await store.schedule(Array.from({ length: 500 }, (_, k) => task(i + k, `a${Math.floor((i + k) / 10)}`, (i + k) % 10 === 0 ? 1 : 0)));
  const s = await ev();
  let done = 0; let claimUs = 0, claimCalls = 0, ackUs = 0, ackCalls = 0;
  while (done < N) {
    const c = await store.claim(0, 50, 60000, chain);
    const e1 = await ev(); claimUs += e1.usec; claimCalls += e1.calls;
    done += c.tasks.reduce((a, t) => a + 1 + (t.followers?.length ?? 0), 0);
    await store.ackChains(c.tasks.map((t) => ({ id: t.id, shard: 0, token: t.token, followers: t.followers?.map((f) => f.id) })));
    const e2 = await ev(); ackUs += e2.usec; ackCalls += e2.calls;
  }
  console.log(`chain ${chain}: schedule ${(s.usec / N).toFixed(1)} µs/task (${(s.usec / s.calls / 1000).toFixed(2)} ms/call); claim ${(claimUs / N).toFixed(1)} µs/task (${(claimUs / claimCalls / 1000).toFixed(2)} ms/call, ${claimCalls} calls); ack ${(ackUs / N).toFixed(1)} µs/task (${(ackUs / ackCalls / 1000).toFixed(2)} ms/call)`);
  await dropNamespace(redis, ns);
}
await redis.quit();
