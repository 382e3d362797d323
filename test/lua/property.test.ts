/**
 * Random interleavings of schedule / admit / claim / ack / retry / kill /
 * release / reap across several workers, with leases that run out, against
 * the real Redis. Claims take chains (a head with the tasks queued behind
 * it); an ack settles a chain's prefix and what becomes of the follower
 * that failed (due again, or handed over in flight); a worker may crash
 * holding chains (it forgets them: their leases run out). After every step
 * and at the end:
 *   - at most one task per aggregate is due or in flight;
 *   - an outcome is accepted only with the current token of a live task;
 *   - each aggregate's records succeed in the order they were stored;
 *   - dedup holds: a stored id is never stored twice;
 *   - nothing is lost: draining the store accounts for every stored id.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { shardKeys } from '../../src/store/keys.js';
import type { ClaimedTask, FollowerPolicy } from '../../src/store/task.js';
import { freshStore, record } from './fixtures.js';

type Op =
  | { op: 'schedule'; aggs: number[] }
  | { op: 'admit'; aggs: number[] }
  | { op: 'redeliver' }
  | { op: 'claim'; worker: number; n: number; leaseMs: number; chain: number }
  | { op: 'ack'; worker: number; pick: number; ok: number; tail: 'none' | 'retry' | 'handover' }
  | { op: 'retry' | 'release'; worker: number; pick: number }
  | { op: 'crash'; worker: number }
  | { op: 'kill'; worker: number; pick: number; policy: FollowerPolicy }
  | { op: 'wait'; ms: number }
  | { op: 'reap' };

const AGGS = ['A', 'B', 'C'];
const WORKERS = 3;

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('schedule' as const), aggs: fc.array(fc.integer({ min: -1, max: 2 }), { minLength: 1, maxLength: 4 }) }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant('admit' as const), aggs: fc.array(fc.integer({ min: -1, max: 2 }), { minLength: 1, maxLength: 4 }) }), weight: 2 },
  { arbitrary: fc.constant({ op: 'redeliver' as const }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('claim' as const), worker: fc.nat(WORKERS - 1), n: fc.integer({ min: 1, max: 4 }), leaseMs: fc.constantFrom(15, 15, 5000), chain: fc.constantFrom(0, 1, 3) }), weight: 4 },
  { arbitrary: fc.record({ op: fc.constant('ack' as const), worker: fc.nat(WORKERS - 1), pick: fc.nat(10), ok: fc.nat(4), tail: fc.constantFrom<'none' | 'retry' | 'handover'>('none', 'retry', 'handover') }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constantFrom('retry' as const, 'release' as const), worker: fc.nat(WORKERS - 1), pick: fc.nat(10) }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('crash' as const), worker: fc.nat(WORKERS - 1) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('kill' as const), worker: fc.nat(WORKERS - 1), pick: fc.nat(10), policy: fc.constantFrom<FollowerPolicy>('release', 'dead-letter') }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('wait' as const), ms: fc.constantFrom(5, 25) }), weight: 2 },
  { arbitrary: fc.constant({ op: 'reap' as const }), weight: 1 },
);

async function runScenario(ops: Op[]): Promise<void> {
  const { store, redis, namespace, close } = await freshStore(1);
  const keys = shardKeys(namespace, 0);
  try {
    let nextOffset = 0;
    const aggOf = new Map<string, string | null>();
    const seqOf = new Map<string, number>(); // order in which ids were stored
    let nextSeq = 0;
    const stored = new Set<string>();
    const finished = new Set<string>(); // acked or killed
    const succeeded = new Map<string, Array<{ id: string; seq: number }>>(); // agg -> successes in order, with the storage seq they had
    const latestToken = new Map<string, string>();
    const held: ClaimedTask[][] = Array.from({ length: WORKERS }, () => []);
    const lastFresh: { id: string; agg: string | null }[] = [];

    const note = (id: string, agg: string | null, outcome: string) => {
      if (outcome === 'duplicate') {
        expect(stored.has(id), `duplicate answered for ${id} that was never stored`).toBe(true);
        return;
      }
      if (outcome === 'scheduled' || outcome === 'queued' || outcome === 'parked') {
        expect(stored.has(id), `${id} stored twice`).toBe(false);
        stored.add(id);
        aggOf.set(id, agg);
        seqOf.set(id, nextSeq++);
      }
    };

    const leaseEnds = new Map<string, number>(); // token -> local time its lease runs out
    const checkOutcome = (t: ClaimedTask, code: string, what: string) => {
      const current = latestToken.get(t.id) === t.token && !finished.has(t.id);
      if (code === 'ok') expect(current, `${what} accepted with a stale token for ${t.id}`).toBe(true);
      else {
        // a current token may be refused only once its lease ran out (a claim or reap took it back)
        const expired = Date.now() >= (leaseEnds.get(t.token) ?? Infinity) - 2;
        expect(current && !expired, `${what} refused (${code}) for ${t.id} holding the current, unexpired lease`).toBe(false);
      }
      return code === 'ok';
    };

    const checkOnePerAggregate = async () => {
      const live = [...(await redis.zrange(keys[0]!, 0, -1)), ...(await redis.zrange(keys[1]!, 0, -1))];
      const perAgg = new Map<string, number>();
      for (const id of live) {
        const agg = aggOf.get(id);
        expect(agg, `unknown id ${id} in the store`).not.toBeUndefined();
        if (agg) perAgg.set(agg, (perAgg.get(agg) ?? 0) + 1);
      }
      for (const [agg, n] of perAgg) expect(n, `aggregate ${agg} has ${n} tasks due or in flight`).toBeLessThanOrEqual(1);
    };

    /** Stores records admit said must park (attempt 0), as the consumer's schedule call does. */
    const park = async (entries: { id: string; aggregateId: string | null }[]) => {
      if (entries.length === 0) return;
      const out = await store.schedule(entries.map((e) => ({ id: e.id, aggregateId: e.aggregateId, delayMs: 0, attempt: 0, error: null, record: record(0) })));
      entries.forEach((e, i) => note(e.id, e.aggregateId, out[i]!));
    };

    const takeHeld = (worker: number, pick: number): ClaimedTask | undefined => {
      const list = held[worker]!;
      if (list.length === 0) return undefined;
      return list.splice(pick % list.length, 1)[0];
    };

    const succeed = (t: ClaimedTask) => {
      finished.add(t.id);
      const agg = aggOf.get(t.id);
      if (agg) succeeded.set(agg, [...(succeeded.get(agg) ?? []), { id: t.id, seq: seqOf.get(t.id)! }]);
    };

    for (const o of ops) {
      switch (o.op) {
        case 'schedule': {
          const tasks = o.aggs.map((a) => {
            const off = nextOffset++;
            return { id: `t/${off}`, aggregateId: a < 0 ? null : AGGS[a]!, delayMs: 0, attempt: 1, error: null, record: record(off) };
          });
          const out = await store.schedule(tasks);
          tasks.forEach((t, i) => note(t.id, t.aggregateId, out[i]!));
          break;
        }
        case 'admit': {
          // as the consumer does: admit, then park what must wait with one schedule call
          const entries = o.aggs.map((a) => ({ kind: 'fresh' as const, id: `t/${nextOffset++}`, aggregateId: a < 0 ? null : AGGS[a]! }));
          const out = (await store.admit(entries, 5000)).map((r) => r.outcome);
          await park(entries.filter((_, i) => out[i] === 'park'));
          entries.forEach((e, i) => {
            if (out[i] === 'go') lastFresh.push({ id: e.id, agg: e.aggregateId });
          });
          break;
        }
        case 'redeliver': {
          // a record re-read after a crash: while its task lives it must be a duplicate;
          // once finished, it is a new delivery (dedup covers live and dead tasks, not finished ones)
          const ids = [...stored].slice(-2);
          const entries = ids.map((id) => ({ kind: 'fresh' as const, id, aggregateId: aggOf.get(id) ?? null }));
          const out = (await store.admit(entries, 5000)).map((r) => r.outcome);
          ids.forEach((id, i) => expect(out[i] === 'duplicate' || finished.has(id), `re-read of stored ${id} answered ${out[i]}`).toBe(true));
          // a finished one whose aggregate is busy is stored again, behind its aggregate's current head
          for (const e of entries.filter((_, i) => out[i] === 'park')) {
            finished.delete(e.id);
            stored.delete(e.id);
          }
          await park(entries.filter((_, i) => out[i] === 'park'));
          break;
        }
        case 'claim': {
          const claimedAt = Date.now();
          const c = await store.claim(0, o.n, o.leaseMs, o.chain);
          for (const t of c.tasks) {
            leaseEnds.set(t.token, claimedAt + o.leaseMs);
            for (const x of [t, ...(t.followers ?? [])]) {
              expect(stored.has(x.id) && !finished.has(x.id), `claimed ${x.id} that is not live`).toBe(true);
              latestToken.set(x.id, t.token);
            }
            // a chain holds the tasks of one aggregate, in the order they were stored
            const seqs = [t, ...(t.followers ?? [])].map((x) => seqOf.get(x.id)!);
            expect(seqs, `chain of ${t.id} out of order`).toEqual([...seqs].sort((a, b) => a - b));
            expect(new Set([t, ...(t.followers ?? [])].map((x) => aggOf.get(x.id))).size).toBe(1);
            held[o.worker]!.push(t);
          }
          break;
        }
        case 'ack': {
          const t = takeHeld(o.worker, o.pick);
          if (!t) break;
          // the head and the first `ok` followers succeeded; the next failed (or the run stopped there)
          const followers = t.followers ?? [];
          const ok = followers.slice(0, Math.min(o.ok, followers.length));
          const failedOne = followers[ok.length];
          const tail = failedOne && o.tail !== 'none' ? (o.tail === 'retry' ? { kind: 'retry' as const, id: failedOne.id, delayMs: 0, error: { class: 'E', message: 'x' } } : { kind: 'handover' as const, id: failedOne.id }) : undefined;
          const [r] = await store.ackChains([{ id: t.id, shard: 0, token: t.token, followers: ok.map((f) => f.id), tail }], 60_000);
          if (!checkOutcome(t, r!.outcome, 'ack')) {
            expect(r!.acked, 'followers acked under a refused head').toBe(0);
            break;
          }
          expect(r!.acked, `followers of the current chain ${t.id} refused`).toBe(ok.length);
          expect(r!.tailApplied).toBe(tail !== undefined);
          succeed(t);
          ok.forEach(succeed);
          if (tail?.kind === 'handover') {
            leaseEnds.set(t.token, Date.now() + 60_000);
            held[o.worker]!.push({ ...failedOne!, followers: undefined });
          }
          break;
        }
        case 'crash':
          // the worker dies holding its chains: nothing is acked, the leases run out
          held[o.worker]!.splice(0);
          break;
        case 'retry': {
          const t = takeHeld(o.worker, o.pick);
          if (!t) break;
          const [code] = await store.retry([{ id: t.id, shard: 0, token: t.token, delayMs: 0, error: { class: 'E', message: 'again' } }]);
          checkOutcome(t, code!, 'retry');
          break;
        }
        case 'release': {
          const t = takeHeld(o.worker, o.pick);
          if (!t) break;
          const [code] = await store.release([{ id: t.id, shard: 0, token: t.token }]);
          checkOutcome(t, code!, 'release');
          break;
        }
        case 'kill': {
          const t = takeHeld(o.worker, o.pick);
          if (!t) break;
          const [code] = await store.kill([{ id: t.id, shard: 0, token: t.token, error: null }], o.policy, false);
          if (checkOutcome(t, code!, 'kill')) finished.add(t.id);
          break;
        }
        case 'wait':
          await new Promise((r) => setTimeout(r, o.ms));
          break;
        case 'reap':
          await store.shard(0).reap(100);
          break;
      }
      await checkOnePerAggregate();
    }

    // Drain: a fresh worker acks everything until the store is empty.
    // Every worker reports success on what it still holds: the current
    // holders finish, stale holders are refused.
    for (const list of held) {
      for (const t of list.splice(0)) {
        const [code] = await store.ack([{ id: t.id, shard: 0, token: t.token }]);
        if (checkOutcome(t, code!, 'final ack')) succeed(t);
      }
    }
    for (let round = 0; round < 10_000; round++) {
      const claimedAt = Date.now();
      const c = await store.claim(0, 10, 60_000, 3);
      for (const t of c.tasks) leaseEnds.set(t.token, claimedAt + 60_000);
      if (c.tasks.length === 0) {
        const s = (await store.stats()).total;
        if (s.inflight === 0) break;
        await new Promise((r) => setTimeout(r, 20)); // long leases from the ops: wait for reap
        continue;
      }
      for (const t of c.tasks) {
        const followers = t.followers ?? [];
        for (const x of [t, ...followers]) latestToken.set(x.id, t.token);
        const [r] = await store.ackChains([{ id: t.id, shard: 0, token: t.token, followers: followers.map((f) => f.id) }]);
        if (checkOutcome(t, r!.outcome, 'drain ack')) {
          expect(r!.acked).toBe(followers.length);
          succeed(t);
          followers.forEach(succeed);
        }
      }
      await checkOnePerAggregate();
    }

    // nothing lost: every stored id finished
    const lost = [...stored].filter((id) => !finished.has(id));
    expect(lost, 'stored ids never acked nor killed').toEqual([]);
    expect((await store.stats()).total).toMatchObject({ dueNow: 0, dueLater: 0, inflight: 0, queued: 0, blockedAggregates: 0 });
    // order per aggregate: successes follow storage order
    for (const [agg, done] of succeeded) {
      const seqs = done.map((d) => d.seq);
      expect(seqs, `aggregate ${agg} succeeded out of order: ${done.map((d) => d.id).join(', ')}`).toEqual([...seqs].sort((a, b) => a - b));
    }
  } finally {
    await close();
  }
}

describe('scheduler invariants under random interleavings (fast-check)', () => {
  it('holds no-loss, one-per-aggregate, order, dedup and fencing', async () => {
    await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 60 }), runScenario), { numRuns: 80, ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}) });
  }, 240_000);
});
