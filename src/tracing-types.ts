/**
 * What the code outside src/tracing.ts knows of an attempt's span: how it
 * ends. Kept apart so that no public declaration names a type of
 * @opentelemetry/api, an optional peer dependency an application may lack.
 */

/** How an attempt ended: succeeded, will be retried (after a delay), died, or was handed back unfinished (a worker closing). */
export type AttemptOutcome = 'success' | 'retry' | 'dead' | 'released';

/** An attempt's span, as far as its caller needs it. */
export interface AttemptEnd {
  end(outcome: AttemptOutcome, delayMs?: number, error?: unknown): void;
}
