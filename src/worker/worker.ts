/**
 * The worker: claims due tasks from every shard, runs them with a
 * concurrency limit, and reports outcomes in batches. It sleeps exactly
 * until the next due time (or lease deadline) and wakes early when a task
 * is scheduled sooner. Stateless: any number of workers may share a store.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { describeError } from '../policy/classify.js';
import { TypedEmitter, type ZRetryEmitter, type ZRetryEvents } from '../events.js';
import type { TaskStore } from '../store/store.js';
import type { ClaimedTask, DeadKind } from '../store/task.js';
import type { CorruptClaim } from '../store/scripts.js';
import { sleep } from '../util/sleep.js';
import { Outcomes, lease, type OutcomeOptions } from './outcomes.js';
import { Waker } from './waker.js';
import { logRedisErrors } from '../util/redis-errors.js';
import { redactCommand } from '../util/redis-errors.js';

/** What the worker does with a claimed task (process: call the handler; republish: send it to Kafka). */
export interface TaskRunner {
  /**
   * Runs one task and reports its outcome on outcomes (succeeded / failed /
   * die), or leaves it in flight for someone else to report (republish).
   */
  run(task: ClaimedTask, outcomes: Outcomes, signal: AbortSignal): Promise<void>;
  /** True when the runner manages the task's lease itself (the worker then does not extend it). */
  ownsLease?(task: ClaimedTask): boolean;
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
  /** How long a claim holds a task before another worker may take it. */
  leaseMs: number;
  /** Longest sleep between claims when nothing is due (a safety net; wake-ups are pushed). */
  maxSleepMs: number;
  /** How long close() waits for running tasks before releasing them. */
  closeTimeoutMs: number;
  /** Connection for the wake channel; default: a duplicate of the store's. */
  subscriber?: Redis;
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

/** A running task and the controller that aborts it. */
interface Running {
  task: ClaimedTask;
  abort: AbortController;
  done: Promise<void>;
}

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
  private slotFreed: (() => void) | null = null;
  private extendTimer: NodeJS.Timeout | null = null;
  /** Redis time minus local time, from the last claim reply. */
  private clockOffset = 0;
  private shardCursor = 0;

  constructor(private readonly opts: WorkerOptions) {
    this.events = opts.events ?? new TypedEmitter<ZRetryEvents>();
    this.log = opts.logger.child({ component: 'worker', namespace: opts.store.options.namespace });
    this.outcomes = new Outcomes(opts.store, opts.outcomes, this.events, this.log, () => Date.now() + this.clockOffset);
    const sub = opts.subscriber ?? opts.store.redis.duplicate();
    logRedisErrors(opts.store.redis, this.log, 'store');
    logRedisErrors(sub, this.log, 'wake-subscriber');
    this.waker = new Waker(sub, opts.store.channel, this.log);
  }

  /** Starts claiming. Resolves once subscribed to the wake channel. */
  async start(): Promise<void> {
    await this.waker.start();
    this.extendTimer = setInterval(() => void this.extendLeases(), Math.max(50, Math.floor(this.opts.leaseMs / 3)));
    this.extendTimer.unref();
    this.loopDone = this.loop();
    this.log.info({ concurrency: this.opts.concurrency, shards: this.opts.store.options.shards }, 'worker started');
  }

  /** Tasks running now. */
  get active(): number {
    return this.running.size;
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
    this.slotFreed?.();
    await this.loopDone;
    const all = Promise.all([...this.running.values()].map((r) => r.done));
    const deadline = new AbortController();
    const timedOut = await Promise.race([all.then(() => false), sleep(this.opts.closeTimeoutMs, deadline.signal).then(() => !deadline.signal.aborted)]);
    deadline.abort(); // clears the deadline timer, which would keep the process alive
    if (timedOut) {
      const left = [...this.running.values()];
      for (const r of left) r.abort.abort(new Error('worker closing'));
      await this.releaseLeft(left.map((r) => r.task));
    }
    if (!(await this.outcomes.drain(this.opts.closeTimeoutMs))) {
      // Redis is away: those tasks' leases run out and they run again (at least once, never lost)
      this.log.warn({ pending: this.outcomes.pending() }, 'closing without writing every outcome: Redis did not answer in time');
    }
    if (this.extendTimer) clearInterval(this.extendTimer);
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

  private async loop(): Promise<void> {
    let backoff = 100;
    let outage = false;
    while (!this.closing) {
      const free = this.opts.concurrency - this.running.size;
      if (free <= 0) {
        await new Promise<void>((r) => (this.slotFreed = r));
        continue;
      }
      const shards = this.opts.store.options.shards;
      let full = false;
      let waitMs = this.opts.maxSleepMs;
      let nowRedis = Date.now() + this.clockOffset;
      this.waker.beginRound();
      try {
        for (let i = 0; i < shards && !this.closing; i++) {
          const shard = (this.shardCursor + i) % shards;
          const want = Math.min(this.opts.concurrency - this.running.size, this.opts.batchSize);
          if (want <= 0) {
            full = true;
            break;
          }
          const reply = await this.opts.store.claim(shard, want, this.opts.leaseMs);
          this.clockOffset = reply.now - Date.now();
          nowRedis = reply.now;
          if (reply.tasks.length > 0) {
            this.events.emit('claimed', { shard, count: reply.tasks.length, latenessMs: reply.tasks.map((t) => reply.now - t.dueAt) });
          }
          for (const t of reply.tasks) this.startTask(t);
          if (reply.unreadable.length > 0) void this.killUnreadable(shard, reply.unreadable);
          if (reply.corruptMeta.length > 0) this.log.error({ shard, ids: reply.corruptMeta }, 'tasks with unreadable metadata were moved to the dead set; an aggregate they headed stays held: `zretry list --state waiting` shows it, `zretry unhold <aggregate>` frees it');
          if (reply.tasks.length + reply.unreadable.length >= want) full = true;
          if (reply.next !== null) waitMs = Math.min(waitMs, reply.next - reply.now);
        }
        this.shardCursor = (this.shardCursor + 1) % shards;
        if (outage) this.log.info('Redis answers again; claiming resumed');
        outage = false;
        backoff = 100;
      } catch (error) {
        this.events.emit('store-error', { op: 'claim', error: redactCommand(error) });
        if (!outage) this.log.warn({ err: describeError(error, 500) }, 'claim failed (Redis unavailable?); pausing and trying again');
        outage = true;
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 5000);
        continue;
      }
      if (!full && !this.closing) {
        const ms = Math.max(0, waitMs);
        await this.waker.sleep(ms, nowRedis + ms);
      }
    }
  }

  private startTask(task: ClaimedTask): void {
    const abort = new AbortController();
    const run = async (): Promise<void> => {
      try {
        if (task.doomed) {
          await this.outcomes.die(task, { kind: task.doomed, detail: DOOM_DETAIL[task.doomed], error: task.lastError });
        } else {
          await this.opts.runner.run(task, this.outcomes, abort.signal);
        }
      } catch (error) {
        // A runner must report its own failures; reaching here is a bug in it. Keep the task: its lease expires.
        this.log.error({ taskId: task.id, err: describeError(error, 2000) }, 'task runner threw; the task comes back when its lease expires');
      } finally {
        this.running.delete(runKey(task));
        const wake = this.slotFreed;
        this.slotFreed = null;
        wake?.();
      }
    };
    this.running.set(runKey(task), { task, abort, done: run() });
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
    try {
      const codes = await this.opts.store.extend(runs.map((r) => lease(r.task)), this.opts.leaseMs);
      codes.forEach((c, i) => {
        if (c === 'ok') return;
        // another claim owns the task now: stop this run; its outcome would be refused anyway
        const r = runs[i]!;
        this.events.emit('lease-lost', { id: r.task.id, shard: r.task.shard, op: 'extend' });
        this.log.warn({ taskId: r.task.id, shard: r.task.shard, code: c }, 'lease lost while running: another claim owns the task; this run is aborted and its outcome will be refused');
        r.abort.abort(new Error('lease lost'));
      });
    } catch (error) {
      this.events.emit('store-error', { op: 'extend', error: redactCommand(error) });
    }
  }
}
