/**
 * The JSON-configurable part of a retry policy (a custom backoff function is
 * code, passed beside the config). The issue path names the field and each
 * message says what is allowed: parseConfig prints "path: message (got value)".
 */
import { z } from 'zod';

const JITTERS = ['none', 'full', 'equal', 'decorrelated'] as const;

const jitter = z.enum(JITTERS, {
  errorMap: () => ({ message: `must be one of ${JITTERS.map((j) => `"${j}"`).join(', ')}` }),
});

/** A whole number of milliseconds >= min, with messages that say so. */
const ms = (min = 0) =>
  z
    .number({
      required_error: 'is required: a whole number of milliseconds',
      invalid_type_error: 'must be a whole number of milliseconds',
    })
    .int({ message: 'must be a whole number of milliseconds' })
    .min(min, { message: `must be at least ${min} ms` });

/** The first delay of a backoff when none is given: 1 s. */
const DEFAULT_DELAY_MS = 1_000;

/**
 * Backoff: fixed, or exponential (the default). `delayMs` is the delay in
 * both kinds (for exponential, the first one, like Spring's @Backoff
 * `delay`), so switching the kind keeps it; exponential also takes its
 * older name `initialMs`.
 */
export const backoffSchema = z
  .discriminatedUnion(
    'type',
    [
      z
        .object({
          type: z.literal('fixed'),
          /** 1 s between attempts. */
          delayMs: ms().default(DEFAULT_DELAY_MS),
          /** No jitter by default, so delays are predictable. */
          jitter: jitter.default('none'),
        })
        .strict(),
      z
        .object({
          type: z.literal('exponential'),
          /** The first delay; 1 s when neither it nor initialMs is given (resolved below). */
          delayMs: ms().optional(),
          /** Another name for delayMs in this kind (the original one); give one of the two. */
          initialMs: ms().optional(),
          /** Doubling per attempt; 1 means fixed. */
          multiplier: z
            .number({ invalid_type_error: 'must be a number from 1 to 100' })
            .min(1, { message: 'must be at least 1 (1 means a fixed delay)' })
            .max(100, { message: 'must be at most 100' })
            .default(2),
          /** Capped at 5 minutes. */
          maxMs: ms().default(300_000),
          /** No jitter by default, so delays are predictable. */
          jitter: jitter.default('none'),
        })
        .strict(),
    ],
    {
      errorMap: (issue, ctx) => ({
        message: issue.code === 'invalid_union_discriminator' ? 'type must be "fixed" or "exponential"' : ctx.defaultError,
      }),
    },
  )
  .superRefine((b, ctx) => {
    if (b.type !== 'exponential') return;
    if (b.delayMs !== undefined && b.initialMs !== undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['initialMs'], message: 'is another name for delayMs; give only one of them' });
      return;
    }
    const [name, first] = b.initialMs !== undefined ? ['initialMs', b.initialMs] : ['delayMs', b.delayMs ?? DEFAULT_DELAY_MS];
    if (b.maxMs < first) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['maxMs'], message: `must be at least ${name} (${first})` });
  })
  .transform((b) => {
    if (b.type === 'fixed') return b;
    const { delayMs, initialMs, ...rest } = b;
    // the policy's own spelling (BackoffSpec) of the first delay
    return { ...rest, initialMs: delayMs ?? initialMs ?? DEFAULT_DELAY_MS };
  });

/** A retry policy as configuration. */
export const retryPolicySchema = z.object({
  /** Exponential from 1 s, doubling, capped at 5 min, no jitter. */
  backoff: backoffSchema.default({ type: 'exponential' }),
  /** 5 attempts in all: the first try and 4 retries. */
  maxAttempts: z
    .number({ invalid_type_error: 'must be a whole number of at least 1' })
    .int({ message: 'must be a whole number of at least 1' })
    .min(1, { message: 'must be at least 1 (1 means no retry)' })
    .default(5),
  /** No time budget by default. */
  maxElapsedMs: ms(1).optional(),
  /** Bounds for a delay the error requests; unset means [0, 1 hour]. */
  retryAfter: z
    .object({ minMs: ms(), maxMs: ms() })
    .strict()
    .superRefine((r, ctx) => {
      if (r.minMs > r.maxMs) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['maxMs'], message: `must be at least minMs (${r.minMs})` });
      }
    })
    .optional(),
}).strict();

/** A parsed retry policy; assignable to RetryPolicy. */
export type RetryPolicyConfig = z.infer<typeof retryPolicySchema>;
