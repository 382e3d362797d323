/**
 * Dispatch 'process': the worker calls the handler itself with the record as
 * Kafka delivered it and the retry context.
 */
import { toHandlerRecord, type Handler } from '../handler.js';
import type { ClaimedTask } from '../store/task.js';
import type { Outcomes } from './outcomes.js';
import type { LazyTaskRunner, RunAbort } from './worker.js';

/** Runs the handler on claimed tasks and reports success or failure. */
export function processRunner(handler: Handler): LazyTaskRunner {
  async function runLazy(task: ClaimedTask, outcomes: Outcomes, abort: RunAbort): Promise<void> {
    const started = performance.now();
    try {
      await handler(toHandlerRecord(task.record), {
        attempt: task.attempt + 1,
        firstFailureAt: task.firstFailureAt,
        lastError: task.lastError,
        taskId: task.id,
        // made when the handler reads it (most never do)
        get signal() {
          return abort.signal;
        },
      });
    } catch (err) {
      if (abort.aborted) return; // closing: the task is released, not failed
      await outcomes.failed(task, err);
      return;
    }
    if (abort.aborted) return;
    outcomes.succeeded(task, performance.now() - started);
  }
  return {
    runLazy,
    run: (task, outcomes, signal) => runLazy(task, outcomes, { signal, get aborted() { return signal.aborted; } }),
  };
}
