/**
 * How long after acknowledging a write Redis may still lose it in a host
 * crash: the consumer waits this long before it commits the offsets of a
 * batch that stored tasks (src/kafka/durable-offsets.ts).
 *
 *   appendfsync always    0: Redis answers after the fsync
 *   appendfsync everysec  2,000 ms: a background fsync once a second, and
 *                         Redis lets writes wait up to 2 s for a slow one
 *   appendfsync no / AOF off: no bound (the OS flushes when it likes, or
 *                         only snapshots persist); 0 with a warning
 *
 * The policy comes from CONFIG GET, which managed services and
 * least-privilege users often refuse; then INFO persistence tells whether
 * the AOF is on, and everysec (Redis's default) is assumed.
 */
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';

/** The window for appendfsync everysec (ms). */
export const EVERYSEC_WINDOW_MS = 2_000;

/** The fsync window of a Redis: `configured` when a number, else read from the server. */
export async function fsyncWindowMs(redis: Redis, configured: number | 'auto', log: Logger): Promise<number> {
  if (configured !== 'auto') return configured;
  let policy: string | undefined;
  try {
    const reply = (await redis.config('GET', 'appendfsync')) as string[];
    policy = reply[1];
  } catch {
    // CONFIG refused: fall back on INFO
  }
  const aof = /aof_enabled:(\d)/.exec(await redis.info('persistence'))?.[1] === '1';
  if (!aof) {
    log.warn('Redis has no append-only file: a Redis crash loses the tasks written since its last snapshot. Turn on appendonly (docs/guarantees.md)');
    return 0;
  }
  if (policy === 'always') return 0;
  if (policy === 'no') {
    log.warn('Redis has appendfsync no: the OS decides when tasks reach the disk, so a host crash can lose them whatever zretry waits. Use everysec or always (docs/guarantees.md)');
    return 0;
  }
  if (policy === undefined) log.info({ assumed: 'everysec', windowMs: EVERYSEC_WINDOW_MS }, 'cannot read appendfsync (CONFIG GET refused): assuming everysec; set store.fsyncWindowMs to say otherwise');
  return EVERYSEC_WINDOW_MS;
}

/**
 * Calls onRestart when the client reconnects to a Redis with another
 * run_id than before: the server restarted (or failed over), and what it
 * had acknowledged but not yet written to disk may be gone. Returns a
 * function that stops watching.
 */
export async function watchRestarts(redis: Redis, onRestart: () => void, log: Logger): Promise<() => void> {
  const runId = async () => /run_id:([0-9a-f]+)/.exec(await redis.info('server'))?.[1];
  let known = await runId();
  const onReady = () => {
    void runId().then(
      (id) => {
        if (id === undefined || id === known) return;
        log.warn({ was: known, now: id }, 'Redis restarted (new run_id): offsets not yet past the fsync window are read again');
        known = id;
        onRestart();
      },
      () => undefined, // still away: the next ready asks again
    );
  };
  redis.on('ready', onReady);
  return () => void redis.off('ready', onReady);
}
