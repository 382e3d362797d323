/**
 * Dispatch 'process': the worker calls the handler itself with the record as
 * Kafka delivered it and the retry context. A claimed chain (a head and the
 * tasks of its aggregate queued behind it) runs in order and stops at the
 * first failure; its outcome is reported once. Each attempt runs under
 * failure.attemptTimeoutMs (src/handler-call.ts).
 */
import { storedRecord, type Handler } from '../handler.js';
import { AttemptContext, callHandler, settle } from '../handler-call.js';
import type { ZRetryEmitter } from '../events.js';
import type { ClaimedTask } from '../store/task.js';
import type { Outcomes } from './outcomes.js';
import type { LazyTaskRunner, RunAbort } from './worker.js';

/** Runs the handler on claimed tasks and chains and reports success or failure; attemptTimeoutMs: 0 for none. */
export function processRunner(handler: Handler, attemptTimeoutMs = 0, events?: ZRetryEmitter): LazyTaskRunner {
  /** One handler call: undefined on success, the failure, or a promise of either when the handler is async. */
  const attempt = (task: ClaimedTask, abort: RunAbort) =>
    callHandler(handler, storedRecord(task.record), new AttemptContext(task.attempt + 1, task.firstFailureAt, task.lastError, task.id, abort, task.aggregateId, task.id, task.dueAt), attemptTimeoutMs, events);

  async function runLazy(task: ClaimedTask, outcomes: Outcomes, abort: RunAbort): Promise<void> {
    const started = performance.now();
    let failure = attempt(task, abort);
    if (failure instanceof Promise) failure = await failure;
    // closing: the task is released, not failed
    if (abort.aborted) return void (failure && settle(failure, 'released'));
    if (failure) return outcomes.failed(task, failure.error, failure);
    const ok: ClaimedTask[] = [];
    for (const follower of task.followers ?? []) {
      // closing mid-chain: the prefix that ran is acked, the rest waits for the next claim
      if (abort.aborted) break;
      let f = attempt(follower, abort);
      if (f instanceof Promise) f = await f;
      if (abort.aborted) {
        if (f) settle(f, 'released');
        break;
      }
      if (f) return outcomes.chainFailed(task, performance.now() - started, ok, follower, f.error, f);
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
