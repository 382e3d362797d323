/**
 * Every script against the real Redis, every return code.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RedisClient } from '../../src/store/client.js';
import type { TaskStore } from '../../src/store/store.js';
import { shardKeys } from '../../src/store/keys.js';
import { encodeRecord } from '../../src/store/record-codec.js';
import { failed, freshStore, record } from './fixtures.js';

let store: TaskStore;
let redis: RedisClient;
let namespace: string;
let close: () => Promise<void>;

beforeEach(async () => {
  ({ store, redis, namespace, close } = await freshStore());
});
afterEach(async () => close());

const lease = (t: { id: string; shard: number; token: string }) => ({ id: t.id, shard: t.shard, token: t.token });

describe('schedule', () => {
  it('stores a task due at once, queues one behind the same aggregate, and refuses a duplicate id', async () => {
    const out = await store.schedule([failed(1, 'A'), failed(2, 'A'), failed(1, 'A'), failed(3, null)]);
    expect(out).toEqual(['scheduled', 'queued', 'duplicate', 'scheduled']);
    const s = (await store.stats()).total;
    expect(s).toMatchObject({ dueNow: 2, queued: 1, blockedAggregates: 1, inflight: 0 });
  });

  it('keeps the record byte for byte: binary key, tombstone, repeated binary headers', async () => {
    const t = failed(7, 'A');
    t.record = record(7, null);
    await store.schedule([t]);
    const c = await store.claim(0, 10, 10_000);
    expect(c.tasks[0]!.record).toEqual(record(7, null));
    expect(c.tasks[0]!.lastError).toEqual({ class: 'Error', message: 'boom 7' });
    expect(c.tasks[0]!.attempt).toBe(1);
  });

  it('uses Redis time for the due time: a task due in 200 ms is not claimable before', async () => {
    await store.schedule([failed(1, null, 200)]);
    const first = await store.claim(0, 10, 10_000);
    expect(first.tasks).toHaveLength(0);
    expect(first.next! - first.now).toBeGreaterThan(150);
    expect(first.next! - first.now).toBeLessThanOrEqual(200);
  });
});

describe('schedule with doom', () => {
  it('stores a dead-on-arrival record that is claimed doomed, and its follower waits behind it', async () => {
    expect(await store.schedule([{ ...failed(1, 'A'), doom: 'fatal' }, failed(2, 'A')])).toEqual(['scheduled', 'queued']);
    const c = await store.claim(0, 10, 10_000);
    expect(c.tasks.map((t) => [t.id, t.doomed, t.attempt])).toEqual([['orders/0/1', 'fatal', 1]]);
  });
});

describe('admit', () => {
  it('lets a free aggregate go, says park behind a busy one, flags a duplicate, and writes nothing for fresh records', async () => {
    await store.schedule([failed(1, 'A')]);
    const counts = async () => {
      const { oldestDueAgeMs: _age, ...rest } = (await store.stats()).total;
      return rest;
    };
    const before = await counts();
    const out = (await store.admit([
      { kind: 'fresh', id: 'orders/0/2', aggregateId: 'A' },
      { kind: 'fresh', id: 'orders/0/3', aggregateId: 'B' },
      { kind: 'fresh', id: 'orders/0/1', aggregateId: 'A' },
      { kind: 'fresh', id: 'orders/0/4', aggregateId: null },
      { kind: 'fresh', id: 'orders/0/5', aggregateId: 'A' },
    ], 10_000)).map((r) => r.outcome);
    expect(out).toEqual(['park', 'go', 'duplicate', 'go', 'park']);
    expect(await counts()).toEqual(before);
    // the caller parks them with schedule, which appends them behind the head in order
    expect(await store.schedule([{ ...failed(2, 'A'), attempt: 0, error: null }, { ...failed(5, 'A'), attempt: 0, error: null }])).toEqual(['queued', 'queued']);
    expect((await store.stats()).total.queued).toBe(2);
  });

  it('reads ids of any bytes and length up to 16 KiB (packed into one argument)', async () => {
    const agg = `agg-\u00fc-${'x'.repeat(16_000)}`;
    await store.schedule([{ ...failed(1, agg), id: 'id-\u{1F600}' }]);
    const out = (await store.admit([
      { kind: 'fresh', id: 'id-\u{1F600}', aggregateId: 'other' },
      { kind: 'fresh', id: 'orders/0/2', aggregateId: agg },
      { kind: 'fresh', id: `long-${'y'.repeat(16_000)}`, aggregateId: 'free' },
    ], 10_000)).map((r) => r.outcome);
    expect(out).toEqual(['duplicate', 'park', 'go']);
  });

  it('lets the first copy of a republished attempt take the task (new token, lease), and skips the others', async () => {
    await store.schedule([failed(1, 'A')]);
    const c = await store.claim(0, 10, 10_000);
    const t = c.tasks[0]!;
    const copy = { kind: 'republished' as const, taskId: t.id, attempt: t.attempt + 1 };
    const [first] = await store.admit([copy], 60);
    expect(first!.outcome).toBe('go');
    expect(Number(first!.token)).toBeGreaterThan(Number(t.token));
    // a second copy of the same attempt while the first holds the lease: stale
    expect((await store.admit([copy], 60))[0]).toEqual({ outcome: 'stale' });
    // a copy of another attempt: stale
    expect((await store.admit([{ ...copy, attempt: t.attempt + 2 }], 60))[0]).toEqual({ outcome: 'stale' });
    // the worker's claim token no longer fences the outcome: the consumer's does
    expect(await store.ack([lease(t)])).toEqual(['lease-lost']);
    // once the consumer's lease ran out, a copy may take the task again
    await new Promise((r) => setTimeout(r, 80));
    const [again] = await store.admit([copy], 10_000);
    expect(again!.outcome).toBe('go');
    expect(await store.ack([{ ...lease(t), token: first!.token! }])).toEqual(['lease-lost']);
    expect(await store.ack([{ ...lease(t), token: again!.token! }])).toEqual(['ok']);
    expect((await store.admit([copy], 10_000))[0]).toEqual({ outcome: 'stale' });
  });

  it('a late copy of a task an operator killed is stale: its handler does not run, and the kill of the dead-letter step holds (issue 13, item 6)', async () => {
    await store.schedule([failed(1, 'A')]);
    const t = (await store.claim(0, 10, 30)).tasks[0]!; // republished; the copy lags in Kafka
    await new Promise((r) => setTimeout(r, 50));
    await store.shard(0).reap(10); // the republish lease ran out: due again
    expect(await store.operate([t.id], 'doom')).toEqual(['doomed']);
    const dying = (await store.claim(0, 10, 10_000)).tasks[0]!; // the worker takes it to write its dead letter
    expect(dying.doomed).toBe('killed-by-operator');
    // the late copy arrives: it must not take the task
    expect((await store.admit([{ kind: 'republished', taskId: t.id, attempt: t.attempt + 1 }], 10_000))[0]).toEqual({ outcome: 'stale' });
    expect(await store.kill([{ ...lease(dying), error: null }], 'release', false)).toEqual(['ok']);
  });

  it('a copy republished after a re-claim (the lease ran out before the first came back) still runs', async () => {
    await store.schedule([failed(1, null)]);
    const t = (await store.claim(0, 10, 30)).tasks[0]!;
    await new Promise((r) => setTimeout(r, 50));
    const t2 = (await store.claim(0, 10, 10_000)).tasks[0]!; // reaped and claimed again: republished again
    expect(t2.token).not.toBe(t.token);
    const [r] = await store.admit([{ kind: 'republished', taskId: t.id, attempt: t.attempt + 1 }], 10_000);
    expect(r!.outcome).toBe('go');
  });
});

describe('claim, ack and the aggregate queue', () => {
  it('acking the head makes the next of its aggregate due at once, in order', async () => {
    await store.schedule([failed(1, 'A'), failed(2, 'A'), failed(3, 'A')]);
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) {
      const c = await store.claim(0, 10, 10_000);
      expect(c.tasks).toHaveLength(1);
      seen.push(c.tasks[0]!.id);
      expect(await store.ack([lease(c.tasks[0]!)])).toEqual(['ok']);
    }
    expect(seen).toEqual(['orders/0/1', 'orders/0/2', 'orders/0/3']);
    expect((await store.stats()).total).toMatchObject({ dueNow: 0, queued: 0, blockedAggregates: 0, inflight: 0 });
    expect(await redis.exists(...shardKeys(namespace, 0))).toBe(1); // only the token counter remains
  });

  it('ack answers gone for a finished task and lease-lost for a stale token', async () => {
    await store.schedule([failed(1, null)]);
    const t = (await store.claim(0, 10, 10_000)).tasks[0]!;
    expect(await store.ack([{ ...lease(t), token: '999999' }])).toEqual(['lease-lost']);
    expect(await store.ack([lease(t)])).toEqual(['ok']);
    expect(await store.ack([lease(t)])).toEqual(['gone']);
  });

  it('claims at most n and reports when the next one is due', async () => {
    await store.schedule([failed(1, null), failed(2, null), failed(3, null, 5000)]);
    const c = await store.claim(0, 1, 10_000);
    expect(c.tasks).toHaveLength(1);
    expect(c.next).toBeLessThanOrEqual(c.now); // another is due already
    const d = await store.claim(0, 10, 10_000);
    expect(d.tasks).toHaveLength(1);
    expect(d.next! - d.now).toBeGreaterThan(4000);
  });
});

describe('leases', () => {
  it('an expired lease is reaped by the next claim with a new token; the old token is refused', async () => {
    await store.schedule([failed(1, 'A')]);
    const first = (await store.claim(0, 10, 50)).tasks[0]!;
    await new Promise((r) => setTimeout(r, 80));
    const again = await store.claim(0, 10, 10_000);
    expect(again.reaped).toBe(1);
    const second = again.tasks[0]!;
    expect(second.id).toBe(first.id);
    expect(second.token).not.toBe(first.token);
    expect(second.attempt).toBe(first.attempt);
    expect(await store.ack([lease(first)])).toEqual(['lease-lost']);
    expect(await store.retry([{ ...lease(first), delayMs: 0, error: null }])).toEqual(['lease-lost']);
    expect(await store.kill([{ ...lease(first), error: null }], 'release', false)).toEqual(['lease-lost']);
    expect(await store.extend([lease(first)], 1000)).toEqual(['lease-lost']);
    expect(await store.release([lease(first)])).toEqual(['lease-lost']);
    expect(await store.ack([lease(second)])).toEqual(['ok']);
  });

  it('extend keeps a lease alive past its first deadline', async () => {
    await store.schedule([failed(1, null)]);
    const t = (await store.claim(0, 10, 100)).tasks[0]!;
    await new Promise((r) => setTimeout(r, 60));
    expect(await store.extend([lease(t)], 200)).toEqual(['ok']);
    await new Promise((r) => setTimeout(r, 80));
    expect((await store.claim(0, 10, 100)).reaped).toBe(0);
    expect(await store.ack([lease(t)])).toEqual(['ok']);
    expect(await store.extend([lease(t)], 200)).toEqual(['gone']);
  });

  it('reap returns expired leases on its own', async () => {
    await store.schedule([failed(1, null), failed(2, null)]);
    await store.claim(0, 10, 20);
    await new Promise((r) => setTimeout(r, 50));
    expect(await store.shard(0).reap(100)).toBe(2);
    expect((await store.stats()).total).toMatchObject({ dueNow: 2, inflight: 0 });
  });

  it('release gives a task back due now with its attempt unchanged', async () => {
    await store.schedule([failed(1, null, 0)]);
    const t = (await store.claim(0, 10, 10_000)).tasks[0]!;
    expect(await store.release([lease(t)])).toEqual(['ok']);
    const again = (await store.claim(0, 10, 10_000)).tasks[0]!;
    expect(again.attempt).toBe(1);
    expect(await store.release([lease(t)])).toEqual(['lease-lost']);
  });
});

describe('retry', () => {
  it('counts the attempt, keeps the first failure, stores the new error and delays by Redis time', async () => {
    await store.schedule([failed(1, 'A'), failed(2, 'A')]);
    const t = (await store.claim(0, 10, 10_000)).tasks[0]!;
    expect(await store.retry([{ ...lease(t), delayMs: 100, error: { class: 'TypeError', message: 'again' } }])).toEqual(['ok']);
    const early = await store.claim(0, 10, 10_000);
    expect(early.tasks).toHaveLength(0); // still the head: its follower waits
    await new Promise((r) => setTimeout(r, 120));
    const u = (await store.claim(0, 10, 10_000)).tasks[0]!;
    expect(u).toMatchObject({ id: t.id, attempt: 2, firstFailureAt: t.firstFailureAt, lastError: { class: 'TypeError', message: 'again' } });
    expect(await store.retry([{ ...lease(t), delayMs: 0, error: null }])).toEqual(['lease-lost']);
    await store.ack([lease(u)]);
    expect(await store.retry([{ ...lease(u), delayMs: 0, error: null }])).toEqual(['gone']);
  });

  it('with doom set, counts the attempt and marks the task for the dead-letter topic', async () => {
    await store.schedule([failed(1, null)]);
    const t = (await store.claim(0, 10, 10_000)).tasks[0]!;
    await store.retry([{ ...lease(t), delayMs: 0, error: null, doom: 'fatal' }]);
    const u = (await store.claim(0, 10, 10_000)).tasks[0]!;
    expect(u.doomed).toBe('fatal');
    expect(u.attempt).toBe(2);
  });

  it('a doomed task whose dead-letter write failed again keeps its attempt count: no handler ran', async () => {
    await store.schedule([failed(1, null)]);
    const t = (await store.claim(0, 10, 10_000)).tasks[0]!;
    await store.retry([{ ...lease(t), delayMs: 0, error: null, doom: 'attempts-exhausted' }]); // attempt 2 failed, its dead letter too
    for (let write = 2; write <= 4; write++) {
      const u = (await store.claim(0, 10, 10_000)).tasks[0]!;
      expect([u.doomed, u.attempt], `before dead-letter write ${write}`).toEqual(['attempts-exhausted', 2]);
      await store.retry([{ ...lease(u), delayMs: 0, error: null, doom: 'attempts-exhausted' }]);
    }
  });
});

describe('kill and the follower policy', () => {
  async function killHead(policy: 'release' | 'dead-letter' | 'hold', keep = false) {
    await store.schedule([failed(1, 'A'), failed(2, 'A'), failed(3, 'A')]);
    const head = (await store.claim(0, 10, 10_000)).tasks[0]!;
    expect(await store.kill([{ ...lease(head), error: { class: 'Error', message: 'fatal' } }], policy, keep)).toEqual(['ok']);
    return head;
  }

  it('a task kept in the dead set counts the attempt that just failed (as its dead letter does); a doomed one does not', async () => {
    await killHead('release', true); // failed once in the consumer, then attempt 2 failed in a worker
    expect((await store.shard(0).get(['orders/0/1']))[0]).toMatchObject({ state: 'dead', attempt: 2 });
    await store.shard(0).doom(['orders/0/2']);
    const doomed = (await store.claim(0, 10, 10_000)).tasks[0]!;
    await store.kill([{ ...lease(doomed), error: null }], 'release', true);
    expect((await store.shard(0).get(['orders/0/2']))[0]).toMatchObject({ state: 'dead', attempt: 1 });
  });

  it('release: the next task becomes due at once, not doomed', async () => {
    await killHead('release');
    const next = (await store.claim(0, 10, 10_000)).tasks;
    expect(next.map((t) => [t.id, t.doomed])).toEqual([['orders/0/2', null]]);
  });

  it('dead-letter: the next is doomed, and killing it dooms the one after', async () => {
    await killHead('dead-letter');
    const second = (await store.claim(0, 10, 10_000)).tasks[0]!;
    expect(second.doomed).toBe('predecessor-died');
    await store.kill([{ ...lease(second), error: null }], 'release', false); // doom carries on whatever the policy
    const third = (await store.claim(0, 10, 10_000)).tasks[0]!;
    expect([third.id, third.doomed]).toEqual(['orders/0/3', 'predecessor-died']);
    await store.kill([{ ...lease(third), error: null }], 'dead-letter', false);
    expect((await store.stats()).total).toMatchObject({ dueNow: 0, queued: 0, blockedAggregates: 0 });
    // the aggregate is free again: a fresh record goes
    expect((await store.admit([{ kind: 'fresh', id: 'orders/0/9', aggregateId: 'A' }], 1000))[0]!.outcome).toBe('go');
  });

  it('hold: nothing is promoted and fresh records park until an operator acts', async () => {
    await killHead('hold');
    expect((await store.claim(0, 10, 10_000)).tasks).toHaveLength(0);
    expect((await store.admit([{ kind: 'fresh', id: 'orders/0/9', aggregateId: 'A' }], 1000))[0]!.outcome).toBe('park');
    expect(await store.schedule([{ ...failed(9, 'A'), attempt: 0, error: null }])).toEqual(['queued']);
    expect((await store.stats()).total).toMatchObject({ queued: 3, blockedAggregates: 1 });
  });

  it('keep: the dead task stays in the dead set and its id still dedups', async () => {
    await killHead('release', true);
    expect((await store.stats()).total.dead).toBe(1);
    expect(await store.schedule([failed(1, 'A')])).toEqual(['duplicate']);
  });

  it('answers gone and lease-lost like ack', async () => {
    const head = await killHead('release');
    expect(await store.kill([{ ...lease(head), error: null }], 'release', false)).toEqual(['gone']);
  });
});

describe('bad data in Redis', () => {
  it('a task whose record bytes are garbage is handed back as unreadable, not thrown', async () => {
    await store.schedule([failed(1, null)]);
    // keep the task's own fields, spoil the record bytes that end its value
    const tasksKey = shardKeys(namespace, 0)[2]!;
    const value = (await redis.hgetBuffer(tasksKey, 'orders/0/1'))!;
    const recordBytes = encodeRecord(failed(1, null).record).length;
    await redis.hset(tasksKey, 'orders/0/1', Buffer.concat([value.subarray(0, value.length - recordBytes), Buffer.from('garbage')]));
    const c = await store.claim(0, 10, 10_000);
    expect(c.tasks).toHaveLength(0);
    expect(c.unreadable).toHaveLength(1);
    expect(c.unreadable[0]!.reason).toMatch(/unknown format version|truncated/);
  });

  it('a task whose metadata is garbage is moved to the dead set by claim; unhold frees its aggregate', async () => {
    await store.schedule([failed(1, 'A'), failed(2, 'A')]);
    await redis.hset(shardKeys(namespace, 0)[2]!, 'orders/0/1', 'not a task \xc1');
    const c = await store.claim(0, 10, 10_000);
    expect(c.corruptMeta).toEqual(['orders/0/1']);
    expect((await store.stats()).total).toMatchObject({ dueNow: 0, dead: 1, queued: 1 });
    expect(await store.shard(0).unhold(['A'])).toEqual(['released']);
    expect((await store.claim(0, 10, 10_000)).tasks.map((t) => t.id)).toEqual(['orders/0/2']);
  });
});

describe('bad data does not stop a shard', () => {
  it('an in-flight task corrupted before its lease ends: claim goes on and the id is in the dead set, listed as unreadable', async () => {
    await store.schedule([failed(1, null), failed(2, null, 200)]);
    const [t1] = (await store.claim(0, 1, 100)).tasks;
    await redis.hset(shardKeys(namespace, 0)[2]!, t1!.id, Buffer.from([0x66, 1, 2]));
    await new Promise((r) => setTimeout(r, 250));
    const c = await store.claim(0, 10, 10_000);
    expect(c.tasks.map((t) => t.id)).toEqual(['orders/0/2']);
    const dead = await store.shard(0).list('dead', 0, 10);
    expect(dead.tasks.map((t) => [t.id, t.doomed, t.lastError?.message])).toEqual([['orders/0/1', 'unreadable', 'the stored task value cannot be read (corrupted data)']]);
    expect((await store.shard(0).get(['orders/0/1']))[0]).toMatchObject({ state: 'dead', doomed: 'unreadable', record: null });
  });

  it('operator steps and admit meet an unreadable task without failing: skip deletes it, requeue and doom say unreadable, a copy is stale', async () => {
    await store.schedule([failed(1, null), failed(2, null), failed(3, null, 60_000)]);
    const [t1] = (await store.claim(0, 1, 10_000)).tasks;
    const tasksKey = shardKeys(namespace, 0)[2]!;
    for (const id of ['orders/0/1', 'orders/0/2', 'orders/0/3']) await redis.hset(tasksKey, id, 'garbage');
    expect(await store.admit([{ kind: 'republished', taskId: t1!.id, attempt: t1!.attempt + 1 }], 60)).toEqual([{ outcome: 'stale' }]);
    expect(await store.shard(0).requeue(['orders/0/2'])).toEqual(['unreadable']);
    expect(await store.shard(0).doom(['orders/0/2'])).toEqual(['unreadable']);
    expect(await store.shard(0).skip(['orders/0/1', 'orders/0/2', 'orders/0/3'])).toEqual(['deleted', 'deleted', 'deleted']);
    expect((await store.stats()).total).toMatchObject({ dueNow: 0, dueLater: 0, inflight: 0, dead: 0 });
    expect(await redis.hlen(tasksKey)).toBe(0);
  });

  it('outcomes for an in-flight task whose value broke count it as gone, and the others of the batch still apply', async () => {
    await store.schedule([failed(1, null), failed(2, null)]);
    const [a, b] = (await store.claim(0, 2, 10_000)).tasks;
    await redis.hset(shardKeys(namespace, 0)[2]!, a!.id, 'garbage');
    expect(await store.retry([{ ...lease(a!), delayMs: 0, error: null }, { ...lease(b!), delayMs: 0, error: null }])).toEqual(['gone', 'ok']);
    expect(await store.extend([lease(a!)], 10_000)).toEqual(['gone']);
    expect(await store.kill([{ ...lease(a!), error: null }], 'release', true)).toEqual(['gone']);
  });

  it('a corrupted follower is skipped into the dead set when its head leaves; the next follower becomes due', async () => {
    await store.schedule([failed(1, 'A'), failed(2, 'A'), failed(3, 'A')]);
    await redis.hset(shardKeys(namespace, 0)[2]!, 'orders/0/2', 'garbage');
    const [head] = (await store.claim(0, 10, 10_000)).tasks;
    expect(await store.ack([lease(head!)])).toEqual(['ok']);
    expect((await store.claim(0, 10, 10_000)).tasks.map((t) => t.id)).toEqual(['orders/0/3']);
    expect((await store.stats()).total).toMatchObject({ dead: 1, queued: 0 });
  });
});

describe('stats', () => {
  it('counts due now, due later, in flight, queued, blocked aggregates and overdue age', async () => {
    await store.schedule([failed(1, 'A'), failed(2, 'A'), failed(3, 'B', 60_000), failed(4, null)]);
    await store.claim(0, 1, 10_000);
    await new Promise((r) => setTimeout(r, 30));
    const s = (await store.stats()).total;
    expect(s).toMatchObject({ dueNow: 1, dueLater: 1, inflight: 1, queued: 1, blockedAggregates: 2, dead: 0 });
    expect(s.oldestDueAgeMs).toBeGreaterThanOrEqual(25);
  });
});

describe('claim under a topic or error-class pause (issue 13, item 9)', () => {
  it('moves at most 100 held-back tasks to the paused set per call, each once, and still reaches a task of another topic behind them', async () => {
    const held = Array.from({ length: 1_500 }, (_, i) => ({ ...failed(i, null), record: { ...failed(i, null).record, topic: 'payments' } }));
    for (let i = 0; i < held.length; i += 500) await store.schedule(held.slice(i, i + 500));
    await store.schedule([{ ...failed(9_999, null), error: { class: 'TypeError', message: 'x' } }]);
    await store.pause('topic:payments');
    const pausedAfter: number[] = [];
    let got: string[] = [];
    for (let call = 0; call < 30 && got.length === 0; call++) {
      const c = await store.claim(0, 10, 10_000);
      got = c.tasks.map((t) => t.id);
      pausedAfter.push((await store.stats()).total.paused);
    }
    // each call looked at no more than 100 held-back tasks beyond what it claimed
    pausedAfter.forEach((p, i) => expect(p - (pausedAfter[i - 1] ?? 0)).toBeLessThanOrEqual(100));
    expect(got).toEqual(['orders/0/9999']);
    expect((await store.stats()).total.paused).toBe(1_500);
    // an error-class pause reads the class without decoding the whole error
    await store.resume('topic:payments');
    await store.pause('error:Error');
    let claimed = 0;
    for (let call = 0; call < 30; call++) claimed += (await store.claim(0, 10, 10_000)).tasks.length;
    expect(claimed).toBe(0);
    expect((await store.stats()).total.paused).toBe(1_500);
  });
});

describe('a re-read after a consumer crash (issue 13, suspected B1, B2, B1)', () => {
  it('a record that comes before the last task stored of its aggregate from the same partition was handled before: duplicate, not parked behind it', async () => {
    // B1 (offset 0) succeeded, B2 (offset 1) failed and was stored; the consumer died before its commit
    await store.schedule([failed(1, 'B')]);
    const batch = (partition: number, ids: string[], aggs: string[], offsets: string[]) => ({ ids, aggs, copyOf: () => undefined, origin: { topic: 'orders', partition, offsets } });
    const verdicts = async (b: ReturnType<typeof batch>) => (await store.admitBatch(b, b.ids.map((_, i) => i), () => 0, 10_000)).map((v) => v.outcome);
    const ids = ['orders/0/0', 'orders/0/1', 'orders/0/2', 'orders/0/5'];
    // B1 must not run again now (it would run after B2); B2 is a task; B3 parks behind B2; C is free
    expect(await verdicts(batch(0, ids, ['B', 'B', 'B', 'C'], ['0', '1', '2', '5']))).toEqual(['duplicate', 'duplicate', 'park', 'go']);
    // the same offsets from another partition say nothing about B's records there
    expect(await verdicts(batch(1, ['orders/1/0'], ['B'], ['0']))).toEqual(['park']);
    // with parked records behind the head, the newest of them counts
    await store.schedule([{ ...failed(7, 'B'), attempt: 0, error: null }]);
    expect(await verdicts(batch(0, ['orders/0/6', 'orders/0/8'], ['B', 'B'], ['6', '8']))).toEqual(['duplicate', 'park']);
  });
});
