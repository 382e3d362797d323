/**
 * The typed store API over all shards of a namespace: groups work by shard,
 * splits it into bounded script calls (DESIGN.md invariant 6), and keeps the
 * caller's order in the results.
 */
import type { RedisClient } from './client.js';
import { ZRetryError } from '../errors.js';
import { redactCommand } from '../util/redis-errors.js';
import { type AckItem, type AckResult, type AdmitBatch, type AdmitEntry, type AdmitResult, type ClaimReply, ControlScripts, defineScripts, type PausedCursor, ShardScripts, type WaitReplicas } from './scripts.js';
import { controlKeys, SHARD_KEY_NAMES, shardKeys, shardOf, wakeChannel } from './keys.js';
import type { DeadKind, OperatorOutcome, FollowerPolicy, LeaseOutcome, NewTask, ScheduleOutcome, ShardStats, TaskError } from './task.js';

/** How a store is laid out in Redis. */
export interface StoreOptions {
  /** Key prefix; every key of shard s is under the hash tag {namespace:s}. */
  namespace: string;
  /** Number of shards (fixed for the life of a namespace). */
  shards: number;
  /** Most tasks one script call handles. */
  maxBatch: number;
  /** Replicas each schedule and admit must reach before it resolves (Redis WAIT); 0 or unset: none. */
  waitReplicas?: number;
  /** Longest WAIT for them. */
  waitTimeoutMs?: number;
}

/**
 * A call over several shards of which some failed (on a cluster: their
 * master is down) and the others were applied. `results` holds the replies
 * of the items whose shard answered; the caller keeps only the failed
 * shards' items for another try.
 */
export class ShardsFailedError<R = unknown> extends ZRetryError {
  constructor(
    readonly results: ReadonlyArray<R | undefined>,
    /** The error of each shard that failed. */
    readonly failed: ReadonlyMap<number, unknown>,
  ) {
    const [first] = failed.values();
    super(`${(first as Error | undefined)?.message ?? String(first)} (shards ${[...failed.keys()].join(', ')} failed; the others were written)`, { retriable: true, cause: first });
  }
}

/** A lease held on a claimed task. */
export interface Lease {
  id: string;
  shard: number;
  token: string;
}

/** The store of one namespace. */
export class TaskStore {
  /** The wake channel of each shard (sharded pub/sub, in the shard's slot). */
  readonly channels: readonly string[];
  private readonly shardScripts: ShardScripts[];
  /** The namespace's dispatch control: limits, breakers, throttles, in their own slot. */
  readonly control: ControlScripts;

  constructor(
    readonly redis: RedisClient,
    readonly options: StoreOptions,
  ) {
    defineScripts(redis);
    this.control = new ControlScripts(redis, controlKeys(options.namespace));
    this.channels = Array.from({ length: options.shards }, (_, s) => wakeChannel(options.namespace, s));
    const wait: WaitReplicas | null = options.waitReplicas ? { replicas: options.waitReplicas, timeoutMs: options.waitTimeoutMs ?? 1_000 } : null;
    this.shardScripts = Array.from(
      { length: options.shards },
      (_, s) => new ShardScripts(redis, s, shardKeys(options.namespace, s), this.channels[s]!, wait),
    );
  }

  /** The shard a task lives on. */
  shardOf(aggregateId: string | null, taskId: string): number {
    return shardOf(this.options.shards, aggregateId, taskId);
  }

  /** The scripts of one shard. */
  shard(s: number): ShardScripts {
    const sh = this.shardScripts[s];
    if (!sh) throw new RangeError(`shard ${s} does not exist (namespace ${this.options.namespace} has ${this.options.shards})`);
    return sh;
  }

  /** Stores failed (attempt >= 1) or parked (attempt 0) records; dedups by id. */
  schedule(tasks: readonly NewTask[]): Promise<ScheduleOutcome[]> {
    // large records weigh more, so one call carries at most about maxBatch x 64 KiB
    const weight = (t: NewTask) => 1 + (((t.record.key?.length ?? 0) + (t.record.value?.length ?? 0)) >> 16);
    return this.byShard(tasks, (t) => this.shardOf(t.aggregateId, t.id), (sh, part) => sh.schedule(part), weight);
  }

  /**
   * Judges which records of a batch may run now ('go'), must be parked behind
   * their aggregate ('park': the caller stores them with schedule), are
   * duplicates or stale copies. shard: where each entry's task lives (by
   * default: a fresh record's by its ids, a copy's 0). leaseMs: for
   * republished records that run.
   */
  admit(entries: readonly (AdmitEntry & { shard?: number })[], leaseMs: number): Promise<AdmitResult[]> {
    const batch: AdmitBatch = {
      ids: entries.map((e) => (e.kind === 'fresh' ? e.id : '')),
      aggs: entries.map((e) => (e.kind === 'fresh' ? e.aggregateId : null)),
      copyOf: (i) => {
        const e = entries[i]!;
        return e.kind === 'republished' ? e : undefined;
      },
      origin: null,
    };
    const shard = (i: number) => {
      const e = entries[i]!;
      return e.shard ?? (e.kind === 'fresh' ? this.shardOf(e.aggregateId, e.id) : 0);
    };
    return this.admitBatch(batch, entries.map((_, i) => i), shard, leaseMs);
  }

  /** admit for a batch in columns (ShardScripts.admit): the records `index`, each on shard(i); results in the order of index. */
  admitBatch(batch: AdmitBatch, index: readonly number[], shard: (i: number) => number, leaseMs: number): Promise<AdmitResult[]> {
    // admit only reads fresh records (an id and an aggregate each): four to a task's weight
    return this.byShard(index, shard, (sh, part) => sh.admit(batch, part, leaseMs), () => 0.25);
  }

  /**
   * Claims up to n due heads of one shard; with chain > 0 each head of an
   * aggregate takes up to chain of its waiting followers along (at most
   * maxBatch tasks in all per call).
   */
  claim(shard: number, n: number, leaseMs: number, chain = 0, reapLimit = this.options.maxBatch, allowances?: ReadonlyMap<string, number>, heldCursor = ''): Promise<ClaimReply> {
    const heads = Math.min(n, this.options.maxBatch);
    return this.shard(shard).claim(heads, leaseMs, reapLimit, chain, chain > 0 ? Math.max(0, this.options.maxBatch - heads) : 0, allowances, heldCursor);
  }

  /** Acks claimed tasks whose handler succeeded. */
  async ack(leases: readonly Lease[]): Promise<LeaseOutcome[]> {
    return (await this.ackChains(leases)).map((r) => r.outcome);
  }

  /**
   * Acks tasks, and chains with the followers that succeeded and what
   * becomes of the one that failed (ShardScripts.ack); leaseMs: the lease of
   * a follower handed over.
   */
  ackChains(items: readonly (AckItem & { shard: number })[], leaseMs = 0): Promise<AckResult[]> {
    return this.byShard(items, (l) => l.shard, (sh, part) => sh.ack(part, leaseMs), (it) => 1 + (it.followers?.length ?? 0));
  }

  retry(items: readonly (Lease & { delayMs: number; error: TaskError | null; doom?: DeadKind; keepAttempt?: boolean })[]): Promise<LeaseOutcome[]> {
    return this.byShard(items, (l) => l.shard, (sh, part) => sh.retry(part));
  }

  kill(items: readonly (Lease & { error: TaskError | null })[], policy: FollowerPolicy, keepDead: boolean): Promise<LeaseOutcome[]> {
    return this.byShard(items, (l) => l.shard, (sh, part) => sh.kill(part, policy, keepDead));
  }

  extend(leases: readonly Lease[], leaseMs: number): Promise<LeaseOutcome[]> {
    return this.byShard(leases, (l) => l.shard, (sh, part) => sh.extend(part, leaseMs));
  }

  release(leases: readonly Lease[]): Promise<LeaseOutcome[]> {
    return this.byShard(leases, (l) => l.shard, (sh, part) => sh.release(part));
  }

  /** The shard holding a task id, or null: ids alone do not say their shard, so each is asked. */
  async locate(id: string): Promise<number | null> {
    return (await this.locateAll([id]))[0]!;
  }

  /** The shard of each task id (null where none holds it): one HMGET per shard for all of them. */
  async locateAll(ids: readonly string[]): Promise<Array<number | null>> {
    const out: Array<number | null> = ids.map(() => null);
    if (ids.length === 0) return out;
    const found = await Promise.all(this.shardScripts.map((sh) => this.redis.hmget(shardKeys(this.options.namespace, sh.shard)[2]!, ...ids)));
    found.forEach((metas, shard) => metas.forEach((m, i) => {
      if (m !== null && out[i] === null) out[i] = shard;
    }));
    return out;
  }

  /** Runs an operator script on task ids wherever they live; ids found nowhere are 'gone'. */
  async operate(ids: readonly string[], op: 'requeue' | 'doom' | 'skip'): Promise<OperatorOutcome[]> {
    const shards = await this.locateAll(ids);
    const found = ids.map((id, i) => ({ id, shard: shards[i] })).filter((x): x is { id: string; shard: number } => x.shard !== null);
    const res = await this.byShard(found, (x) => x.shard, (sh, part) => sh[op](part.map((x) => x.id)));
    const byId = new Map(found.map((x, i) => [x.id, res[i]!]));
    return ids.map((id) => byId.get(id) ?? 'gone');
  }

  /** Counts per shard and in total. */
  async stats(): Promise<{ shards: ShardStats[]; total: ShardStats; pauses: string[] }> {
    let pauses: string[] = [];
    const shards = await Promise.all(this.shardScripts.map(async (sh) => {
      const { now: _now, pauses: p, ...s } = await sh.stats();
      pauses = [...new Set([...pauses, ...p])];
      return s;
    }));
    const total: ShardStats = { dueNow: 0, dueLater: 0, inflight: 0, queued: 0, blockedAggregates: 0, dead: 0, paused: 0, held: 0, oldestDueAgeMs: 0 };
    for (const s of shards) {
      total.dueNow += s.dueNow;
      total.dueLater += s.dueLater;
      total.inflight += s.inflight;
      total.queued += s.queued;
      total.blockedAggregates += s.blockedAggregates;
      total.dead += s.dead;
      total.paused += s.paused;
      total.held += s.held;
      total.oldestDueAgeMs = Math.max(total.oldestDueAgeMs, s.oldestDueAgeMs);
    }
    return { shards, total, pauses: pauses.sort() };
  }

  /** Pauses dispatch on every shard; what: 'all', 'topic:<t>' or 'error:<class>'. */
  async pause(what: string): Promise<boolean> {
    const fresh = await Promise.all(this.shardScripts.map((sh) => sh.pause(what)));
    return fresh.some(Boolean);
  }

  /** Lifts a pause on every shard and returns the tasks it held back, reporting progress. */
  async resume(what: string, progress: (moved: number) => void = () => {}): Promise<number> {
    let moved = 0;
    for (const sh of this.shardScripts) {
      let after: PausedCursor | null = null;
      let first = true;
      do {
        const r: { moved: number; next: PausedCursor | null } = await sh.resume(first ? what : '', after, this.options.maxBatch);
        first = false;
        moved += r.moved;
        after = r.next;
        if (r.moved > 0) progress(moved);
      } while (after !== null);
    }
    return moved;
  }

  /**
   * Pushes every due time back by deltaMs (rounded; nothing below 1 ms), in
   * bounded steps, each safe to interrupt; returns how many tasks moved.
   * Stopped midway, the latest-due tasks are pushed back and the rest not;
   * running it again pushes all of them back again.
   */
  async shift(deltaMs: number, progress: (moved: number) => void = () => {}): Promise<number> {
    const delta = Math.round(deltaMs);
    let moved = 0;
    if (delta < 1) return moved;
    for (const sh of this.shardScripts) {
      for (let cursor: string | null = '+inf'; cursor !== null; ) {
        const r: { moved: number; next: string | null } = await sh.shift(delta, cursor, this.options.maxBatch);
        moved += r.moved;
        cursor = r.next;
        if (r.moved > 0) progress(moved);
      }
    }
    return moved;
  }

  /**
   * Deletes every task of the namespace: every key of every shard but its
   * token counter (seq), which must only grow: were it to start again, a
   * worker still holding a lease from before could carry a token equal to a
   * new claim's, and its outcome would be taken. Returns how many keys went.
   */
  async purge(): Promise<number> {
    let deleted = 0;
    const kept = SHARD_KEY_NAMES.indexOf('seq');
    for (const sh of this.shardScripts) {
      deleted += await this.redis.del(...shardKeys(this.options.namespace, sh.shard).filter((_, i) => i !== kept));
    }
    return deleted;
  }

  /**
   * Runs fn once per shard and chunk of at most maxBatch items (by weight,
   * one per item unless told), and returns the results in the order of
   * items. The chunks of one shard are sent together without waiting for
   * each other: one connection answers them in order, so a later chunk
   * still sees what an earlier one wrote. When some shards fail and others
   * answer, throws a ShardsFailedError with the answers (one failed master
   * must not send back the healthy shards' work); when every shard fails,
   * the first error as it is.
   */
  private async byShard<T, R>(
    items: readonly T[],
    shardFn: (item: T) => number,
    fn: (sh: ShardScripts, part: T[]) => Promise<R[]>,
    weight?: (item: T) => number,
  ): Promise<R[]> {
    const groups = new Map<number, number[]>();
    for (let i = 0; i < items.length; i++) {
      const s = shardFn(items[i]!);
      let g = groups.get(s);
      if (!g) groups.set(s, (g = []));
      g.push(i);
    }
    const out = new Array<R>(items.length);
    const calls: Array<{ shard: number; done: Promise<void> }> = [];
    for (const [s, idx] of groups) {
      const sh = this.shard(s);
      for (let at = 0; at < idx.length; ) {
        let end = Math.min(idx.length, at + this.options.maxBatch);
        if (weight) {
          end = at;
          for (let w = 0; end < idx.length; end++) {
            const wi = weight(items[idx[end]!]!);
            if (end > at && w + wi > this.options.maxBatch) break;
            w += wi;
          }
        }
        const slice = idx.slice(at, end);
        calls.push({ shard: s, done: fn(sh, slice.map((i) => items[i]!)).then((res) => slice.forEach((i, k) => (out[i] = res[k]!))) });
        at = end;
      }
    }
    const settled = await Promise.allSettled(calls.map((c) => c.done));
    const failed = new Map<number, unknown>();
    settled.forEach((r, k) => r.status === 'rejected' && !failed.has(calls[k]!.shard) && failed.set(calls[k]!.shard, r.reason));
    if (failed.size === 0) return out;
    if (failed.size === groups.size) throw failed.values().next().value;
    for (const e of failed.values()) redactCommand(e);
    throw new ShardsFailedError<R>(out, failed);
  }
}
