/**
 * Turns handler results into store calls: success -> ack; failure ->
 * classify and decide (pure policy) -> retry, or dead letter then kill.
 * Outcomes are batched: everything that finished while a store call was
 * running goes in the next call, one per shard and kind. A shard whose
 * write fails (its Redis, or on a cluster its master, is away) keeps its
 * outcomes and backs off alone; the other shards' outcomes go through.
 */
import type { Logger } from 'pino';
import { classify, describeError, type ClassifierOptions } from '../policy/classify.js';
import { decide, type RetryPolicy } from '../policy/backoff.js';
import type { DeadReason, ZRetryEmitter } from '../events.js';
import { ShardsFailedError, type Lease, type TaskStore } from '../store/store.js';
import type { ClaimedTask, DeadKind, FollowerPolicy, LeaseOutcome, TaskError } from '../store/task.js';
import { sleep } from '../util/sleep.js';
import { redactCommand } from '../util/redis-errors.js';

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
}

type AckItem = { task: ClaimedTask; durationMs: number };
type RetryItem = { task: ClaimedTask; delayMs: number; error: TaskError; doom?: DeadKind };
type KillItem = { task: ClaimedTask; reason: DeadReason };

/** Batches the outcomes of claimed tasks into ack / retry / kill calls. */
export class Outcomes {
  private acks: AckItem[] = [];
  private retries: RetryItem[] = [];
  private kills: KillItem[] = [];
  private flushing: Promise<void> | null = null;
  private again = false;
  /** Shards whose last write failed: local time they are tried again, and the next backoff. */
  private readonly failing = new Map<number, { until: number; backoff: number }>();
  /** Ends the flush loop's wait for a failing shard's backoff (a new outcome arrived). */
  private wakeFlush: (() => void) | null = null;

  constructor(
    private readonly store: TaskStore,
    private readonly opts: OutcomeOptions,
    private readonly events: ZRetryEmitter,
    private readonly log: Logger,
    /** Redis's now, estimated from the last claim reply plus elapsed local time. */
    private readonly redisNow: () => number,
  ) {}

  /** The handler succeeded. */
  succeeded(task: ClaimedTask, durationMs: number): void {
    this.acks.push({ task, durationMs });
    this.kick();
  }

  /** The handler failed with err: retry or die, by policy and classification. */
  async failed(task: ClaimedTask, err: unknown): Promise<void> {
    const attempt = task.attempt + 1;
    const error = describeError(err, this.opts.maxStackChars);
    const now = this.redisNow();
    const decision = decide(this.opts.policy, {
      attempt,
      firstFailureAt: task.firstFailureAt ?? now,
      now,
      previousDelayMs: previousDelay(task),
      error: err,
      classification: classify(err, this.opts.classifier),
    });
    if (decision.action === 'retry') {
      this.retries.push({ task, delayMs: decision.delayMs, error });
      this.kick();
      return;
    }
    await this.die(task, { kind: decision.reason, detail: decision.detail, error });
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
        this.retries.push({ task, delayMs: this.opts.deadLetterRetryMs, error: reason.error ?? describeError(e, 0), doom: reason.kind });
        this.kick();
        return;
      }
    }
    this.kills.push({ task, reason });
    this.kick();
  }

  /**
   * Resolves true when every outcome given so far is in Redis, or false if
   * timeoutMs passed first (Redis away): the outcomes stay queued and keep
   * being tried.
   */
  async drain(timeoutMs = Infinity): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (this.flushing || this.pending() > 0) {
      if (!this.flushing) this.kick();
      const left = end - Date.now();
      if (left <= 0) return false;
      const timer = new AbortController();
      await Promise.race([this.flushing, sleep(Math.min(left, 2_147_483_647), timer.signal)]);
      timer.abort();
    }
    return true;
  }

  /** Outcomes not yet written. */
  pending(): number {
    return this.acks.length + this.retries.length + this.kills.length;
  }

  private kick(): void {
    if (this.flushing) {
      this.again = true;
      this.wakeFlush?.();
      return;
    }
    this.flushing = new Promise<void>((r) => setImmediate(r)).then(() => this.flushLoop());
  }

  private held(shard: number, now: number): boolean {
    return (this.failing.get(shard)?.until ?? 0) > now;
  }

  /** Writes until nothing is pending; outcomes of failing shards wait out their backoff, the others do not wait for them. */
  private async flushLoop(): Promise<void> {
    try {
      for (;;) {
        this.again = false;
        await this.flushOnce();
        if (this.again) continue;
        const now = Date.now();
        const all = [...this.acks, ...this.retries, ...this.kills];
        if (all.length === 0) break;
        if (all.some((x) => !this.held(x.task.shard, now))) continue;
        const until = Math.min(...all.map((x) => this.failing.get(x.task.shard)?.until ?? now));
        await new Promise<void>((res) => {
          const timer = setTimeout(res, Math.max(0, until - now));
          this.wakeFlush = () => {
            clearTimeout(timer);
            res();
          };
        });
        this.wakeFlush = null;
      }
    } finally {
      this.flushing = null;
    }
  }

  /** One write per kind for every outcome whose shard is not backing off. */
  private async flushOnce(): Promise<void> {
    const now = Date.now();
    const take = <T extends { task: ClaimedTask }>(q: T[]): T[] => {
      const out = q.filter((x) => !this.held(x.task.shard, now));
      if (out.length > 0) q.splice(0, q.length, ...q.filter((x) => this.held(x.task.shard, now)));
      return out;
    };
    const acks = take(this.acks);
    const retries = take(this.retries);
    const kills = take(this.kills);
    const failed = new Set<number>();
    let firstError: unknown = null;
    /**
     * Reports the answers of the shards that answered and puts back the
     * items of the shards that failed. Nothing of a failed call is lost: it
     * goes back in the queue. Should a failed call have landed after all,
     * its second try is refused with 'gone' or 'lease-lost' and never
     * applied twice.
     */
    const settle = async <T extends { task: ClaimedTask }>(op: string, items: T[], q: T[], call: () => Promise<LeaseOutcome[]>, ok: (item: T) => void) => {
      if (items.length === 0) return;
      let codes: ReadonlyArray<LeaseOutcome | undefined>;
      try {
        codes = await call();
      } catch (error) {
        firstError ??= error;
        this.events.emit('store-error', { op: 'outcomes', error: redactCommand(error) });
        const bad = error instanceof ShardsFailedError ? new Set(error.failed.keys()) : new Set(items.map((i) => i.task.shard));
        for (const sh of bad) failed.add(sh);
        codes = error instanceof ShardsFailedError ? (error.results as ReadonlyArray<LeaseOutcome | undefined>).map((c, i) => (bad.has(items[i]!.task.shard) ? undefined : c)) : [];
      }
      const back = items.filter((_, i) => codes[i] === undefined);
      q.unshift(...back);
      this.report(op, items.filter((_, i) => codes[i] !== undefined), codes.filter((c): c is LeaseOutcome => c !== undefined), ok);
    };
    await Promise.all([
      settle('ack', acks, this.acks, () => this.store.ack(acks.map((a) => lease(a.task))), (a) => this.events.emit('succeeded', a)),
      settle(
        'retry',
        retries,
        this.retries,
        () => this.store.retry(retries.map((r) => ({ ...lease(r.task), delayMs: r.delayMs, error: r.error, doom: r.doom }))),
        (r) => !r.doom && this.events.emit('retried', { task: r.task, delayMs: r.delayMs, error: r.error }),
      ),
      settle('kill', kills, this.kills, () => this.store.kill(kills.map((k) => ({ ...lease(k.task), error: k.reason.error })), this.opts.followerPolicy, this.opts.keepDead), (k) =>
        this.events.emit('dead', k),
      ),
    ]);
    const wrote = new Set([...acks, ...retries, ...kills].map((x) => x.task.shard).filter((sh) => !failed.has(sh)));
    for (const sh of failed) {
      if (this.failing.size === 0) {
        this.log.warn({ shard: sh, err: describeError(firstError, 500), pending: this.pending() }, 'writing outcomes to Redis failed; keeping that shard\'s outcomes and trying again, the other shards go on');
      }
      const f = this.failing.get(sh);
      const backoff = f ? Math.min(f.backoff * 2, 2000) : 50;
      this.failing.set(sh, { until: Date.now() + backoff, backoff });
    }
    for (const sh of wrote) {
      if (this.failing.delete(sh) && this.failing.size === 0) this.log.info({ shard: sh }, 'outcomes written again on every shard');
    }
  }

  private report<T extends { task: ClaimedTask }>(op: string, items: T[], codes: LeaseOutcome[], ok: (item: T) => void): void {
    codes.forEach((code, i) => {
      const item = items[i]!;
      if (code === 'ok') return ok(item);
      this.events.emit('lease-lost', { id: item.task.id, shard: item.task.shard, op });
      this.log.warn({ taskId: item.task.id, shard: item.task.shard, op, code }, 'outcome refused: the lease was lost, another claim owns the task');
    });
  }
}

/** The lease of a claimed task. */
export function lease(t: ClaimedTask): Lease {
  return { id: t.id, shard: t.shard, token: t.token };
}

/** The delay the task waited before this attempt, for decorrelated jitter. */
function previousDelay(t: ClaimedTask): number | null {
  if (t.firstFailureAt === null || t.attempt < 1) return null;
  return t.attempt === 1 ? Math.max(0, t.dueAt - t.firstFailureAt) : null;
}
