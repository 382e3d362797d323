/**
 * One handler attempt, as the consumer (first attempts) and the worker
 * (retries) make it: the retry context, the attempt timeout, and no promise
 * at all when the handler returns synchronously (the hot path). When the
 * application traces (src/tracing.ts), the attempt gets a span, the handler
 * runs in its context, and whoever decides what follows a failure ends it
 * with settle().
 */
import { HandlerTimeoutError } from './errors.js';
import type { ZRetryEmitter } from './events.js';
import type { Handler, HandlerRecord, RetryContext } from './handler.js';
import type { TaskError } from './store/task.js';
import { activeTracer, inContext, startAttempt } from './tracing.js';
import type { AttemptEnd, AttemptOutcome } from './tracing-types.js';

/** A failed attempt's error (wrapped: a handler may throw anything, undefined included). */
export interface Failure {
  error: unknown;
  /** The attempt's span, when tracing: settle() ends it with what the failure led to. */
  span?: AttemptEnd;
}

/** Ends a failed attempt's span (if traced) with what follows: a retry after delayMs, death, or a release. */
export function settle(f: Failure, outcome: Exclude<AttemptOutcome, 'success'>, delayMs?: number): void {
  f.span?.end(outcome, delayMs, f.error);
}

/** What aborts an attempt from outside: the consumer closing, or the worker giving up on its run. */
export type AbortSource = AbortSignal | { readonly aborted: boolean; readonly signal: AbortSignal };

/**
 * The context of one attempt. Its signal is made only when read (most
 * handlers never do; an AbortSignal costs about 1.5 µs), and aborts when
 * the attempt times out or its source aborts.
 */
export class AttemptContext implements RetryContext {
  private ctrl: AbortController | null = null;
  private timedOut: Error | null = null;

  constructor(
    readonly attempt: number,
    readonly firstFailureAt: number | null,
    readonly lastError: TaskError | null,
    readonly taskId: string | null,
    private readonly source: AbortSource,
    // for the attempt's span (src/tracing.ts): the aggregate, the message id (the task id it has or
    // would get), the due time a worker claimed it for; plain fields, so nothing is allocated for them
    readonly aggregateId: string | null = null,
    readonly messageId: string | null = null,
    readonly dueAt = 0,
  ) {}

  get signal(): AbortSignal {
    if (this.ctrl) return this.ctrl.signal;
    const ctrl = (this.ctrl = new AbortController());
    const parent = this.source instanceof AbortSignal ? this.source : this.source.signal;
    if (this.timedOut) ctrl.abort(this.timedOut);
    else if (parent.aborted) ctrl.abort(parent.reason);
    else parent.addEventListener('abort', () => ctrl.abort(parent.reason), { once: true });
    return ctrl.signal;
  }

  /** The attempt ran out of time. */
  timeout(error: Error): void {
    this.timedOut = error;
    this.ctrl?.abort(error);
  }
}

/**
 * Calls the handler once. Returns undefined on success or the failure, at
 * once for a synchronous handler; for an async one a promise of either,
 * failed with HandlerTimeoutError (and ctx.signal aborted) when it runs
 * past timeoutMs (0: no timeout). A handler that times out may still be
 * running: its late outcome is ignored. With events, every call is
 * reported as a `handled` event (topic, duration, result), measured only
 * while someone listens.
 */
export function callHandler(handler: Handler, record: HandlerRecord, ctx: AttemptContext, timeoutMs: number, events?: ZRetryEmitter): Failure | undefined | Promise<Failure | undefined> {
  const started = events?.listened('handled') ? performance.now() : -1;
  const tracer = activeTracer();
  const outcome = tracer === null ? attempt(handler, record, ctx, timeoutMs) : traced(tracer, handler, record, ctx, timeoutMs);
  if (started < 0) return outcome;
  const report = (f: Failure | undefined) => {
    events!.emit('handled', { topic: record.topic, durationMs: performance.now() - started, result: f ? 'error' : 'success' });
    return f;
  };
  return outcome instanceof Promise ? outcome.then(report) : report(outcome);
}

/** An attempt under its span: a success ends it; a failure carries it to settle(). */
function traced(tracer: NonNullable<ReturnType<typeof activeTracer>>, handler: Handler, record: HandlerRecord, ctx: AttemptContext, timeoutMs: number): Failure | undefined | Promise<Failure | undefined> {
  const span = startAttempt(tracer, record, { attempt: ctx.attempt, taskId: ctx.taskId ?? ctx.messageId, aggregateId: ctx.aggregateId, dueAt: ctx.dueAt });
  const done = (f: Failure | undefined): Failure | undefined => {
    if (f) f.span = span;
    else span.end('success');
    return f;
  };
  const outcome = inContext(span, () => attempt(handler, record, ctx, timeoutMs));
  return outcome instanceof Promise ? outcome.then(done) : done(outcome);
}

function attempt(handler: Handler, record: HandlerRecord, ctx: AttemptContext, timeoutMs: number): Failure | undefined | Promise<Failure | undefined> {
  let result: unknown;
  try {
    result = handler(record, ctx);
  } catch (error) {
    return { error };
  }
  if (result === null || typeof result !== 'object' || typeof (result as Promise<void>).then !== 'function') return undefined;
  const settled = Promise.resolve(result).then(
    () => undefined,
    (error: unknown) => ({ error }),
  );
  if (timeoutMs <= 0) return settled;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<Failure>((resolve) => {
    timer = setTimeout(() => {
      const error = new HandlerTimeoutError(timeoutMs);
      ctx.timeout(error);
      resolve({ error });
    }, timeoutMs);
    timer.unref();
  });
  return Promise.race([settled, timedOut]).finally(() => clearTimeout(timer));
}
