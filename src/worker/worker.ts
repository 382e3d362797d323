/**
 * The worker: claims due tasks from every shard, runs them with a
 * concurrency limit, and reports outcomes in batches. It sleeps exactly
 * until the next due time (or lease deadline) and wakes early when a task
 * is scheduled sooner. Stateless: any number of workers may share a store.
 */
import { subscriberFor, type RedisClient } from '../store/client.js';
import type { Logger } from 'pino';
import { describeError } from '../policy/classify.js';
import { TypedEmitter, type ZRetryEmitter, type ZRetryEvents } from '../events.js';
import { ShardsFailedError, type TaskStore } from '../store/store.js';
import type { ClaimedTask, DeadKind } from '../store/task.js';
import type { ClaimReply, CorruptClaim } from '../store/scripts.js';
import { sleep } from '../util/sleep.js';
import { Outcomes, lease, type OutcomeOptions } from './outcomes.js';
import { Waker } from './waker.js';
import { logRedisErrors } from '../util/redis-errors.js';
import { redactCommand } from '../util/redis-errors.js';
import type { DispatchConfig } from '../config/schema.js';
import { DispatchControl } from './dispatch-control.js';

/** What the worker does with a claimed task (process: call the handler; republish: send it to Kafka). */
export interface TaskRunner {
  /**
   * Runs one task and reports its outcome on outcomes (succeeded / failed /
   * die), or leaves it in flight for someone else to report (republish).
   */
  run(task: ClaimedTask, outcomes: Outcomes, signal: AbortSignal): Promise<void>;
  /** True when the runner manages the task's lease itself (the worker then does not extend it). */
  ownsLease?(task: ClaimedTask): boolean;
  /** True when the runner runs a claimed task's followers after it (a chain); others are claimed without. */
  readonly chains?: boolean;
}

/**
 * The abort state of one run, read lazily: an AbortSignal costs about 1.5 µs
 * to create in Node 20 (a sixth of the client's time per task in a drain),
 * and most runs never look at it.
 */
export interface RunAbort {
  /** Created on first read. */
  readonly signal: AbortSignal;
  /** True once the run was aborted; does not create the signal. */
  readonly aborted: boolean;
}

/** A runner that takes the abort state lazily (the process runner); the worker prefers runLazy when present. */
export interface LazyTaskRunner extends TaskRunner {
  runLazy(task: ClaimedTask, outcomes: Outcomes, abort: RunAbort): Promise<void>;
}

/** Worker settings (validated by the config schema before they get here). */
export interface WorkerOptions {
  store: TaskStore;
  runner: TaskRunner;
  outcomes: OutcomeOptions;
  logger: Logger;
  /** Most tasks running at once. */
  concurrency: number;
  /** Most tasks claimed per script call. */
  batchSize: number;
  /** Most tasks of one aggregate run under one claim: a head and up to chainLength - 1 tasks queued behind it. */
  chainLength: number;
  /** How long a claim holds a task before another worker may take it. */
  leaseMs: number;
  /** The safety net under pushed wake-ups: no shard goes unclaimed longer than this, however often other shards wake the loop. */
  maxSleepMs: number;
  /** How long close() waits for running tasks before releasing them. */
  closeTimeoutMs: number;
  /** Dispatch control (limits, breakers, throttles; docs/dispatch-control.md); unset: none, claims as before. */
  dispatch?: DispatchConfig;
  /** Connection for the wake channels (SSUBSCRIBE; a Cluster needs shardedSubscribers: true); default: a copy of the store's with that set. */
  subscriber?: RedisClient;
  events?: ZRetryEmitter;
}

/** The sentence a dead letter carries when a doomed task is written. */
const DOOM_DETAIL: Record<DeadKind, string> = {
  'predecessor-died': 'an earlier record of its aggregate died and the follower policy is dead-letter',
  fatal: 'the handler failed with an error that is never retried',
  'attempts-exhausted': 'every attempt failed',
  'time-budget-exhausted': 'the retry time budget ran out',
  unreadable: 'the task could not be read',
  'killed-by-operator': 'an operator sent it to the dead-letter topic',
  'too-large': 'the record is larger than consumer.maxRecordBytes',
};

/** Runs are told apart by claim: the same task may be claimed again after a lease was lost. */
function runKey(t: ClaimedTask): string {
  return `${t.id}#${t.token}`;
}

/** A running task; its AbortController is made only when the signal is read or the run is aborted. */
class Running implements RunAbort {
  done: Promise<void> = Promise.resolve();
  private ctrl: AbortController | null = null;

  constructor(readonly task: ClaimedTask) {}

  get signal(): AbortSignal {
    return (this.ctrl ??= new AbortController()).signal;
  }

  get aborted(): boolean {
    return this.ctrl !== null && this.ctrl.signal.aborted;
  }

  abort(reason: Error): void {
    (this.ctrl ??= new AbortController()).abort(reason);
  }
}

/** A claim call under way or answered. */
interface ClaimResult {
  shard: number;
  want: number;
  reply?: ClaimReply;
  error?: unknown;
  /** It took longer than SLOW_CLAIM_MS: it no longer counted as one of the claims in flight. */
  slow: boolean;
}

/**
 * A claim unanswered this long (a claim takes a few ms) stops counting as
 * one of the two in flight, so a shard whose master is away, on which
 * ioredis waits for the failover, does not hold up the others' claims.
 */
const SLOW_CLAIM_MS = 250;

/** Claims and runs due tasks until closed. */
export class Worker {
  readonly events: ZRetryEmitter;
  private readonly outcomes: Outcomes;
  private readonly waker: Waker;
  private readonly log: Logger;
  private readonly running = new Map<string, Running>();
  private closing = false;
  private closed: Promise<void> | null = null;
  private loopDone: Promise<void> | null = null;
  /** Resolves the loop's wait for a freed slot or a claim's answer. */
  private loopWake: (() => void) | null = null;
  /** Claim answers the loop has not taken yet. */
  private readonly answers: ClaimResult[] = [];
  private readonly lazyRunner: LazyTaskRunner | null;
  private extendTimer: NodeJS.Timeout | null = null;
  /** Redis time minus the local monotonic clock (performance.now(), which a wall-clock step does not move), from the last claim reply. */
  private clockOffset = 0;
  private shardCursor = 0;
  /** Limits, breakers and throttles; null without opts.dispatch. */
  readonly control: DispatchControl | null;

  constructor(private readonly opts: WorkerOptions) {
    this.events = opts.events ?? new TypedEmitter<ZRetryEvents>();
    this.log = opts.logger.child({ component: 'worker', namespace: opts.store.options.namespace });
    this.control = opts.dispatch ? new DispatchControl(opts.store, opts.dispatch, this.events, this.log.child({ component: 'dispatch-control' }), () => this.runningByTopic()) : null;
    const control = this.control;
    const outcomes = control && !opts.outcomes.defer ? { ...opts.outcomes, defer: (t: ClaimedTask, e: unknown) => control.defer(t, e), confirmDeath: (t: ClaimedTask) => control.confirmDeath(t) } : opts.outcomes;
    this.outcomes = new Outcomes(opts.store, outcomes, this.events, this.log, () => performance.now() + this.clockOffset);
    const sub = opts.subscriber ?? subscriberFor(opts.store.redis);
    logRedisErrors(opts.store.redis, this.log, 'store');
    logRedisErrors(sub, this.log, 'wake-subscriber');
    this.waker = new Waker(sub, opts.store.channels, this.log);
    const runner = opts.runner as Partial<LazyTaskRunner>;
    this.lazyRunner = typeof runner.runLazy === 'function' ? (opts.runner as LazyTaskRunner) : null;
  }

  /** Starts claiming. Resolves once subscribed to the wake channels. */
  async start(): Promise<void> {
    await this.waker.start();
    await this.control?.start();
    this.extendTimer = setInterval(() => void this.extendLeases(), Math.max(50, Math.floor(this.opts.leaseMs / 3)));
    this.extendTimer.unref();
    this.loopDone = this.loop();
    this.log.info({ concurrency: this.opts.concurrency, shards: this.opts.store.options.shards }, 'worker started');
  }

  /** Tasks running now. */
  get active(): number {
    return this.running.size;
  }

  /** Tasks running now per topic scope ('topic:<t>'), with a chain's followers. */
  private runningByTopic(): Map<string, number> {
    const out = new Map<string, number>();
    for (const r of this.running.values()) {
      const scope = `topic:${r.task.record.topic}`;
      out.set(scope, (out.get(scope) ?? 0) + 1 + (r.task.followers?.length ?? 0));
    }
    return out;
  }

  /**
   * Stops claiming, lets running tasks finish within closeTimeoutMs, gives
   * the rest back (due now, attempt unchanged) and writes every outcome.
   * Idempotent: a second call returns the first call's promise.
   */
  close(): Promise<void> {
    this.closed ??= this.doClose();
    return this.closed;
  }

  private async doClose(): Promise<void> {
    this.closing = true;
    this.waker.interrupt();
    this.signalLoop();
    await this.loopDone;
    const all = Promise.all([...this.running.values()].map((r) => r.done));
    const deadline = new AbortController();
    const timedOut = await Promise.race([all.then(() => false), sleep(this.opts.closeTimeoutMs, deadline.signal).then(() => !deadline.signal.aborted)]);
    deadline.abort(); // clears the deadline timer, which would keep the process alive
    if (timedOut) {
      const left = [...this.running.values()];
      for (const r of left) r.abort(new Error('worker closing'));
      await this.releaseLeft(left.map((r) => r.task));
    }
    if (!(await this.outcomes.drain(this.opts.closeTimeoutMs))) {
      // Redis is away: those tasks' leases run out and they run again (at least once, never lost)
      this.log.warn({ pending: this.outcomes.pending() }, 'closing without writing every outcome: Redis did not answer in time');
    }
    if (this.extendTimer) clearInterval(this.extendTimer);
    await this.control?.stop().catch(() => undefined);
    await this.waker.stop();
    this.log.info({ released: timedOut }, 'worker closed');
  }

  private async releaseLeft(tasks: ClaimedTask[]): Promise<void> {
    for (let delay = 100; ; delay = Math.min(delay * 2, 2000)) {
      try {
        await this.opts.store.release(tasks.map(lease));
        for (const t of tasks) this.running.delete(runKey(t));
        this.log.info({ count: tasks.length }, 'released unfinished tasks');
        return;
      } catch (error) {
        // Their leases run out by themselves if Redis stays away: nothing is lost.
        this.log.warn({ err: describeError(error, 500) }, 'releasing unfinished tasks failed; their leases will expire instead');
        if (this.closing) return;
        await sleep(delay);
      }
    }
  }

  /** Wakes the loop: a slot freed, a claim answered, or close() began. */
  private signalLoop(): void {
    const wake = this.loopWake;
    this.loopWake = null;
    wake?.();
  }

  private answer(r: ClaimResult): void {
    this.answers.push(r);
    this.signalLoop();
    // the loop may be asleep with only this claim outstanding
    if (r.slow) this.waker.interrupt();
  }

  /**
   * Claims with up to two calls in flight, each for at most half the slots,
   * so that Redis runs one claim while this process starts and acks the
   * tasks of the other; shards are taken in turn. A claim waits for a
   * quarter of a batch of free slots (or an idle worker), so one freed slot
   * does not cost a round trip. When every shard had less due than asked
   * for, the worker sleeps until the earliest next due time (or a nudge),
   * then claims from the shards that are due or were nudged.
   * A shard whose claim fails (its Redis, or on a cluster its master, is
   * away) backs off alone, 100 ms doubling to 5 s: the other shards keep
   * being claimed, and a claim that hangs (ioredis waiting for a failover)
   * stops holding a place among the two in flight after SLOW_CLAIM_MS. One
   * warning when the first shard fails, one line when the last one answers
   * again.
   */
  private async loop(): Promise<void> {
    const { concurrency, batchSize, leaseMs, maxSleepMs } = this.opts;
    const chain = this.opts.runner.chains ? Math.max(0, this.opts.chainLength - 1) : 0;
    const shards = this.opts.store.options.shards;
    const perClaim = Math.max(1, Math.min(batchSize, Math.ceil(concurrency / 2)));
    const minClaim = Math.max(1, Math.floor(Math.min(batchSize, concurrency) / 4));
    const maxInFlight = 2;
    /** Shards whose last claim failed: local time they may be tried again, and the next backoff. */
    const failing = new Map<number, { until: number; backoff: number }>();
    /** Shards with a slow claim (SLOW_CLAIM_MS) still unanswered: no other claim goes there meanwhile. */
    const slow = new Set<number>();
    let inFlight = 0;
    /** Slots promised to the claims in flight. */
    let reserved = 0;
    /**
     * Shards that had less due than asked for since the last full claim or
     * sleep: when each next needs attention (Redis time; null: nothing
     * scheduled), from its last claim, and when it went dry (local time):
     * none is left unpolled longer than maxSleepMs, however often other
     * shards' due times wake the loop (a shard that looked empty may have
     * been given work whose nudge was missed).
     */
    const dry = new Map<number, { next: number | null; since: number }>();
    /** Earliest Redis time a dry shard needs attention. */
    let wakeAt = Infinity;
    /** The next shard to claim from, in turn, skipping dry and backing-off shards; -1 if none. */
    const nextShard = (now: number): number => {
      for (let k = 0; k < shards; k++) {
        const s = (this.shardCursor + k) % shards;
        if (!dry.has(s) && !slow.has(s) && (failing.get(s)?.until ?? 0) <= now) return s;
      }
      return -1;
    };
    this.waker.beginRound();
    while (!this.closing || inFlight > 0 || slow.size > 0) {
      for (let r = this.answers.shift(); r; r = this.answers.shift()) {
        if (r.slow) slow.delete(r.shard);
        else {
          inFlight--;
          reserved -= r.want;
        }
        const { shard } = r;
        if (!r.reply) {
          this.events.emit('store-error', { op: 'claim', error: redactCommand(r.error) });
          const f = failing.get(shard);
          if (failing.size === 0) this.log.warn({ shard, err: describeError(r.error, 500) }, 'claim failed (Redis unavailable?); that shard pauses and is tried again, the others go on');
          const backoff = f ? Math.min(f.backoff * 2, 5000) : 100;
          failing.set(shard, { until: performance.now() + backoff, backoff });
          continue;
        }
        if (failing.delete(shard) && failing.size === 0) this.log.info({ shard }, 'Redis answers again on every shard; claiming resumed');
        const { reply } = r;
        if (!reply.estimated) this.clockOffset = reply.now - performance.now();
        if (reply.tasks.length > 0) {
          this.events.emit('claimed', { shard, count: reply.tasks.length, latenessMs: reply.tasks.map((t) => reply.now - t.dueAt) });
        }
        // a slow claim gave its slots back when it turned slow: what does not fit now is released, due again at once
        const room = r.slow ? Math.max(0, concurrency - this.running.size - reserved) : reply.tasks.length;
        for (const t of reply.tasks.slice(0, room)) this.startTask(t);
        if (room < reply.tasks.length) void this.opts.store.release(reply.tasks.slice(room).map(lease)).catch(() => undefined);
        if (reply.unreadable.length > 0) void this.killUnreadable(shard, reply.unreadable);
        if (reply.corruptMeta.length > 0) this.log.error({ shard, ids: reply.corruptMeta }, 'tasks with unreadable metadata were moved to the dead set; an aggregate they headed stays held: `zretry list --state waiting` shows it, `zretry unhold <aggregate>` frees it');
        if (reply.tasks.length + reply.unreadable.length >= r.want) {
          dry.clear();
          wakeAt = Infinity;
        } else {
          dry.set(shard, { next: reply.next, since: performance.now() });
          if (reply.next !== null) wakeAt = Math.min(wakeAt, reply.next);
        }
      }
      if (this.closing) {
        // claims in flight still hand over their tasks, which run (or are released) like the others
        if (inFlight > 0 || slow.size > 0) await new Promise<void>((res) => (this.loopWake = res));
        continue;
      }
      const now = performance.now();
      const shard = nextShard(now);
      const busy = this.running.size + reserved;
      const free = concurrency - busy;
      if (inFlight < maxInFlight && free > 0 && (free >= minClaim || busy === 0) && shard >= 0) {
        this.shardCursor = (shard + 1) % shards;
        const want = Math.min(perClaim, free);
        inFlight++;
        reserved += want;
        const call = { slow: false };
        const timer = setTimeout(() => {
          call.slow = true;
          inFlight--;
          reserved -= want;
          slow.add(shard);
          this.signalLoop();
        }, SLOW_CLAIM_MS);
        (this.control ? this.control.claim(shard, want, leaseMs, chain, now + this.clockOffset) : this.opts.store.claim(shard, want, leaseMs, chain)).then(
          (reply) => {
            clearTimeout(timer);
            this.answer({ shard, want, reply, slow: call.slow });
          },
          (error: unknown) => {
            clearTimeout(timer);
            this.answer({ shard, want, error, slow: call.slow });
          },
        );
        continue;
      }
      if (shard < 0 && inFlight === 0) {
        // every shard is dry or backing off: sleep until one needs attention (or a nudge)
        const nowRedis = now + this.clockOffset;
        // the safety net runs from the shard that went dry first, not from this sleep: short sleeps for other
        // shards' due times must not put it off for ever
        let oldestDry = now;
        for (const d of dry.values()) oldestDry = Math.min(oldestDry, d.since);
        const safetyAt = oldestDry + this.clockOffset + maxSleepMs;
        let until = Math.min(wakeAt, safetyAt);
        for (const f of failing.values()) until = Math.min(until, f.until + this.clockOffset);
        await this.waker.sleep(Math.max(0, until - nowRedis), until);
        // poll again only the shards that need it: nudged, or due by their last claim's answer; all of them
        // when the safety-net sleep ran out (a nudge may have been missed). With many shards, an idle wake-up
        // then costs one claim, not one per shard.
        const awake = performance.now() + this.clockOffset;
        const nudged = this.waker.takeNudged();
        wakeAt = Infinity;
        for (const [s, { next }] of [...dry]) {
          if (awake >= safetyAt || nudged.has(this.opts.store.channels[s]!) || (next !== null && next <= awake + 1)) {
            dry.delete(s);
          } else if (next !== null) wakeAt = Math.min(wakeAt, next);
        }
        this.waker.beginRound();
        continue;
      }
      await new Promise<void>((res) => (this.loopWake = res));
    }
  }

  private startTask(task: ClaimedTask): void {
    const r = new Running(task);
    this.running.set(runKey(task), r);
    r.done = this.runTask(r);
  }

  private async runTask(r: Running): Promise<void> {
    const task = r.task;
    try {
      if (task.doomed) {
        await this.outcomes.die(task, { kind: task.doomed, detail: DOOM_DETAIL[task.doomed], error: task.lastError });
      } else if (this.lazyRunner) {
        await this.lazyRunner.runLazy(task, this.outcomes, r);
      } else {
        await this.opts.runner.run(task, this.outcomes, r.signal);
      }
    } catch (error) {
      // A runner must report its own failures; reaching here is a bug in it. Keep the task: its lease expires.
      this.log.error({ taskId: task.id, err: describeError(error, 2000) }, 'task runner threw; the task comes back when its lease expires');
    } finally {
      this.running.delete(runKey(task));
      this.signalLoop();
    }
  }

  private async killUnreadable(shard: number, bad: CorruptClaim[]): Promise<void> {
    this.log.error({ shard, ids: bad.map((b) => b.id), reasons: bad.map((b) => b.reason) }, 'tasks with unreadable records were moved to the dead set');
    try {
      await this.opts.store.kill(
        bad.map((b) => ({ id: b.id, shard, token: b.token, error: { class: 'PayloadError', message: b.reason } })),
        this.opts.outcomes.followerPolicy,
        true,
      );
    } catch (error) {
      this.events.emit('store-error', { op: 'kill-unreadable', error: redactCommand(error) });
    }
  }

  private async extendLeases(): Promise<void> {
    if (this.running.size === 0) return;
    const runs = [...this.running.values()].filter((r) => !this.opts.runner.ownsLease?.(r.task));
    let codes: ReadonlyArray<string | undefined>;
    try {
      codes = await this.opts.store.extend(runs.map((r) => lease(r.task)), this.opts.leaseMs);
    } catch (error) {
      this.events.emit('store-error', { op: 'extend', error: redactCommand(error) });
      // shards that answered were extended; the others try again at the next tick
      if (!(error instanceof ShardsFailedError)) return;
      codes = (error.results as ReadonlyArray<string | undefined>).map((c, i) => (error.failed.has(runs[i]!.task.shard) ? undefined : c));
    }
    codes.forEach((c, i) => {
      if (c === 'ok' || c === undefined) return;
      // another claim owns the task now: stop this run; its outcome would be refused anyway
      const r = runs[i]!;
      this.events.emit('lease-lost', { id: r.task.id, shard: r.task.shard, op: 'extend' });
      this.log.warn({ taskId: r.task.id, shard: r.task.shard, code: c }, 'lease lost while running: another claim owns the task; this run is aborted and its outcome will be refused');
      r.abort(new Error('lease lost'));
    });
  }
}
