/**
 * Start-up checks of the Redis that will hold tasks: a version with the
 * commands the scripts use, and an eviction policy that never drops a task.
 */
import type { Redis } from 'ioredis';
import { RedisSetupError } from '../errors.js';

/** What preflight may let pass. */
export interface PreflightOptions {
  /** Accept an eviction policy other than noeviction (tasks may then be lost). */
  allowEviction: boolean;
}

/** Throws a RedisSetupError that says what to change when Redis is unfit. */
export async function preflight(redis: Redis, opts: PreflightOptions): Promise<{ version: string; maxmemoryPolicy: string }> {
  const info = await redis.info('server');
  const version = /redis_version:([^\r\n]+)/.exec(info)?.[1] ?? '0';
  const major = Number(version.split('.')[0]);
  if (!(major >= 7)) {
    throw new RedisSetupError(`Redis ${version} is too old: zretry needs Redis 7 or newer (its scripts use Redis 7 commands and semantics)`);
  }
  let policy = 'unknown';
  try {
    const [, value] = (await redis.config('GET', 'maxmemory-policy')) as [string, string];
    policy = value;
  } catch {
    // CONFIG may be disabled (managed Redis): fall back to INFO memory
    const mem = await redis.info('memory');
    policy = /maxmemory_policy:([^\r\n]+)/.exec(mem)?.[1] ?? 'unknown';
  }
  if (policy !== 'noeviction' && !opts.allowEviction) {
    throw new RedisSetupError(
      `Redis maxmemory-policy is "${policy}": with eviction Redis may silently delete tasks. ` +
        'Set "maxmemory-policy noeviction" (CONFIG SET maxmemory-policy noeviction, or in redis.conf), ' +
        'or pass allowEviction: true (ZRETRY_ALLOW_EVICTION=1) to accept the risk.',
    );
  }
  return { version, maxmemoryPolicy: policy };
}
