/**
 * The admin API over real HTTP on a real queue: the token and cross-origin
 * rules, what each bad input gets (a 4xx a person can act on, never a 500),
 * and that its actions are the CLI's (the same dry-run selection).
 */
import { execFile } from 'node:child_process';
import { request } from 'node:http';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdminServer } from '../../src/metrics/http.js';
import { TaskStore } from '../../src/store/store.js';
import { failed } from '../lua/fixtures.js';
import { dropNamespace, newRedis, redisUrl, uniqueNamespace } from '../helpers/env.js';

const TOKEN = 'api-test-token-5678';
const redis = newRedis();
const ns = uniqueNamespace('api');
const store = new TaskStore(redis, { namespace: ns, shards: 2, maxBatch: 100 });
const servers: Array<{ close: () => Promise<void> }> = [];
const seenAnswers: string[] = [];

async function serve(opts: Partial<Parameters<typeof startAdminServer>[0]> = {}): Promise<string> {
  const s = await startAdminServer({ host: '127.0.0.1', port: 0, token: TOKEN, registry: new Registry(), store, ...opts });
  servers.push(s);
  return s.url;
}

/** A request as curl would send it; the answer's status and JSON (or text). */
async function call(url: string, path: string, init: { method?: string; body?: string; headers?: Record<string, string>; auth?: string | null } = {}) {
  const headers: Record<string, string> = { ...(init.auth === null ? {} : { authorization: `Bearer ${init.auth ?? TOKEN}` }), ...init.headers };
  const res = await fetch(url + path, { method: init.method ?? (init.body === undefined ? 'GET' : 'POST'), headers, body: init.body });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // text answers (/metrics, the probes)
  }
  if (res.status >= 400) seenAnswers.push(`${init.method ?? (init.body === undefined ? 'GET' : 'POST')} ${path.slice(0, 60)} -> ${res.status} ${typeof body === 'string' ? body.trim() : JSON.stringify(body)}`);
  return { status: res.status, body: body as { error?: string } & Record<string, unknown> };
}
const post = (url: string, path: string, body: unknown, headers: Record<string, string> = {}) =>
  call(url, path, { body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });

beforeAll(async () => {
  await store.schedule([
    { ...failed(1, 'alice', 60_000), error: { class: 'TimeoutError', message: 'payment service timeout' } },
    failed(2, 'alice'),
    { ...failed(3, 'bob', 60_000), error: { class: 'TypeError', message: 'x is undefined' } },
    { ...failed(4, 'carol', 60_000), error: { class: 'TypeError', message: 'y is undefined' } },
  ]);
});
afterAll(async () => {
  for (const s of servers) await s.close();
  await dropNamespace(redis, ns);
  await redis.quit();
  console.log(`what bad input got:\n  ${seenAnswers.join('\n  ')}`);
});

describe('who may call', () => {
  it('without a token configured the API is off, with a message saying how to turn it on; /metrics stays open on loopback', async () => {
    const url = await serve({ token: undefined });
    expect(await call(url, '/api/stats', { auth: null })).toEqual({ status: 403, body: { error: 'the admin API needs a token: set http.token (ZRETRY_HTTP_TOKEN, 8 characters or more)' } });
    expect((await call(url, '/healthz', { auth: null })).status).toBe(200);
  });

  it('with a token every read needs it (401 naming what is missing or wrong); openReads lets reads through, never actions', async () => {
    const url = await serve();
    expect(await call(url, '/api/stats', { auth: null })).toEqual({ status: 401, body: { error: 'a token is required: send Authorization: Bearer <token>' } });
    expect(await call(url, '/api/tasks', { auth: 'wrong-token-0000000' })).toEqual({ status: 401, body: { error: 'the token is wrong' } });
    expect((await call(url, '/metrics', { auth: null })).status).toBe(401);
    const ok = await call(url, '/api/stats');
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ namespace: ns, total: { dueNow: 0, dueLater: 3, queued: 1 } });
    const open = await serve({ openReads: true });
    expect((await call(open, '/api/stats', { auth: null })).status).toBe(200);
    expect((await call(open, '/api/actions/pause', { auth: null, body: '{}', headers: { 'content-type': 'application/json' } })).status).toBe(401);
  });

  it('actions from another origin, or as a form, are refused before anything runs', async () => {
    const url = await serve();
    const kill = { ids: [failed(1, 'alice').id] };
    expect(await post(url, '/api/actions/kill', kill, { origin: 'http://evil.example' })).toEqual({
      status: 403,
      body: { error: 'cross-origin request refused (Origin http://evil.example is not this server): actions are taken only from the dashboard\'s own page or without a browser' },
    });
    expect((await post(url, '/api/actions/kill', kill, { 'sec-fetch-site': 'cross-site' })).body.error).toMatch(/^cross-origin request refused \(Sec-Fetch-Site: cross-site\)/);
    expect((await post(url, '/api/actions/kill', kill, { origin: 'null' })).status).toBe(403);
    const form = await call(url, '/api/actions/kill', { body: 'ids=orders%2F0%2F1', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(form).toEqual({ status: 415, body: { error: 'actions take a JSON body with Content-Type: application/json (got "application/x-www-form-urlencoded"); form posts are refused' } });
    expect((await call(url, '/api/actions/kill', { body: JSON.stringify(kill), headers: { 'content-type': 'text/plain' } })).status).toBe(415);
    // the page's own origin passes
    const host = new URL(url).host;
    expect((await post(url, '/api/actions/pause', { topic: 'nothing-here' }, { origin: `http://${host}`, 'sec-fetch-site': 'same-origin' })).status).toBe(200);
    await post(url, '/api/actions/resume', { topic: 'nothing-here' });
    expect((await store.stats()).total).toMatchObject({ dueLater: 3, queued: 1, dead: 0 });
  });
});

describe('bad input gets a 4xx naming it', () => {
  it('malformed filters and paging, unknown parameters, unknown ids, routes and methods', async () => {
    const url = await serve();
    expect(await call(url, '/api/tasks?state=bogus')).toEqual({ status: 400, body: { error: "bad query: state: Invalid enum value. Expected 'due' | 'inflight' | 'waiting' | 'paused' | 'held' | 'dead', received 'bogus'" } });
    expect(await call(url, '/api/tasks?limit=abc')).toEqual({ status: 400, body: { error: 'bad query: limit: Expected number, received nan' } });
    expect(await call(url, '/api/tasks?limit=0')).toEqual({ status: 400, body: { error: 'bad query: limit: Number must be greater than or equal to 1' } });
    expect(await call(url, '/api/tasks?colour=red')).toEqual({ status: 400, body: { error: 'bad query: unknown parameter "colour"' } });
    expect(await call(url, '/api/tasks/orders%2F0%2F999')).toEqual({ status: 404, body: { error: `no task "orders/0/999" in namespace ${ns}` } });
    expect((await call(url, '/api/tasks/%E0%A4%A')).status).toBe(400);
    const route = await call(url, '/api/nope');
    expect(route.status).toBe(404);
    expect(route.body.error).toBe('no route "/api/nope"');
    expect(await call(url, '/api/stats', { method: 'DELETE' })).toEqual({ status: 405, body: { error: 'method DELETE not allowed: reads are GET, actions POST' } });
  });

  it('malformed, oversized or incomplete bodies', async () => {
    const url = await serve();
    expect(await post(url, '/api/actions/kill', '{"ids": [')).toMatchObject({ status: 400, body: { error: expect.stringMatching(/^the body is not valid JSON: /) } });
    expect(await post(url, '/api/actions/kill', '[1,2]')).toEqual({ status: 400, body: { error: 'the body must be a JSON object' } });
    expect(await post(url, '/api/actions/kill', { ids: ['a'], colour: 'red' })).toEqual({ status: 400, body: { error: 'bad body: unknown field "colour"' } });
    expect(await post(url, '/api/actions/kill', { ids: 'orders/0/1' })).toEqual({ status: 400, body: { error: 'bad body: ids: Expected array, received string' } });
    expect(await post(url, '/api/actions/kill', {})).toEqual({ status: 400, body: { error: 'name the task ids to kill, or select tasks with --topic, --aggregate, --error-class or --all' } });
    expect(await post(url, '/api/actions/shift', { duration: 'soon' })).toEqual({ status: 400, body: { error: 'duration must look like 500ms, 90s, 10m or 2h (got "soon")' } });
    expect(await post(url, '/api/actions/pause', { topic: 'a', errorClass: 'b' })).toEqual({ status: 400, body: { error: 'pause or resume a topic or an error class, not both' } });
    const big = await post(url, '/api/actions/kill', { ids: ['x'.repeat(70_000)] });
    expect(big).toEqual({ status: 413, body: { error: 'request body of 70012 bytes is over the limit of 65536' } });
  });

  it('a request that is not HTTP gets a 400 and the server keeps answering; Redis away is a 503', async () => {
    const url = new URL(await serve());
    const answer = await new Promise<string>((resolve) => {
      const sock = connect(Number(url.port), url.hostname, () => sock.end('GARBAGE\r\n\r\n'));
      let got = '';
      sock.on('data', (d) => (got += d.toString()));
      sock.on('close', () => resolve(got));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request/);
    // a body cut short
    await new Promise<void>((resolve) => {
      const req = request(url.href + 'api/actions/kill', { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', 'content-length': '100' } });
      req.on('error', () => resolve());
      req.write('{"ids":');
      setTimeout(() => (req.destroy(), resolve()), 100);
    });
    expect((await call(url.origin, '/api/stats')).status).toBe(200);
    const gone = new Redis(redisUrl(), { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false });
    const away = await serve({ store: new TaskStore(gone, { namespace: ns, shards: 2, maxBatch: 100 }) });
    const r = await call(away, '/api/stats');
    expect(r.status).toBe(503);
    expect(r.body.error).toMatch(/^Redis did not answer: /);
    gone.disconnect();
  });
});

describe('actions are the CLI’s', () => {
  const run = promisify(execFile);
  it('a destructive selection needs "confirm": true (409 with the count); its dry run selects what the CLI selects', async () => {
    const url = await serve();
    const dry = await post(url, '/api/actions/kill', { errorClass: 'TypeError', dryRun: true });
    expect(dry.status).toBe(200);
    expect(dry.body).toMatchObject({ action: 'kill', dryRun: true, count: 2 });
    const cli = JSON.parse((await run('node', ['bin/zretry.js', 'kill', '--error-class', 'TypeError', '--dry-run', '--json', '--redis', redisUrl(), '--namespace', ns])).stdout) as { count: number; tasks: Array<{ id: string }> };
    expect((dry.body.tasks as Array<{ id: string }>).map((t) => t.id).sort()).toEqual(cli.tasks.map((t) => t.id).sort());
    expect(await post(url, '/api/actions/kill', { errorClass: 'TypeError' })).toEqual({
      status: 409,
      body: { error: 'kill of 2 tasks selected by --error-class TypeError needs confirmation: send "confirm": true (look first with "dryRun": true)', count: 2 },
    });
    expect((await store.stats()).total.dueLater).toBe(3);
    const done = await post(url, '/api/actions/kill', { errorClass: 'TypeError', confirm: true });
    expect(done).toMatchObject({ status: 200, body: { action: 'kill', counts: { doomed: 2 } } });
    expect((await store.stats()).total).toMatchObject({ dueNow: 2, dueLater: 1 });
  });

  it("dead replay and unhold: a dead task comes back due with fresh attempts, a held aggregate's queue flows again", async () => {
    // a namespace of its own: one aggregate whose head died and was kept, one whose head died under the 'hold' policy
    const other = new TaskStore(redis, { namespace: uniqueNamespace('api-ops'), shards: 1, maxBatch: 100 });
    const url = await serve({ store: other });
    try {
      await other.schedule([failed(10, 'erin'), failed(20, 'dave'), failed(21, 'dave')]);
      const claimed = (await other.claim(0, 10, 10_000, 0)).tasks;
      const erin = claimed.find((t) => t.aggregateId === 'erin')!;
      const dave = claimed.find((t) => t.aggregateId === 'dave')!;
      const dead = { class: 'Fatal', message: 'dead' };
      await other.kill([{ id: erin.id, shard: 0, token: erin.token, error: dead }], 'release', true);
      await other.kill([{ id: dave.id, shard: 0, token: dave.token, error: dead }], 'hold', false);
      expect((await other.stats()).total).toMatchObject({ dead: 1, dueNow: 0, queued: 1 });

      const replayed = await post(url, '/api/actions/replay', { ids: [erin.id] });
      expect(replayed).toMatchObject({ status: 200, body: { action: 'dead replay', counts: { 'due-now': 1 } } });
      const held = await post(url, '/api/actions/unhold', { aggregates: ['dave', 'nobody'] });
      expect(held).toMatchObject({ status: 200, body: { results: [{ aggregate: 'dave', outcome: 'released' }, { aggregate: 'nobody' }] } });
      // both are due now: the replayed task with its attempts afresh, and the task that waited behind the held head
      const again = (await other.claim(0, 10, 10_000, 0)).tasks;
      expect(again.map((t) => [t.id, t.attempt]).sort()).toEqual([[erin.id, 0], [failed(21, 'dave').id, 1]].sort());
      expect((await other.stats()).total).toMatchObject({ dead: 0, queued: 0 });
    } finally {
      await dropNamespace(redis, other.options.namespace);
    }
  });

  it('payloads only when the server allows them and the request asks', async () => {
    const id = failed(1, 'alice').id;
    const url = await serve();
    const plain = await call(url, `/api/tasks/${encodeURIComponent(id)}`);
    expect(plain.body).toMatchObject({ task: { id, record: { valueBytes: 2, headers: ['trace', 'trace'] } }, queue: { position: 0, length: 2, head: id } });
    expect(JSON.stringify(plain.body)).not.toContain(Buffer.from('v1').toString('base64'));
    expect(await call(url, `/api/tasks/${encodeURIComponent(id)}?payload=1`)).toEqual({ status: 403, body: { error: 'payloads are not shown here: the server runs without http.showPayloads (ZRETRY_HTTP_SHOW_PAYLOADS=1)' } });
    const allowed = await serve({ showPayloads: true });
    expect((await call(allowed, `/api/tasks/${encodeURIComponent(id)}?payload=1`)).body).toMatchObject({ task: { record: { value: Buffer.from('v1').toString('base64') } } });
  });
});
