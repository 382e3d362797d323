/** The zretry command against a real queue: output a person reads, and errors naming the field. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorker } from '../../src/create-worker.js';
import { claimShards } from '../../src/store/namespace.js';
import { TaskStore } from '../../src/store/store.js';
import { newRedis, redisUrl, testingCluster, uniqueNamespace, dropNamespace } from '../helpers/env.js';
import { failed } from '../lua/fixtures.js';

const run = promisify(execFile);
const zretry = (args: string[], env: Record<string, string> = {}) =>
  // on the cluster (test/cluster/cli.test.ts) every command runs with ZRETRY_REDIS_CLUSTER=1
  run('node', ['bin/zretry.js', ...args], { env: { ...process.env, ...(testingCluster() ? { ZRETRY_REDIS_CLUSTER: '1' } : {}), ...env } }).then(
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
  await dropNamespace(redis, namespace);
  await redis.quit();
});

it('zretry stats prints a table per shard with the total', async () => {
  const r = await zretry(['stats', '--redis', redisUrl(), '--namespace', namespace, '--shards', '2']);
  expect(r.code).toBe(0);
  const lines = r.stdout.trim().split('\n');
  expect(lines[0]).toMatch(/^shard\s+due now\s+due later\s+in flight\s+queued\s+blocked aggs\s+dead\s+paused\s+oldest overdue$/);
  expect(lines.at(-1)).toMatch(/^total\s+2\s+1\s+0\s+1\s+2\s+0\s+0\s+\S+$/);
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

describe('task commands on a real queue', () => {
  const ns = uniqueNamespace();
  const Z = (...args: string[]) => zretry([...args, '--redis', redisUrl(), '--namespace', ns, '--shards', '2']);
  let store: TaskStore;
  beforeAll(async () => {
    store = new TaskStore(redis, { namespace: ns, shards: 2, maxBatch: 100 });
    await store.schedule([
      { ...failed(1, 'alice', 60_000), error: { class: 'TimeoutError', message: 'payment service timeout' } },
      failed(2, 'alice'),
      { ...failed(3, 'bob', 60_000), error: { class: 'TypeError', message: 'x is undefined' } },
      failed(4, 'carol'),
    ]);
    const carol = (await store.claim(store.shardOf('carol', 'x'), 10, 10_000)).tasks.find((t) => t.aggregateId === 'carol')!;
    await store.kill([{ id: carol.id, shard: carol.shard, token: carol.token, error: { class: 'Error', message: 'card declined' } }], 'release', true);
    for (const s of [0, 1]) {
      const c = await store.claim(s, 10, 10_000);
      await store.release(c.tasks.map((t) => ({ id: t.id, shard: t.shard, token: t.token })));
    }
  });
  afterAll(async () => {
    await dropNamespace(redis, ns);
  });

  it('list shows live tasks with state, attempts, aggregate and last error; --json for scripts', async () => {
    const r = await Z('list');
    expect(r.stdout).toMatch(/^task\s+state\s+when\s+attempts\s+aggregate\s+record\s+last error/);
    expect(r.stdout).toMatch(/orders\/0\/1\s+due\s+in \S+\s+1\s+alice\s+orders\/0@1\s+TimeoutError: payment service timeout/);
    expect(r.stdout).toMatch(/orders\/0\/2\s+waiting\s+-\s+1\s+alice/);
    expect(r.stdout).not.toContain('orders/0/4');
    const j = JSON.parse((await Z('list', '--aggregate', 'bob', '--json')).stdout) as { tasks: Array<{ id: string; record: { valueBytes: number } }> };
    expect(j.tasks.map((t) => t.id)).toEqual(['orders/0/3']);
    expect(j.tasks[0]!.record.valueBytes).toBe(2);
    const page = await Z('list', '--limit', '1');
    expect(page.stdout).toContain('next page: --offset 1');
  });

  it('show prints one task; an unknown id is an error', async () => {
    const r = await Z('show', 'orders/0/3');
    expect(r.stdout).toMatch(/state\s+due/);
    expect(r.stdout).toMatch(/last error\s+TypeError: x is undefined/);
    const missing = await Z('show', 'nope');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`no task nope in namespace ${ns}`);
  });

  it('dead list, then dead replay puts the task back due with fresh attempts', async () => {
    expect((await Z('dead', 'list')).stdout).toMatch(/orders\/0\/4\s+dead\s+\S+ ago\s+2\s+carol\s+orders\/0@4\s+Error: card declined/);
    const r = await Z('dead', 'replay', '--all');
    expect(r.stdout).toContain('due-now: 1');
    const shown = await Z('show', 'orders/0/4', '--json');
    expect(JSON.parse(shown.stdout)).toMatchObject({ state: 'due', attempt: 0 });
    expect((await Z('dead', 'list')).stdout).toBe('no tasks match\n');
  });

  it('retry-now by error class, kill dooms, skip deletes and releases the follower', async () => {
    expect((await Z('retry-now', '--error-class', 'TypeError')).stdout).toContain('orders/0/3  due-now');
    expect((await Z('kill', 'orders/0/3')).stdout).toContain('orders/0/3  doomed');
    expect((await Z('skip', 'orders/0/1')).stdout).toContain('deleted: 1');
    const t = JSON.parse((await Z('show', 'orders/0/2', '--json')).stdout) as { state: string };
    expect(t.state).toBe('due');
    expect((await Z('retry-now')).stderr).toContain('name task ids, or select tasks with --topic, --aggregate or --error-class');
  });

  it('pause and resume dispatch by topic, shown in stats; shift pushes due times back', async () => {
    expect((await Z('pause', '--topic', 'orders')).stdout).toBe('dispatch paused: topic:orders\n');
    expect((await Z('stats')).stdout).toMatch(/^dispatch paused: topic:orders\nshard/);
    const claimed = await store.claim(store.shardOf('alice', 'x'), 10, 10_000);
    expect(claimed.tasks).toHaveLength(0); // the due task of topic orders is held back
    expect((await Z('list', '--state', 'paused')).stdout).toContain('paused');
    expect((await Z('resume', '--topic', 'orders')).stdout).toMatch(/dispatch resumed: topic:orders; \d+ held tasks due again/);
    expect((await Z('shift', '10m')).stdout).toMatch(/pushed \d+ due times back by 10m/);
    expect((await Z('shift', 'soon')).stderr).toContain('duration must look like 500ms, 90s, 10m or 2h (got "soon")');
  });

  it('purge refuses without --yes when no one can be asked, and deletes everything with it', async () => {
    const no = await Z('purge');
    expect(no.code).toBe(1);
    expect(no.stderr).toMatch(/refusing to purge \d+ tasks of namespace .* without --yes/);
    expect((await Z('purge', '--yes')).stdout).toMatch(/purged namespace/);
    expect((await store.stats()).total).toMatchObject({ dueNow: 0, dueLater: 0, queued: 0, dead: 0 });
  });
});

it('the namespace remembers its shard count: operator commands read it, and a different count is refused with the fix', async () => {
  const ns = uniqueNamespace();
  await claimShards(redis, ns, 3);
  try {
    const r = await zretry(['stats', '--json', '--redis', redisUrl(), '--namespace', ns]);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { shards: unknown[] }).shards).toHaveLength(3);
    const wrong = await zretry(['stats', '--redis', redisUrl(), '--namespace', ns, '--shards', '4']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain(`store.shards: namespace "${ns}" keeps its tasks in 3 shards, but 4 was configured; set store.shards (ZRETRY_SHARDS, --shards) to 3`);
    await expect(createWorker({ redis, handler: () => undefined, config: { store: { namespace: ns, shards: 2 } } })).rejects.toThrow(`namespace "${ns}" keeps its tasks in 3 shards, but 2 was configured`);
  } finally {
    await dropNamespace(redis, ns);
  }
});
