/** The operator scripts against the real Redis: requeue (retry-now, replay), doom, skip, unhold, list. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TaskStore } from '../../src/store/store.js';
import { failed } from './fixtures.js';
import { freshStore } from './fixtures.js';

let store: TaskStore;
let close: () => Promise<void>;
beforeEach(async () => {
  ({ store, close } = await freshStore(2));
});
afterEach(async () => close());

const lease = (t: { id: string; shard: number; token: string }) => ({ id: t.id, shard: t.shard, token: t.token });
async function claimAll() {
  return (await Promise.all([0, 1].map((s) => store.claim(s, 100, 10_000)))).flatMap((c) => c.tasks);
}

describe('operator scripts', () => {
  it('retry-now makes a later task due now; a waiting one answers waiting, a claimed one in-flight, an unknown id gone', async () => {
    await store.schedule([failed(1, 'A', 60_000), failed(2, 'A'), failed(3, null)]);
    const [t3] = await claimAll();
    expect(t3!.id).toBe('orders/0/3');
    expect(await store.operate(['orders/0/1', 'orders/0/2', 'orders/0/3', 'nope'], 'requeue')).toEqual(['due-now', 'waiting', 'in-flight', 'gone']);
    expect((await claimAll()).map((t) => t.id)).toEqual(['orders/0/1']);
  });

  it('replay brings a dead task back with fresh attempts, behind its aggregate if busy', async () => {
    await store.schedule([failed(1, 'A')]);
    const [head] = await claimAll();
    await store.kill([{ ...lease(head!), error: { class: 'E', message: 'dead' } }], 'release', true);
    await store.schedule([failed(2, 'A')]);
    expect(await store.operate(['orders/0/1'], 'requeue')).toEqual(['replayed-queued']);
    const [next] = await claimAll();
    expect(next!.id).toBe('orders/0/2');
    await store.ack([lease(next!)]);
    const [replayed] = await claimAll();
    expect(replayed).toMatchObject({ id: 'orders/0/1', attempt: 0, lastError: { message: 'dead' } });
    expect((await store.stats()).total.dead).toBe(0);
  });

  it('kill dooms a task: claimed next with doom killed-by-operator; dead ones answer dead-already', async () => {
    await store.schedule([failed(1, 'A', 60_000), failed(2, 'B')]);
    const [b] = await claimAll();
    await store.kill([{ ...lease(b!), error: null }], 'release', true);
    expect(await store.operate(['orders/0/1', 'orders/0/2'], 'doom')).toEqual(['doomed', 'dead-already']);
    const [a] = await claimAll();
    expect([a!.id, a!.doomed]).toEqual(['orders/0/1', 'killed-by-operator']);
  });

  it('skip deletes a head (its follower becomes due), a waiting task (the queue closes up) and a dead one', async () => {
    await store.schedule([failed(1, 'A', 60_000), failed(2, 'A'), failed(3, 'A')]);
    expect(await store.operate(['orders/0/2'], 'skip')).toEqual(['deleted']);
    expect(await store.operate(['orders/0/1'], 'skip')).toEqual(['deleted']);
    const [t] = await claimAll();
    expect(t!.id).toBe('orders/0/3');
    expect((await store.stats()).total).toMatchObject({ queued: 0, blockedAggregates: 1, inflight: 1 });
    expect(await store.operate(['orders/0/3'], 'skip')).toEqual(['in-flight']);
  });

  it('unhold releases an aggregate held by the hold policy', async () => {
    await store.schedule([failed(1, 'A'), failed(2, 'A')]);
    const [head] = await claimAll();
    await store.kill([{ ...lease(head!), error: null }], 'hold', false);
    const sh = store.shard(store.shardOf('A', 'x'));
    expect(await sh.unhold(['A', 'B'])).toEqual(['released', 'not-held']);
    expect((await claimAll()).map((t) => t.id)).toEqual(['orders/0/2']);
  });

  it('replaying the dead head of a held aggregate makes it the head again, ahead of its followers', async () => {
    await store.schedule([failed(1, 'A'), failed(2, 'A')]);
    const [head] = await claimAll();
    await store.kill([{ ...lease(head!), error: null }], 'hold', true);
    expect(await store.operate(['orders/0/1'], 'requeue')).toEqual(['due-now']);
    const [again] = await claimAll();
    expect(again!.id).toBe('orders/0/1');
    await store.ack([lease(again!)]);
    expect((await claimAll()).map((t) => t.id)).toEqual(['orders/0/2']);
  });

  it('list pages through a state with the task decoded', async () => {
    await store.schedule([failed(1, 'A'), failed(2, 'A'), failed(3, 'A'), failed(4, 'A')]);
    const sh = store.shard(store.shardOf('A', 'x'));
    const page1 = await sh.list('waiting', 0, 2);
    const page2 = await sh.list('waiting', 2, 2);
    expect(page1.total).toBe(3);
    expect([...page1.tasks, ...page2.tasks].map((t) => t.id)).toEqual(['orders/0/2', 'orders/0/3', 'orders/0/4']);
    const due = await sh.list('due', 0, 10);
    expect(due.tasks[0]).toMatchObject({ id: 'orders/0/1', state: 'due', attempt: 1, aggregateId: 'A', lastError: { class: 'Error', message: 'boom 1' } });
    expect(due.tasks[0]!.record!.offset).toBe('1');
  });

  it('pause all stops claims; resume starts them again', async () => {
    await store.schedule([failed(1, null), failed(2, null)]);
    expect(await store.pause('all')).toBe(true);
    expect(await store.pause('all')).toBe(false);
    const c = await store.claim(0, 10, 10_000);
    expect([c.tasks.length, c.next]).toEqual([0, null]);
    expect((await store.stats()).pauses).toEqual(['all']);
    await store.resume('all');
    expect((await claimAll()).map((t) => t.id).sort()).toEqual(['orders/0/1', 'orders/0/2']);
  });

  it('pause by topic or error class holds back only those tasks, with their due time, until resumed', async () => {
    const payments = { ...failed(3, null), record: { ...failed(3, null).record, topic: 'payments' } };
    const typeErr = { ...failed(4, null), error: { class: 'TypeError', message: 'x' } };
    await store.schedule([failed(1, null), payments, typeErr]);
    await store.pause('topic:payments');
    await store.pause('error:TypeError');
    expect((await claimAll()).map((t) => t.id)).toEqual(['orders/0/1']);
    const s = await store.stats();
    expect(s.total.paused).toBe(2);
    expect(s.pauses).toEqual(['error:TypeError', 'topic:payments']);
    expect(await store.operate(['orders/0/3'], 'requeue')).toEqual(['paused']);
    const held = (await Promise.all([0, 1].map((sh) => store.shard(sh).list('paused', 0, 10)))).flatMap((p) => p.tasks.map((t) => t.id)).sort();
    expect(held).toEqual(['orders/0/3', 'orders/0/4']);
    expect(await store.resume('topic:payments')).toBe(1);
    expect((await claimAll()).map((t) => t.id)).toEqual(['orders/0/3']);
    expect(await store.resume('error:TypeError')).toBe(1);
    expect((await claimAll()).map((t) => t.id)).toEqual(['orders/0/4']);
    expect((await store.stats()).total.paused).toBe(0);
  });

  it('shift pushes every due time back by the duration', async () => {
    await store.schedule([failed(1, null), failed(2, null, 10_000)]);
    const before = await Promise.all([0, 1].map((sh) => store.shard(sh).list('due', 0, 10)));
    expect(await store.shift(60_000)).toBe(2);
    const after = await Promise.all([0, 1].map((sh) => store.shard(sh).list('due', 0, 10)));
    const at = (pages: typeof before) => Object.fromEntries(pages.flatMap((p) => p.tasks.map((t) => [t.id, t.at])));
    const b = at(before);
    const a = at(after);
    for (const id of Object.keys(b)) expect(a[id]! - b[id]!).toBe(60_000);
    expect((await claimAll())).toHaveLength(0);
  });
});
