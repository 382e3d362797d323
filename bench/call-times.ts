/**
 * Redis time of one script call (INFO commandstats, EVAL/EVALSHA usec per
 * call) for schedule, claim and ack at batch 100, 250 and 500 on one
 * shard, 20,000 tasks each, unchained (no aggregate) and chained (each
 * aggregate a failed head and 9 parked records behind it, claimed with
 * chains of 10): what bounds store.maxBatch if no call may hold Redis
 * over 2 ms.
 *   npx tsx bench/call-times.ts   (REDIS_URL from .services/env)
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { TaskStore } from '../src/store/store.js';
import { dropNamespace, scriptStats } from './lib.js';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const N = 20_000;
const payload = Buffer.alloc(100, 120);
const task = (i: number, chained: boolean) => {
  const parked = chained && i % 10 !== 0;
  return {
    id: `bench/0/${i}`,
    aggregateId: chained ? `agg-${Math.floor(i / 10)}` : null,
    delayMs: 0,
    attempt: parked ? 0 : 1,
    error: parked ? null : { class: 'Error', message: 'boom' },
    record: { topic: 'bench', partition: 0, offset: String(i), timestamp: '1700000000000', key: Buffer.from(`k${i}`), value: payload, headers: [] },
  };
};

/** Script time since the last call, per call and per task. */
async function scripts(tasks: number): Promise<string> {
  const { calls, usec } = await scriptStats(redis, true);
  return `${(usec / calls / 1000).toFixed(2)} ms/call (${(usec / tasks).toFixed(1)} µs/task)`;
}

for (const chained of [false, true]) {
  for (const batch of [100, 250, 500]) {
    const ns = `calls-${randomUUID().slice(0, 8)}`;
    const store = new TaskStore(redis, { namespace: ns, shards: 1, maxBatch: batch });
    await store.schedule([task(-1, false)]); // loads the scripts
    await store.claim(0, 1, 60_000);
    await redis.config('RESETSTAT');
    for (let i = 0; i < N; i += batch) await store.schedule(Array.from({ length: Math.min(batch, N - i) }, (_, k) => task(i + k, chained)));
    const s = await scripts(N);
    const claims: Awaited<ReturnType<TaskStore['claim']>>[] = [];
    // heads per claim: the whole batch unchained; a tenth of it (each with 9 followers) chained
    for (let done = 0; done < N; ) {
      const c = await store.claim(0, chained ? Math.max(1, batch / 10) : batch, 60_000, chained ? 9 : 0);
      done += c.tasks.reduce((n, t) => n + 1 + (t.followers?.length ?? 0), 0);
      claims.push(c);
      if (c.tasks.length === 0) break;
    }
    const c = await scripts(N);
    for (const claim of claims) await store.ackChains(claim.tasks.map((t) => ({ id: t.id, shard: 0, token: t.token, followers: t.followers?.map((f) => f.id) })));
    const a = await scripts(N);
    console.log(`${chained ? 'chains of 10' : 'no aggregate'}, batch ${batch}: schedule ${s}, claim ${c}, ack ${a}`);
    await dropNamespace(redis, ns);
  }
}
await redis.quit();
