/**
 * Runs the records of a batch that may run now: records of one aggregate
 * in offset order, aggregates concurrently up to a limit. A failure (after
 * the optional blocking phase) is decided by the retry policy and queued to
 * be stored, and the later records of its aggregate in the batch park
 * behind it. A handler that returns synchronously costs no promise: the
 * whole run of an aggregate then happens in one turn.
 */
import type { Logger } from 'pino';
import type { ZRetryEmitter } from '../events.js';
import { storedRecord, type Handler } from '../handler.js';
import { AttemptContext, callHandler, settle, type Failure } from '../handler-call.js';
import { decide, type RetryPolicy } from '../policy/backoff.js';
import { classify, describeError, type ClassifierOptions } from '../policy/classify.js';
import type { ClaimedTask, NewTask } from '../store/task.js';
import type { TaskRecord } from '../store/record-codec.js';
import { sleep } from '../util/sleep.js';
import type { DeadLetterSink, Outcomes } from '../worker/outcomes.js';
import { Kind, recordBytes, type Batch } from './batch.js';
import type { RepublishedInfo } from './headers.js';

/** What running a batch needs. */
export interface RunOptions {
  handler: Handler;
  policy: RetryPolicy;
  classifier: ClassifierOptions;
  /** Quick in-process attempts before a failure is scheduled (0: none). */
  blocking: { attempts: number; delayMs: number };
  /** Aggregates run concurrently within a batch, up to this many. */
  concurrency: number;
  /** Reports outcomes of republished records. */
  outcomes: Outcomes;
  /** Where too-large records go. */
  deadLetter: DeadLetterSink;
  maxRecordBytes: number;
  /** Longest stack kept with a failure's error (failure.maxStackChars; 0: none). */
  maxStackChars: number;
  /**
   * Whether a failed first try goes back without counting its attempt (a
   * throttle, or an open breaker of its topic or error class; the consumer's
   * worker judges it, docs/dispatch-control.md); null: an ordinary failure.
   */
  deferFresh?: (record: TaskRecord, err: unknown) => { reason: string; delayMs: number } | null;
  /** Aborted when the consumer closes; the handler's ctx.signal aborts with it. */
  signal: AbortSignal;
  /** An attempt that runs longer fails with HandlerTimeoutError (0: no limit). */
  attemptTimeoutMs: number;
  logger: Logger;
  events: ZRetryEmitter;
}

/** Per batch: stop starting records (a rebalance, or the consumer stopping), and hold copies' leases while they run. */
export interface RunGuard {
  stopped(): boolean;
  hold(task: ClaimedTask): () => void;
}

/** Runs the batch's records that admit let through; resolves with the error of a failed too-large dead letter, if any. */
export async function runBatch(b: Batch, opts: RunOptions, guard: RunGuard): Promise<unknown> {
  const run = new BatchRun(b, opts, guard);
  const lanes = run.groups();
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < lanes.length) {
      const pending = run.group(lanes[next++]!, 0);
      if (pending) await pending;
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency, lanes.length) }, lane));
  return run.deadLetterFailed;
}

/** How many records run between two looks at whether the batch must stop. */
const STOP_CHECK = 64;

class BatchRun {
  /** Aggregates whose record failed in this batch: their later records park behind it. */
  private readonly failedAggs = new Set<string>();
  /** guard.stopped() is asked every STOP_CHECK records, and after every wait: kafkajs's isStale() costs a JSON.stringify. */
  private sinceCheck = STOP_CHECK;
  private isStopped = false;
  deadLetterFailed: unknown = null;

  constructor(
    private readonly b: Batch,
    private readonly opts: RunOptions,
    private readonly guard: RunGuard,
  ) {
  }

  /**
   * Applies admit's verdicts (parked records are queued to be stored,
   * duplicates and stale copies are done) and groups the rest: one group
   * per aggregate, in offset order, one per record without one.
   */
  groups(): number[][] {
    const { b } = this;
    const byAgg = new Map<string, number[]>();
    const groups: number[][] = [];
    for (let i = 0; i < b.n; i++) {
      const kind = b.kind[i];
      if (kind === Kind.Skip) continue;
      const verdict = b.verdicts[i]?.outcome ?? 'go';
      if (verdict === 'duplicate') {
        b.done[i] = 1;
        this.opts.events.emit('scheduled', { id: b.ids[i]!, outcome: 'duplicate', attempt: 0 });
        continue;
      }
      if (verdict === 'stale') {
        b.done[i] = 1;
        continue;
      }
      if (verdict === 'park') {
        this.park(i);
        continue;
      }
      const agg = kind === Kind.Fresh ? b.aggs[i]! : null;
      if (agg === null) {
        groups.push([i]);
        continue;
      }
      let g = byAgg.get(agg);
      if (!g) {
        byAgg.set(agg, (g = []));
        groups.push(g);
      }
      g.push(i);
    }
    return groups;
  }

  /** Runs group g from its k-th record; returns a promise only when a record had to wait. */
  group(g: number[], k: number): Promise<void> | undefined {
    for (; k < g.length; k++) {
      if (this.stopped()) return undefined;
      const pending = this.record(g[k]!);
      if (pending) {
        const from = k + 1;
        return pending.then(() => {
          this.sinceCheck = STOP_CHECK;
          return this.group(g, from);
        });
      }
    }
    return undefined;
  }

  /** Whether to stop starting records (a rebalance, or the consumer stopping). */
  private stopped(): boolean {
    if (this.isStopped) return true;
    if (++this.sinceCheck < STOP_CHECK) return false;
    this.sinceCheck = 0;
    return (this.isStopped = this.guard.stopped());
  }

  private record(i: number): Promise<void> | undefined {
    const { b } = this;
    switch (b.kind[i]) {
      case Kind.Copy:
        return this.copy(i, b.copies.get(i)!);
      case Kind.TooLarge:
        return this.tooLarge(i);
      case Kind.BadId: {
        const error = describeError(b.badIds.get(i), this.opts.maxStackChars);
        this.opts.logger.warn({ topic: b.topic, partition: b.partition, offset: b.messages[i]!.offset, err: { class: error.class, message: error.message } }, 'aggregateId/messageId failed on a record; it goes to the dead-letter topic');
        b.toStore.push({ index: i, task: { id: b.ids[i]!, aggregateId: null, delayMs: 0, attempt: 0, error, record: b.taskRecord(i), doom: 'fatal' } });
        return undefined;
      }
    }
    const agg = b.aggs[i]!;
    // an earlier record of this aggregate failed in this batch: park behind it
    if (agg !== null && this.failedAggs.has(agg)) return void this.park(i);
    return this.fresh(i, 1);
  }

  /** A first try (or a blocking-phase retry) of a fresh record. */
  private fresh(i: number, attempt: number): Promise<void> | undefined {
    const ctx = new AttemptContext(attempt, null, null, null, this.opts.signal, this.b.aggs[i]!, this.b.ids[i]!);
    const outcome = callHandler(this.opts.handler, this.b.records[i]!, ctx, this.opts.attemptTimeoutMs, this.opts.events);
    if (outcome instanceof Promise) return outcome.then((f) => (f ? this.failed(i, f, attempt) : void (this.b.done[i] = 1)));
    if (outcome) return this.failed(i, outcome, attempt);
    this.b.done[i] = 1;
    return undefined;
  }

  /**
   * Attempt `attempt` of fresh record i failed: a throttle or an open
   * breaker stores it without counting the attempt; else try again in
   * process while the blocking phase and maxAttempts allow, else decide by
   * policy and queue the record to be stored (due after its backoff, or
   * doomed).
   */
  private failed(i: number, failure: Failure, attempt: number): Promise<void> | undefined {
    const { b, opts } = this;
    const err = failure.error ?? new Error('handler threw a nullish value');
    const record = b.taskRecord(i);
    const deferral = opts.deferFresh?.(record, err) ?? null;
    if (deferral) {
      // a failure that does not count (throttled, or a breaker is open): stored with the attempts made before it, due after the wait
      settle(failure, 'retry', deferral.delayMs);
      return this.store(i, { delayMs: deferral.delayMs, attempt: attempt - 1, error: describeError(err, opts.maxStackChars), record });
    }
    const classification = classify(err, opts.classifier);
    if (attempt <= opts.blocking.attempts && attempt < opts.policy.maxAttempts && classification.kind === 'retriable') {
      settle(failure, 'retry', opts.blocking.delayMs);
      return sleep(opts.blocking.delayMs).then(() => this.fresh(i, attempt + 1));
    }
    const decision = decide(opts.policy, { attempt, firstFailureAt: 0, now: 0, previousDelayMs: null, error: err, classification });
    settle(failure, decision.action === 'retry' ? 'retry' : 'dead', decision.action === 'retry' ? decision.delayMs : undefined);
    return this.store(i, {
      delayMs: decision.action === 'retry' ? decision.delayMs : 0,
      attempt,
      error: describeError(err, opts.maxStackChars),
      record,
      doom: decision.action === 'dead' ? decision.reason : undefined,
    });
  }

  /** Queues record i to be stored behind its aggregate's head (attempt 0: never tried). */
  private park(i: number): void {
    this.store(i, { delayMs: 0, attempt: 0, error: null, record: this.b.taskRecord(i) });
  }

  /** Queues record i to be stored (the batch's schedule call); the later records of its aggregate in the batch park behind it. */
  private store(i: number, task: Omit<NewTask, 'id' | 'aggregateId'>): undefined {
    const { b } = this;
    const agg = b.aggs[i]!;
    if (agg !== null) this.failedAggs.add(agg);
    b.toStore.push({ index: i, task: { id: b.ids[i]!, aggregateId: agg, ...task } });
    return undefined;
  }

  /** A copy a worker republished: its handler runs under the lease admit gave it; the outcome goes through Outcomes. */
  private async copy(i: number, rep: RepublishedInfo): Promise<void> {
    const task: ClaimedTask = {
      id: rep.taskId,
      shard: rep.shard,
      token: this.b.verdicts[i]!.token!,
      attempt: rep.attempt - 1,
      aggregateId: rep.aggregateId,
      firstFailureAt: rep.firstFailureAt,
      lastError: rep.lastError,
      dueAt: 0,
      doomed: null,
      record: rep.original,
    };
    const release = this.guard.hold(task);
    const started = performance.now();
    try {
      const ctx = new AttemptContext(rep.attempt, rep.firstFailureAt, rep.lastError, rep.taskId, this.opts.signal, rep.aggregateId, rep.taskId);
      const failure = await callHandler(this.opts.handler, storedRecord(rep.original), ctx, this.opts.attemptTimeoutMs, this.opts.events);
      if (failure) await this.opts.outcomes.failed(task, failure.error, failure);
      else this.opts.outcomes.succeeded(task, performance.now() - started);
    } finally {
      release();
    }
    this.b.done[i] = 1;
  }

  /** A record too large to keep in Redis goes to the dead-letter topic as it arrives, outside its aggregate's queue. */
  private async tooLarge(i: number): Promise<void> {
    const { b, opts } = this;
    const rec = b.taskRecord(i);
    const bytes = recordBytes(rec);
    const task: ClaimedTask = { id: b.ids[i]!, shard: -1, token: '', attempt: 0, aggregateId: b.aggs[i]!, firstFailureAt: null, lastError: null, dueAt: 0, doomed: 'too-large', record: rec };
    const detail = `record of ${bytes} bytes is larger than consumer.maxRecordBytes (${opts.maxRecordBytes}); not handled, not stored`;
    try {
      await opts.deadLetter(task, { kind: 'too-large', detail, error: null });
      opts.logger.warn({ topic: b.topic, partition: b.partition, offset: rec.offset, bytes, limit: opts.maxRecordBytes }, 'record too large to keep for retries: written to the dead-letter topic');
      opts.events.emit('dead', { task, reason: { kind: 'too-large', detail, error: null } });
      b.done[i] = 1;
    } catch (error) {
      this.deadLetterFailed = error;
    }
  }
}
