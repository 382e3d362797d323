/**
 * Random interleavings against the real Redis of what the consumer does
 * (schedule failures, admit fresh records, re-read records after a crash),
 * what workers do (claim, chains of a head and the tasks queued behind it
 * acked as a prefix with the follower that failed due again or handed over,
 * ack, retry, release, kill with each follower policy, dead-letter writes
 * that fail, leases that run out, reap, a worker crashing holding chains), and
 * what operators do between and during those (retry-now, kill, skip, dead
 * replay, unhold, pause and resume by topic and error class, shift), the
 * commands that move many tasks stepped one small step at a time, and some
 * stopped for good midway. After every step:
 *   - at most one task per aggregate is due, in flight, held by a pause or
 *     held back by a dispatch limit (claims with random token allowances);
 *   - every task is in exactly the set its state says, every waiting task
 *     has a head or a hold in front of it, every held-back task a pause
 *     holding it (or one being resumed), and the shifting set is empty:
 *     nothing is stranded;
 *   - the dead set is exactly the tasks killed and kept, not replayed nor
 *     skipped since: a dead task stays dead unless replayed;
 *   - an outcome is accepted only with the current token of a live task,
 *     and refused with it only once its lease ran out;
 *   - a claimed task is live, has the attempt count it should (a failed
 *     dead-letter write adds none), and no older task of its aggregate is
 *     live, unless that one was replayed behind a head already chosen;
 * and at the end, with the pauses lifted, held aggregates released and the
 * store drained, every stored id was acked, skipped or killed: nothing lost.
 * Half the runs have no pauses and no limits, so heads take their queues
 * along as chains; every operator path and every chain path (a follower
 * failing either way, a worker dying or a lease running out mid-chain) must
 * have been taken (FC_RUNS=300: 20 to 43 times each).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { shardKeys } from '../../src/store/keys.js';
import { decodeTaskValue } from '../../src/store/task-value.js';
import type { ClaimedTask, FollowerPolicy, OperatorOutcome } from '../../src/store/task.js';
import { freshStore, record } from './fixtures.js';

const AGGS = ['A', 'B', 'C'];
const TOPICS = ['orders', 'payments'];
const CLASSES = ['E', 'TypeError'];
const PAUSES = ['all', 'topic:payments', 'error:TypeError'];
const WORKERS = 3;

type Op =
  | { op: 'schedule'; tasks: Array<{ agg: number; topic: number; cls: number }> }
  | { op: 'admit'; aggs: number[] }
  | { op: 'redeliver' }
  | { op: 'claim'; worker: number; n: number; leaseMs: number; chain: number; limits: { topic: number; cls: number } | null }
  | { op: 'ack'; worker: number; pick: number; ok: number; tail: 'none' | 'retry' | 'handover' }
  | { op: 'release'; worker: number; pick: number }
  | { op: 'crash'; worker: number }
  | { op: 'retry'; worker: number; pick: number; cls: number; dies: boolean; keep: boolean }
  | { op: 'kill'; worker: number; pick: number; policy: FollowerPolicy; keep: boolean }
  | { op: 'wait'; ms: number }
  | { op: 'reap' }
  | { op: 'retry-now' | 'doom' | 'skip'; pick: number }
  | { op: 'replay'; all: boolean; pick: number }
  | { op: 'unhold'; agg: number }
  | { op: 'pause'; what: number }
  | { op: 'resume-start'; what: number }
  | { op: 'resume-step' }
  | { op: 'shift-start'; ms: number }
  | { op: 'shift-step' }
  | { op: 'shift-stop' };

const pick = fc.nat(20);
/**
 * The actions of a run. chains: a run without pauses or dispatch limits,
 * where claims take chains with leases that outlast the run as often as not,
 * so a head takes its queue along whenever it has one and the chain paths (a
 * follower failing, a worker dying or a lease running out mid-chain) meet
 * every other action.
 */
const ops = (chains: boolean): fc.Arbitrary<Op> => fc.oneof(
  {
    arbitrary: fc.record({
      op: fc.constant('schedule' as const),
      tasks: fc.array(fc.record({ agg: fc.integer({ min: -1, max: 2 }), topic: fc.nat(1), cls: fc.nat(1) }), { minLength: 1, maxLength: 4 }),
    }),
    weight: 4,
  },
  // a burst of one aggregate (several of its records failing in a row): queues that claims take as chains
  {
    arbitrary: fc.record({
      op: fc.constant('schedule' as const),
      tasks: fc.nat(2).chain((agg) => fc.array(fc.record({ agg: fc.constant(agg), topic: fc.nat(1), cls: fc.nat(1) }), { minLength: 2, maxLength: 5 })),
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ op: fc.constant('admit' as const), aggs: fc.array(fc.integer({ min: -1, max: 2 }), { minLength: 1, maxLength: 4 }) }), weight: 2 },
  { arbitrary: fc.constant({ op: 'redeliver' as const }), weight: 1 },
  {
    arbitrary: fc.record({
      op: fc.constant('claim' as const),
      worker: fc.nat(WORKERS - 1),
      n: fc.integer({ min: 1, max: 4 }),
      leaseMs: chains ? fc.constantFrom(15, 1000) : fc.constantFrom(15, 15, 5000),
      chain: chains ? fc.constant(3) : fc.constantFrom(0, 3, 3),
      // dispatch limits (claim-11.lua): tokens for the first topic and error class; tasks of a scope without any are held
      limits: chains ? fc.constant(null) : fc.option(fc.record({ topic: fc.nat(2), cls: fc.nat(1) }), { freq: 2 }),
    }),
    weight: 5,
  },
  { arbitrary: fc.record({ op: fc.constant('ack' as const), worker: fc.nat(WORKERS - 1), pick, ok: fc.constantFrom(0, 0, 1), tail: fc.constantFrom<'none' | 'retry' | 'handover'>('none', 'retry', 'handover') }), weight: 4 },
  { arbitrary: fc.record({ op: fc.constant('release' as const), worker: fc.nat(WORKERS - 1), pick }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('crash' as const), worker: fc.nat(WORKERS - 1) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('retry' as const), worker: fc.nat(WORKERS - 1), pick, cls: fc.nat(1), dies: fc.boolean(), keep: fc.boolean() }), weight: 2 },
  {
    arbitrary: fc.record({ op: fc.constant('kill' as const), worker: fc.nat(WORKERS - 1), pick, policy: fc.constantFrom<FollowerPolicy>('release', 'dead-letter', 'hold'), keep: fc.constantFrom(true, true, false) }),
    weight: 3,
  },
  { arbitrary: fc.record({ op: fc.constant('wait' as const), ms: fc.constantFrom(5, 25) }), weight: 2 },
  { arbitrary: fc.constant({ op: 'reap' as const }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constantFrom('retry-now' as const, 'doom' as const, 'skip' as const), pick }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant('replay' as const), all: fc.boolean(), pick }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant('unhold' as const), agg: fc.nat(2) }), weight: 2 },
  // 'all' holds nothing back in the paused set (claims just stop): rarer than a topic or error pause
  { arbitrary: fc.record({ op: fc.constant('pause' as const), what: fc.constantFrom(0, 1, 1, 1, 2, 2, 2) }), weight: chains ? 0 : 2 },
  { arbitrary: fc.record({ op: fc.constant('resume-start' as const), what: fc.constantFrom(0, 0, 1, 2) }), weight: 2 },
  { arbitrary: fc.constant({ op: 'resume-step' as const }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('shift-start' as const), ms: fc.constantFrom(10, 30) }), weight: 1 },
  { arbitrary: fc.constant({ op: 'shift-step' as const }), weight: 2 },
  { arbitrary: fc.constant({ op: 'shift-stop' as const }), weight: 1 },
);

/** What the runs must have done between them, so that no path goes unchecked. */
const EVENTS = [
  'resume moved held tasks back',
  'shift moved due times',
  'a dead task replayed',
  'a dead task replayed behind a head',
  'a task killed by an operator died',
  'a dead-letter write failed again',
  'skip deleted a task',
  'unhold released an aggregate',
  'an outcome refused for a lost lease',
  'a limit held tasks back',
] as const;
/** Chain paths: each must be taken too (test/lua/chains.test.ts takes each of them on its own); counted for the report. */
const CHAIN_EVENTS = [
  'a chain acked with its followers',
  'a chain follower failed and was handed over',
  'a chain follower failed and is due again',
  'a worker died holding a chain',
  'a chain refused for a lost lease',
] as const;
const chainSeen = new Map<(typeof CHAIN_EVENTS)[number], number>();
const sawChain = (e: (typeof CHAIN_EVENTS)[number]) => void chainSeen.set(e, (chainSeen.get(e) ?? 0) + 1);
/** The paths no run took yet. */
const missing = (): string[] => [...EVENTS.filter((e) => !seen.has(e)), ...CHAIN_EVENTS.filter((e) => !chainSeen.has(e))];
const seen = new Set<(typeof EVENTS)[number]>();

/** The id in a waiting-set member (lua/includes/waiting.lua): <8 hex: #agg><agg><12 hex: seq><id>. */
function waitingMember(member: string): { agg: string; id: string } {
  const len = parseInt(member.slice(0, 8), 16);
  return { agg: member.slice(8, 8 + len), id: member.slice(8 + len + 12) };
}

async function runScenario(ops: Op[]): Promise<void> {
  const { store, redis, namespace, close } = await freshStore(1);
  const sh = store.shard(0);
  const [dueKey, inflightKey, tasksKey, aggsKey, waitingKey, , deadKey, , pausedKey, shiftingKey, heldKey] = shardKeys(namespace, 0) as [
    string, string, string, string, string, string, string, string, string, string, string,
  ];
  try {
    let nextOffset = 0;
    const aggOf = new Map<string, string | null>();
    const seqOf = new Map<string, number>(); // queue order: the order ids were stored in (a replayed task keeps its own)
    let nextSeq = 0;
    const stored = new Set<string>();
    const finished = new Set<string>(); // acked, skipped, or killed and not kept
    const dead = new Set<string>(); // killed and kept in the dead set
    const mayPass = new Set<string>(); // `${a}>${b}`: a may run while b, older, is live (b was replayed behind head a)
    const attemptOf = new Map<string, number>(); // the attempt count a task's next claim must show
    const doomed = new Set<string>(); // ids an operator killed: their next claim is doomed
    const latestToken = new Map<string, string>();
    const leaseEnds = new Map<string, number>(); // token -> local time its lease runs out
    const held: ClaimedTask[][] = Array.from({ length: WORKERS }, () => []);
    const pauses = new Set<string>();
    const lifting = new Set<string>(); // pauses whose resume began and may not have finished
    let resume: { what: string; after: { score: string; id: string } | null; first: boolean } | null = null;
    let shift: { ms: number; cursor: string } | null = null;

    const live = (id: string) => stored.has(id) && !finished.has(id) && !dead.has(id);

    const note = (id: string, agg: string | null, outcome: string, attempt: number) => {
      if (outcome === 'duplicate') {
        expect(stored.has(id), `duplicate answered for ${id} that was never stored`).toBe(true);
        return;
      }
      if (outcome === 'scheduled' || outcome === 'queued' || outcome === 'parked') {
        expect(live(id) || dead.has(id), `${id} stored twice`).toBe(false);
        stored.add(id);
        finished.delete(id);
        doomed.delete(id);
        aggOf.set(id, agg);
        seqOf.set(id, nextSeq++);
        attemptOf.set(id, attempt);
      }
    };

    const finish = (id: string) => {
      finished.add(id);
      dead.delete(id);
      doomed.delete(id);
    };

    const checkOutcome = (t: ClaimedTask, code: string, what: string) => {
      const current = latestToken.get(t.id) === t.token && live(t.id);
      if (code === 'ok') expect(current, `${what} accepted with a stale token for ${t.id}`).toBe(true);
      else {
        // a current token may be refused only once its lease ran out (a claim or reap took it back)
        const expired = Date.now() >= (leaseEnds.get(t.token) ?? Infinity) - 2;
        expect(current && !expired, `${what} refused (${code}) for ${t.id} holding the current, unexpired lease`).toBe(false);
        if (code === 'lease-lost') seen.add('an outcome refused for a lost lease');
      }
      return code === 'ok';
    };

    /** What Redis holds agrees with the model, and nothing is stranded. */
    const checkStore = async () => {
      const [values, due, inflight, paused, deadSet, shifting, waiting, aggs, active, heldMembers] = await Promise.all([
        redis.hgetallBuffer(tasksKey),
        redis.zrange(dueKey, 0, -1),
        redis.zrange(inflightKey, 0, -1),
        redis.zrange(pausedKey, 0, -1),
        redis.zrange(deadKey, 0, -1),
        redis.zrange(shiftingKey, 0, -1),
        redis.zrange(waitingKey, 0, -1),
        redis.hgetall(aggsKey),
        sh.stats().then((s) => s.pauses),
        redis.zrange(heldKey, 0, -1),
      ]);
      expect(shifting, 'tasks in the shifting set').toEqual([]);
      expect(new Set(active), 'active pauses').toEqual(pauses);
      const inSet = new Map<string, string>();
      const put = (ids: string[], set: string) => {
        for (const id of ids) {
          expect(inSet.get(id), `${id} is in both ${inSet.get(id)} and ${set}`).toBeUndefined();
          inSet.set(id, set);
        }
      };
      const waitingIds = waiting.map(waitingMember);
      put(due, 'd');
      put(inflight, 'f');
      put(paused, 'p');
      put(deadSet, 'x');
      put(waitingIds.map((w) => w.id), 'w');
      // held by a limit (includes/held.lua): '<scope>\0<due>\0<id>'; a member whose task is gone or has moved on is stale, dropped by a later claim
      const heldIds = heldMembers.map((m) => m.split('\0')[2]!);
      const liveHeld = heldIds.filter((id) => values[id] !== undefined && decodeTaskValue(values[id]!).state === 'h');
      put(liveHeld, 'h');
      const state = new Map<string, { state: string; agg: string; topic: string; cls: string }>();
      for (const [id, raw] of Object.entries(values)) {
        const v = decodeTaskValue(raw);
        const err = v.error === '' ? [] : (JSON.parse(v.error) as string[]);
        state.set(id, { state: v.state, agg: v.aggregateId, topic: v.record.subarray(5, 5 + v.record.readUInt32BE(1)).toString(), cls: err[0] ?? '' });
        // a chain's follower ('c') sits in the waiting set
        expect(inSet.get(id), `${id} in state ${v.state} sits in set ${inSet.get(id) ?? 'none'}`).toBe(v.state === 'c' ? 'w' : v.state);
      }
      for (const [id, set] of inSet) expect(state.get(id)?.state === 'c' ? 'w' : state.get(id)?.state, `${id} in set ${set} has no task of that state`).toBe(set);
      // the model: live tasks are stored, dead ones are exactly the dead set, finished ones are gone
      for (const id of stored) {
        if (finished.has(id)) expect(state.has(id), `finished ${id} still stored`).toBe(false);
        else if (dead.has(id)) expect(state.get(id)?.state, `dead ${id}`).toBe('x');
        else expect(['d', 'f', 'p', 'w', 'c', 'h'], `live ${id} is ${state.get(id)?.state ?? 'gone'}`).toContain(state.get(id)?.state);
      }
      expect(deadSet.length, 'dead set size').toBe(dead.size);
      // order: at most one task per aggregate due, in flight or held back; each waiting one has a head or hold
      const running = new Map<string, string>();
      for (const id of [...due, ...inflight, ...paused, ...liveHeld]) {
        const agg = state.get(id)!.agg;
        if (agg === '') continue;
        expect(running.get(agg), `aggregate ${agg} has both ${running.get(agg)} and ${id} due, in flight or held back`).toBeUndefined();
        running.set(agg, id);
        expect(aggs[agg], `${id} runs but is not the head of ${agg}`).toBe(id);
      }
      for (const w of waitingIds) expect(aggs[w.agg], `${w.id} waits in ${w.agg}, which has no head`).not.toBeUndefined();
      for (const [agg, head] of Object.entries(aggs)) {
        if (head !== '') expect(running.get(agg), `head ${head} of ${agg} is not due, in flight nor held back`).toBe(head);
      }
      // every held-back task has a pause holding it, or one whose resume has not finished
      for (const id of paused) {
        const t = state.get(id)!;
        const by = [...pauses, ...lifting];
        expect(by.includes('all') || by.includes(`topic:${t.topic}`) || by.includes(`error:${t.cls}`), `${id} held back by no pause`).toBe(true);
      }
    };

    /** A task the worker holds, or, when it holds none, the next worker that holds one. */
    const takeHeld = (worker: number, n: number): ClaimedTask | undefined => {
      for (let w = 0; w < WORKERS; w++) {
        const list = held[(worker + w) % WORKERS]!;
        if (list.length > 0) return list.splice(n % list.length, 1)[0];
      }
      return undefined;
    };

    const claimed = async (tasks: ClaimedTask[], claimedAt: number, leaseMs: number) => {
      for (const head of tasks) {
        leaseEnds.set(head.token, claimedAt + leaseMs);
        // a chain: the head, then the tasks queued right behind it, in order, under its token
        const chain = [head, ...(head.followers ?? [])];
        chain.forEach((t, k) => {
          expect(live(t.id), `claimed ${t.id} that is not live`).toBe(true);
          expect(t.attempt, `attempt count of ${t.id}`).toBe(attemptOf.get(t.id));
          if (doomed.has(t.id)) expect(t.doomed, `${t.id} killed by an operator, claimed not doomed`).not.toBeNull();
          if (k > 0) {
            expect(t.token, `follower ${t.id} of ${head.id} under another token`).toBe(head.token);
            expect(t.doomed, `doomed ${t.id} taken along in a chain`).toBeNull();
            expect(aggOf.get(t.id), `follower ${t.id} of another aggregate than ${head.id}`).toBe(aggOf.get(head.id));
          }
          const agg = aggOf.get(t.id);
          if (agg) {
            for (const other of stored) {
              if (other === t.id || !live(other) || aggOf.get(other) !== agg || seqOf.get(other)! > seqOf.get(t.id)!) continue;
              if (chain.slice(0, k).some((c) => c.id === other)) continue;
              expect(mayPass.has(`${t.id}>${other}`), `${t.id} claimed while ${other}, older in ${agg}, is live`).toBe(true);
            }
          }
          latestToken.set(t.id, head.token);
        });
      }
    };

    const kill = async (t: ClaimedTask, policy: FollowerPolicy, keep: boolean, what: string) => {
      const [code] = await store.kill([{ id: t.id, shard: 0, token: t.token, error: { class: 'E', message: 'dead' } }], policy, keep);
      if (!checkOutcome(t, code!, what)) return;
      if (t.doomed === 'killed-by-operator') seen.add('a task killed by an operator died');
      if (keep) {
        dead.add(t.id);
        doomed.delete(t.id);
      } else finish(t.id);
    };

    /**
     * A worker's success: a doomed task's is writing its dead letter, then
     * kill; a chain's is the head and its first `ok` followers, then what
     * becomes of the next, which failed (tail), in one ack.
     */
    const succeed = async (t: ClaimedTask, what: string, ok = Infinity, tailKind: 'none' | 'retry' | 'handover' = 'none', worker = 0) => {
      if (t.doomed) return kill(t, 'release', true, what);
      const followers = t.followers ?? [];
      const done = followers.slice(0, Math.min(ok, followers.length));
      const failed = followers[done.length];
      const tail = failed && tailKind !== 'none' ? (tailKind === 'retry' ? { kind: 'retry' as const, id: failed.id, delayMs: 0, error: { class: 'E', message: 'follower failed' } } : { kind: 'handover' as const, id: failed.id }) : undefined;
      const [r] = await store.ackChains([{ id: t.id, shard: 0, token: t.token, followers: done.map((f) => f.id), tail }], 60_000);
      if (!checkOutcome(t, r!.outcome, what)) {
        expect(r!.acked, `followers acked under a refused head ${t.id}`).toBe(0);
        if (followers.length > 0 && r!.outcome === 'lease-lost') sawChain('a chain refused for a lost lease');
        return;
      }
      // the followers of a current chain are its own: an operator cannot have touched them meanwhile
      expect(r!.acked, `followers of the current chain of ${t.id} refused`).toBe(done.length);
      expect(r!.tailApplied, `tail of the chain of ${t.id}`).toBe(tail !== undefined);
      finish(t.id);
      done.forEach((f) => finish(f.id));
      if (done.length > 0) sawChain('a chain acked with its followers');
      if (tail?.kind === 'retry') {
        attemptOf.set(failed!.id, failed!.attempt + 1);
        sawChain('a chain follower failed and is due again');
      }
      if (tail?.kind === 'handover') {
        leaseEnds.set(t.token, Date.now() + 60_000);
        held[worker]!.push({ ...failed!, followers: undefined });
        sawChain('a chain follower failed and was handed over');
      }
    };

    /** An operator command on ids: checks each outcome against the model and applies it. */
    const operate = async (ids: string[], op: 'requeue' | 'doom' | 'skip') => {
      const wasDead = ids.map((id) => dead.has(id));
      const aggs = await redis.hgetall(aggsKey); // heads before the call: a replayed task may wait behind one
      const out = await store.operate(ids, op);
      out.forEach((o: OperatorOutcome, i) => {
        const id = ids[i]!;
        if (o === 'gone') expect(live(id) || dead.has(id), `${op} of stored ${id} answered gone`).toBe(false);
        else expect(live(id) || dead.has(id), `${op} of ${id} (not stored) answered ${o}`).toBe(true);
        if (o === 'dead-already') expect(wasDead[i], `${id} answered dead-already`).toBe(true);
        if (o === 'deleted') {
          finish(id);
          seen.add('skip deleted a task');
        }
        if (o === 'doomed') doomed.add(id);
        if ((o === 'due-now' || o === 'replayed-queued') && wasDead[i]) {
          dead.delete(id);
          doomed.delete(id);
          attemptOf.set(id, 0);
          const agg = aggOf.get(id);
          seen.add('a dead task replayed');
          if (agg && aggs[agg]) {
            mayPass.add(`${aggs[agg]}>${id}`);
            seen.add('a dead task replayed behind a head');
          }
        } else if (o === 'due-now' || o === 'replayed-queued') expect(live(id), `${op} of ${id} answered ${o}`).toBe(true);
      });
    };

    const stepResume = async () => {
      if (!resume) return;
      const r = await sh.resume(resume.first ? resume.what : '', resume.after, 2);
      if (r.moved > 0) seen.add('resume moved held tasks back');
      resume.first = false;
      resume.after = r.next;
      if (r.next === null) {
        // the walk looked at every task after the pauses it lifts were gone: none is held by those any more
        lifting.clear();
        resume = null;
      }
    };

    /** Stores records admit said must park (attempt 0), as the consumer's schedule call does. */
    const park = async (entries: Array<{ id: string; aggregateId: string | null }>) => {
      if (entries.length === 0) return;
      const out = await store.schedule(entries.map((e) => ({ id: e.id, aggregateId: e.aggregateId, delayMs: 0, attempt: 0, error: null, record: record(0) })));
      entries.forEach((e, i) => note(e.id, e.aggregateId, out[i]!, 0));
    };

    const storedIds = () => [...stored];
    const pickId = (n: number) => {
      const ids = storedIds();
      return ids.length === 0 ? undefined : ids[n % ids.length];
    };

    for (const o of ops) {
      switch (o.op) {
        case 'schedule': {
          const tasks = o.tasks.map((x) => {
            const off = nextOffset++;
            return {
              id: `t/${off}`,
              aggregateId: x.agg < 0 ? null : AGGS[x.agg]!,
              delayMs: 0,
              attempt: 1,
              error: { class: CLASSES[x.cls]!, message: 'first' },
              record: { ...record(off), topic: TOPICS[x.topic]! },
            };
          });
          const out = await store.schedule(tasks);
          tasks.forEach((t, i) => note(t.id, t.aggregateId, out[i]!, 1));
          break;
        }
        case 'admit': {
          // as the consumer does: admit by ids, then park what must wait with one schedule call
          const entries = o.aggs.map((a) => ({ kind: 'fresh' as const, id: `t/${nextOffset++}`, aggregateId: a < 0 ? null : AGGS[a]! }));
          const out = (await store.admit(entries, 5000)).map((r) => r.outcome);
          await park(entries.filter((_, i) => out[i] === 'park'));
          break;
        }
        case 'redeliver': {
          // a record re-read after a crash: while its task lives (or is dead) it must be a duplicate;
          // once finished, it is a new delivery (dedup covers live and dead tasks, not finished ones)
          const ids = storedIds().slice(-2);
          const entries = ids.map((id) => ({ kind: 'fresh' as const, id, aggregateId: aggOf.get(id) ?? null }));
          const out = (await store.admit(entries, 5000)).map((r) => r.outcome);
          ids.forEach((id, i) => expect(out[i] === 'duplicate' || finished.has(id), `re-read of stored ${id} answered ${out[i]}`).toBe(true));
          // a finished one whose aggregate is busy is stored again, behind its aggregate's current head
          const again = entries.filter((_, i) => out[i] === 'park');
          for (const e of again) stored.delete(e.id);
          await park(again);
          break;
        }
        case 'claim': {
          const claimedAt = Date.now();
          const limits = o.limits ? new Map([[`topic:${TOPICS[0]}`, o.limits.topic], [`error:${CLASSES[0]}`, o.limits.cls]]) : undefined;
          const c = await store.claim(0, o.n, o.leaseMs, o.chain, undefined, limits);
          await claimed(c.tasks, claimedAt, o.leaseMs);
          if (limits) {
            // a claimed task took a token of each limited scope it is in; no scope gave more than it had
            for (const [scope, n] of limits) {
              const took = c.tasks.filter((t) => !t.doomed && (`topic:${t.record.topic}` === scope || `error:${t.lastError?.class}` === scope)).length;
              expect(took, `${scope} gave ${took} tasks for ${n} tokens`).toBeLessThanOrEqual(n);
              expect(c.used.get(scope)).toBe(took);
            }
            if (c.held > 0) seen.add('a limit held tasks back');
          }
          held[o.worker]!.push(...c.tasks);
          break;
        }
        case 'ack': {
          const t = takeHeld(o.worker, o.pick);
          if (t) await succeed(t, 'ack', o.ok, o.tail, o.worker);
          break;
        }
        case 'crash':
          // the worker dies holding its chains: nothing is acked, the leases run out
          if (held[o.worker]!.some((t) => (t.followers?.length ?? 0) > 0)) sawChain('a worker died holding a chain');
          held[o.worker]!.splice(0);
          break;
        case 'retry': {
          // a handler that failed again; with dies, one that failed for good and whose dead-letter write
          // failed too; for a doomed task, a dead-letter write that failed (no handler ran)
          const t = takeHeld(o.worker, o.pick);
          if (!t) break;
          const doom = t.doomed ?? (o.dies ? 'attempts-exhausted' : undefined);
          const [code] = await store.retry([
            { id: t.id, shard: 0, token: t.token, delayMs: 0, error: { class: CLASSES[o.cls]!, message: 'again' }, ...(doom ? { doom } : {}), keepAttempt: o.keep },
          ]);
          if (!checkOutcome(t, code!, 'retry')) break;
          if (t.doomed) seen.add('a dead-letter write failed again');
          // keepAttempt: a throttle or an open breaker, the attempt does not count
          else attemptOf.set(t.id, o.keep ? t.attempt : t.attempt + 1);
          if (doom) doomed.add(t.id);
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
          if (t) await kill(t, o.policy, o.keep, 'kill');
          break;
        }

        case 'wait':
          await new Promise((r) => setTimeout(r, o.ms));
          break;
        case 'reap':
          await sh.reap(100);
          break;
        case 'retry-now':
        case 'skip': {
          const id = pickId(o.pick);
          if (id) await operate([id], o.op === 'skip' ? 'skip' : 'requeue');
          break;
        }
        case 'doom': {
          const id = pickId(o.pick);
          if (id) await operate([id], 'doom');
          break;
        }
        case 'replay': {
          // zretry dead replay --all, or of one id: the dead set's order (time of death, then id bytes)
          const all = await redis.zrange(deadKey, 0, -1);
          const ids = o.all ? all : all.slice(o.pick % Math.max(1, all.length)).slice(0, 1);
          if (ids.length > 0) await operate(ids, 'requeue');
          break;
        }
        case 'unhold': {
          // an operator unholds what zretry stats shows held, or names an aggregate that is not
          const heldAggs = Object.entries(await redis.hgetall(aggsKey)).filter(([, head]) => head === '').map(([agg]) => agg);
          const agg = heldAggs[o.agg % Math.max(1, heldAggs.length)] ?? AGGS[o.agg]!;
          if ((await sh.unhold([agg]))[0] !== 'not-held') seen.add('unhold released an aggregate');
          break;
        }
        case 'pause':
          await sh.pause(PAUSES[o.what]!);
          pauses.add(PAUSES[o.what]!);
          break;
        case 'resume-start': {
          // a resume already under way is stopped for good: an operator pressed Ctrl-C and started another
          const what = PAUSES[o.what]!;
          resume = { what, after: null, first: true };
          pauses.delete(what);
          lifting.add(what);
          await stepResume();
          break;
        }
        case 'resume-step':
          await stepResume();
          break;
        case 'shift-start':
          // a shift already under way is stopped for good
          shift = { ms: o.ms, cursor: '+inf' };
          break;
        case 'shift-step': {
          if (!shift) break;
          const r = await sh.shift(shift.ms, shift.cursor, 2);
          if (r.moved > 0) seen.add('shift moved due times');
          if (r.next === null) shift = null;
          else shift.cursor = r.next;
          break;
        }
        case 'shift-stop':
          shift = null;
          break;
      }
      await checkStore();
    }

    // The end: an operator lifts the pauses (one more resume finishes any
    // that was stopped), workers report success on what they still hold
    // (the current holders finish, stale ones are refused), then a fresh
    // worker drains the store, unholding what the hold policy held.
    for (const what of [...pauses, '']) {
      await store.resume(what);
      pauses.delete(what);
    }
    lifting.clear();
    await checkStore();
    for (const list of held) for (const t of list.splice(0)) await succeed(t, 'final ack');
    // as a worker does: a plain claim that finds held tasks is followed by claims under a grant (one that limits
    // nothing now), which release them; a plain claim never does
    let granted = false;
    for (let round = 0; round < 10_000; round++) {
      const claimedAt = Date.now();
      const c = await store.claim(0, 10, 60_000, granted ? 0 : 3, undefined, granted ? new Map() : undefined);
      await claimed(c.tasks, claimedAt, 60_000);
      const wasGranted = granted;
      granted = c.held > 0;
      if (c.tasks.length === 0) {
        if (c.held > 0 && !wasGranted) continue;
        const heldAggs = Object.entries(await redis.hgetall(aggsKey)).filter(([, head]) => head === '').map(([agg]) => agg);
        if (heldAggs.length > 0) await sh.unhold(heldAggs);
        else if ((await sh.stats()).inflight === 0 && (await redis.zcard(dueKey)) === 0) break;
        else await new Promise((r) => setTimeout(r, 10)); // tasks due later, or long leases from the ops
        continue;
      }
      for (const t of c.tasks) await succeed(t, 'drain ack');
      await checkStore();
    }

    // nothing lost: every stored id finished or is in the dead set, and nothing else is left
    const lost = [...stored].filter((id) => !finished.has(id) && !dead.has(id));
    expect(lost, 'stored ids never acked, skipped nor killed').toEqual([]);
    expect((await store.stats()).total).toMatchObject({ dueNow: 0, dueLater: 0, inflight: 0, queued: 0, blockedAggregates: 0, paused: 0, held: 0, dead: dead.size });
    expect(await redis.hlen(tasksKey)).toBe(dead.size);
  } finally {
    await close();
  }
}

describe('scheduler invariants under random interleavings of consumer, workers and operators (fast-check)', () => {
  it('holds no-loss, nothing stranded, one-per-aggregate, order, dead stays dead, dedup and fencing', async () => {
    const numRuns = Number(process.env.FC_RUNS ?? 80);
    // half the runs are chain runs (ops(true))
    const sequences = fc.oneof(...[false, true].map((chains) => fc.array(ops(chains), { minLength: 5, maxLength: 80, size: 'max' })));
    await fc.assert(fc.asyncProperty(sequences, runScenario), { numRuns, ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}) });
    // The operator paths must have been taken, so the invariants were checked on them. Some are
    // rare (a held aggregate unheld needs a kill under 'hold' first): while one is missing, more
    // runs, up to 3 x 40, each checking the invariants too (a short rerun of one seed skips this).
    let extra = 0;
    for (; numRuns >= 80 && !process.env.FC_SEED && extra < 120 && missing().length > 0; extra += 40) {
      await fc.assert(fc.asyncProperty(sequences, runScenario), { numRuns: 40 });
    }
    if (numRuns >= 80 && !process.env.FC_SEED) expect(missing(), `paths no run took in ${numRuns + extra} runs`).toEqual([]);
    console.log(`${numRuns + extra} runs; chain paths: ${CHAIN_EVENTS.map((e) => `${e}: ${chainSeen.get(e) ?? 0}`).join(', ')}`);
  }, 600_000);
});
