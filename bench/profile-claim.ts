/**
 * Where claim + ack spend their time: Redis-side microseconds per call
 * (INFO commandstats) against the client's wall time, at batch 1000.
 *   npx tsx bench/profile-claim.ts   (REDIS_URL from .services/env)
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { TaskStore } from '../src/store/store.js';
import { dropNamespace } from './lib.js';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const ns = `prof-${randomUUID().slice(0, 8)}`;
const store = new TaskStore(redis, { namespace: ns, shards: 1, maxBatch: 1000 });
const n = 50_000;
const payload = Buffer.alloc(100, 120);
for (let i = 0; i < n; i += 1000) {
  await store.schedule(
    Array.from({ length: 1000 }, (_, k) => ({
      id: `p/0/${i + k}`, aggregateId: null, delayMs: 0, attempt: 1, error: { class: 'Error', message: 'boom' },
      record: { topic: 'bench', partition: 0, offset: String(i + k), timestamp: '1700000000000', key: Buffer.from('k'), value: payload, headers: [] },
    })),
  );
}
await redis.config('RESETSTAT');
let claimMs = 0;
let ackMs = 0;
const t0 = performance.now();
for (let done = 0; done < n; ) {
  const a = performance.now();
  const c = await store.claim(0, 1000, 60_000);
  const b = performance.now();
  await store.ack(c.tasks.map((t) => ({ id: t.id, shard: 0, token: t.token })));
  ackMs += performance.now() - b;
  claimMs += b - a;
  done += c.tasks.length;
}
const wall = performance.now() - t0;
const stats = await redis.info('commandstats');
const evalsha = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(stats);
console.log(JSON.stringify({
  tasks: n,
  tasksPerSec: Math.round(n / (wall / 1000)),
  clientClaimMs: Math.round(claimMs),
  clientAckMs: Math.round(ackMs),
  redisEvalshaCalls: Number(evalsha?.[1]),
  redisEvalshaMs: Math.round(Number(evalsha?.[2]) / 1000),
}));
await dropNamespace(redis, ns);
await redis.quit();
