/**
 * Exit codes of the zretry command and the one-line message of each error:
 * 0 done; 1 failed (Redis or Kafka unreachable, a task not found, a
 * confirmation declined); 2 usage (an unknown command or option, a bad
 * value, invalid configuration, a destructive selection without --yes).
 */
import { ConfigError, OperatorInputError, ZRetryError } from '../errors.js';

export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** The command line has to change: a missing argument, --yes where no one can be asked. */
export class UsageError extends OperatorInputError {}

/** The exit code an error ends the command with. */
export function exitCode(e: unknown): number {
  return e instanceof OperatorInputError || e instanceof ConfigError ? EXIT.usage : EXIT.failure;
}

/**
 * What the user reads: zretry's own errors and Redis's refusals as they
 * are (they name the field or address and the fix), anything else with
 * its stack, since it is a bug to report.
 */
export function errorText(e: unknown): string {
  if (e instanceof ZRetryError) return e.message;
  const err = e as { name?: string; message?: string; stack?: string };
  // Redis's own refusals (NOPERM, OOM, ...) read well as they are
  if (err?.name === 'ReplyError') return `Redis refused: ${err.message}`;
  if (err?.name === 'MaxRetriesPerRequestError' || err?.message === 'Connection is closed.') return `lost the connection to Redis (${err.message}); nothing is half-done: every step is one script call, run the command again`;
  return `unexpected error (please report it): ${err?.stack ?? String(e)}`;
}
