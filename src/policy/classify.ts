/**
 * Error classification: which failures are worth retrying. Pure functions.
 *
 * Fatal by default (a record that fails with these never gets better), found
 * anywhere in the cause chain unless useDefaultFatal is false:
 *   - SyntaxError: JSON.parse of a bad payload;
 *   - errors named PayloadError or ZRetryFatalError (by class or `name`);
 *   - any error with `fatal === true` or `retriable === false` (note: zretry's
 *     own ZRetryError defaults to retriable false).
 *
 * Precedence: doNotRetry / fatal lists, then the default fatal list, then
 * retryOn (when non-empty, anything it does not match is fatal with matched
 * 'not-in-retryOn'), else retriable. So a retryOn entry does not rescue a
 * default-fatal error; set useDefaultFatal: false for that.
 */

/** Matches an error by class, by name, or by predicate. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ErrorMatcher = (new (...args: any[]) => Error) | string | ((err: unknown) => boolean);

/** Lists that decide what is retried. */
export interface ClassifierOptions {
  /** When set, only errors matching one of these (anywhere in the cause chain) are retried. */
  retryOn?: ErrorMatcher[];
  /** Errors never retried. */
  doNotRetry?: ErrorMatcher[];
  /** Errors that die at once (same effect as doNotRetry, kept apart for intent). */
  fatal?: ErrorMatcher[];
  /** Apply the default fatal list (default true). */
  useDefaultFatal?: boolean;
  /** How deep to follow `cause` (default 10). */
  maxCauseDepth?: number;
}

/** The verdict on a failure. */
export interface Classification {
  kind: 'retriable' | 'fatal';
  /** Which rule decided, for logs and dead-letter headers. */
  matched?: string;
}

const DEFAULT_FATAL_NAMES = new Set(['SyntaxError', 'PayloadError', 'ZRetryFatalError']);

/** The class of an Error: its constructor's name, or its `name` when the constructor is plain Error. */
function nameOf(err: Error): string {
  const ctor = (err.constructor as { name?: unknown } | undefined)?.name;
  if (typeof ctor === 'string' && ctor !== '' && ctor !== 'Error') return ctor;
  return typeof err.name === 'string' && err.name !== '' ? err.name : 'Error';
}

/** The error and up to maxDepth of its causes, outermost first, cycles cut. */
export function causeChain(err: unknown, maxDepth = 10): unknown[] {
  const out: unknown[] = [];
  const seen = new Set<unknown>();
  let cur: unknown = err;
  while (cur !== undefined && cur !== null && out.length <= maxDepth && !seen.has(cur)) {
    out.push(cur);
    seen.add(cur);
    cur = typeof cur === 'object' ? (cur as { cause?: unknown }).cause : undefined;
  }
  return out;
}

/** A string `name` on any object (plain objects thrown as errors often carry one). */
function ownName(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const n = (err as { name?: unknown }).name;
  return typeof n === 'string' ? n : undefined;
}

function matches(err: unknown, m: ErrorMatcher): boolean {
  if (typeof m === 'string') return ownName(err) === m || (err instanceof Error && nameOf(err) === m);
  if (m.prototype instanceof Error || m === Error) return err instanceof (m as new () => Error);
  try {
    return (m as (e: unknown) => boolean)(err) === true;
  } catch {
    return false; // a predicate that throws (e.g. reads .message of a string) does not match
  }
}

function describeMatcher(m: ErrorMatcher): string {
  return typeof m === 'string' ? m : m.name || 'predicate';
}

function firstMatch(chain: unknown[], list: ErrorMatcher[] | undefined): string | undefined {
  for (const m of list ?? []) if (chain.some((e) => matches(e, m))) return describeMatcher(m);
  return undefined;
}

function defaultFatal(e: unknown): string | undefined {
  if (e instanceof Error && DEFAULT_FATAL_NAMES.has(nameOf(e))) return nameOf(e);
  const own = ownName(e);
  if (own !== undefined && DEFAULT_FATAL_NAMES.has(own)) return own;
  if (typeof e === 'object' && e !== null) {
    const o = e as { fatal?: unknown; retriable?: unknown };
    if (o.fatal === true) return 'fatal-flag';
    if (o.retriable === false) return 'retriable-false';
  }
  return undefined;
}

/** Classifies a failure, walking its cause chain. */
export function classify(err: unknown, opts: ClassifierOptions = {}): Classification {
  const chain = causeChain(err, opts.maxCauseDepth ?? 10);
  const stop = firstMatch(chain, opts.doNotRetry) ?? firstMatch(chain, opts.fatal);
  if (stop) return { kind: 'fatal', matched: stop };
  if (opts.useDefaultFatal !== false) {
    for (const e of chain) {
      const d = defaultFatal(e);
      if (d) return { kind: 'fatal', matched: d };
    }
  }
  if (opts.retryOn && opts.retryOn.length > 0) {
    const ok = firstMatch(chain, opts.retryOn);
    return ok ? { kind: 'retriable', matched: ok } : { kind: 'fatal', matched: 'not-in-retryOn' };
  }
  return { kind: 'retriable' };
}

/** A delay the error asks for: `retryAfterMs`, or `retryAfter` in seconds, anywhere in the chain. */
export function requestedDelayMs(err: unknown): number | undefined {
  for (const e of causeChain(err)) {
    if (typeof e !== 'object' || e === null) continue;
    const o = e as { retryAfterMs?: unknown; retryAfter?: unknown };
    if (typeof o.retryAfterMs === 'number' && Number.isFinite(o.retryAfterMs) && o.retryAfterMs >= 0) return o.retryAfterMs;
    if (typeof o.retryAfter === 'number' && Number.isFinite(o.retryAfter) && o.retryAfter >= 0) return o.retryAfter * 1000;
  }
  return undefined;
}

/** Longest message describeError keeps. */
export const MAX_MESSAGE_CHARS = 1000;

/** Text for any value without throwing: strings as they are, objects as JSON, else String(). */
function printable(v: unknown): string {
  if (typeof v === 'string') return v;
  try {
    const json = typeof v === 'object' && v !== null ? JSON.stringify(v) : undefined;
    return json ?? String(v);
  } catch {
    try {
      return String(v);
    } catch {
      return '[unprintable value]';
    }
  }
}

/** An error as a person reads it: message cut to 1000 chars, stack to maxStackChars (0: no stack). */
export function describeError(err: unknown, maxStackChars = 2000): { class: string; message: string; stack?: string } {
  if (err instanceof Error) {
    const out: { class: string; message: string; stack?: string } = {
      class: nameOf(err),
      message: printable(err.message).slice(0, MAX_MESSAGE_CHARS),
    };
    if (maxStackChars > 0 && typeof err.stack === 'string' && err.stack) out.stack = err.stack.slice(0, maxStackChars);
    return out;
  }
  return { class: 'NonError', message: printable(err).slice(0, MAX_MESSAGE_CHARS) };
}
