/**
 * The errors zretry throws. One base class with a `retriable` flag, and
 * subclasses that carry the context a person needs to act on them.
 */
export class ZRetryError extends Error {
  /** Whether trying the same thing again may succeed. */
  readonly retriable: boolean;

  constructor(message: string, opts: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.retriable = opts.retriable ?? false;
  }
}

/** Invalid configuration: names the field, the value and what is allowed. */
export class ConfigError extends ZRetryError {
  constructor(
    message: string,
    readonly issues: ReadonlyArray<{ path: string; message: string }> = [],
  ) {
    super(message);
  }
}

/** A Lua script answered with an error code, or Redis refused the call. */
export class StoreError extends ZRetryError {
  constructor(
    message: string,
    readonly script: string,
    readonly shard: number,
    opts: { retriable?: boolean; cause?: unknown } = {},
  ) {
    super(message, opts);
  }
}

/**
 * An operator's request that cannot be carried out as given: nothing
 * selected, selected twice, a malformed value. The CLI exits 2 on it, the
 * admin API answers 400 with its message.
 */
export class OperatorInputError extends ZRetryError {}

/** Redis is not fit to hold tasks (version, eviction policy). */
export class RedisSetupError extends ZRetryError {}

/** A task's lease was lost: another claim owns it now, the outcome was refused. */
export class LeaseLostError extends ZRetryError {
  constructor(readonly taskId: string, readonly shard: number) {
    super(`lease lost for task ${taskId} (shard ${shard}): another worker claimed it after this one's lease ran out`);
  }
}

/** A record's bytes could not be decoded (a corrupt task, a forged header). */
export class PayloadError extends ZRetryError {
  /** Payload errors never get better by trying again. */
  readonly fatal = true;
}

/** A Kafka topic that zretry needs does not exist and may not be created. */
export class TopicMissingError extends ZRetryError {
  constructor(readonly topic: string, hint: string) {
    super(`topic "${topic}" does not exist: ${hint}`);
  }
}

/** A handler attempt ran past failure.attemptTimeoutMs: it counts as failed (and is retried by policy); ctx.signal was aborted. */
export class HandlerTimeoutError extends ZRetryError {
  constructor(readonly timeoutMs: number) {
    super(`the handler did not finish within ${timeoutMs} ms (failure.attemptTimeoutMs); its ctx.signal was aborted`, { retriable: true });
  }
}

/** Redis or Kafka could not be reached or refused the connection; names the address (password hidden) and the fix. */
export class ConnectionError extends ZRetryError {
  constructor(
    message: string,
    /** Where it tried to connect: a Redis URL without its password, or Kafka brokers. */
    readonly address: string,
    opts: { retriable: boolean; cause?: unknown },
  ) {
    super(message, opts);
  }
}

/**
 * Thrown by a handler whose dependency asked it to slow down (an HTTP 429
 * or 503 with Retry-After): the task goes back without counting an
 * attempt, due after retryAfterMs, and dispatch of its topic stops for that
 * long, then comes back on a ramp (docs/dispatch-control.md).
 * ThrottledError.fromRetryAfter reads a Retry-After header.
 */
export class ThrottledError extends ZRetryError {
  /** Whatever a handler throws with `throttled: true` is taken for one, so a client library's own error class can say it. */
  readonly throttled = true;

  constructor(
    /** How long to wait before dispatching the topic again; undefined: dispatch.throttle.defaultRetryAfterMs. */
    readonly retryAfterMs?: number,
    message = retryAfterMs === undefined ? 'throttled by a dependency' : `throttled by a dependency: retry after ${retryAfterMs} ms`,
  ) {
    super(message, { retriable: true });
  }

  /** From a Retry-After header (seconds, or an HTTP date); an unreadable one gives the default wait. */
  static fromRetryAfter(header: string | null | undefined, now = Date.now()): ThrottledError {
    return new ThrottledError(parseRetryAfter(header, now) ?? undefined);
  }
}

/** A Retry-After header in milliseconds from now: seconds, or an HTTP date; null when it reads as neither. */
export function parseRetryAfter(header: string | null | undefined, now = Date.now()): number | null {
  if (header === null || header === undefined) return null;
  const s = header.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  const at = Date.parse(s);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}
