/**
 * Start-up checks of the Redis that will hold tasks: a version with the
 * commands the scripts use, and an eviction policy that never drops a task.
 * Both are read from INFO, which the least-privilege ACL grants
 * (docs/security.md); CONFIG GET is only a fallback for a Redis whose INFO
 * lacks the policy, as an application user is rarely allowed CONFIG.
 */
import type { Redis } from 'ioredis';
import { RedisSetupError } from '../errors.js';

/** What preflight may let pass. */
export interface PreflightOptions {
  /** Accept an eviction policy other than noeviction (tasks may then be lost). */
  allowEviction: boolean;
}

const isNoPerm = (e: unknown): boolean => e instanceof Error && e.message.startsWith('NOPERM');

async function info(redis: Redis, section: string): Promise<string> {
  try {
    return await redis.info(section);
  } catch (e) {
    if (!isNoPerm(e)) throw e;
    throw new RedisSetupError(
      `Redis refused INFO to this user (${(e as Error).message}): zretry reads the server version and maxmemory-policy ` +
        'from INFO at start. Grant it with ACL SETUSER <user> +info (the rules `zretry acl` prints include it; see docs/security.md).',
      { cause: e },
    );
  }
}

/** Throws a RedisSetupError that says what to change when Redis is unfit. */
export async function preflight(redis: Redis, opts: PreflightOptions): Promise<{ version: string; maxmemoryPolicy: string }> {
  const server = await info(redis, 'server');
  const version = /redis_version:([^\r\n]+)/.exec(server)?.[1] ?? '0';
  const major = Number(version.split('.')[0]);
  if (!(major >= 7)) {
    throw new RedisSetupError(`Redis ${version} is too old: zretry needs Redis 7 or newer (its scripts use Redis 7 commands and semantics)`);
  }
  let policy = /maxmemory_policy:([^\r\n]+)/.exec(await info(redis, 'memory'))?.[1];
  let configRefusal = '';
  if (policy === undefined) {
    try {
      const [, value] = (await redis.config('GET', 'maxmemory-policy')) as [string, string];
      policy = value;
    } catch (e) {
      // CONFIG is often disabled (managed Redis) or not granted (ACL): say so below
      configRefusal = (e as Error).message;
    }
  }
  if (policy === undefined && !opts.allowEviction) {
    throw new RedisSetupError(
      `cannot tell Redis's maxmemory-policy: INFO memory has no maxmemory_policy and CONFIG GET failed (${configRefusal}). ` +
        'Make sure it is "noeviction", then pass allowEviction: true (ZRETRY_ALLOW_EVICTION=1) to start without the check.',
    );
  }
  policy ??= 'unknown';
  if (policy !== 'noeviction' && !opts.allowEviction) {
    throw new RedisSetupError(
      `Redis maxmemory-policy is "${policy}": with eviction Redis may silently delete tasks. ` +
        'Set "maxmemory-policy noeviction" (CONFIG SET maxmemory-policy noeviction, or in redis.conf), ' +
        'or pass allowEviction: true (ZRETRY_ALLOW_EVICTION=1) to accept the risk.',
    );
  }
  return { version, maxmemoryPolicy: policy };
}
