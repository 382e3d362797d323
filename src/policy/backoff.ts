/**
 * Backoff policies and the retry decision. Pure functions: no I/O, no clock
 * (the caller passes Redis's now), randomness injected.
 */
import { requestedDelayMs, type Classification } from './classify.js';

/** How a delay is randomized after it is computed and capped. */
export type Jitter = 'none' | 'full' | 'equal' | 'decorrelated';

/** What a custom backoff function is told. */
export interface BackoffContext {
  /** The attempt that just failed, 1-based. */
  attempt: number;
  /** The delay before the attempt that just failed, when known. */
  previousDelayMs: number | null;
  error?: unknown;
}

/** A backoff policy. */
export type BackoffSpec =
  | { type: 'fixed'; delayMs: number; jitter?: Jitter }
  | { type: 'exponential'; initialMs: number; multiplier: number; maxMs: number; jitter?: Jitter }
  | { type: 'custom'; fn: (ctx: BackoffContext) => number };

/** When to give up, and how long to wait between attempts. */
export interface RetryPolicy {
  backoff: BackoffSpec;
  /** Total handler attempts including the first: 4 means a first try and 3 retries. */
  maxAttempts: number;
  /** Time budget from the first failure; a retry that would fall past it dies instead. */
  maxElapsedMs?: number;
  /** Bounds for a delay the error requests (retryAfterMs); default [0, 1 hour]. */
  retryAfter?: { minMs: number; maxMs: number };
}

/** Retry after delayMs, or die, and why. */
export type Decision =
  | { action: 'retry'; delayMs: number; reason: 'backoff' | 'retry-after' }
  | { action: 'dead'; reason: 'attempts-exhausted' | 'time-budget-exhausted' | 'fatal'; detail: string };

/**
 * Bounds for an error-requested delay when the policy sets none: the error
 * (e.g. an HTTP 429's Retry-After) is honoured up to 1 hour, even past the
 * backoff's maxMs, since the server knows better than our curve.
 */
const DEFAULT_RETRY_AFTER = { minMs: 0, maxMs: 3_600_000 };

/** The delay before the next attempt, by the spec: an integer >= 0, or a RangeError, never NaN. */
export function computeDelay(spec: BackoffSpec, ctx: BackoffContext, random: () => number = Math.random): number {
  // Custom functions get no jitter. Fixed + decorrelated is always delayMs
  // (delayMs is both base and cap).
  if (spec.type === 'custom') {
    const d = spec.fn(ctx);
    if (!Number.isFinite(d) || d < 0) throw new RangeError(`custom backoff returned ${d} for attempt ${ctx.attempt}: it must be a finite number of ms >= 0`);
    return Math.round(d);
  }
  const base = spec.type === 'fixed' ? spec.delayMs : spec.initialMs;
  const cap = spec.type === 'fixed' ? spec.delayMs : spec.maxMs;
  const d = spec.type === 'fixed' ? spec.delayMs : Math.min(cap, spec.initialMs * spec.multiplier ** (ctx.attempt - 1));
  let out: number;
  switch (spec.jitter ?? 'none') {
    case 'none':
      out = d;
      break;
    case 'full':
      out = random() * d;
      break;
    case 'equal':
      out = d / 2 + (random() * d) / 2;
      break;
    case 'decorrelated': {
      // AWS "decorrelated jitter": between base and 3x the previous delay, capped.
      const hi = Math.max(base, (ctx.previousDelayMs ?? base) * 3);
      out = Math.min(cap, base + random() * (hi - base));
      break;
    }
  }
  if (!Number.isFinite(out)) {
    throw new RangeError(`${spec.type} backoff gave ${out} for attempt ${ctx.attempt}: check its numbers (and the random source)`);
  }
  return Math.max(0, Math.round(out));
}

/** Decides what happens after attempt `attempt` failed: fatal, attempts, delay, then time budget. */
export function decide(
  policy: RetryPolicy,
  input: { attempt: number; firstFailureAt: number; now: number; previousDelayMs: number | null; error: unknown; classification: Classification },
  random: () => number = Math.random,
): Decision {
  if (input.classification.kind === 'fatal') {
    return { action: 'dead', reason: 'fatal', detail: `error is not retried (${input.classification.matched ?? 'fatal'})` };
  }
  if (input.attempt >= policy.maxAttempts) {
    return { action: 'dead', reason: 'attempts-exhausted', detail: `${input.attempt} of ${policy.maxAttempts} attempts failed` };
  }
  const asked = requestedDelayMs(input.error);
  let delayMs: number;
  let reason: 'backoff' | 'retry-after' = 'backoff';
  if (asked !== undefined) {
    const b = policy.retryAfter ?? DEFAULT_RETRY_AFTER;
    delayMs = Math.round(Math.min(b.maxMs, Math.max(b.minMs, asked)));
    reason = 'retry-after';
  } else {
    delayMs = computeDelay(policy.backoff, { attempt: input.attempt, previousDelayMs: input.previousDelayMs, error: input.error }, random);
  }
  if (policy.maxElapsedMs !== undefined && input.now + delayMs - input.firstFailureAt > policy.maxElapsedMs) {
    return {
      action: 'dead',
      reason: 'time-budget-exhausted',
      detail: `the next attempt would be ${input.now + delayMs - input.firstFailureAt} ms after the first failure, past the budget of ${policy.maxElapsedMs} ms`,
    };
  }
  return { action: 'retry', delayMs, reason };
}
