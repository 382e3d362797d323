/**
 * Dispatch control from the operator's side: `zretry limit` and `zretry
 * breaker` against the real Redis, the admin API's routes on the same
 * actions (src/ops/limits.ts), what `zretry stats` shows, and bad input
 * refused with a message naming the field and the fix.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import pino from 'pino';
import { startAdminServer } from '../../src/metrics/http.js';
import { TaskStore } from '../../src/store/store.js';
import { dropNamespace, newRedis, redisUrl, testingCluster, uniqueNamespace } from '../helpers/env.js';
import { failed, record } from '../lua/fixtures.js';

const run = promisify(execFile);
const redis = newRedis();
const ns = uniqueNamespace();
const store = new TaskStore(redis, { namespace: ns, shards: 2, maxBatch: 100 });
afterAll(async () => {
  await dropNamespace(redis, ns);
  await redis.quit();
});

const Z = (...args: string[]) =>
  run('node', ['bin/zretry.js', ...args, '--redis', redisUrl(), '--namespace', ns, '--shards', '2'], { env: { ...process.env, ...(testingCluster() ? { ZRETRY_REDIS_CLUSTER: '1' } : {}) } }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

describe('zretry limit and zretry breaker', () => {
  it('refuses a limit of 0, a negative rate, a bad burst and an unknown topic with the field and the fix (exit 2)', async () => {
    const zero = await Z('limit', 'set', '--rate', '0');
    expect(zero.code).toBe(2);
    expect(zero.stderr).toContain('rate must be a number of tasks per second above 0 (got "0"); to stop dispatch use `zretry pause` or `zretry breaker open`');
    const negative = await Z('limit', 'set', '--topic', 'orders', '--rate', '-5');
    expect(negative.code).toBe(2);
    expect(negative.stderr).toContain('rate must be a number of tasks per second above 0 (got "-5")');
    const burst = await Z('limit', 'set', '--rate', '10', '--burst', '0.5');
    expect(burst.code).toBe(2);
    expect(burst.stderr).toContain('burst must be a whole number of tasks from 1 to 1000000 (got "0.5")');
    await store.control.registerTopics(['orders']);
    const unknown = await Z('limit', 'set', '--topic', 'ordres', '--rate', '10');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain(`unknown topic "ordres": no consumer of namespace "${ns}" subscribes to it and no retry of it ran (known topics: orders); check the name, or pass --new-topic`);
    const both = await Z('limit', 'set', '--topic', 'orders', '--error-class', 'E', '--rate', '10');
    expect(both.code).toBe(2);
    const concurrency = await Z('limit', 'set', '--error-class', 'E', '--concurrency', '3');
    expect(concurrency.code).toBe(2);
    expect(concurrency.stderr).toContain('a concurrency limit is per topic: add --topic <topic>');
    const none = await Z('limit', 'set', '--topic', 'orders');
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('give a rate (--rate, tasks per second), a concurrency (--concurrency), or both');
    const mistyped = await Z('breaker', 'open', '--topic', 'ordres');
    expect(mistyped.code).toBe(2);
    expect(mistyped.stderr).toContain(`unknown topic "ordres": no consumer of namespace "${ns}" subscribes to it and no retry of it ran (known topics: orders); check the name, or pass --new-topic`);
    expect((await store.control.view()).forced).toEqual([]);
    const nameless = await Z('breaker', 'open');
    expect(nameless.code).toBe(2);
    expect(nameless.stderr).toContain('name the breaker: --topic <topic> or --error-class <class>');
    expect((await store.control.view()).limits).toEqual([]);
  });

  it('sets, lists and clears limits; forces a breaker; stats shows them with the transitions', async () => {
    expect((await Z('limit', 'set', '--topic', 'orders', '--rate', '50', '--burst', '10')).stdout).toBe('limit topic:orders: 50 tasks/s, burst 10\n');
    expect((await Z('limit', 'set', '--rate', '200')).stdout).toBe('limit all: 200 tasks/s, burst 20\n');
    expect((await Z('limit', 'set', '--topic', 'later', '--new-topic', '--rate', '1')).code).toBe(0);
    expect((await Z('limit', 'set', '--topic', 'orders', '--rate', '50', '--burst', '10', '--concurrency', '4')).stdout).toBe('limit topic:orders: 50 tasks/s, burst 10; at most 4 running\n');
    expect((await Z('limit', 'set', '--topic', 'orders', '--rate', '50', '--burst', '10')).stdout).toBe('limit topic:orders: 50 tasks/s, burst 10\n');
    expect((await Z('breaker', 'open', '--error-class', 'ConnectionRefused')).stdout).toBe('breaker error:ConnectionRefused: open\n');
    expect((await Z('breaker', 'auto', '--topic', 'later2', '--new-topic')).stdout).toBe('breaker topic:later2: auto (already)\n');
    const list = (await Z('limit', 'list')).stdout;
    expect(list).toMatch(/all\s+200\/s burst 20/);
    expect(list).toMatch(/topic:orders\s+50\/s burst 10/);
    expect(list).toMatch(/error:ConnectionRefused\s+-\s+open .* \(0 probes\)\s+open/);
    expect(list).toContain('error:ConnectionRefused opened by=operator');
    expect((await Z('limit', 'set', '--topic', 'orders', '--concurrency', '4')).stdout).toBe('limit topic:orders: at most 4 running\n');
    const stats = (await Z('stats')).stdout;
    expect(stats).toMatch(/topic:orders\s+4 at once/);
    expect(stats).toMatch(/\nshard\s+due now/);
    const json = JSON.parse((await Z('stats', '--json')).stdout) as { dispatch: { limits: unknown[] } };
    expect(json.dispatch.limits).toEqual([
      { scope: 'all', rate: 200, burst: 20, concurrency: null },
      { scope: 'topic:later', rate: 1, burst: 1, concurrency: null },
      { scope: 'topic:orders', rate: null, burst: null, concurrency: 4 },
    ]);
    expect((await Z('breaker', 'close', '--error-class', 'ConnectionRefused')).stdout).toBe('breaker error:ConnectionRefused: closed\n');
    expect((await Z('limit', 'clear', '--topic', 'orders')).stdout).toBe('limit topic:orders cleared\n');
    expect((await Z('limit', 'clear', '--topic', 'orders')).stdout).toBe('no limit on topic:orders\n');
    expect((await store.control.view()).limits.map((l) => l.scope)).toEqual(['all', 'topic:later']);
  });

  it('purge counts and deletes held tasks too, and says which limits and forced breakers stay', async () => {
    await store.schedule([1, 2, 3].map((i) => ({ ...failed(i, `held-${i}`), record: { ...record(i), topic: 'later' } })));
    // a claim with no token for topic:later holds its tasks
    for (const shard of [0, 1]) expect((await store.claim(shard, 10, 10_000, 0, 100, new Map([['topic:later', 0]]))).tasks).toEqual([]);
    expect((await store.stats()).total.held).toBe(3);
    expect((await Z('purge', '--dry-run')).stdout).toMatch(/^dry run: purge would delete all 3 tasks of namespace/);
    const purged = await Z('purge', '--yes');
    expect(purged.stdout).toMatch(/^purged namespace \S+: 3 tasks, \d+ keys; its 2 rate or concurrency limits and 1 forced breakers stay \(zretry limit list/);
    expect((await store.stats()).total.held).toBe(0);
  });
});

describe('the admin API on the same actions', () => {
  const TOKEN = 'dispatch-test-token-1234';
  let url = '';
  let server: { close: () => Promise<void> } | null = null;
  const logLines: string[] = [];
  beforeAll(async () => {
    const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(line) });
    const s = await startAdminServer({ host: '127.0.0.1', port: 0, token: TOKEN, registry: new Registry(), store, logger });
    server = s;
    url = s.url;
  });
  afterAll(async () => server?.close());
  const call = async (path: string, body?: unknown) => {
    const res = await fetch(url + path, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('sets and clears a limit, forces a breaker, and answers 400 naming the field', async () => {
    expect(await call('/api/actions/limit', { op: 'set', errorClass: 'Timeout', rate: 5 })).toEqual({ status: 200, body: { scope: 'error:Timeout', rate: 5, burst: 1, concurrency: null, changed: true } });
    expect(await call('/api/actions/limit', { op: 'set', errorClass: 'Timeout', rate: -1 })).toMatchObject({ status: 400, body: { error: expect.stringContaining('rate must be a number of tasks per second above 0 (got -1)') } });
    expect(await call('/api/actions/limit', { op: 'set', topic: 'nope', rate: 1 })).toMatchObject({ status: 400, body: { error: expect.stringContaining('unknown topic "nope"') } });
    expect(await call('/api/actions/limit', { op: 'set', rate: 1, rat: 2 })).toMatchObject({ status: 400, body: { error: 'bad body: unknown field "rat"' } });
    expect(await call('/api/actions/breaker', { state: 'open', topic: 'orders' })).toEqual({ status: 200, body: { scope: 'topic:orders', state: 'open', changed: true } });
    expect(await call('/api/actions/limit', { op: 'clear', errorClass: 'Timeout' })).toEqual({ status: 200, body: { scope: 'error:Timeout', cleared: true } });
    expect((await call('/api/dispatch')).body).toMatchObject({ namespace: ns, forced: expect.arrayContaining([{ scope: 'topic:orders', state: 'open' }]) });
    // one audit line per action carried out (not for the refused ones), without the token
    const audit = logLines.map((l) => JSON.parse(l) as { msg: string; action: string; result?: { scope?: string } }).filter((l) => l.msg === 'operator action through the admin API');
    expect(audit.map((l) => `${l.action} ${l.result?.scope}`)).toEqual(['limit error:Timeout', 'breaker topic:orders', 'limit error:Timeout']);
    expect(logLines.join('')).not.toContain(TOKEN);
  });
});
