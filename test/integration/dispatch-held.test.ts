/**
 * Held tasks stay held unless a grant of this round releases them, and a
 * task of an open breaker is never dead-lettered for attempts a worker
 * spent before it heard of the breaker. Real Redis, process dispatch.
 */
import { Redis } from 'ioredis';
import { afterEach, expect, it } from 'vitest';
import { createWorker } from '../../src/create-worker.js';
import { aclCommands } from '../../src/store/acl.js';
import { TaskStore } from '../../src/store/store.js';
import type { NewTask } from '../../src/store/task.js';
import type { RedisClient } from '../../src/store/client.js';
import { dropNamespace, newRedis, redisUrl, silentLogger, uniqueNamespace, waitFor } from '../helpers/env.js';
import { record } from '../lua/fixtures.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

class PaymentDown extends Error {
  override name = 'PaymentDown';
}

const BREAKER = { enabled: true, failureRate: 0.8, minAttempts: 50, windowMs: 30_000, probeIntervalMs: 5_000, rampStartRate: 5, rampDoublingMs: 2_000, rampEndRate: 1_000 };

function setup(prefix: string, shards = 1): { redis: RedisClient; namespace: string; store: TaskStore; tasks: (n: number, attempt: number) => NewTask[] } {
  const redis = newRedis();
  const namespace = uniqueNamespace(prefix);
  const store = new TaskStore(redis, { namespace, shards, maxBatch: 100 });
  cleanups.push(async () => {
    await dropNamespace(redis, namespace);
    await redis.quit();
  });
  const tasks = (n: number, attempt: number): NewTask[] =>
    Array.from({ length: n }, (_, i) => ({ id: `pay/0/${i}`, aggregateId: `a${i}`, delayMs: 0, attempt, error: { class: 'PaymentDown', message: 'x' }, record: { ...record(i), topic: 'pay' } }));
  return { redis, namespace, store, tasks };
}

/** A worker of namespace that records the ids it runs (dispatch control reporting every 200 ms), closed after the test. */
async function recordingWorker(namespace: string, shards: number, maxSleepMs: number, ran: { push(id: string): unknown }): Promise<void> {
  const w = await createWorker({
    handler: (_r, ctx) => void ran.push(ctx.taskId!),
    redis: newRedis(),
    logger: silentLogger(),
    config: { store: { namespace, shards }, worker: { maxSleepMs }, dispatch: { syncMs: 200 } },
  });
  cleanups.push(async () => {
    await w.close();
    await w.store.redis.quit();
  });
}

it('a worker that cannot reach the control slot leaves held tasks held (no grant, no release)', async () => {
  const { redis, namespace, store, tasks } = setup('held-noctl');
  await store.schedule(tasks(20, 3));
  await store.control.force('error:PaymentDown', 'open', 5_000);
  const g = await store.control.grant(10, BREAKER, { outcomes: new Map(), refunds: new Map(), throttles: new Map() });
  const c = await store.claim(0, 10, 10_000, 0, 100, new Map(g.grants));
  expect([c.tasks.length, c.held]).toEqual([0, 20]);

  // a worker whose Redis user has no key of {ns:ctl}: stands in for the control slot's master being away
  const user = `w-${namespace}`;
  await (redis as Redis).call('ACL', 'SETUSER', user, 'reset', 'on', '>pw', 'nocommands', ...aclCommands('worker').map((x) => `+${x}`), `~{${namespace}:0}:*`, `~{${namespace}}:*`, `~${namespace}:*`, '&*');
  cleanups.push(async () => void (await (redis as Redis).call('ACL', 'DELUSER', user)));
  const url = new URL(redisUrl());
  url.username = user;
  url.password = 'pw';
  let runs = 0;
  const dead: string[] = [];
  const w = await createWorker({
    handler: () => {
      runs++;
      throw new PaymentDown('payment service down');
    },
    redis: new Redis(url.toString()),
    logger: silentLogger(),
    deadLetter: async (t, reason) => void dead.push(`${t.id}:${reason.kind}`),
    config: { store: { namespace, shards: 1 }, worker: { maxSleepMs: 200 }, dispatch: { syncMs: 200 }, failure: { policy: { maxAttempts: 4, backoff: { type: 'fixed', delayMs: 10 } } } },
  });
  cleanups.push(async () => {
    await w.close();
    await w.store.redis.quit();
  });
  await new Promise((r) => setTimeout(r, 1_500));
  expect([runs, dead.length]).toEqual([0, 0]);
  expect((await store.stats()).total).toMatchObject({ held: 20 });
}, 30_000);

it('a task on its last attempt whose breaker opened since the worker last heard goes back keeping its attempt, not to the dead letters', async () => {
  const { namespace, store, tasks } = setup('held-late');
  let runs = 0;
  const dead: string[] = [];
  const deferred: string[] = [];
  const w = await createWorker({
    handler: () => {
      runs++;
      throw new PaymentDown('payment service down');
    },
    redis: newRedis(),
    logger: silentLogger(),
    deadLetter: async (t, reason) => void dead.push(`${t.id}:${reason.kind}`),
    // it hears of limits every 60 s only: the breaker below opens between two of its reports
    config: { store: { namespace, shards: 1 }, worker: { maxSleepMs: 200 }, dispatch: { syncMs: 60_000 }, failure: { policy: { maxAttempts: 4, backoff: { type: 'fixed', delayMs: 10 } } } },
  });
  w.worker.events.on('deferred', ({ task, reason }) => deferred.push(`${task.id}:${reason}`));
  cleanups.push(async () => {
    await w.close();
    await w.store.redis.quit();
  });
  expect(w.worker.control?.active).toBe(false);
  await store.control.force('error:PaymentDown', 'open', 5_000);
  await store.schedule(tasks(5, 3));
  await waitFor(() => deferred.length >= 5, 10_000, 'the five tasks to be deferred');
  await new Promise((r) => setTimeout(r, 300));
  expect(dead).toEqual([]);
  // each ran once (the worker did not know), went back with its attempt, and is held now
  expect(runs).toBe(5);
  const held = await store.shard(0).list('held', 0, 10);
  expect(held.tasks.map((t) => t.attempt)).toEqual([3, 3, 3, 3, 3]);
}, 30_000);

it('held tasks whose limit is gone are released by a worker that only sees them held (no scope under control)', async () => {
  const { namespace, store, tasks } = setup('held-cleared');
  await store.schedule(tasks(6, 1));
  // held under a limit that is gone since (the control slot limits nothing now)
  expect((await store.claim(0, 10, 10_000, 0, 100, new Map([['topic:pay', 0]]))).held).toBe(6);
  const ran = new Set<string>();
  await recordingWorker(namespace, 1, 200, { push: (id: string) => ran.add(id) });
  await waitFor(() => ran.size === 6, 10_000, 'the held tasks to run');
  expect((await store.stats()).total).toMatchObject({ held: 0 });
}, 30_000);

it('held tasks found by a plain claim are released at once, while another shard keeps the worker waking for its own due times', async () => {
  const { namespace, store: two } = setup('held-busy', 2);
  const candidates = Array.from({ length: 400 }, (_, i) => ({ id: `pay/0/${i}`, aggregateId: `a${i}`, delayMs: 0, attempt: 1, error: { class: 'PaymentDown', message: 'x' }, record: { ...record(i), topic: 'pay' } }));
  const held = candidates.filter((t) => two.shardOf(t.aggregateId, t.id) === 0).slice(0, 6);
  // the other shard: a task due every 100 ms for 4 s, so the worker never sleeps long
  const trickle = candidates
    .filter((t) => two.shardOf(t.aggregateId, t.id) === 1)
    .slice(0, 40)
    .map((t, i) => ({ ...t, id: `mail/0/${i}`, delayMs: 200 + i * 100, error: { class: 'Flaky', message: 'x' }, record: { ...t.record, topic: 'mail' } }));
  expect(trickle.every((t) => two.shardOf(t.aggregateId, t.id) === 1)).toBe(true);
  await two.schedule(held);
  // held under a limit that is gone since (the control slot limits nothing now)
  expect((await two.claim(0, 10, 10_000, 0, 100, new Map([['topic:pay', 0]]))).held).toBe(6);
  const ran: string[] = [];
  // a safety-net poll only every 5 s: only being told of held tasks releases them before the trickle ends
  await recordingWorker(namespace, 2, 5_000, ran);
  await two.schedule(trickle);
  await waitFor(() => ran.length === held.length + trickle.length, 15_000, 'every task to run');
  // the last held task ran while most of the trickle still waited (a worker that forgot the shard ran them after it)
  const lastHeld = Math.max(...held.map((t) => ran.indexOf(t.id)));
  const trickleBefore = ran.slice(0, lastHeld).filter((id) => id.startsWith('mail/')).length;
  expect(trickleBefore).toBeLessThan(trickle.length / 2);
  expect((await two.stats()).total).toMatchObject({ held: 0 });
}, 30_000);
