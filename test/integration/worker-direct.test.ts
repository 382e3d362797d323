/**
 * The direct-mode worker against the real Redis: timing, retries by policy,
 * dead letters, order per aggregate under concurrency, close().
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { createWorker, type StartedWorker } from '../../src/create-worker.js';
import type { HandlerRecord, RetryContext } from '../../src/handler.js';
import type { DeadReason } from '../../src/events.js';
import { deadLetterHeaders } from '../../src/kafka/dead-letter.js';
import type { DeadLetterSink } from '../../src/worker/outcomes.js';
import type { ClaimedTask } from '../../src/store/task.js';
import { TaskStore } from '../../src/store/store.js';
import type { RedisClient } from '../../src/store/client.js';
import { newRedis, redisUrl, silentLogger, uniqueNamespace, waitFor, dropNamespace } from '../helpers/env.js';
import { workerAclRules } from '../../src/store/acl.js';
import { failed } from '../lua/fixtures.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(shards = 1): Promise<{ redis: RedisClient; namespace: string; store: TaskStore }> {
  const redis = newRedis();
  const namespace = uniqueNamespace();
  cleanups.push(async () => {
    await dropNamespace(redis, namespace);
    await redis.quit();
  });
  return { redis, namespace, store: new TaskStore(redis, { namespace, shards, maxBatch: 100 }) };
}

async function start(
  namespace: string,
  handler: (r: HandlerRecord, ctx: RetryContext) => Promise<void> | void,
  extra: Partial<Parameters<typeof createWorker>[0]> = {},
  shards = 1,
): Promise<StartedWorker> {
  const { config, ...rest } = extra;
  const w = await createWorker({
    handler,
    redis: newRedis(),
    logger: silentLogger(),
    config: {
      store: { namespace, shards },
      worker: { taskConcurrency: 8, leaseMs: 5_000, maxSleepMs: 1_000, closeTimeoutMs: 2_000, ...config?.worker },
      failure: { policy: { backoff: { type: 'exponential', initialMs: 50, multiplier: 2, maxMs: 1_000 }, maxAttempts: 3 }, ...config?.failure },
    },
    ...rest,
  });
  cleanups.push(async () => {
    await w.close();
    await w.store.redis.quit();
  });
  return w;
}

/** A dead-letter sink whose first n writes fail (Kafka down); the later ones go to written. tries counts them all. */
function failingFirst(n: number, written: (task: ClaimedTask, reason: DeadReason) => void = () => {}): { sink: DeadLetterSink; tries: () => number } {
  let tries = 0;
  return {
    tries: () => tries,
    sink: async (task, reason) => {
      if (++tries <= n) throw new Error('Kafka is down');
      written(task, reason);
    },
  };
}

describe('direct-mode worker', () => {
  it('never runs a task before its due time, and runs it soon after (lateness reported)', async () => {
    const { namespace, store } = await setup();
    const ran: { at: number }[] = [];
    const w = await start(namespace, () => void ran.push({ at: Date.now() }));
    const lateness: number[] = [];
    w.worker.events.on('claimed', (e) => lateness.push(...e.latenessMs));
    const samples: number[] = [];
    for (let i = 0; i < 5; i++) {
      const before = ran.length;
      const t0 = Date.now();
      await store.schedule([{ ...failed(100 + i, null, 200) }]);
      await waitFor(() => ran.length > before, 5_000, 'the task to run');
      samples.push(ran.at(-1)!.at - t0);
    }
    for (const ms of samples) expect(ms).toBeGreaterThanOrEqual(199);
    expect(lateness.every((l) => l >= 0)).toBe(true);
    console.log(`due in 200 ms: ran after ${samples.join(', ')} ms; claim lateness vs Redis due time ${lateness.join(', ')} ms`);
  });

  it('retries by the policy and dead-letters after the last attempt, with the reason', async () => {
    const { namespace, store } = await setup();
    const attempts: RetryContext[] = [];
    const dead: Array<{ task: ClaimedTask; reason: DeadReason }> = [];
    const w = await start(
      namespace,
      (_r, ctx) => {
        attempts.push({ ...ctx });
        throw new Error(`still broken at ${ctx.attempt}`);
      },
      { deadLetter: async (task, reason) => void dead.push({ task, reason }) },
    );
    await store.schedule([failed(1, 'A')]); // attempt 1 already failed in the consumer
    await waitFor(() => dead.length === 1, 5_000, 'the dead letter');
    expect(attempts.map((a) => a.attempt)).toEqual([2, 3]);
    expect(attempts[1]!.lastError).toMatchObject({ class: 'Error', message: 'still broken at 2' });
    expect(dead[0]!.reason).toMatchObject({ kind: 'attempts-exhausted', detail: '3 of 3 attempts failed', error: { message: 'still broken at 3' } });
    await waitFor(async () => (await w.store.stats()).total.dead === 1, 2_000, 'the task in the dead set');
  });

  it('a fatal error dies at once without more attempts', async () => {
    const { namespace, store } = await setup();
    const dead: DeadReason[] = [];
    let calls = 0;
    await start(
      namespace,
      (r) => {
        calls++;
        JSON.parse(r.message.value!.toString('utf8') + '{');
      },
      { deadLetter: async (_t, reason) => void dead.push(reason) },
    );
    await store.schedule([failed(1, null)]);
    await waitFor(() => dead.length === 1, 5_000, 'the dead letter');
    expect(calls).toBe(1);
    expect(dead[0]).toMatchObject({ kind: 'fatal', error: { class: 'SyntaxError' } });
  });

  it('a failed dead-letter write keeps the task and writes it later without running the handler again', async () => {
    const { namespace, store } = await setup();
    const dlt = failingFirst(2);
    let calls = 0;
    await start(
      namespace,
      () => {
        calls++;
        throw new SyntaxError('bad payload');
      },
      { config: { failure: { deadLetterRetryMs: 50 } }, deadLetter: dlt.sink },
    );
    await store.schedule([failed(1, null)]);
    await waitFor(() => dlt.tries() === 3, 5_000, 'the third dead-letter write');
    await waitFor(async () => (await store.stats()).total.dead === 1, 2_000, 'the task in the dead set');
    expect(calls).toBe(1);
  });

  it('failed dead-letter writes add no attempts: after 3 handler attempts and 4 failed writes the letter says 3', async () => {
    const { namespace, store } = await setup();
    let calls = 0;
    const written: string[] = [];
    const dlt = failingFirst(4, (task, reason) => {
      const h = deadLetterHeaders(task, reason, { springHeaders: false });
      written.push(h.find(([n]) => n === 'zretry-attempt')![1]!.toString());
    });
    await start(
      namespace,
      () => {
        calls++;
        throw new Error('still broken');
      },
      { config: { failure: { deadLetterRetryMs: 20 } }, deadLetter: dlt.sink },
    );
    await store.schedule([failed(1, null)]); // attempt 1 failed in the consumer
    await waitFor(() => written.length === 1, 5_000, 'the dead letter');
    expect(calls).toBe(2);
    expect(written, 'zretry-attempt of the dead letter').toEqual(['3']);
    await waitFor(async () => (await store.stats()).total.dead === 1, 2_000, 'the task in the dead set');
    expect((await store.shard(0).get(['orders/0/1']))[0]).toMatchObject({ state: 'dead', attempt: 3 });
  });

  it('decorrelated jitter grows from attempt to attempt: each delay may reach three times the one before', async () => {
    const { namespace, store } = await setup();
    const at: number[] = [];
    // the top of each random range, so every delay is 3x the one before (capped)
    vi.spyOn(Math, 'random').mockReturnValue(0.9999);
    cleanups.push(async () => void vi.restoreAllMocks());
    await start(
      namespace,
      () => {
        at.push(Date.now());
        throw new Error('still broken');
      },
      { config: { failure: { policy: { backoff: { type: 'exponential', initialMs: 10, multiplier: 2, maxMs: 60_000, jitter: 'decorrelated' }, maxAttempts: 5 } } } },
    );
    await store.schedule([{ ...failed(1, null), delayMs: 30 }]); // the consumer's first failure waited 3 x 10 ms
    await waitFor(() => at.length === 4, 10_000, 'four worker attempts');
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    // delays after attempts 2, 3, 4: 90, 270, 810 ms; without the previous delay each stays at 3 x 10 ms
    expect(gaps.map((g, i) => g >= [90, 270, 810][i]! - 2), `gaps between attempts ${gaps.join(', ')} ms`).toEqual([true, true, true]);
  }, 15_000);

  it('keeps the order of each aggregate with many running at once, across workers and shards', async () => {
    const { namespace, store } = await setup(4);
    const seen = new Map<string, number[]>();
    const failedOnce = new Set<string>();
    const handler = async (r: HandlerRecord) => {
      const [agg, n] = r.message.value!.toString().split(':') as [string, string];
      await new Promise((res) => setTimeout(res, Math.random() * 5));
      if (Number(n) % 3 === 0 && !failedOnce.has(`${agg}:${n}`)) {
        failedOnce.add(`${agg}:${n}`);
        throw new Error('transient');
      }
      seen.set(agg, [...(seen.get(agg) ?? []), Number(n)]);
    };
    await start(namespace, handler, {}, 4);
    await start(namespace, handler, {}, 4);
    const tasks = [];
    for (let n = 0; n < 20; n++) {
      for (const agg of ['a', 'b', 'c', 'd', 'e']) {
        const t = failed(n, agg);
        tasks.push({ ...t, id: `${agg}/${n}`, record: { ...t.record, value: Buffer.from(`${agg}:${n}`) } });
      }
    }
    expect(new Set(await store.schedule(tasks))).toEqual(new Set(['scheduled', 'queued']));
    await waitFor(() => [...seen.values()].reduce((s, v) => s + v.length, 0) === 100, 20_000, 'all 100 records handled');
    for (const [agg, ns] of seen) expect(ns, `aggregate ${agg}`).toEqual([...Array(20).keys()]);
    expect((await store.stats()).total).toMatchObject({ dueNow: 0, inflight: 0, queued: 0, blockedAggregates: 0 });
  });

  it('runs at most `concurrency` handlers at once while it claims ahead, and drains every shard', async () => {
    const { namespace, store } = await setup(4);
    let active = 0;
    let most = 0;
    const handled = new Set<string>();
    await start(namespace, async (r) => {
      most = Math.max(most, ++active);
      await new Promise((res) => setTimeout(res, Math.random() * 3));
      active--;
      handled.add(r.message.offset);
    }, {}, 4);
    await store.schedule(Array.from({ length: 400 }, (_, i) => failed(i, null)));
    await waitFor(() => handled.size === 400, 20_000, 'all 400 tasks handled');
    expect(most).toBeLessThanOrEqual(8);
    expect(most).toBeGreaterThan(1);
    await waitFor(async () => (await store.stats()).total.inflight === 0, 5_000, 'every outcome written');
    expect((await store.stats()).total).toMatchObject({ dueNow: 0, dueLater: 0, inflight: 0 });
  });

  it('a task due on an idle shard is not held back by a backlog on another shard', async () => {
    const { namespace, store } = await setup(2);
    const ids = Array.from({ length: 2000 }, (_, i) => failed(i, null));
    const busy = ids.filter((t) => store.shardOf(null, t.id) === 0).slice(0, 800);
    const idle = ids.find((t) => store.shardOf(null, t.id) === 1)!;
    const ranAt = new Map<string, number>();
    let backlogDoneWhenIdleRan = -1;
    await start(namespace, async (r) => {
      if (r.message.offset !== idle.record.offset) await new Promise((res) => setTimeout(res, 2));
      else backlogDoneWhenIdleRan = ranAt.size;
      ranAt.set(r.message.offset, Date.now());
    }, {}, 2);
    await store.schedule(busy);
    await waitFor(() => ranAt.size >= 20, 5_000, 'the backlog to be under way');
    const due = Date.now() + 100;
    await store.schedule([{ ...idle, delayMs: 100 }]);
    await waitFor(() => ranAt.has(idle.record.offset), 5_000, 'the task on the idle shard to run');
    // it ran while most of the backlog still waited (about 300 of 800 done here; a worker that
    // stopped polling the idle shard during a backlog ran it near the end, at 794)
    expect(backlogDoneWhenIdleRan).toBeLessThan(busy.length - 200);
    expect(ranAt.get(idle.record.offset)!).toBeGreaterThanOrEqual(due - 5);
  });

  it('an idle worker on 16 shards wakes for a due task or a nudge by claiming from that shard, not from all 16', async () => {
    const { namespace, store } = await setup(16);
    const tasks = Array.from({ length: 64 }, (_, i) => failed(i, `agg-${i}`, 1_500));
    const ran: string[] = [];
    const w = await start(namespace, (r) => void ran.push(r.message.offset), { config: { worker: { maxSleepMs: 30_000 } } }, 16);
    // its first round claims from every shard, then it sleeps
    await new Promise((res) => setTimeout(res, 300));
    const claims: number[] = [];
    const claim = w.store.claim.bind(w.store);
    w.store.claim = (shard, ...rest) => (claims.push(shard), claim(shard, ...rest));
    // one task due in 300 ms, then one due at once (a nudge)
    const [a, b] = [tasks.find((t) => store.shardOf(t.aggregateId, t.id) === 3)!, tasks.find((t) => store.shardOf(t.aggregateId, t.id) === 11)!];
    await store.schedule([{ ...a, delayMs: 300 }]);
    await waitFor(() => ran.includes(a.record.offset), 5_000, 'the task due on shard 3');
    const afterFirst = claims.length;
    await store.schedule([{ ...b, delayMs: 0 }]);
    await waitFor(() => ran.includes(b.record.offset), 5_000, 'the nudged task on shard 11');
    // each wake-up claimed from its own shard (once or twice), never a round over all 16
    expect(new Set(claims.slice(0, afterFirst))).toEqual(new Set([3]));
    expect(new Set(claims.slice(afterFirst))).toEqual(new Set([11]));
    expect(claims.length).toBeLessThanOrEqual(6);
  });

  it('with no nudges (its subscription refused), a task on a shard that looked empty runs within maxSleepMs while another shard wakes the worker every 100 ms', async () => {
    const { redis, namespace, store } = await setup(2);
    const tasks = Array.from({ length: 400 }, (_, i) => failed(i, `agg-${i}`));
    const lone = tasks.find((t) => store.shardOf(t.aggregateId, t.id) === 0)!;
    // the other shard: a task due every 100 ms for 4 s
    const trickle = tasks.filter((t) => store.shardOf(t.aggregateId, t.id) === 1).slice(0, 40).map((t, i) => ({ ...t, delayMs: 300 + i * 100 }));
    // the worker's user may run its commands but subscribe to no channel: every nudge is missed, the timer is all it has
    const user = `w-${namespace}`;
    await (redis as Redis).call('ACL', 'SETUSER', user, 'reset', 'on', '>pw', ...workerAclRules(namespace).filter((r) => !r.startsWith('&')), 'resetchannels');
    cleanups.push(async () => void (await (redis as Redis).call('ACL', 'DELUSER', user)));
    const url = new URL(redisUrl());
    [url.username, url.password] = [user, 'pw'];
    const ran: string[] = [];
    await start(namespace, (r) => void ran.push(r.message.offset), { redis: new Redis(url.toString()), config: { worker: { maxSleepMs: 500 } } }, 2);
    await store.schedule(trickle);
    // the trickle is under way, shard 0 was found empty; the lone task comes now, its nudge unheard
    await waitFor(() => ran.length >= 3, 5_000, 'the trickle to be under way');
    await store.schedule([lone]);
    await waitFor(() => ran.length === trickle.length + 1, 15_000, 'every task to run');
    // it ran within about maxSleepMs, while most of the trickle still waited (a worker whose short sleeps for the
    // other shard kept putting off its safety-net poll ran it after the whole trickle)
    expect(ran.indexOf(lone.record.offset)).toBeLessThan(15);
  });

  it('close() lets running handlers finish, then gives nothing up; a second close returns the same promise', async () => {
    const { namespace, store } = await setup();
    let finished = 0;
    const w = await start(namespace, async () => {
      await new Promise((r) => setTimeout(r, 150));
      finished++;
    });
    await store.schedule([failed(1, null), failed(2, null)]);
    await waitFor(() => w.worker.active === 2, 2_000, 'both tasks running');
    const p1 = w.close();
    expect(w.close()).toBe(p1);
    await p1;
    expect(finished).toBe(2);
    expect((await store.stats()).total).toMatchObject({ dueNow: 0, inflight: 0 });
  });

  it('close() past its deadline releases unfinished tasks, due again with the attempt unchanged', async () => {
    const { namespace, store } = await setup();
    const w = await start(namespace, (_r, ctx) => new Promise((res) => ctx.signal.addEventListener('abort', () => res()))
      , { config: { worker: { closeTimeoutMs: 100 } } });
    await store.schedule([failed(1, null)]);
    await waitFor(() => w.worker.active === 1, 2_000, 'the task running');
    await w.close();
    expect((await store.stats()).total).toMatchObject({ dueNow: 1, inflight: 0 });
    const again = await store.claim(0, 10, 1000);
    expect(again.tasks[0]!.attempt).toBe(1);
  });

  it('a run whose lease was lost (another worker claimed the task) is aborted, and its outcome not applied', async () => {
    const { redis, namespace, store } = await setup();
    const signals: AbortSignal[] = [];
    const w = await start(
      namespace,
      (_r, ctx) =>
        new Promise<void>((resolve) => {
          signals.push(ctx.signal);
          ctx.signal.addEventListener('abort', () => resolve());
        }),
      { config: { worker: { leaseMs: 300 } } },
    );
    await store.schedule([failed(1, null)]);
    await waitFor(() => signals.length === 1, 5_000, 'the handler to start');
    // the worker stalls past its lease (simulated: the lease deadline moved into the past) and another claims the task
    await redis.zadd(`{${namespace}:0}:inflight`, 0, 'orders/0/1');
    const other = await store.claim(0, 10, 60_000);
    expect(other.tasks.map((t) => t.id)).toEqual(['orders/0/1']);
    await waitFor(() => signals[0]!.aborted, 2_000, 'the first run to be aborted');
    await w.close();
    expect(await store.ack([{ id: 'orders/0/1', shard: 0, token: other.tasks[0]!.token }])).toEqual(['ok']);
  });

  it('refuses a Redis that may evict tasks, with the fix in the message', async () => {
    // its own Redis on a unix socket: changing the shared one would upset parallel tests
    const dir = mkdtempSync(join(tmpdir(), 'zretry-evict-'));
    const sock = join(dir, 'redis.sock');
    const proc = spawn('redis-server', ['--port', '0', '--unixsocket', sock, '--save', '', '--dir', dir, '--maxmemory-policy', 'allkeys-lru'], { stdio: 'ignore' });
    cleanups.push(async () => {
      proc.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    });
    await waitFor(() => existsSync(sock), 5_000, 'the extra redis-server socket');
    const redis = new Redis({ path: sock });
    try {
      await expect(createWorker({ handler: () => {}, redis, logger: silentLogger() })).rejects.toThrow(
        /maxmemory-policy is "allkeys-lru".*maxmemory-policy noeviction/s,
      );
    } finally {
      redis.disconnect();
    }
  });
});
