/** The zretry command against a real queue: output a person reads, and errors naming the field. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TaskStore } from '../../src/store/store.js';
import { newRedis, redisUrl, uniqueNamespace } from '../helpers/env.js';
import { failed } from '../lua/fixtures.js';

const run = promisify(execFile);
const zretry = (args: string[], env: Record<string, string> = {}) =>
  run('node', ['bin/zretry.js', ...args], { env: { ...process.env, ...env } }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

const redis = newRedis();
const namespace = uniqueNamespace();
beforeAll(async () => {
  const store = new TaskStore(redis, { namespace, shards: 2, maxBatch: 100 });
  await store.schedule([failed(1, 'A'), failed(2, 'A'), failed(3, 'B', 60_000), failed(4, null)]);
});
afterAll(async () => {
  const keys = await redis.keys(`{${namespace}:*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

it('zretry stats prints a table per shard with the total', async () => {
  const r = await zretry(['stats', '--redis', redisUrl(), '--namespace', namespace, '--shards', '2']);
  expect(r.code).toBe(0);
  const lines = r.stdout.trim().split('\n');
  expect(lines[0]).toMatch(/^shard\s+due now\s+due later\s+in flight\s+queued\s+blocked aggs\s+dead\s+oldest overdue$/);
  expect(lines.at(-1)).toMatch(/^total\s+2\s+1\s+0\s+1\s+2\s+0\s+\S+$/);
});

it('zretry stats --json gives the same counts to scripts', async () => {
  const r = await zretry(['stats', '--json'], { ZRETRY_REDIS_URL: redisUrl(), ZRETRY_NAMESPACE: namespace, ZRETRY_SHARDS: '2' });
  const out = JSON.parse(r.stdout) as { namespace: string; total: Record<string, number>; shards: unknown[] };
  expect(out.namespace).toBe(namespace);
  expect(out.shards).toHaveLength(2);
  expect(out.total).toMatchObject({ dueNow: 2, dueLater: 1, inflight: 0, queued: 1, blockedAggregates: 2, dead: 0 });
});

it('invalid configuration stops with the field, the value and what is allowed', async () => {
  const r = await zretry(['stats'], { ZRETRY_SHARDS: 'many', ZRETRY_REDIS_URL: redisUrl() });
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('zretry: invalid configuration:');
  expect(r.stderr).toContain('store.shards: Expected number, received string (got "many")');
  const w = await zretry(['worker', '--handler', 'examples/log-handler.js'], { ZRETRY_FOLLOWER_POLICY: 'drop', ZRETRY_REDIS_URL: redisUrl() });
  expect(w.code).toBe(1);
  expect(w.stderr).toMatch(/failure\.followerPolicy: .*'release' \| 'dead-letter' \| 'hold'.*\(got "drop"\)/);
});
