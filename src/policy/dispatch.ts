/**
 * Pure decisions of dispatch control (docs/dispatch-control.md): naming
 * scopes, checking an operator's limit, telling a throttle from a failure,
 * and the scopes a task is dispatched under. No I/O.
 */
import { OperatorInputError, ThrottledError } from '../errors.js';
import type { ClaimedTask } from '../store/task.js';

/** What a limit or a breaker is about: the whole namespace, one topic, or one error class. */
export interface ScopeTarget {
  topic?: string;
  errorClass?: string;
}

/** The store's name of a scope (and of a pause): 'all', 'topic:<t>' or 'error:<class>'. */
export function scopeName(t: ScopeTarget, verb = 'pause or resume'): string {
  if (t.topic !== undefined && t.errorClass !== undefined) throw new OperatorInputError(`${verb} a topic or an error class, not both`);
  if (t.topic === '' || t.errorClass === '') throw new OperatorInputError(`${t.topic === '' ? 'the topic' : 'the error class'} must not be empty`);
  return t.topic !== undefined ? `topic:${t.topic}` : t.errorClass !== undefined ? `error:${t.errorClass}` : 'all';
}

/**
 * A limit as an operator gives it: a rate in tasks per second with its
 * bucket (the most at once; unset: a tenth of a second's worth, at least
 * 1), and or a concurrency (the most tasks of a topic running at once over
 * all workers).
 */
export interface LimitInput {
  rate?: number | string | undefined;
  burst?: number | string | undefined;
  concurrency?: number | string | undefined;
}

const asNumber = (v: number | string): number => (typeof v === 'string' ? Number(v.trim() === '' ? NaN : v) : v);

/** Checks and completes a limit; the error names the field and what is allowed. */
export function checkLimit(input: LimitInput): { rate: number | null; burst: number | null; concurrency: number | null } {
  let concurrency: number | null = null;
  if (input.concurrency !== undefined) {
    concurrency = asNumber(input.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 1_000_000) {
      throw new OperatorInputError(`concurrency must be a whole number of tasks from 1 to 1000000 (got ${JSON.stringify(input.concurrency)}); to stop dispatch use \`zretry pause\``);
    }
  }
  if (input.rate === undefined) {
    if (concurrency !== null && input.burst === undefined) return { rate: null, burst: null, concurrency };
    throw new OperatorInputError(input.burst === undefined ? 'give a rate (--rate, tasks per second), a concurrency (--concurrency), or both' : 'burst needs a rate (--rate, tasks per second)');
  }
  return { ...checkRate(input.rate, input.burst), concurrency };
}

function checkRate(given: number | string, givenBurst: number | string | undefined): { rate: number; burst: number } {
  const rate = asNumber(given);
  if (!Number.isFinite(rate) || rate <= 0) {
    throw new OperatorInputError(`rate must be a number of tasks per second above 0 (got ${JSON.stringify(given)}); to stop dispatch use \`zretry pause\` or \`zretry breaker open\`, to remove the limit \`zretry limit clear\``);
  }
  if (rate > 1_000_000) throw new OperatorInputError(`rate must be at most 1000000 tasks per second (got ${rate}); for no limit use \`zretry limit clear\``);
  if (givenBurst === undefined) return { rate, burst: Math.max(1, Math.ceil(rate / 10)) };
  const burst = asNumber(givenBurst);
  if (!Number.isInteger(burst) || burst < 1 || burst > 1_000_000) {
    throw new OperatorInputError(`burst must be a whole number of tasks from 1 to 1000000 (got ${JSON.stringify(givenBurst)}); leave it out for a tenth of a second's worth of the rate`);
  }
  return { rate, burst };
}

/** The scopes a dispatched task counts under: its topic, and the class of the error it last failed with (if any). */
export function taskScopes(task: Pick<ClaimedTask, 'record' | 'lastError'>): string[] {
  const scopes = [`topic:${task.record.topic}`];
  if (task.lastError && task.lastError.class !== '') scopes.push(`error:${task.lastError.class}`);
  return scopes;
}

/**
 * Whether a handler's error asks to slow down rather than reports a
 * failure: a ThrottledError, or any error with `throttled: true`. Returns
 * the wait asked for (ms, clamped to maxMs; defaultMs when it names none),
 * or null for an ordinary failure.
 */
export function throttleOf(err: unknown, defaultMs: number, maxMs: number): number | null {
  if (!(err instanceof ThrottledError) && !(typeof err === 'object' && err !== null && (err as { throttled?: unknown }).throttled === true)) return null;
  const ms = (err as { retryAfterMs?: unknown }).retryAfterMs;
  const wait = typeof ms === 'number' && Number.isFinite(ms) && ms >= 0 ? ms : defaultMs;
  return Math.min(Math.round(wait), maxMs);
}
