/**
 * Dispatch 'process': the worker calls the handler itself with the record as
 * Kafka delivered it and the retry context. A claimed chain (a head and the
 * tasks of its aggregate queued behind it) runs in order and stops at the
 * first failure; its outcome is reported once.
 */
import { storedRecord, type Handler, type RetryContext } from '../handler.js';
import type { ClaimedTask, TaskError } from '../store/task.js';
import type { Outcomes } from './outcomes.js';
import type { LazyTaskRunner, RunAbort } from './worker.js';

/** A failed attempt's error (wrapped: a handler may throw anything, undefined included). */
type Failure = { error: unknown };

/** The retry context of one attempt; its signal is made only when read (most handlers never do). */
class AttemptContext implements RetryContext {
  readonly attempt: number;
  readonly firstFailureAt: number | null;
  readonly lastError: TaskError | null;
  readonly taskId: string;

  constructor(
    task: ClaimedTask,
    private readonly abort: RunAbort,
  ) {
    this.attempt = task.attempt + 1;
    this.firstFailureAt = task.firstFailureAt;
    this.lastError = task.lastError;
    this.taskId = task.id;
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }
}

/** Runs the handler on claimed tasks and chains and reports success or failure. */
export function processRunner(handler: Handler): LazyTaskRunner {
  /** One handler call: undefined on success, the failure, or a promise of either when the handler is async. */
  function attempt(task: ClaimedTask, abort: RunAbort): Failure | undefined | Promise<Failure | undefined> {
    let result: unknown;
    try {
      result = handler(storedRecord(task.record), new AttemptContext(task, abort));
    } catch (error) {
      return { error };
    }
    if (result !== null && typeof result === 'object' && typeof (result as Promise<void>).then === 'function') {
      return Promise.resolve(result).then(
        () => undefined,
        (error: unknown) => ({ error }),
      );
    }
    return undefined;
  }

  async function runLazy(task: ClaimedTask, outcomes: Outcomes, abort: RunAbort): Promise<void> {
    const started = performance.now();
    let failure = attempt(task, abort);
    if (failure instanceof Promise) failure = await failure;
    // closing: the task is released, not failed
    if (abort.aborted) return;
    if (failure) return outcomes.failed(task, failure.error);
    const ok: ClaimedTask[] = [];
    for (const follower of task.followers ?? []) {
      // closing mid-chain: the prefix that ran is acked, the rest waits for the next claim
      if (abort.aborted) break;
      let f = attempt(follower, abort);
      if (f instanceof Promise) f = await f;
      if (abort.aborted) break;
      if (f) return outcomes.chainFailed(task, performance.now() - started, ok, follower, f.error);
      ok.push(follower);
    }
    outcomes.succeeded(task, performance.now() - started, ok);
  }

  return {
    chains: true,
    runLazy,
    run: (task, outcomes, signal) => runLazy(task, outcomes, { signal, get aborted() { return signal.aborted; } }),
  };
}
