/**
 * Dispatch 'process': the worker calls the handler itself with the record as
 * Kafka delivered it and the retry context.
 */
import { toHandlerRecord, type Handler } from '../handler.js';
import type { ClaimedTask } from '../store/task.js';
import type { Outcomes } from './outcomes.js';
import type { TaskRunner } from './worker.js';

/** Runs the handler on claimed tasks and reports success or failure. */
export function processRunner(handler: Handler): TaskRunner {
  return {
    async run(task: ClaimedTask, outcomes: Outcomes, signal: AbortSignal): Promise<void> {
      const started = performance.now();
      try {
        await handler(toHandlerRecord(task.record), {
          attempt: task.attempt + 1,
          firstFailureAt: task.firstFailureAt,
          lastError: task.lastError,
          taskId: task.id,
          signal,
        });
      } catch (err) {
        if (signal.aborted) return; // closing: the task is released, not failed
        await outcomes.failed(task, err);
        return;
      }
      if (signal.aborted) return;
      outcomes.succeeded(task, performance.now() - started);
    },
  };
}
