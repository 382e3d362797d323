/**
 * ioredis prints "Unhandled error event" for every failed reconnect of a
 * client without an error listener. zretry listens on the clients it uses
 * and logs an outage once, and its end once, instead.
 */
import { isCluster, type RedisClient } from '../store/client.js';
import type { Logger } from 'pino';

const WATCHED = Symbol('zretry.errorLog');

/** Logs the first error of an outage and the reconnect that ends it. */
export function logRedisErrors(redis: RedisClient, log: Logger, role: string): void {
  const r = redis as RedisClient & { [WATCHED]?: true };
  if (r[WATCHED]) return;
  r[WATCHED] = true;
  let down = false;
  redis.on('error', (err: Error) => {
    if (down) return;
    down = true;
    log.warn({ role, err: { class: err.name, message: err.message } }, 'Redis connection lost; retrying');
  });
  redis.on('ready', () => {
    if (!down) return;
    down = false;
    log.info({ role }, 'Redis connection back');
  });
  if (isCluster(redis)) {
    // one node of a cluster failing is not an outage of the cluster. ioredis drops and re-adds a dead node
    // at every slot refresh until its replica takes over, so the warning is said once per node a minute
    const warned = new Map<string, number>();
    redis.on('node error', (err: Error, node: string) => {
      if (Date.now() - (warned.get(node) ?? -Infinity) < 60_000) return;
      warned.set(node, Date.now());
      log.warn({ role, node, err: { class: err.name, message: err.message } }, 'Redis Cluster node unreachable; its shards wait for it or for its replica to take over');
    });
  }
}

/**
 * ioredis attaches the failed command to its errors (`error.command.args`):
 * for a script call those are task records, payload bytes included. The
 * args are replaced by a count before an error leaves zretry (events, logs),
 * so a user logging an error object does not log payloads.
 */
export function redactCommand<E>(error: E): E {
  const cmd = (error as { command?: { name?: string; args?: unknown[] } } | null)?.command;
  if (cmd && Array.isArray(cmd.args)) cmd.args = [`<${cmd.args.length} arguments redacted>`];
  return error;
}
