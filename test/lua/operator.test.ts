/** The operator scripts against the real Redis: requeue (retry-now, replay), doom, skip, unhold, list. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { purge } from '../../src/cli/tasks.js';
import { applyOp } from '../../src/ops/actions.js';
import { scan } from '../../src/ops/select.js';
import { shardKeys } from '../../src/store/keys.js';
import type { ShardScripts } from '../../src/store/scripts.js';
import { TaskStore } from '../../src/store/store.js';
import type { ClaimedTask } from '../../src/store/task.js';
import { failed, freshStore } from './fixtures.js';

let store: TaskStore;
let close: () => Promise<void>;
beforeEach(async () => {
  ({ store, close } = await freshStore(2));
});
afterEach(async () => close());

const lease = (t: { id: string; shard: number; token: string }) => ({ id: t.id, shard: t.shard, token: t.token });
/** The dead tasks as `zretry dead replay --all` selects them, in the dead set's order. */
async function deadIds(): Promise<string[]> {
  const ids: string[] = [];
  for await (const t of scan(store, { states: ['dead'] })) ids.push(t.id);
  return ids;
}

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

/**
 * Operators racing workers (issue 13). An operator command that moves many
 * tasks runs in steps; these tests run other commands, claims and outcomes
 * between two steps of it (by wrapping the shard's step), or stop it there.
 */
describe('operators racing workers', () => {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  /** A store on the same namespace whose commands move one task per step. */
  const oneByOne = (s: TaskStore) => new TaskStore(s.redis, { ...s.options, maxBatch: 1 });

  /** Runs between after the first call of a shard's step method (shift or resume). */
  function afterFirstStep(sh: ShardScripts, method: 'shift' | 'resume', between: () => Promise<void>): void {
    const step = (sh[method] as (...a: unknown[]) => Promise<unknown>).bind(sh);
    let calls = 0;
    (sh as unknown as Record<string, unknown>)[method] = async (...args: unknown[]) => {
      const r = await step(...args);
      if (++calls === 1) await between();
      return r;
    };
  }

  /** Claims and acks until nothing is due; returns the ids in the order they ran. */
  async function runAll(): Promise<string[]> {
    const ran: string[] = [];
    for (let tasks = await claimAll(); tasks.length > 0; tasks = await claimAll()) {
      for (const t of tasks) ran.push(t.id);
      await store.ack(tasks.map(lease));
    }
    return ran;
  }

  it('shift racing kill: a task killed between two steps of a shift stays dead and does not run after its follower', async () => {
    await store.schedule([failed(1, 'A'), failed(2, 'A')]);
    afterFirstStep(store.shard(store.shardOf('A', 'x')), 'shift', async () => {
      expect(await store.operate(['orders/0/1'], 'doom')).toEqual(['doomed']);
      const [doomed] = await claimAll(); // a worker writes its dead letter, then kills it
      expect([doomed!.id, doomed!.doomed]).toEqual(['orders/0/1', 'killed-by-operator']);
      expect(await store.kill([{ ...lease(doomed!), error: null }], 'release', true)).toEqual(['ok']);
      expect(await runAll()).toEqual(['orders/0/2']);
    });
    await store.shift(20);
    await sleep(40);
    expect((await claimAll()).map((t) => t.id), 'claimed after the shift').toEqual([]);
    expect((await store.shard(store.shardOf('A', 'x')).get(['orders/0/1']))[0]).toMatchObject({ state: 'dead' });
  });

  it('shift racing retry-now: a task made due now between two steps of a shift is held by one worker only', async () => {
    await store.schedule([failed(1, 'A')]);
    let first: ClaimedTask | undefined;
    afterFirstStep(store.shard(store.shardOf('A', 'x')), 'shift', async () => {
      expect(await store.operate(['orders/0/1'], 'requeue')).toEqual(['due-now']);
      [first] = await claimAll();
      expect(first!.id).toBe('orders/0/1');
    });
    await store.shift(20);
    await sleep(40);
    expect((await claimAll()).map((t) => t.id), 'claimed by a second worker while the first holds it').toEqual([]);
    expect(await store.ack([lease(first!)])).toEqual(['ok']);
  });

  it('an interrupted shift strands nothing: every task stays listed and comes due, and running it again finishes', async () => {
    await store.schedule([failed(1, null), failed(2, null), failed(3, null), failed(4, null)]);
    const steps = oneByOne(store);
    for (let s = 0; s < 2; s++) {
      afterFirstStep(steps.shard(s), 'shift', async () => {
        throw new Error('Redis went away between two steps');
      });
    }
    await expect(steps.shift(30)).rejects.toThrow('Redis went away');
    const listed = [];
    for await (const t of scan(store, { states: ['due', 'inflight', 'waiting', 'dead', 'paused'] })) listed.push(t.id);
    expect(listed.sort(), 'tasks zretry list shows').toEqual(['orders/0/1', 'orders/0/2', 'orders/0/3', 'orders/0/4']);
    await sleep(50);
    expect((await claimAll()).map((t) => t.id).sort(), 'tasks claimed once due').toEqual(['orders/0/1', 'orders/0/2', 'orders/0/3', 'orders/0/4']);
    await store.schedule([failed(5, null), failed(6, null)]);
    await oneByOne(store).shift(30); // run again, uninterrupted
    await sleep(50);
    expect((await claimAll()).map((t) => t.id).sort()).toEqual(['orders/0/5', 'orders/0/6']);
    expect((await store.stats()).total).toMatchObject({ dueNow: 0, dueLater: 0 });
  });

  it('the next shift returns the tasks an interrupted shift of an older zretry stranded in the shifting set, and only those still due', async () => {
    const one = await freshStore(1);
    try {
      const keys = shardKeys(one.namespace, 0);
      // as the two-phase shift left them: moved out of the due set, state still due; one killed and one claimed since
      await one.store.schedule([failed(2, 'B'), failed(3, 'C')]);
      const [t2, t3] = (await one.store.claim(0, 2, 10_000)).tasks;
      await one.store.kill([{ ...lease(t2!), error: null }], 'release', true);
      await one.store.schedule([failed(1, 'A')]);
      await one.redis.zrem(keys[0]!, 'orders/0/1');
      const strandedAt = (await one.store.shard(0).stats()).now - 1_000;
      await one.redis.zadd(keys[9]!, strandedAt, 'orders/0/1', strandedAt, 'orders/0/2', strandedAt, 'orders/0/3');
      expect((await one.store.stats()).total.dueLater, 'stats counts stranded tasks as due later').toBe(3);
      expect(await one.store.shift(20)).toBe(1);
      expect(await one.redis.zcard(keys[9]!)).toBe(0);
      const [back] = (await one.store.shard(0).list('due', 0, 10)).tasks;
      expect([back!.id, back!.at]).toEqual(['orders/0/1', strandedAt + 20]);
      expect((await one.store.shard(0).get(['orders/0/2']))[0]).toMatchObject({ state: 'dead' });
      expect(await one.store.ack([lease(t3!)])).toEqual(['ok']);
      expect((await one.store.claim(0, 10, 10_000)).tasks.map((t) => t.id)).toEqual(['orders/0/1']);
    } finally {
      await one.close();
    }
  });

  it('a shift step refuses a push that is not a whole number of ms above 0; zretry shift 0 moves nothing', async () => {
    await store.schedule([failed(1, null)]);
    await expect(store.shard(0).shift(0, '+inf', 10)).rejects.toThrow('shift needs deltaMs, a whole number > 0 (got 0)');
    expect(await store.shift(0.2)).toBe(0);
    expect((await claimAll()).map((t) => t.id)).toEqual(['orders/0/1']);
  });

  it('dead replay keeps a held aggregate in order: A1 died, unhold, A2 died, replay both: A1 to A4 run in order', async () => {
    await store.schedule([failed(1, 'A'), failed(2, 'A'), failed(3, 'A'), failed(4, 'A')]);
    const sh = store.shard(store.shardOf('A', 'x'));
    const [a1] = await claimAll();
    await store.kill([{ ...lease(a1!), error: { class: 'E', message: 'a1' } }], 'hold', true);
    expect(await sh.unhold(['A'])).toEqual(['released']);
    const [a2] = await claimAll();
    expect(a2!.id).toBe('orders/0/2');
    await store.kill([{ ...lease(a2!), error: { class: 'E', message: 'a2' } }], 'hold', true);
    // zretry dead replay --all
    const ids = await deadIds();
    await applyOp(store, ids, 'requeue');
    expect(await runAll()).toEqual(['orders/0/1', 'orders/0/2', 'orders/0/3', 'orders/0/4']);
  });

  it('tasks of an aggregate that died in the same millisecond replay in queue order, not id order (orders/0/9 before orders/0/10)', async () => {
    await store.schedule([failed(9, 'A'), failed(10, 'A')]);
    const sh = store.shard(store.shardOf('A', 'x'));
    for (let i = 0; i < 2; i++) {
      const [t] = await claimAll();
      await store.kill([{ ...lease(t!), error: null }], 'release', true);
    }
    // two deaths within one millisecond, as a fast worker makes them: the dead set then orders them by id bytes
    const deadKey = shardKeys(store.options.namespace, sh.shard)[6]!;
    await store.redis.zadd(deadKey, 'XX', 1_700_000_000_000, 'orders/0/9', 1_700_000_000_000, 'orders/0/10');
    const ids = await deadIds();
    expect(ids).toEqual(['orders/0/10', 'orders/0/9']);
    await applyOp(store, ids, 'requeue');
    expect(await runAll()).toEqual(['orders/0/9', 'orders/0/10']);
  });

  /** A one-shard store holding back orders/0/1 (topic a), orders/0/2 and orders/0/3 (topic b), in this order, by two topic pauses. */
  async function heldByTwoPauses(): Promise<Awaited<ReturnType<typeof freshStore>>> {
    const topic = (offset: number, t: string) => ({ ...failed(offset, null), record: { ...failed(offset, null).record, topic: t } });
    const one = await freshStore(1);
    // due 0, 1 and 2 ms from now: held in this order
    await one.store.schedule([{ ...topic(1, 'a'), delayMs: 0 }, { ...topic(2, 'b'), delayMs: 1 }, { ...topic(3, 'b'), delayMs: 2 }]);
    await one.store.pause('topic:a');
    await one.store.pause('topic:b');
    await sleep(5);
    expect((await one.store.claim(0, 10, 10_000)).tasks).toEqual([]);
    expect((await one.store.stats()).total.paused).toBe(3);
    return one;
  }

  it('resume goes through every held task even when another is removed between its steps', async () => {
    const one = await heldByTwoPauses();
    try {
      const steps = oneByOne(one.store);
      afterFirstStep(steps.shard(0), 'resume', async () => {
        expect(await one.store.operate(['orders/0/1'], 'skip')).toEqual(['deleted']);
      });
      await steps.resume('topic:b');
      expect((await one.store.stats()).total.paused, 'tasks left held with no pause on').toBe(0);
      expect((await one.store.claim(0, 10, 10_000)).tasks.map((t) => t.id)).toEqual(['orders/0/2', 'orders/0/3']);
    } finally {
      await one.close();
    }
  });

  it('a resume stopped between two steps strands nothing for good: any later resume moves back what no pause holds', async () => {
    const one = await heldByTwoPauses();
    try {
      const steps = oneByOne(one.store);
      afterFirstStep(steps.shard(0), 'resume', async () => {
        throw new Error('Ctrl-C');
      });
      await expect(steps.resume('topic:b')).rejects.toThrow('Ctrl-C');
      expect((await one.store.stats()).pauses).toEqual(['topic:a']);
      expect(await one.store.resume('topic:never-paused')).toBe(2);
      expect((await one.store.stats()).total.paused).toBe(1);
      expect((await one.store.claim(0, 10, 10_000)).tasks.map((t) => t.id)).toEqual(['orders/0/2', 'orders/0/3']);
    } finally {
      await one.close();
    }
  });

  it('purge keeps fencing tokens growing: a lease from before the purge is refused after it', async () => {
    await store.schedule([failed(1, null)]);
    const [old] = await claimAll();
    expect((await purge(store, { yes: true, dryRun: false, asker: { interactive: false, ask: async () => '' } })).code).toBe(0);
    await store.schedule([failed(1, null)]); // the same record fails again after the purge
    const [fresh] = await claimAll();
    expect(fresh!.id).toBe(old!.id);
    expect(await store.ack([lease(old!)]), 'ack of a lease taken before the purge').toEqual(['lease-lost']);
    expect(await store.ack([lease(fresh!)])).toEqual(['ok']);
  });
});
