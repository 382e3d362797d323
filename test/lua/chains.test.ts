/**
 * Chains against the real Redis: a claimed head takes the tasks queued
 * behind it along (claim-11.lua), and one ack settles the chain's prefix
 * and its failed follower (ack-11.lua). Every code, and the invariants:
 * order kept, fencing for every task of a chain, nothing lost when a
 * worker dies or loses its lease mid-chain.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TaskStore } from '../../src/store/store.js';
import type { ClaimedTask } from '../../src/store/task.js';
import { failed, freshStore } from './fixtures.js';

let store: TaskStore;
let close: () => Promise<void>;
beforeEach(async () => {
  ({ store, close } = await freshStore());
});
afterEach(async () => close());

const lease = (t: ClaimedTask) => ({ id: t.id, shard: t.shard, token: t.token });
const parked = (offset: number, agg: string | null) => ({ ...failed(offset, agg), attempt: 0, error: null });
const ids = (ts: readonly ClaimedTask[] | undefined) => (ts ?? []).map((t) => t.id);

/** A head of aggregate A (failed once) with n parked records behind it. */
async function queue(n: number, agg = 'A', from = 1): Promise<void> {
  await store.schedule([failed(from, agg), ...Array.from({ length: n }, (_, k) => parked(from + 1 + k, agg))]);
}

describe('claim with chains', () => {
  it('hands out the head and its first k followers in queue order, under the head token', async () => {
    await queue(5);
    const c = await store.claim(0, 10, 10_000, 3);
    expect(ids(c.tasks)).toEqual(['orders/0/1']);
    const head = c.tasks[0]!;
    expect(ids(head.followers)).toEqual(['orders/0/2', 'orders/0/3', 'orders/0/4']);
    expect(head.followers!.every((f) => f.token === head.token && f.attempt === 0)).toBe(true);
    // followers count as queued, the chain as one in flight
    expect((await store.stats()).total).toMatchObject({ inflight: 1, queued: 5, dueNow: 0 });
  });

  it('takes no followers with chain 0, for a head without an aggregate, or past the budget', async () => {
    await queue(3);
    expect((await store.claim(0, 10, 10_000)).tasks[0]!.followers).toBeUndefined();
    await store.schedule([failed(50, null)]);
    expect((await store.claim(0, 10, 10_000, 5)).tasks[0]!.followers).toBeUndefined();
    // the budget is per call: two heads with 4 followers each, budget 5
    await queue(4, 'B', 10);
    await queue(4, 'C', 20);
    const c = await store.shard(0).claim(10, 10_000, 100, 9, 5);
    expect(c.tasks.map((t) => t.followers?.length ?? 0)).toEqual([4, 1]);
  });

  it('stops a chain before a doomed follower: it is dealt with as a head', async () => {
    await queue(3);
    expect(await store.operate(['orders/0/3'], 'doom')).toEqual(['doomed']);
    const head = (await store.claim(0, 10, 10_000, 9)).tasks[0]!;
    expect(ids(head.followers)).toEqual(['orders/0/2']);
    expect((await store.ackChains([{ ...lease(head), followers: ['orders/0/2'] }]))[0]).toEqual({ outcome: 'ok', acked: 1, tailApplied: false });
    const next = (await store.claim(0, 10, 10_000, 9)).tasks[0]!;
    expect([next.id, next.doomed, ids(next.followers)]).toEqual(['orders/0/3', 'killed-by-operator', []]);
  });

  it('takes no followers while a topic or error-class pause is on', async () => {
    await queue(3);
    await store.pause('topic:other');
    expect((await store.claim(0, 10, 10_000, 9)).tasks[0]!.followers).toBeUndefined();
  });
});

describe('ack of a chain', () => {
  it('acks the head and every follower in one call; the next waiting task becomes due', async () => {
    await queue(5);
    const head = (await store.claim(0, 10, 10_000, 3)).tasks[0]!;
    const [r] = await store.ackChains([{ ...lease(head), followers: ids(head.followers) }]);
    expect(r).toEqual({ outcome: 'ok', acked: 3, tailApplied: false });
    expect((await store.stats()).total).toMatchObject({ inflight: 0, queued: 1, dueNow: 1 });
    const next = (await store.claim(0, 10, 10_000, 3)).tasks[0]!;
    expect([next.id, ids(next.followers)]).toEqual(['orders/0/5', ['orders/0/6']]);
    await store.ackChains([{ ...lease(next), followers: ids(next.followers) }]);
    expect((await store.stats()).total).toMatchObject({ inflight: 0, queued: 0, dueNow: 0, blockedAggregates: 0 });
  });

  it("a follower that failed becomes the head, due after its backoff, with its attempt counted; the rest wait behind it", async () => {
    await queue(4);
    const head = (await store.claim(0, 10, 10_000, 4)).tasks[0]!;
    const [f2, f3] = head.followers!;
    const [r] = await store.ackChains([{ ...lease(head), followers: [f2!.id], tail: { kind: 'retry', id: f3!.id, delayMs: 100, error: { class: 'E', message: 'f3 failed' } } }]);
    expect(r).toEqual({ outcome: 'ok', acked: 1, tailApplied: true });
    expect((await store.stats()).total).toMatchObject({ inflight: 0, queued: 2, dueNow: 0, dueLater: 1, blockedAggregates: 1 });
    await new Promise((res) => setTimeout(res, 120));
    const again = (await store.claim(0, 10, 10_000, 4)).tasks[0]!;
    expect(again).toMatchObject({ id: f3!.id, attempt: 1, lastError: { message: 'f3 failed' } });
    expect(ids(again.followers)).toEqual(['orders/0/4', 'orders/0/5']);
  });

  it('hands a failed follower over in flight under the chain token, so it can be dead-lettered and killed like any claim', async () => {
    await queue(2);
    const head = (await store.claim(0, 10, 10_000, 2)).tasks[0]!;
    const f2 = head.followers![0]!;
    const [r] = await store.ackChains([{ ...lease(head), followers: [], tail: { kind: 'handover', id: f2.id } }], 60_000);
    expect(r).toEqual({ outcome: 'ok', acked: 0, tailApplied: true });
    expect((await store.stats()).total).toMatchObject({ inflight: 1, queued: 1 });
    expect(await store.extend([lease(f2)], 60_000)).toEqual(['ok']);
    expect(await store.kill([{ ...lease(f2), error: { class: 'E', message: 'fatal' } }], 'release', false)).toEqual(['ok']);
    // its follower is due now, and no earlier task of A came back
    const next = (await store.claim(0, 10, 10_000, 2)).tasks[0]!;
    expect(next.id).toBe('orders/0/3');
  });

  it('a stale token acks nothing of the chain: not the head, not a follower, not the tail', async () => {
    await queue(3);
    const head = (await store.claim(0, 10, 30, 3)).tasks[0]!;
    await new Promise((res) => setTimeout(res, 50));
    // the lease ran out: another worker claims the chain with a new token
    const again = (await store.claim(0, 10, 10_000, 3)).tasks[0]!;
    expect(again.id).toBe(head.id);
    expect(again.token).not.toBe(head.token);
    expect(ids(again.followers)).toEqual(ids(head.followers));
    const [stale] = await store.ackChains([{ ...lease(head), followers: ids(head.followers).slice(0, 2), tail: { kind: 'retry', id: head.followers![2]!.id, delayMs: 0, error: { class: 'E', message: 'x' } } }]);
    expect(stale).toEqual({ outcome: 'lease-lost', acked: 0, tailApplied: false });
    expect((await store.stats()).total).toMatchObject({ inflight: 1, queued: 3 });
    // followers carry the new token: a follower list with the old chain's token stops at once
    expect((await store.ackChains([{ ...lease(again), followers: ids(again.followers) }]))[0]).toEqual({ outcome: 'ok', acked: 3, tailApplied: false });
  });

  it('a worker killed mid-chain: what was not acked comes back, in order, after the lease', async () => {
    await queue(4);
    const head = (await store.claim(0, 10, 30, 2)).tasks[0]!;
    expect(ids(head.followers)).toEqual(['orders/0/2', 'orders/0/3']);
    // the worker dies: no ack; the lease ends
    await new Promise((res) => setTimeout(res, 50));
    const order: string[] = [];
    for (let i = 0; i < 10; i++) {
      const c = (await store.claim(0, 10, 10_000, 2)).tasks[0];
      if (!c) break;
      order.push(c.id, ...ids(c.followers));
      await store.ackChains([{ ...lease(c), followers: ids(c.followers) }]);
    }
    expect(order).toEqual(['orders/0/1', 'orders/0/2', 'orders/0/3', 'orders/0/4', 'orders/0/5']);
    expect((await store.stats()).total).toMatchObject({ inflight: 0, queued: 0, dueNow: 0, blockedAggregates: 0 });
  });

  it('plain acks and chains mix in one call', async () => {
    await queue(1, 'A', 1);
    await store.schedule([failed(10, 'B'), failed(11, null)]);
    const tasks = (await store.claim(0, 10, 10_000, 5)).tasks;
    const res = await store.ackChains(tasks.map((t) => ({ ...lease(t), followers: ids(t.followers) })));
    expect(res.map((r) => [r.outcome, r.acked])).toEqual([['ok', 1], ['ok', 0], ['ok', 0]]);
    expect((await store.stats()).total).toMatchObject({ inflight: 0, queued: 0, dueNow: 0, blockedAggregates: 0 });
  });
});

describe('operators and chains', () => {
  it('refuse a follower of a live chain as in flight; once the chain ended it is a waiting task again', async () => {
    await queue(2);
    const head = (await store.claim(0, 10, 30, 2)).tasks[0]!;
    const follower = head.followers![1]!.id;
    expect(await store.operate([follower], 'skip')).toEqual(['in-flight']);
    expect(await store.operate([follower], 'doom')).toEqual(['in-flight']);
    expect(await store.operate([follower], 'requeue')).toEqual(['in-flight']);
    // the lease runs out and the head is reaped: the chain is over
    await new Promise((res) => setTimeout(res, 50));
    await store.shard(0).reap(100);
    expect(await store.operate([follower], 'requeue')).toEqual(['waiting']);
    expect(await store.operate([follower], 'skip')).toEqual(['deleted']);
    const again = (await store.claim(0, 10, 10_000, 2)).tasks[0]!;
    expect([again.id, ...ids(again.followers)]).toEqual(['orders/0/1', 'orders/0/2']);
  });

  it('an older task replayed while a chain runs comes before the follower that failed: the follower waits behind it (found by the property test)', async () => {
    // A1 dies (kept); A2 becomes the head and is claimed with A3 behind it
    await queue(2);
    const a1 = (await store.claim(0, 10, 10_000, 0)).tasks[0]!;
    expect(await store.kill([{ ...lease(a1), error: { class: 'E', message: 'dead' } }], 'release', true)).toEqual(['ok']);
    const head = (await store.claim(0, 10, 10_000, 2)).tasks[0]!;
    expect([head.id, ...ids(head.followers)]).toEqual(['orders/0/2', 'orders/0/3']);
    // the operator replays A1 while the chain runs; then A2 succeeds and A3 fails
    expect(await store.operate([a1.id], 'requeue')).toEqual(['replayed-queued']);
    const [r] = await store.ackChains([{ ...lease(head), followers: [], tail: { kind: 'retry', id: 'orders/0/3', delayMs: 0, error: { class: 'E', message: 'A3 failed' } } }]);
    expect(r).toMatchObject({ outcome: 'ok', tailApplied: true });
    // A1 is older than A3: it runs first, and A3 (its attempt counted) after it
    const next = (await store.claim(0, 10, 10_000, 2)).tasks;
    expect(next.map((t) => [t.id, ...ids(t.followers)])).toEqual([['orders/0/1', 'orders/0/3']]);
    expect(next[0]!.followers![0]).toMatchObject({ attempt: 1, lastError: { message: 'A3 failed' } });
  });
});
