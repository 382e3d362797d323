/**
 * How long after acknowledging a write Redis may still lose it in a host
 * crash: the consumer waits this long before it commits the offsets of a
 * batch that stored tasks (src/kafka/durable-offsets.ts).
 *
 *   appendfsync always    0: Redis answers after the fsync
 *   appendfsync everysec  2,000 ms: a background fsync once a second, and
 *                         Redis lets writes wait up to 2 s for a slow one
 *   appendfsync no / AOF off: no bound (the OS flushes when it likes, or
 *                         only snapshots persist)
 *
 * INFO says whether the AOF is on, not its fsync policy, and CONFIG GET is
 * not for the least-privilege user (it would read passwords too). So
 * 'auto' takes the safe side: with an AOF, everysec (Redis's default);
 * a server on always may set store.fsyncWindowMs to 0 to commit at once.
 */
import type { Logger } from 'pino';
import { isCluster, masters, type RedisClient } from './client.js';

/** The window for appendfsync everysec (ms). */
export const EVERYSEC_WINDOW_MS = 2_000;

/** The fsync window of a Redis (every master of a cluster): `configured` when a number, else from INFO persistence. */
export async function fsyncWindowMs(redis: RedisClient, configured: number | 'auto', log: Logger): Promise<number> {
  if (configured !== 'auto') return configured;
  const nodes = await masters(redis);
  const withoutAof: string[] = [];
  for (const { name, node } of nodes) if (/aof_enabled:(\d)/.exec(await node.info('persistence'))?.[1] !== '1') withoutAof.push(name);
  if (withoutAof.length < nodes.length) {
    if (withoutAof.length > 0) log.warn({ nodes: withoutAof }, 'these Redis masters have no append-only file: a crash of one loses the tasks written since its last snapshot');
    return EVERYSEC_WINDOW_MS;
  }
  log.warn('Redis has no append-only file: a Redis crash loses the tasks written since its last snapshot. Turn on appendonly (docs/guarantees.md)');
  return 0;
}

/**
 * Calls onRestart when the client reconnects to a Redis with another
 * run_id than before: the server restarted (or failed over), and what it
 * had acknowledged but not yet written to disk may be gone. On a cluster,
 * when a node joins the client's pool (a replica promoted in a failover,
 * which may lack the last writes it had not received). Returns a function
 * that stops watching.
 */
export async function watchRestarts(redis: RedisClient, onRestart: () => void, log: Logger): Promise<() => void> {
  if (isCluster(redis)) {
    // '+node' comes with every connection the client opens: a master whose run_id is new is what counts
    const runIds = async () => new Set(await Promise.all((await masters(redis)).map(async ({ node }) => /run_id:([0-9a-f]+)/.exec(await node.info('server'))?.[1] ?? '')));
    let known = await runIds();
    let timer: NodeJS.Timeout | null = null;
    const onNode = () => {
      timer ??= setTimeout(() => {
        timer = null;
        void runIds().then(
          (ids) => {
            const fresh = [...ids].filter((id) => id !== '' && !known.has(id));
            known = new Set([...known, ...ids]);
            if (fresh.length === 0) return;
            log.warn({ masters: fresh.length }, 'a Redis Cluster master is new (a failover?): offsets not yet past the fsync window are read again');
            onRestart();
          },
          () => undefined, // a node still away: the next one asks again
        );
      }, 200);
    };
    redis.on('+node', onNode);
    return () => {
      redis.off('+node', onNode);
      if (timer) clearTimeout(timer);
    };
  }
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
