/** The zretry command against a real queue: output a person reads, and errors naming the field. */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorker } from '../../src/create-worker.js';
import { claimShards } from '../../src/store/namespace.js';
import { TaskStore } from '../../src/store/store.js';
import { newRedis, redisUrl, testingCluster, uniqueNamespace, dropNamespace } from '../helpers/env.js';
import { failed } from '../lua/fixtures.js';
import { BULK, runBulk } from '../../src/cli/bulk.js';

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
  expect(lines[0]).toMatch(/^shard\s+due now\s+due later\s+in flight\s+queued\s+blocked aggs\s+dead\s+paused\s+held\s+oldest overdue$/);
  expect(lines.at(-1)).toMatch(/^total\s+2\s+1\s+0\s+1\s+2\s+0\s+0\s+0\s+\S+$/);
});

it('zretry stats --json gives the same counts to scripts', async () => {
  const r = await zretry(['stats', '--json'], { ZRETRY_REDIS_URL: redisUrl(), ZRETRY_NAMESPACE: namespace, ZRETRY_SHARDS: '2' });
  const out = JSON.parse(r.stdout) as { namespace: string; total: Record<string, number>; shards: unknown[] };
  expect(out.namespace).toBe(namespace);
  expect(out.shards).toHaveLength(2);
  expect(out.total).toMatchObject({ dueNow: 2, dueLater: 1, inflight: 0, queued: 1, blockedAggregates: 2, dead: 0 });
});

it('invalid configuration stops with the field, the value and what is allowed (exit 2)', async () => {
  const r = await zretry(['stats'], { ZRETRY_SHARDS: 'many', ZRETRY_REDIS_URL: redisUrl() });
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('zretry: invalid configuration:');
  expect(r.stderr).toContain('store.shards: Expected number, received string (got "many")');
  const w = await zretry(['worker', '--handler', 'examples/log-handler.js'], { ZRETRY_FOLLOWER_POLICY: 'drop', ZRETRY_REDIS_URL: redisUrl() });
  expect(w.code).toBe(2);
  expect(w.stderr).toMatch(/failure\.followerPolicy: .*'release' \| 'dead-letter' \| 'hold'.*\(got "drop"\)/);
});

/** A namespace of its own for a describe block: its store, and zretry run on it. */
function queue() {
  const ns = uniqueNamespace();
  afterAll(async () => {
    await dropNamespace(redis, ns);
  });
  return { ns, store: new TaskStore(redis, { namespace: ns, shards: 2, maxBatch: 100 }), Z: (...args: string[]) => zretry([...args, '--redis', redisUrl(), '--namespace', ns, '--shards', '2']) };
}

describe('task commands on a real queue', () => {
  const { ns, store, Z } = queue();
  beforeAll(async () => {
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
    const none = await Z('retry-now');
    expect(none.code).toBe(2);
    expect(none.stderr).toBe('zretry: name the task ids to retry-now, or select tasks with --topic, --aggregate, --error-class or --all\n');
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

  it('purge refuses without --yes when no one can be asked, counts with --dry-run, and deletes everything with --yes', async () => {
    const no = await Z('purge');
    expect(no.code).toBe(2);
    expect(no.stderr).toMatch(/^zretry: refusing to purge \d+ tasks of namespace "test-\S+" without --yes \(no terminal to ask\): look first with --dry-run, then add --yes\n$/);
    expect((await Z('purge', '--dry-run')).stdout).toMatch(/^dry run: purge would delete all \d+ tasks of namespace "test-\S+" \(2 shards\); nothing changed\n$/);
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
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain(`store.shards: namespace "${ns}" keeps its tasks in 3 shards, but 4 was configured; set store.shards (ZRETRY_SHARDS, --shards) to 3`);
    await expect(createWorker({ redis, handler: () => undefined, config: { store: { namespace: ns, shards: 2 } } })).rejects.toThrow(`namespace "${ns}" keeps its tasks in 3 shards, but 2 was configured`);
  } finally {
    await dropNamespace(redis, ns);
  }
});

describe('the command line itself (no Redis needed)', () => {
  it('--help lists the commands and the exit codes; a command has its own help with examples; --version prints it', async () => {
    const help = await zretry(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: zretry \[options\] \[command\]/);
    expect(help.stdout).toMatch(/\n  skip \[options\] \[task\.\.\.\] +delete tasks without running/);
    expect(help.stdout).toContain('  2  usage: unknown command or option');
    const skip = await zretry(['skip', '--help']);
    expect(skip.stdout).toMatch(/^Usage: zretry skip \[options\] \[task\.\.\.\]/);
    expect(skip.stdout).toMatch(/--all +select every task the command applies to/);
    expect(skip.stdout).toMatch(/-y, --yes +go ahead without asking/);
    expect(skip.stdout).toContain('$ zretry skip --topic orders --dry-run');
    const version = await zretry(['--version']);
    expect(version).toMatchObject({ code: 0, stdout: `${(JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version}\n` });
  });

  it('a mistyped option or command is one line naming the fix, exit 2', async () => {
    expect(await zretry(['list', '--limt', '5'])).toMatchObject({ code: 2, stdout: '', stderr: "zretry list: unknown option '--limt' (did you mean --limit?); see zretry list --help\n" });
    expect(await zretry(['lsit'])).toMatchObject({ code: 2, stderr: "zretry: unknown command 'lsit' (did you mean list?); see zretry --help\n" });
    const bad = await zretry(['list', '--state', 'sleeping']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('Allowed choices are due, inflight, waiting, dead, paused, held');
    expect((await zretry([])).code).toBe(2);
  });

  it('an unknown ZRETRY_* variable and a typo in the config file name the option meant, exit 2', async () => {
    const env = await zretry(['stats'], { ZRETRY_MAX_ATTEMPT: '3' });
    expect(env).toMatchObject({ code: 2, stderr: 'zretry: invalid environment:\n  ZRETRY_MAX_ATTEMPT: unknown variable; did you mean ZRETRY_MAX_ATTEMPTS?\n' });
    const file = join(mkdtempSync(join(tmpdir(), 'zretry-cli-')), 'zretry.json');
    writeFileSync(file, JSON.stringify({ store: { redisUrl: redisUrl() }, failure: { policy: { maxAttempt: 2 } }, consumer: { dltSufix: '-dlt' } }));
    const cfg = await zretry(['stats', '--config', file]);
    expect(cfg.code).toBe(2);
    expect(cfg.stderr).toBe(
      'zretry: invalid configuration:\n  failure.policy.maxAttempt: unknown option; did you mean "maxAttempts"?\n  consumer.dltSufix: unknown option; did you mean "dltSuffix"?\n',
    );
  });

  it('an unreachable Redis is one line naming the address (password hidden), without a stack, exit 1', async () => {
    const r = await zretry(['stats', '--redis', 'redis://ops:s3cret@127.0.0.1:1']);
    expect(r).toMatchObject({
      code: 1,
      stderr: 'zretry: cannot reach Redis at redis://ops:***@127.0.0.1:1 (ECONNREFUSED): is it running? Point --redis or ZRETRY_REDIS_URL at it\n',
    });
  });
});

describe('bulk selections: --dry-run, asking, --yes', () => {
  const { ns, store, Z } = queue();
  beforeAll(async () => {
    await store.schedule([
      { ...failed(1, 'a', 60_000), error: { class: 'TimeoutError', message: 'upstream timed out\n    after 30 s\r\n\tretrying' } },
      failed(2, 'b', 60_000),
      failed(3, 'c', 60_000),
    ]);
  });
  const live = async () => {
    const t = (await store.stats()).total;
    return t.dueNow + t.dueLater + t.queued;
  };

  it('a multi-line error stays on its table row', async () => {
    const r = await Z('list');
    expect(r.stdout.trimEnd().split('\n')).toHaveLength(2 + 3);
    expect(r.stdout).toMatch(/orders\/0\/1 .* TimeoutError: upstream timed out after 30 s retrying\n/);
  });

  it('skip by topic: --dry-run lists what would go and changes nothing; without --yes and no terminal it refuses (exit 2)', async () => {
    const dry = await Z('skip', '--topic', 'orders', '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/^task +state +when +attempts +aggregate +record +last error\n/);
    expect(dry.stdout).toMatch(/\ndry run: 3 tasks would be deleted, neither run nor dead-lettered; nothing changed\n$/);
    const no = await Z('skip', '--topic', 'orders');
    expect(no).toMatchObject({
      code: 2,
      stdout: '',
      stderr: `zretry: refusing to skip 3 tasks of namespace "${ns}" selected by --topic orders without --yes (no terminal to ask): look first with --dry-run, then add --yes\n`,
    });
    const kill = await Z('kill', '--all');
    expect(kill.code).toBe(2);
    expect(kill.stderr).toContain('refusing to kill 3 tasks');
    expect(await live()).toBe(3);
  });

  it('on a terminal it asks, naming the count, the namespace and the selection; anything but y changes nothing', async () => {
    const questions: string[] = [];
    const asker = (answer: string) => ({ interactive: true, ask: async (q: string) => (questions.push(q), answer) });
    const opts = { dryRun: false, yes: false, json: false, progress: () => undefined };
    const no = await runBulk(store, BULK.skip, [], { topic: 'orders' }, { ...opts, asker: asker('n') });
    expect(no).toEqual({ text: 'skip cancelled; nothing changed', code: 1 });
    expect(questions[0]).toBe(`3 tasks of namespace "${ns}" selected by --topic orders will be deleted, neither run nor dead-lettered. Go ahead? [y/N] `);
    expect(await live()).toBe(3);
    const yes = await runBulk(store, BULK.kill, [], { aggregate: 'c' }, { ...opts, dryRun: true, asker: asker('y') });
    expect(yes.text).toMatch(/dry run: 1 task would be sent to the dead-letter topic/);
    expect(questions).toHaveLength(1); // a dry run asks nothing
  });

  it('with --yes it goes ahead; task ids need no --yes', async () => {
    expect((await Z('skip', 'orders/0/3')).stdout).toContain('deleted: 1');
    const r = await Z('skip', '--aggregate', 'b', '--yes');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('deleted: 1');
    expect(await live()).toBe(1);
  });
});

it('a namespace nothing has started on, holding nothing, is warned about', async () => {
  const r = await zretry(['stats', '--redis', redisUrl(), '--namespace', 'no-such-namespace-xyz']);
  expect(r.code).toBe(0);
  expect(r.stderr).toContain('zretry: warning: namespace "no-such-namespace-xyz" is unknown at redis://127.0.0.1:');
  expect(r.stderr).toContain('check --namespace (ZRETRY_NAMESPACE)');
});

it('zretry dashboard refuses to start without a token; with one it serves the page and the API on loopback, the token required, until SIGTERM', async () => {
  const env: NodeJS.ProcessEnv = { ...process.env, ...(testingCluster() ? { ZRETRY_REDIS_CLUSTER: '1' } : {}) };
  delete env.ZRETRY_HTTP_TOKEN;
  const none = await zretry(['dashboard', '--redis', redisUrl(), '--namespace', namespace]);
  expect(none.code).toBe(2);
  expect(none.stderr).toContain('zretry dashboard needs a token: set ZRETRY_HTTP_TOKEN');

  const token = 'dashboard-token-4321';
  const p = spawn('node', ['bin/zretry.js', 'dashboard', '--redis', redisUrl(), '--namespace', namespace], { env: { ...env, ZRETRY_HTTP_TOKEN: token, ZRETRY_HTTP_PORT: '0' } });
  const exited = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)));
  let stderr = '';
  p.stderr.on('data', (d: Buffer) => void (stderr += d.toString()));
  try {
    const deadline = Date.now() + 15_000;
    while (!/dashboard on (\S+)\//.test(stderr) && Date.now() < deadline && p.exitCode === null) await new Promise((r) => setTimeout(r, 50));
    const url = /dashboard on (\S+)\//.exec(stderr)?.[1];
    expect(url, `no address in: ${stderr}`).toBeDefined();
    // loopback unless told otherwise
    expect(new URL(url!).hostname).toBe('127.0.0.1');
    expect((await fetch(`${url}/api/stats`)).status).toBe(401);
    const stats = await fetch(`${url}/api/stats`, { headers: { authorization: `Bearer ${token}` } });
    expect(stats.status).toBe(200);
    expect(await stats.json()).toMatchObject({ namespace, total: { dueLater: expect.any(Number) } });
    const page = await fetch(`${url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>zretry');
    expect(stderr).not.toContain(token);
  } finally {
    p.kill('SIGTERM');
  }
  expect(await exited).toBe(0);
});
