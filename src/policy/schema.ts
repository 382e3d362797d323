/**
 * The JSON-configurable part of a retry policy (a custom backoff function is
 * code, passed beside the config).
 */
import { z } from 'zod';

const jitter = z.enum(['none', 'full', 'equal', 'decorrelated'], {
  errorMap: () => ({ message: 'must be one of "none", "full", "equal", "decorrelated"' }),
});

const ms = (what: string) => z.number({ invalid_type_error: `${what} must be a number of milliseconds` }).int().min(0);

/** Backoff: fixed, or exponential (the default). */
export const backoffSchema = z
  .discriminatedUnion('type', [
    z.object({
      type: z.literal('fixed'),
      /** Delay between attempts. */
      delayMs: ms('delayMs').default(1_000),
      /** No jitter by default, so delays are predictable. */
      jitter: jitter.default('none'),
    }),
    z.object({
      type: z.literal('exponential'),
      /** Delay after the first failure. */
      initialMs: ms('initialMs').default(1_000),
      /** Growth per attempt; 1 means fixed. */
      multiplier: z.number().min(1, { message: 'must be at least 1 (1 means a fixed delay)' }).max(100).default(2),
      /** Longest delay. */
      maxMs: ms('maxMs').default(300_000),
      jitter: jitter.default('none'),
    }),
  ], { errorMap: (issue, ctx) => ({ message: issue.code === 'invalid_union_discriminator' ? 'type must be "fixed" or "exponential"' : ctx.defaultError }) })
  .superRefine((b, ctx) => {
    if (b.type === 'exponential' && b.maxMs < b.initialMs) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['maxMs'], message: `must be at least initialMs (${b.initialMs})` });
    }
  });

/** A retry policy as configuration. */
export const retryPolicySchema = z.object({
  /** Exponential from 1 s, doubling, capped at 5 min. */
  backoff: backoffSchema.default({ type: 'exponential' }),
  /** Total attempts including the first. */
  maxAttempts: z.number().int().min(1, { message: 'must be at least 1 (1 means no retry)' }).default(5),
  /** No time budget by default. */
  maxElapsedMs: z.number().int().positive().optional(),
  /** Bounds for a delay the error requests; default [0, 1 hour]. */
  retryAfter: z
    .object({ minMs: ms('minMs'), maxMs: ms('maxMs') })
    .refine((r) => r.minMs <= r.maxMs, { message: 'minMs must not exceed maxMs', path: ['minMs'] })
    .optional(),
});

export type RetryPolicyConfig = z.infer<typeof retryPolicySchema>;
