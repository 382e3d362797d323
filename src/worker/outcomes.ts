/**
 * Turns handler results into store calls: success -> ack; failure ->
 * classify and decide (pure policy) -> retry, or dead letter then kill.
 * Outcomes are batched per shard: everything of a shard that finished
 * while its store call was running goes in its next call, one per kind.
 * Each shard flushes on its own, so a shard whose write fails or hangs
 * (its Redis, or on a cluster its master, is away) keeps its outcomes and
 * backs off alone while the other shards' outcomes go through.
 */
import type { Logger } from 'pino';
import { settle, type Failure } from '../handler-call.js';
import { classify, describeError, type ClassifierOptions } from '../policy/classify.js';
import { decide, type RetryPolicy } from '../policy/backoff.js';
import type { DeadReason, ZRetryEmitter } from '../events.js';
import type { Lease, TaskStore } from '../store/store.js';
import type { AckItem, AckResult } from '../store/scripts.js';
import type { ClaimedTask, DeadKind, FollowerPolicy, LeaseOutcome, TaskError } from '../store/task.js';
import { sleep } from '../util/sleep.js';
import { redactCommand } from '../util/redis-errors.js';
import type { Deferral } from './dispatch-control.js';

/** How long a dying task's lease is held for its dead-letter write. */
const DEAD_LETTER_LEASE_MS = 60_000;

/** Writes a dead task somewhere durable (the dead-letter topic); must resolve only once written. */
export type DeadLetterSink = (task: ClaimedTask, reason: DeadReason) => Promise<void>;

/** How failures are judged and where the dead go. */
export interface OutcomeOptions {
  policy: RetryPolicy;
  classifier: ClassifierOptions;
  /** What happens to the tasks behind a head that dies. */
  followerPolicy: FollowerPolicy;
  /** Keep dead tasks in Redis's dead set for inspection and replay. */
  keepDead: boolean;
  /** Where dead tasks are written before they leave the due set; none: the Redis dead set only. */
  deadLetter?: DeadLetterSink;
  /** Delay before trying a failed dead-letter write again. */
  deadLetterRetryMs: number;
  /** Longest stack kept in a task's last error. */
  maxStackChars: number;
  /** Whether a failure goes back without counting an attempt (dispatch control: a throttle, an open breaker); null: judge it. */
  defer?: (task: ClaimedTask, err: unknown) => Deferral | null;
  /**
   * Asked before a task dies of its attempts or time budget: whether it
   * goes back instead, keeping its attempt (its breaker is open as of now,
   * or nobody can tell); null: it dies.
   */
  confirmDeath?: (task: ClaimedTask) => Promise<Deferral | null>;
}

/** Deaths a breaker open now turns into a deferral: a run of retriable failures, not a verdict on the record. */
const BREAKER_DEATHS = new Set<string>(['attempts-exhausted', 'time-budget-exhausted']);

/**
 * A success to ack: a task, or a chain's head with its followers that
 * succeeded and what becomes of the follower that failed (tail); onTail
 * hears whether the tail was applied.
 */
type AckQueued = {
  task: ClaimedTask;
  durationMs: number;
  followers: ClaimedTask[];
  tail?: { task: ClaimedTask; kind: 'retry'; delayMs: number; error: TaskError; deferred?: Deferral['reason'] } | { task: ClaimedTask; kind: 'handover'; onTail: (applied: boolean) => void };
};
type RetryItem = { task: ClaimedTask; delayMs: number; error: TaskError; doom?: DeadKind; deferred?: Deferral['reason'] };
type KillItem = { task: ClaimedTask; reason: DeadReason };

/** The outcomes of one shard not yet written, and its flush. */
class ShardQueue {
  acks: AckQueued[] = [];
  retries: RetryItem[] = [];
  kills: KillItem[] = [];
  flushing: Promise<void> | null = null;
  again = false;
  /** Set while its writes fail: local time of the next try, and the backoff after that. */
  failing: { until: number; backoff: number } | null = null;
  /** Ends the wait for the backoff (a new outcome arrived). */
  wake: (() => void) | null = null;

  get size(): number {
    return this.acks.length + this.retries.length + this.kills.length;
  }
}

/** Batches the outcomes of claimed tasks into ack / retry / kill calls. */
export class Outcomes {
  private readonly queues = new Map<number, ShardQueue>();
  /** Shards whose writes are failing now (one warning when the first fails). */
  private failingShards = 0;
  /** Dead-letter writes of chain followers handed over by an ack: drain() waits for them too. */
  private readonly dying = new Set<Promise<void>>();

  constructor(
    private readonly store: TaskStore,
    private readonly opts: OutcomeOptions,
    private readonly events: ZRetryEmitter,
    private readonly log: Logger,
    /** Redis's now, estimated from the last claim reply plus elapsed local time. */
    private readonly redisNow: () => number,
  ) {}

  private queue(shard: number): ShardQueue {
    let q = this.queues.get(shard);
    if (!q) this.queues.set(shard, (q = new ShardQueue()));
    return q;
  }

  /** The handler succeeded on task, and on the chain's followers given (in order), all of them. */
  succeeded(task: ClaimedTask, durationMs: number, followers: ClaimedTask[] = []): void {
    this.queue(task.shard).acks.push({ task, durationMs, followers });
    this.kick(task.shard);
  }

  /** The handler failed with err: retry or die, by policy and classification; attempt: the call's failure, whose span (if traced) ends with the decision. */
  async failed(task: ClaimedTask, err: unknown, attempt?: Failure): Promise<void> {
    const deferral = this.opts.defer?.(task, err);
    if (deferral) return this.retryLater(task, deferral.delayMs, describeError(err, this.opts.maxStackChars), attempt, deferral.reason);
    const { error, decision } = this.judge(task, err);
    if (decision.action === 'retry') return this.retryLater(task, decision.delayMs, error, attempt);
    const late = BREAKER_DEATHS.has(decision.reason) ? await this.opts.confirmDeath?.(task) : null;
    if (late) return this.retryLater(task, late.delayMs, error, attempt, late.reason);
    if (attempt) settle(attempt, 'dead');
    await this.die(task, { kind: decision.reason, detail: decision.detail, error });
  }

  /**
   * A chain's head and the followers `ok` succeeded, then follower `failed`
   * failed with err. One ack writes the prefix and puts the failed follower
   * at the head of its aggregate: due again after its backoff, or, when it
   * must die, in flight under the chain's token so that its dead letter is
   * written as for any claimed task (in the background: drain() waits).
   */
  async chainFailed(head: ClaimedTask, durationMs: number, ok: ClaimedTask[], failed: ClaimedTask, err: unknown, attempt?: Failure): Promise<void> {
    // dispatch control as for any task: a throttled follower, or one of an open breaker, goes back keeping its attempt
    let deferral = this.opts.defer?.(failed, err) ?? null;
    const { error, decision } = this.judge(failed, err);
    if (!deferral && decision.action === 'dead' && BREAKER_DEATHS.has(decision.reason)) deferral = (await this.opts.confirmDeath?.(failed)) ?? null;
    if (deferral) {
      if (attempt) settle(attempt, 'retry', deferral.delayMs);
      this.queue(head.shard).acks.push({ task: head, durationMs, followers: ok, tail: { task: failed, kind: 'retry', delayMs: deferral.delayMs, error, deferred: deferral.reason } });
      this.kick(head.shard);
      return;
    }
    if (attempt) settle(attempt, decision.action === 'retry' ? 'retry' : 'dead', decision.action === 'retry' ? decision.delayMs : undefined);
    if (decision.action === 'retry') {
      this.queue(head.shard).acks.push({ task: head, durationMs, followers: ok, tail: { task: failed, kind: 'retry', delayMs: decision.delayMs, error } });
    } else {
      const onTail = (applied: boolean) => {
        if (!applied) return;
        const dying = this.die(failed, { kind: decision.reason, detail: decision.detail, error }).catch((e: unknown) => {
          this.log.error({ taskId: failed.id, err: describeError(e, 500) }, 'dead-letter step of a chain follower failed; its lease runs out and it is tried again');
        });
        this.dying.add(dying);
        void dying.finally(() => this.dying.delete(dying));
      };
      this.queue(head.shard).acks.push({ task: head, durationMs, followers: ok, tail: { task: failed, kind: 'handover', onTail } });
    }
    this.kick(head.shard);
  }

  /** Queues task to run again after delayMs (keeping its attempt when deferred), and ends the attempt's span, if traced, with that. */
  private retryLater(task: ClaimedTask, delayMs: number, error: TaskError, attempt?: Failure, deferred?: Deferral['reason']): void {
    if (attempt) settle(attempt, 'retry', delayMs);
    this.queue(task.shard).retries.push(deferred ? { task, delayMs, error, deferred } : { task, delayMs, error });
    this.kick(task.shard);
  }

  /** The decision after a failed attempt of task (the caller ends the attempt's span, if traced, with it). */
  private judge(task: ClaimedTask, err: unknown) {
    const error = describeError(err, this.opts.maxStackChars);
    const now = this.redisNow();
    const decision = decide(this.opts.policy, {
      attempt: task.attempt + 1,
      firstFailureAt: task.firstFailureAt ?? now,
      now,
      previousDelayMs: previousDelay(task),
      error: err,
      classification: classify(err, this.opts.classifier),
    });
    return { error, decision };
  }

  /** Writes the dead letter, then kills; a failed write keeps the task (doomed) for later. */
  async die(task: ClaimedTask, reason: DeadReason): Promise<void> {
    if (this.opts.deadLetter) {
      // a run whose lease was lost (stalled past it) must not write a dead letter the new owner writes too;
      // the check also holds the lease for the write. Redis away: write anyway, the kill is fenced.
      const code = await this.store.extend([lease(task)], DEAD_LETTER_LEASE_MS).then((c) => c[0], () => 'ok' as const);
      if (code !== 'ok') {
        this.events.emit('lease-lost', { id: task.id, shard: task.shard, op: 'dead-letter' });
        this.log.warn({ taskId: task.id, shard: task.shard, code }, 'dead letter not written: the lease was lost, another claim owns the task');
        return;
      }
      try {
        await this.opts.deadLetter(task, reason);
      } catch (e) {
        this.log.warn({ taskId: task.id, err: describeError(e, 500) }, 'dead-letter write failed; the task stays in Redis and is tried again');
        this.queue(task.shard).retries.push({ task, delayMs: this.opts.deadLetterRetryMs, error: reason.error ?? describeError(e, 0), doom: reason.kind });
        this.kick(task.shard);
        return;
      }
    }
    this.queue(task.shard).kills.push({ task, reason });
    this.kick(task.shard);
  }

  /**
   * Resolves true when every outcome given so far is in Redis, or false if
   * timeoutMs passed first (Redis away): the outcomes stay queued and keep
   * being tried.
   */
  async drain(timeoutMs = Infinity): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const busy = [...this.queues].filter(([, q]) => q.flushing || q.size > 0);
      if (busy.length === 0 && this.dying.size === 0) return true;
      for (const [shard, q] of busy) if (!q.flushing) this.kick(shard);
      const left = end - Date.now();
      if (left <= 0) return false;
      const timer = new AbortController();
      await Promise.race([Promise.all([...busy.map(([, q]) => q.flushing), ...this.dying]), sleep(Math.min(left, 2_147_483_647), timer.signal)]);
      timer.abort();
    }
  }

  /** Outcomes not yet written. */
  pending(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.size;
    return n;
  }

  private kick(shard: number): void {
    const q = this.queue(shard);
    if (q.flushing) {
      q.again = true;
      q.wake?.();
      return;
    }
    q.flushing = new Promise<void>((r) => setImmediate(r)).then(() => this.flushLoop(shard, q));
  }

  /** Writes a shard's outcomes until none is left; while its writes fail, it waits out a backoff (or a new outcome). */
  private async flushLoop(shard: number, q: ShardQueue): Promise<void> {
    try {
      for (;;) {
        q.again = false;
        await this.flushOnce(shard, q);
        if (q.again && !q.failing) continue;
        if (q.size === 0) break;
        const wait = q.failing ? q.failing.until - Date.now() : 0;
        if (wait > 0) {
          await new Promise<void>((res) => {
            const timer = setTimeout(res, wait);
            q.wake = () => {
              clearTimeout(timer);
              res();
            };
          });
          q.wake = null;
        }
      }
    } finally {
      q.flushing = null;
    }
  }

  /** One write per kind of everything the shard has; a failed write puts its items back. */
  private async flushOnce(shard: number, q: ShardQueue): Promise<void> {
    if (q.failing && q.failing.until > Date.now()) return;
    const acks = q.acks.splice(0);
    const retries = q.retries.splice(0);
    const kills = q.kills.splice(0);
    const results = await Promise.allSettled([
      acks.length && this.store.ackChains(acks.map(ackItem), DEAD_LETTER_LEASE_MS).then((res) => this.reportAcks(acks, res)),
      retries.length &&
        this.store
          .retry(retries.map((r) => ({ ...lease(r.task), delayMs: r.delayMs, error: r.error, doom: r.doom, keepAttempt: r.deferred !== undefined })))
          .then((codes) =>
            this.report('retry', retries, codes, (r) => {
              if (r.deferred) this.events.emit('deferred', { task: r.task, reason: r.deferred, delayMs: r.delayMs });
              else if (!r.doom) this.events.emit('retried', { task: r.task, delayMs: r.delayMs, error: r.error });
            }),
          ),
      kills.length &&
        this.store
          .kill(kills.map((k) => ({ ...lease(k.task), error: k.reason.error })), this.opts.followerPolicy, this.opts.keepDead)
          .then((codes) => this.report('kill', kills, codes, (k) => this.events.emit('dead', k))),
    ]);
    // Nothing of a failed call is lost: it goes back in the queue. Should a
    // failed call have landed after all, its second try is refused with
    // 'gone' or 'lease-lost' and never applied twice.
    const [a, r, k] = results;
    if (a.status === 'rejected') q.acks.unshift(...acks);
    if (r.status === 'rejected') q.retries.unshift(...retries);
    if (k.status === 'rejected') q.kills.unshift(...kills);
    const failed = results.find((x): x is PromiseRejectedResult => x.status === 'rejected');
    if (failed) {
      this.events.emit('store-error', { op: 'outcomes', error: redactCommand(failed.reason) });
      if (!q.failing && this.failingShards++ === 0) {
        this.log.warn({ shard, err: describeError(failed.reason, 500), pending: this.pending() }, 'writing outcomes to Redis failed; keeping them and trying again (other shards go on)');
      }
      const backoff = q.failing ? Math.min(q.failing.backoff * 2, 2000) : 50;
      q.failing = { until: Date.now() + backoff, backoff };
    } else if (q.failing) {
      q.failing = null;
      if (--this.failingShards === 0) this.log.info({ shard }, 'outcomes written again on every shard');
    }
  }

  /** Emits what each ack did: successes (head and acked followers), the tail's retry, and hands over tails. */
  private reportAcks(acks: AckQueued[], results: AckResult[]): void {
    this.report('ack', acks, results.map((r) => r.outcome), (a) => this.events.emit('succeeded', { task: a.task, durationMs: a.durationMs }));
    acks.forEach((a, i) => {
      const r = results[i]!;
      for (let k = 0; k < r.acked; k++) this.events.emit('succeeded', { task: a.followers[k]!, durationMs: 0 });
      const tail = a.tail;
      if (!tail) return;
      const applied = r.outcome === 'ok' && r.acked === a.followers.length && r.tailApplied;
      if (tail.kind === 'retry' && applied) {
        if (tail.deferred) this.events.emit('deferred', { task: tail.task, reason: tail.deferred, delayMs: tail.delayMs });
        else this.events.emit('retried', { task: tail.task, delayMs: tail.delayMs, error: tail.error });
      }
      if (tail.kind === 'handover') tail.onTail(applied);
    });
  }

  private report<T extends { task: ClaimedTask }>(op: string, items: T[], codes: LeaseOutcome[], ok: (item: T) => void): void {
    const refused: T[] = [];
    codes.forEach((code, i) => {
      const item = items[i]!;
      if (code === 'ok') return ok(item);
      this.events.emit('lease-lost', { id: item.task.id, shard: item.task.shard, op });
      refused.push(item);
    });
    // one line per call, not per task: after a failover a call can carry many (the lease-lost event counts each)
    if (refused.length > 0) {
      this.log.warn(
        { op, count: refused.length, shard: refused[0]!.task.shard, taskIds: refused.slice(0, 10).map((r) => r.task.id), codes: [...new Set(refused.map((_, i) => codes[items.indexOf(refused[i]!)]))] },
        'outcome refused: the lease was lost, another claim owns the task',
      );
    }
  }
}

/** The lease of a claimed task. */
export function lease(t: ClaimedTask): Lease {
  return { id: t.id, shard: t.shard, token: t.token };
}

/** The store's ack item of a queued success. */
function ackItem(a: AckQueued): AckItem & { shard: number } {
  const item: AckItem & { shard: number } = lease(a.task);
  if (a.followers.length > 0) item.followers = a.followers.map((f) => f.id);
  if (a.tail) item.tail = a.tail.kind === 'retry' ? { kind: 'retry', id: a.tail.task.id, delayMs: a.tail.delayMs, error: a.tail.error, keepAttempt: a.tail.deferred !== undefined } : { kind: 'handover', id: a.tail.task.id };
  return item;
}

/** The delay chosen after the task's last failure, for decorrelated jitter; null before any failure. */
function previousDelay(t: ClaimedTask): number | null {
  return t.attempt < 1 ? null : (t.previousDelayMs ?? null);
}
