/**
 * What dispatch control costs per claim, in Redis time (INFO commandstats,
 * EVALSHA usec per call): a claim of 50 (a worker's default: half its 100
 * slots) from one shard holding tens of thousands of due tasks, without
 * limits and with them, and the grant call (lua/grant-4.lua) a limited
 * claim needs before it; a namespace-wide limit only caps the claim's n, so
 * its claim is the plain one. Limits are set high enough never to run out, so what is measured is
 * the mechanism, not the waiting; one case holds half the tasks back (a
 * topic with no tokens) to show that held tasks are moved once, and that
 * claims after that do not read them again. Run it on a Redis of its own:
 * RESETSTAT and other clients' calls would mix into the figures.
 *   redis-server --port 6390 --save '' --appendonly no --daemonize yes
 *   REDIS_URL=redis://127.0.0.1:6390 npx tsx bench/claim-cost.ts
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { BreakerArgs } from '../src/store/scripts.js';
import { TaskStore } from '../src/store/store.js';
import { dropNamespace, scriptStats } from './lib.js';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6390');
const N = 20_000;
const CLAIM = 50;
const payload = Buffer.alloc(100, 120);
const BREAKER: BreakerArgs = { enabled: true, failureRate: 0.8, minAttempts: 50, windowMs: 30_000, probeIntervalMs: 5_000, rampStartRate: 5, rampDoublingMs: 2_000, rampEndRate: 1_000 };
const none = { outcomes: new Map(), refunds: new Map(), throttles: new Map() };

const task = (i: number, topic: string) => ({
  id: `bench/0/${i}`,
  aggregateId: null,
  delayMs: 0,
  attempt: 1,
  error: { class: i % 2 ? 'TimeoutError' : 'Error', message: 'boom' },
  record: { topic, partition: 0, offset: String(i), timestamp: '1700000000000', key: Buffer.from(`k${i}`), value: payload, headers: [] },
});

/** Redis time per script call since the last reset. */
async function perCall(): Promise<{ us: number; calls: number }> {
  const { calls, usec } = await scriptStats(redis, true);
  return { us: usec / calls, calls };
}

async function fresh(topicOf: (i: number) => string, n = N): Promise<{ store: TaskStore; ns: string }> {
  const ns = `cost-${randomUUID().slice(0, 8)}`;
  const store = new TaskStore(redis, { namespace: ns, shards: 1, maxBatch: 250 });
  for (let i = 0; i < n; i += 250) await store.schedule(Array.from({ length: 250 }, (_, k) => task(i + k, topicOf(i + k))));
  return { store, ns };
}

const rows: string[] = [];
const row = (what: string, r: { us: number; calls: number }) => rows.push(`| ${what} | ${r.us.toFixed(1)} | ${r.calls} |`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// 1 to 4, interleaved: blocks of 20 calls of each kind in turn, 20 rounds,
// the median block of each kind (the machine is shared: a slow moment hits
// every kind alike instead of one)
{
  const ROUNDS = 20;
  const BLOCK = 20;
  const { store, ns } = await fresh(() => 'orders', 2 * ROUNDS * BLOCK * CLAIM + 1_000);
  await store.control.setLimit('all', 1e6, 1e6);
  await store.control.setLimit('topic:orders', 1e6, 1e6);
  await store.control.setLimit('error:TimeoutError', 1e6, 1e6);
  const allow = new Map([['topic:orders', CLAIM], ['error:TimeoutError', CLAIM]]);
  const report = { ...none, refunds: new Map([['all', 3]]), outcomes: new Map([['topic:orders', { ok: 40, fail: 10 }], ['error:TimeoutError', { ok: 20, fail: 5 }]]) };
  const kinds: Array<[string, () => Promise<unknown>]> = [
    ['claim of 50, no limit', () => store.claim(0, CLAIM, 60_000)],
    ['claim of 50 under a topic and an error-class limit (their allowances: each task\'s scopes are read)', () => store.claim(0, CLAIM, 60_000, 0, undefined, allow)],
    ['grant before a claim (three limited scopes: namespace, topic, error class)', () => store.control.grant(CLAIM, BREAKER, none)],
    ['grant with a report (outcomes of two scopes, a refund)', () => store.control.grant(CLAIM, BREAKER, report)],
  ];
  const blocks = new Map<string, number[]>(kinds.map(([k]) => [k, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const [k, call] of kinds) {
      await redis.config('RESETSTAT');
      for (let i = 0; i < BLOCK; i++) await call();
      blocks.get(k)!.push((await perCall()).us);
    }
  }
  for (const [k] of kinds) {
    const xs = blocks.get(k)!;
    rows.push(`| ${k} | ${median(xs).toFixed(1)} (${Math.min(...xs).toFixed(0)} to ${Math.max(...xs).toFixed(0)}) | ${ROUNDS * BLOCK} |`);
  }
  await dropNamespace(redis, ns);
}

// 4. half the tasks in a topic without tokens: each is moved to the held set once
{
  const { store, ns } = await fresh((i) => (i % 2 ? 'slow' : 'orders'));
  const allow = new Map([['topic:slow', 0]]);
  await redis.config('RESETSTAT');
  let claimed = 0;
  for (; claimed < N / 2; ) claimed += (await store.claim(0, CLAIM, 60_000, 0, undefined, allow)).tasks.length;
  row('claim of 50 while a topic with no tokens holds half the tasks back (each moved once)', await perCall());
  const held = (await store.stats()).total.held;
  for (let i = 0; i < 200; i++) await store.claim(0, CLAIM, 60_000, 0, undefined, allow);
  row(`claim with ${held} tasks held and no tokens for them (nothing due): nothing is read again`, await perCall());
  for (let done = 0; done < held; ) done += (await store.claim(0, CLAIM, 60_000, 0, undefined, new Map([['topic:slow', CLAIM]]))).tasks.length;
  row('claim of 50 taking held tasks (their scope has tokens again)', await perCall());
  await dropNamespace(redis, ns);
}

console.log(`Redis time per script call, one shard, claims of ${CLAIM} from tens of thousands of due tasks (${new Date().toISOString().slice(0, 10)}):\n`);
console.log('| call | µs per call (median block; range) | calls |\n| --- | ---: | ---: |');
console.log(rows.join('\n'));
await redis.quit();
