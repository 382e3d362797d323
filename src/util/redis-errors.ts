/**
 * ioredis prints "Unhandled error event" for every failed reconnect of a
 * client without an error listener. zretry listens on the clients it uses
 * and logs an outage once, and its end once, instead.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

const WATCHED = Symbol('zretry.errorLog');

/** Logs the first error of an outage and the reconnect that ends it. */
export function logRedisErrors(redis: Redis, log: Logger, role: string): void {
  const r = redis as Redis & { [WATCHED]?: true };
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
}
