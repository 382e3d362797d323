/**
 * Dispatch control against the real Redis: grant-4.lua (token buckets on
 * Redis's clock, the breaker's transitions, throttles, the ramp),
 * control-4.lua (the operator's limits and forced breakers) and the claim's
 * held set (claim-11.lua): held tasks are moved once and come back first.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BreakerArgs, ControlReport } from '../../src/store/scripts.js';
import type { RedisClient } from '../../src/store/client.js';
import type { TaskStore } from '../../src/store/store.js';
import type { NewTask } from '../../src/store/task.js';
import { sleep } from '../../src/util/sleep.js';
import { failed, freshStore, record } from './fixtures.js';

let store: TaskStore;
let redis: RedisClient;
let namespace: string;
let close: () => Promise<void>;
beforeEach(async () => {
  ({ store, redis, namespace, close } = await freshStore(1));
});
afterEach(async () => close());

const BREAKER: BreakerArgs = { enabled: true, failureRate: 0.5, minAttempts: 4, windowMs: 10_000, probeIntervalMs: 1_000, rampStartRate: 5, rampDoublingMs: 1_000, rampEndRate: 100 };
const none = (): ControlReport => ({ outcomes: new Map(), refunds: new Map(), throttles: new Map() });
const report = (r: Partial<ControlReport>): ControlReport => ({ ...none(), ...r });

/** A task of topic with last error class cls. */
function taskOf(offset: number, topic: string, cls: string): NewTask {
  return { ...failed(offset, `agg-${offset}`), record: { ...record(offset), topic }, error: { class: cls, message: 'x' } };
}

describe('grant: token buckets', () => {
  it('grants at most the bucket, then tokens come back at the rate on Redis clock', async () => {
    // slow enough that the machine's own pauses between calls (a shared CI box) do not refill the bucket
    await store.control.setLimit('all', 10, 10);
    const g1 = await store.control.grant(50, BREAKER, none());
    expect(g1.grants.get('all')).toBe(10);
    expect(g1.states.get('all')).toBe('limit');
    const g2 = await store.control.grant(50, BREAKER, none());
    expect(g2.grants.get('all')).toBe(0);
    // a useful batch (half the bucket) is 5 tokens: 500 ms at 10/s
    expect(g2.nextAll! - g2.now).toBeGreaterThan(0);
    expect(g2.nextAll! - g2.now).toBeLessThanOrEqual(500);
    await sleep(1_100);
    const g3 = await store.control.grant(50, BREAKER, none());
    expect(g3.grants.get('all')).toBe(10);
  });

  it('refunded tokens are granted again; a cleared limit leaves no state', async () => {
    await store.control.setLimit('topic:a', 0.1, 3);
    expect((await store.control.grant(5, BREAKER, none())).grants.get('topic:a')).toBe(3);
    expect((await store.control.grant(5, BREAKER, report({ refunds: new Map([['topic:a', 2]]) }))).grants.get('topic:a')).toBe(2);
    expect(await store.control.clearLimit('topic:a')).toBe(true);
    const g = await store.control.grant(5, BREAKER, none());
    expect(g.states.size).toBe(0);
    expect((await store.control.view()).log.map((l) => l.to)).toEqual(['limit-cleared', 'limit-set']);
  });
});

describe('control: setting a limit again', () => {
  it('the same limit set again keeps its bucket (no extra burst); a changed one starts full', async () => {
    await store.control.setLimit('topic:a', 0.1, 5);
    expect((await store.control.grant(10, BREAKER, none())).grants.get('topic:a')).toBe(5);
    expect(await store.control.setLimit('topic:a', 0.1, 5)).toBe(false);
    expect((await store.control.grant(10, BREAKER, none())).grants.get('topic:a')).toBe(0);
    expect(await store.control.setLimit('topic:a', 0.1, 4)).toBe(true);
    expect((await store.control.grant(10, BREAKER, none())).grants.get('topic:a')).toBe(4);
  });
});

describe('claim with allowances: the held set', () => {
  it('holds tasks of a scope without tokens once, claims the others, and takes held ones first when tokens come', async () => {
    await store.schedule([taskOf(1, 'a', 'E'), taskOf(2, 'a', 'E'), taskOf(3, 'b', 'E'), taskOf(4, 'a', 'E')]);
    const c1 = await store.claim(0, 10, 10_000, 0, 100, new Map([['topic:a', 1]]));
    expect(c1.tasks.map((t) => t.id).sort()).toEqual(['orders/0/1', 'orders/0/3']);
    expect(c1.used.get('topic:a')).toBe(1);
    expect(c1.held).toBe(2);
    const stats = await store.stats();
    expect(stats.total).toMatchObject({ held: 2, dueNow: 0 });
    expect((await store.shard(0).list('held', 0, 10)).tasks.map((t) => [t.id, t.state])).toEqual([['orders/0/2', 'held'], ['orders/0/4', 'held']]);
    // no tokens: nothing is read again (the due set is empty, the held scope has none)
    const c2 = await store.claim(0, 10, 10_000, 0, 100, new Map([['topic:a', 0]]));
    expect([c2.tasks.length, c2.held]).toEqual([0, 2]);
    // one token: the oldest held task
    const c3 = await store.claim(0, 10, 10_000, 0, 100, new Map([['topic:a', 1]]));
    expect(c3.tasks.map((t) => t.id)).toEqual(['orders/0/2']);
    // a plain claim (no grant of this round) leaves held tasks held, and says it found some
    const plain = await store.claim(0, 10, 10_000);
    expect([plain.tasks.length, plain.held]).toEqual([0, 1]);
    // a grant that limits nothing any more: the rest comes back by itself
    const c4 = await store.claim(0, 10, 10_000, 0, 100, new Map());
    expect(c4.tasks.map((t) => t.id)).toEqual(['orders/0/4']);
    expect(c4.held).toBe(0);
  });

  it('a task held by its topic and limited by its error class is held again under the class; a skipped held task leaves nothing held', async () => {
    await store.schedule([taskOf(1, 'a', 'E'), taskOf(2, 'a', 'E')]);
    await store.claim(0, 10, 10_000, 0, 100, new Map([['topic:a', 0]]));
    expect(await store.operate(['orders/0/2'], 'skip')).toEqual(['deleted']);
    // retry-now makes a held task due now; the claim below holds it again (its class has no token)
    expect(await store.operate(['orders/0/1'], 'requeue')).toEqual(['due-now']);
    const c = await store.claim(0, 10, 10_000, 0, 100, new Map([['topic:a', 5], ['error:E', 0]]));
    expect(c.tasks).toEqual([]);
    expect((await store.shard(0).list('held', 0, 10)).tasks.map((t) => t.id)).toEqual(['orders/0/1']);
    const all = await store.claim(0, 10, 10_000, 0, 100, new Map());
    expect(all.tasks.map((t) => [t.id, t.attempt])).toEqual([['orders/0/1', 1]]);
  });

  it('every held scope is reached: a scope with tokens directly, a scope no longer limited in turn, however many scopes without tokens sort before it', async () => {
    const classes = Array.from({ length: 17 }, (_, i) => `E${String(i).padStart(2, '0')}`);
    await store.schedule([...classes.map((c, i) => taskOf(i, 'a', c)), taskOf(100, 'zz', 'Q'), taskOf(101, 'zz', 'Q')]);
    const allow = new Map<string, number>(classes.map((c) => [`error:${c}`, 0]));
    allow.set('topic:zz', 0);
    expect((await store.claim(0, 30, 10_000, 0, 100, allow)).held).toBe(19);
    // topic:zz has a token now; the 17 classes sort before it (error:* < topic:*) and have none
    allow.set('topic:zz', 1);
    const c2 = await store.claim(0, 10, 10_000, 0, 100, allow);
    expect(c2.tasks.map((t) => t.id)).toEqual(['orders/0/100']);
    expect(c2.heldScopes).toContain('topic:zz');
    // topic:zz's limit is cleared: its held task is found in turn, within two claims
    allow.delete('topic:zz');
    let cursor = c2.heldCursor;
    const got: string[] = [];
    for (let i = 0; i < 2 && got.length === 0; i++) {
      const c = await store.claim(0, 10, 10_000, 0, 100, allow, cursor);
      got.push(...c.tasks.map((t) => t.id));
      cursor = c.heldCursor;
    }
    expect(got).toEqual(['orders/0/101']);
    expect((await store.claim(0, 10, 10_000, 0, 100, allow, cursor)).held).toBe(17);
  });

  it('a skipped held task leaves no member behind, and a task named by two members is claimed once', async () => {
    const a = taskOf(1, 'a', 'E');
    await store.schedule([a]);
    expect((await store.claim(0, 10, 10_000, 0, 100, new Map([['topic:a', 0]]))).held).toBe(1);
    expect(await store.operate([a.id], 'skip')).toEqual(['deleted']);
    expect((await store.stats()).total).toMatchObject({ held: 0 });
    // the same message scheduled again (read again after a rebalance), held again at another due time
    await store.schedule([{ ...a, delayMs: 5 }]);
    await sleep(20);
    expect((await store.claim(0, 10, 10_000, 0, 100, new Map([['topic:a', 0]]))).held).toBe(1);
    const c = await store.claim(0, 10, 10_000, 0, 100, new Map([['topic:a', 5]]));
    expect(c.tasks.map((t) => t.id)).toEqual([a.id]);
    expect(c.used.get('topic:a')).toBe(1);
    expect(c.held).toBe(0);
  });

  it('a task named by a stale held member and a current one is claimed once in one call', async () => {
    const a = taskOf(1, 'a', 'E');
    await store.schedule([a]);
    await store.claim(0, 10, 10_000, 0, 100, new Map([['topic:a', 0]]));
    // a stale member (left by an older zretry's skip) for the same id, at an earlier due time
    await redis.zadd(`{${namespace}:0}:held`, 0, `topic:a\0${'0'.repeat(13)}\0${a.id}`);
    const c = await store.claim(0, 10, 10_000, 0, 100, new Map([['topic:a', 5]]));
    expect(c.tasks.map((t) => t.id)).toEqual([a.id]);
    expect(c.held).toBe(0);
  });

  it('doom and retry-now reach held tasks: a doomed held task is claimed for its dead letter even under a forced-open breaker', async () => {
    await store.schedule([taskOf(1, 'a', 'Down'), taskOf(2, 'a', 'Down')]);
    const forced = new Map([['error:Down', 0]]);
    expect((await store.claim(0, 10, 10_000, 0, 100, forced)).held).toBe(2);
    expect(await store.operate(['orders/0/1'], 'doom')).toEqual(['doomed']);
    const c = await store.claim(0, 10, 10_000, 0, 100, forced);
    expect(c.tasks.map((t) => [t.id, t.doomed])).toEqual([['orders/0/1', 'killed-by-operator']]);
    expect(c.held).toBe(1);
    // retry-now: due at once, and held again by the next claim while the breaker has no token
    expect(await store.operate(['orders/0/2'], 'requeue')).toEqual(['due-now']);
    expect((await store.stats()).total).toMatchObject({ held: 0, dueNow: 1 });
    expect((await store.claim(0, 10, 10_000, 0, 100, forced)).held).toBe(1);
  });

  it('retry with keepAttempt puts a task back without counting the attempt', async () => {
    await store.schedule([taskOf(1, 'a', 'E')]);
    const [t] = (await store.claim(0, 10, 10_000)).tasks;
    expect(await store.retry([{ id: t!.id, shard: 0, token: t!.token, delayMs: 0, error: { class: 'E', message: 'again' }, keepAttempt: true }])).toEqual(['ok']);
    const [again] = (await store.claim(0, 10, 10_000)).tasks;
    expect(again!.attempt).toBe(t!.attempt);
  });
});

describe('grant: the breaker', () => {
  it('opens on the failure rate, probes one task at a time, closes on a success, ramps, and logs every transition', async () => {
    const fails = report({ outcomes: new Map([['error:Down', { ok: 0, fail: 4 }]]) });
    const g1 = await store.control.grant(0, BREAKER, fails);
    expect(g1.transitions.map((t) => [t.scope, t.to])).toEqual([['error:Down', 'opened']]);
    expect(g1.states.get('error:Down')).toBe('open');
    expect((await store.control.grant(10, BREAKER, none())).grants.get('error:Down')).toBe(0);
    await sleep(1_100);
    const probe = await store.control.grant(10, BREAKER, none());
    expect(probe.grants.get('error:Down')).toBe(1);
    expect(probe.transitions.map((t) => t.to)).toEqual(['probe']);
    // only one probe per interval
    expect((await store.control.grant(10, BREAKER, none())).grants.get('error:Down')).toBe(0);
    // the probe failed: still open
    expect((await store.control.grant(0, BREAKER, report({ outcomes: new Map([['error:Down', { ok: 0, fail: 1 }]]) }))).states.get('error:Down')).toBe('open');
    await sleep(1_100);
    expect((await store.control.grant(10, BREAKER, none())).grants.get('error:Down')).toBe(1);
    // a success that was no probe (a task under way when it opened) does not close it
    expect((await store.control.grant(0, BREAKER, report({ outcomes: new Map([['error:Down', { ok: 1, fail: 0 }]]) }))).states.get('error:Down')).toBe('open');
    const closed = await store.control.grant(10, BREAKER, report({ outcomes: new Map([['error:Down', { ok: 1, fail: 0, probeOk: 1 }]]) }));
    expect(closed.transitions.map((t) => [t.to, t.probes])).toEqual([['closed', 2]]);
    expect(closed.states.get('error:Down')).toBe('ramp');
    // the ramp starts at 5/s with a bucket of 1
    expect(closed.grants.get('error:Down')).toBeLessThanOrEqual(1);
  });

  it('a partial outage does not flap: successes that are no probe do not close an open breaker', async () => {
    // worker A: 55 of 60 failed, it opens; worker B reports a little later what it dispatched before it heard, 9 of 10 failing
    const a = await store.control.grant(0, BREAKER, report({ outcomes: new Map([['error:Down', { ok: 5, fail: 55 }]]) }), { id: 'A', leaseMs: 2_000, running: new Map() });
    expect(a.transitions.map((t) => t.to)).toEqual(['opened']);
    const b = await store.control.grant(0, BREAKER, report({ outcomes: new Map([['error:Down', { ok: 1, fail: 9 }]]) }), { id: 'B', leaseMs: 2_000, running: new Map() });
    expect(b.transitions).toEqual([]);
    expect(b.states.get('error:Down')).toBe('open');
  });

  it('does not open below the minimum attempts or when off; an operator can force it open and closed', async () => {
    const g = await store.control.grant(0, BREAKER, report({ outcomes: new Map([['error:X', { ok: 0, fail: 3 }]]) }));
    expect(g.states.size).toBe(0);
    const off = await store.control.grant(0, { ...BREAKER, enabled: false }, report({ outcomes: new Map([['error:Y', { ok: 0, fail: 100 }]]) }));
    expect(off.states.size).toBe(0);
    expect(await store.control.force('topic:t', 'open', 200)).toBe(true);
    await sleep(250);
    const forced = await store.control.grant(5, BREAKER, none());
    expect([forced.states.get('topic:t'), forced.grants.get('topic:t')]).toEqual(['forced-open', 0]);
    expect(await store.control.force('topic:t', 'closed', 200)).toBe(true);
    const closed = await store.control.grant(0, BREAKER, report({ outcomes: new Map([['topic:t', { ok: 0, fail: 100 }]]) }));
    // forced closed: failures do not open it
    expect(closed.states.get('topic:t')).toBe('ramp');
    expect(closed.transitions).toEqual([]);
  });
});

describe('grant: a report is applied once', () => {
  it('a report sent again with its number (its answer was lost) is not counted twice; a newer number is', async () => {
    const w = { id: 'w1', leaseMs: 2_000, running: new Map<string, number>() };
    const fails = report({ outcomes: new Map([['error:Down', { ok: 0, fail: 2 }]]) });
    await store.control.grant(0, BREAKER, fails, { ...w, seq: 1 });
    // the same call again (a client resending it after a reconnect): 4 failures would open the breaker
    const again = await store.control.grant(0, BREAKER, fails, { ...w, seq: 1 });
    expect(again.states.has('error:Down')).toBe(false);
    // refunds too: a bucket of 3, all taken, 2 given back once
    await store.control.setLimit('topic:a', 1, 3);
    expect((await store.control.grant(3, BREAKER, none(), w)).grants.get('topic:a')).toBe(3);
    const refund = report({ refunds: new Map([['topic:a', 2]]) });
    await store.control.grant(0, BREAKER, refund, { ...w, seq: 2 });
    await store.control.grant(0, BREAKER, refund, { ...w, seq: 2 });
    expect((await store.control.grant(5, BREAKER, none(), w)).grants.get('topic:a')).toBe(2);
    // the next report is applied
    const opened = await store.control.grant(0, BREAKER, fails, { ...w, seq: 3 });
    expect(opened.states.get('error:Down')).toBe('open');
  });
});

describe('grant: concurrency per topic', () => {
  it('workers share what is free; a grant counts at once; a worker that stops reporting is forgotten after its lease', async () => {
    await store.control.setLimit('topic:t', null, null, 3);
    const a = { id: 'a', leaseMs: 1_500, running: new Map<string, number>() };
    const b = { id: 'b', leaseMs: 1_500, running: new Map<string, number>() };
    const g1 = await store.control.grant(10, BREAKER, none(), a);
    expect([g1.states.get('topic:t'), g1.grants.get('topic:t')]).toEqual(['concurrency', 3]);
    // a has not run them yet, but they are counted: b gets none
    expect((await store.control.grant(10, BREAKER, none(), b)).grants.get('topic:t')).toBe(0);
    // a runs 2 (one granted was not used): 1 is free
    expect((await store.control.grant(0, BREAKER, none(), { ...a, running: new Map([['topic:t', 2]]) })).states.get('topic:t')).toBe('concurrency');
    expect((await store.control.grant(10, BREAKER, none(), b)).grants.get('topic:t')).toBe(1);
    // a stops reporting (crashed): after its lease its 2 are free again
    await sleep(1_600);
    expect((await store.control.grant(10, BREAKER, none(), { ...b, running: new Map([['topic:t', 1]]) })).grants.get('topic:t')).toBe(2);
  });
});

describe('grant: throttles', () => {
  it('a throttle stops a scope for the wait asked, then ramps', async () => {
    const g = await store.control.grant(5, BREAKER, report({ throttles: new Map([['topic:t', 300]]) }));
    expect(g.states.get('topic:t')).toBe('throttle');
    expect(g.grants.get('topic:t')).toBe(0);
    expect(g.nextAny! - g.now).toBeGreaterThan(250);
    await sleep(350);
    const after = await store.control.grant(5, BREAKER, none());
    expect(after.states.get('topic:t')).toBe('ramp');
  });
});
