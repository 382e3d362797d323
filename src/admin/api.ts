/**
 * The admin API: JSON over HTTP, on a worker's admin port or `zretry
 * dashboard`. Reads: stats (per shard; by topic and error class), chart
 * series, task lists with the CLI's filters and paging, one task. Actions:
 * the operator actions of src/ops/ (the CLI's own), with a dry run and a
 * confirmation before a destructive selection. Input is checked field by
 * field; what is wrong is a 4xx naming it. Authentication and cross-origin
 * checks are the server's (src/metrics/http.ts), before a request gets here.
 */
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { OperatorInputError } from '../errors.js';
import { BULK, bulkAction, pause, resume, shift, unhold, type BulkCommand } from '../ops/actions.js';
import { STATES, listPage, queuePosition, taskJson, viewsOf } from '../ops/select.js';
import { breakdown, statsSnapshot } from '../ops/stats.js';
import { clearLimit, dispatchControl, forceBreaker, setLimit } from '../ops/limits.js';
import type { TaskStore } from '../store/store.js';
import type { History } from './history.js';
import { HttpError, readJsonBody } from './guard.js';

/** What the API works on. */
export interface AdminApiOptions {
  store: TaskStore;
  history: History;
  /** Whether ?payload=1 may return a task's key, value and header values. */
  showPayloads: boolean;
  /** How often a breaker an operator gives back ('auto') probes; default 5 s (dispatch.breaker.probeIntervalMs). */
  probeIntervalMs?: number;
}

/** A route's answer: a status and a JSON body. */
export interface ApiAnswer {
  status: number;
  body: unknown;
}

/** The most tasks a dry run lists (its count covers them all). */
const DRY_RUN_LIST = 100;

const text = z.string().min(1).max(1_000);
const listQuery = z
  .object({
    state: z.enum(STATES as [string, ...string[]]).optional(),
    topic: text.optional(),
    aggregate: text.optional(),
    errorClass: text.optional(),
    limit: z.coerce.number().int().min(1).max(1_000).default(50),
    offset: z.coerce.number().int().min(0).max(10_000_000).default(0),
  })
  .strict();
const taskQuery = z.object({ payload: z.enum(['0', '1']).optional() }).strict();
const breakdownQuery = z.object({ limit: z.coerce.number().int().min(1).max(1_000_000).default(100_000) }).strict();
const empty = z.object({}).strict();
const bulkBody = z
  .object({
    ids: z.array(text).max(10_000).optional(),
    topic: text.optional(),
    aggregate: text.optional(),
    errorClass: text.optional(),
    all: z.boolean().optional(),
    dryRun: z.boolean().default(false),
    confirm: z.boolean().default(false),
  })
  .strict();
const pauseBody = z.object({ topic: text.optional(), errorClass: text.optional() }).strict();
const unholdBody = z.object({ aggregates: z.array(text).min(1).max(1_000) }).strict();
const shiftBody = z.object({ duration: z.string().max(50), dryRun: z.boolean().default(false) }).strict();
// rate and burst are checked by the shared operator action (src/policy/dispatch.ts), so the API and the CLI say the same
const limitBody = z
  .object({
    op: z.enum(['set', 'clear']),
    topic: text.optional(),
    errorClass: text.optional(),
    rate: z.union([z.number(), z.string()]).optional(),
    burst: z.union([z.number(), z.string()]).optional(),
    concurrency: z.union([z.number(), z.string()]).optional(),
    newTopic: z.boolean().default(false),
  })
  .strict();
const breakerBody = z.object({ state: z.enum(['open', 'closed', 'auto']), topic: text.optional(), errorClass: text.optional(), newTopic: z.boolean().default(false) }).strict();

/** Parses input with a schema; a mismatch is a 400 naming each field. */
function parse<S extends z.ZodTypeAny>(schema: S, input: unknown, what: string): z.infer<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data as z.infer<S>;
  const issues = r.error.issues.map((i) => {
    if (i.code === 'unrecognized_keys') return `unknown ${what === 'query' ? 'parameter' : 'field'}${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `"${k}"`).join(', ')}`;
    return `${i.path.join('.') || what}: ${i.message}`;
  });
  throw new HttpError(400, `bad ${what}: ${issues.join('; ')}`);
}

const BULK_ROUTES: Record<string, BulkCommand> = { 'retry-now': BULK['retry-now'], kill: BULK.kill, skip: BULK.skip, replay: BULK.replay };

/** The route table, for a 404 that says what exists. */
export const ROUTES = [
  'GET /api/stats',
  'GET /api/breakdown?limit=',
  'GET /api/history',
  'GET /api/tasks?state=&topic=&aggregate=&errorClass=&limit=&offset=',
  'GET /api/tasks/<id>?payload=1',
  'POST /api/actions/retry-now|kill|skip|replay',
  'POST /api/actions/unhold',
  'POST /api/actions/pause|resume',
  'POST /api/actions/shift',
  'GET /api/dispatch',
  'POST /api/actions/limit',
  'POST /api/actions/breaker',
];

/** Builds the API; handle() answers one request under /api/ (already authenticated). */
export function adminApi(opts: AdminApiOptions) {
  const { store } = opts;
  const ns = store.options.namespace;

  async function read(path: string, query: URLSearchParams): Promise<ApiAnswer> {
    const q = Object.fromEntries(query);
    if (path === '/api/stats') {
      parse(empty, q, 'query');
      return { status: 200, body: await statsSnapshot(store) };
    }
    if (path === '/api/breakdown') {
      const { limit } = parse(breakdownQuery, q, 'query');
      return { status: 200, body: { namespace: ns, ...(await breakdown(store, limit)) } };
    }
    if (path === '/api/dispatch') {
      parse(empty, q, 'query');
      return { status: 200, body: { namespace: ns, ...(await dispatchControl(store)) } };
    }
    if (path === '/api/history') {
      parse(empty, q, 'query');
      return { status: 200, body: opts.history.view() };
    }
    if (path === '/api/tasks') {
      const f = parse(listQuery, q, 'query');
      const states = f.state ? [f.state as (typeof STATES)[number]] : ['due', 'inflight', 'waiting'] as const;
      const { tasks, more } = await listPage(store, { states: [...states], topic: f.topic, aggregate: f.aggregate, errorClass: f.errorClass }, f.limit, f.offset);
      return { status: 200, body: { namespace: ns, states, offset: f.offset, limit: f.limit, count: tasks.length, more, tasks: tasks.map((t) => taskJson(t)) } };
    }
    if (path.startsWith('/api/tasks/')) {
      const id = decodeSegment(path.slice('/api/tasks/'.length));
      const { payload } = parse(taskQuery, q, 'query');
      if (payload === '1' && !opts.showPayloads) throw new HttpError(403, 'payloads are not shown here: the server runs without http.showPayloads (ZRETRY_HTTP_SHOW_PAYLOADS=1)');
      const [t] = await viewsOf(store, [id]);
      if (!t) throw new HttpError(404, `no task ${JSON.stringify(id)} in namespace ${ns}`);
      return { status: 200, body: { task: taskJson(t, { payload: payload === '1' }), queue: await queuePosition(store, t) } };
    }
    throw notFound(path);
  }

  async function act(path: string, req: IncomingMessage): Promise<ApiAnswer> {
    const name = path.slice('/api/actions/'.length);
    const bulk = BULK_ROUTES[name];
    if (!path.startsWith('/api/actions/') || (!bulk && !['unhold', 'pause', 'resume', 'shift', 'limit', 'breaker'].includes(name))) throw notFound(path);
    const raw = await readJsonBody(req);
    if (bulk) {
      const b = parse(bulkBody, raw, 'body');
      const r = await bulkAction(store, bulk, b.ids ?? [], b, { dryRun: b.dryRun, confirm: async () => b.confirm });
      if (r.kind === 'dry-run') return { status: 200, body: { action: bulk.name, dryRun: true, count: r.count, effect: bulk.effect, tasks: r.tasks.slice(0, DRY_RUN_LIST).map((t) => taskJson(t)), notFound: r.notFound } };
      if (r.kind === 'declined') {
        throw new HttpError(409, `${bulk.name} of ${r.count} task${r.count === 1 ? '' : 's'} selected by ${r.named} needs confirmation: send "confirm": true (look first with "dryRun": true)`, { count: r.count });
      }
      return { status: 200, body: { action: bulk.name, counts: r.counts, results: r.results } };
    }
    if (name === 'unhold') return { status: 200, body: { results: await unhold(store, parse(unholdBody, raw, 'body').aggregates) } };
    if (name === 'pause') return { status: 200, body: await pause(store, parse(pauseBody, raw, 'body')) };
    if (name === 'resume') return { status: 200, body: await resume(store, parse(pauseBody, raw, 'body')) };
    if (name === 'limit') {
      const l = parse(limitBody, raw, 'body');
      if (l.op === 'clear') return { status: 200, body: await clearLimit(store, l) };
      return { status: 200, body: await setLimit(store, l, { rate: l.rate, burst: l.burst, concurrency: l.concurrency }, { newTopic: l.newTopic }) };
    }
    if (name === 'breaker') {
      const b = parse(breakerBody, raw, 'body');
      return { status: 200, body: await forceBreaker(store, b, b.state, opts.probeIntervalMs ?? 5_000, { newTopic: b.newTopic }) };
    }
    const s = parse(shiftBody, raw, 'body');
    return { status: 200, body: await shift(store, s.duration, { dryRun: s.dryRun }) };
  }

  return {
    /** Answers a request whose path starts with /api/; errors of the request's own making are HttpErrors. */
    async handle(req: IncomingMessage, path: string, query: URLSearchParams): Promise<ApiAnswer> {
      try {
        if (req.method === 'GET' || req.method === 'HEAD') return await read(path, query);
        if (req.method === 'POST') return await act(path, req);
        throw new HttpError(405, `method ${req.method} not allowed: reads are GET, actions POST`);
      } catch (e) {
        if (e instanceof OperatorInputError) throw new HttpError(400, e.message);
        throw e;
      }
    },
  };
}

/** Whether a request only reads. */
export function isRead(req: IncomingMessage): boolean {
  return req.method === 'GET' || req.method === 'HEAD';
}

function decodeSegment(s: string): string {
  try {
    const id = decodeURIComponent(s);
    if (id === '') throw new Error('empty');
    return id;
  } catch {
    throw new HttpError(400, `bad task id in the path: ${JSON.stringify(s.slice(0, 100))} (encode it with encodeURIComponent)`);
  }
}

function notFound(path: string): HttpError {
  return new HttpError(404, `no route ${JSON.stringify(path.slice(0, 200))}`, { routes: ROUTES });
}
