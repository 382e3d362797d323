/**
 * The admin HTTP endpoint of a worker (and of `zretry dashboard`):
 * /metrics (Prometheus), /healthz (the process answers), /readyz (Redis
 * answers; on a cluster, every master, one line each), and, with a token set, the admin API (/api/...) and its
 * dashboard page (/). Binds 127.0.0.1 by default.
 *
 * Who may do what:
 * - With a token, every request but the page's static files needs
 *   `Authorization: Bearer <token>`; openReads lets GETs through without it.
 * - The API answers only when a token is set (actions change the queue).
 * - Actions (POST) are refused from another origin (Sec-Fetch-Site, Origin)
 *   and without a JSON content type, so a cross-site form cannot post one;
 *   the bearer header itself is one a cross-site page cannot send.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { adminApi, isRead, ROUTES } from '../admin/api.js';
import { asset } from '../admin/assets.js';
import { authorized, crossOriginRefusal, HttpError, sendAsset, sendJson } from '../admin/guard.js';
import { History } from '../admin/history.js';
import type { ZRetryEmitter } from '../events.js';
import { describeError } from '../policy/classify.js';
import type { TaskStore } from '../store/store.js';
import type { AnyRegistry } from './metrics.js';
import { isCluster, masters } from '../store/client.js';

/** Where the admin endpoint listens, and what it serves. */
export interface AdminServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** When set, requests need `Authorization: Bearer <token>`; the admin API needs one. */
  token?: string;
  registry: AnyRegistry;
  store: TaskStore;
  /** Serve the admin API and the dashboard page (default true; the API answers only with a token). */
  api?: boolean;
  /** Let GET requests through without the token (default false). */
  openReads?: boolean;
  /** Let ?payload=1 return payload bytes (default false: sizes only). */
  showPayloads?: boolean;
  /** A worker's events, for the charts' throughput and lateness; without: queue depth only. */
  events?: ZRetryEmitter;
  /** Where unexpected errors are logged (never the token, never a payload). */
  logger?: Logger;
}

/** The text answers of the probes. */
function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers }).end(text);
}

/** Whether an error comes from Redis being away or refusing (503), rather than from the request. */
function storeTrouble(e: unknown): boolean {
  const err = e as { name?: string; message?: string; code?: string; retriable?: boolean };
  return (
    /^(ReplyError|MaxRetriesPerRequestError|StoreError|ClusterAllFailedError)$/.test(err?.name ?? '') ||
    /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE)$/.test(err?.code ?? '') ||
    /Connection is closed|Stream isn't writeable|Command timed out|Reached the max retries/.test(err?.message ?? '')
  );
}

/** Starts the server; resolves with it and the address it bound. */
export async function startAdminServer(opts: AdminServerOptions): Promise<{ server: Server; url: string; close: () => Promise<void> }> {
  const apiOn = opts.api ?? true;
  const history = apiOn ? new History(opts.store, opts.events).start() : null;
  const api = history ? adminApi({ store: opts.store, history, showPayloads: opts.showPayloads ?? false }) : null;
  const log = opts.logger?.child({ component: 'admin-http' });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://admin.invalid');
    } catch {
      return sendJson(res, 400, { error: 'malformed request URL' });
    }
    const path = url.pathname;
    const apiPath = path === '/api' || path.startsWith('/api/');
    // the page's files hold no data: served without the token, so a browser can load the sign-in form
    if (api && isRead(req) && !apiPath) {
      const a = await asset(path);
      if (a) return sendAsset(res, a.type, a.body);
    }
    if (apiPath) {
      if (!api) return sendJson(res, 404, { error: 'the admin API is off on this server (http.api, ZRETRY_HTTP_API)' });
      if (!opts.token) return sendJson(res, 403, { error: 'the admin API needs a token: set http.token (ZRETRY_HTTP_TOKEN, 8 characters or more)' });
      if (!isRead(req)) {
        const refusal = crossOriginRefusal(req);
        if (refusal) return sendJson(res, 403, { error: refusal });
      }
    }
    if (!(opts.openReads && isRead(req)) && !authorized(req.headers.authorization, opts.token)) {
      const error = req.headers.authorization ? 'the token is wrong' : 'a token is required: send Authorization: Bearer <token>';
      return apiPath ? sendJson(res, 401, { error }, { 'www-authenticate': 'Bearer' }) : sendText(res, 401, 'unauthorized\n', { 'www-authenticate': 'Bearer' });
    }
    if (apiPath) {
      const a = await api!.handle(req, path, url.searchParams);
      // an audit line per operator action that went through (never the token, never a payload: answers carry counts, scopes and ids)
      if (!isRead(req) && a.status < 300) {
        const result = JSON.stringify(a.body);
        log?.info({ action: path.slice('/api/actions/'.length), status: a.status, ...(result.length <= 500 ? { result: a.body } : {}) }, 'operator action through the admin API');
      }
      return sendJson(res, a.status, a.body);
    }
    if (path === '/metrics') {
      const body = await opts.registry.metrics();
      return void res.writeHead(200, { 'content-type': opts.registry.contentType }).end(body);
    }
    if (path === '/healthz') return sendText(res, 200, 'ok\n');
    if (path === '/readyz') {
      const r = await readiness(opts.store).catch((e: unknown) => ({ ready: false, text: `not ready: ${describeError(e, 0).message}\n` }));
      return sendText(res, r.ready ? 200 : 503, r.text);
    }
    return sendText(res, 404, `not found: /metrics, /healthz, /readyz${api ? ', / (dashboard), /api/...' : ''}\n`);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) return void res.destroy();
      const path = (req.url ?? '').split('?')[0]!.slice(0, 200);
      if (e instanceof HttpError) return sendJson(res, e.status, { error: e.message, ...e.extra });
      if (storeTrouble(e)) {
        const msg = describeError(e, 0).message;
        return sendJson(res, 503, { error: `Redis did not answer: ${msg}` });
      }
      log?.error({ path, err: describeError(e, 2_000) }, 'admin request failed unexpectedly');
      return sendJson(res, 500, { error: 'unexpected error (logged by the server); please report it' });
    });
  });
  // a client that sends garbage gets a 400 from Node; it must never reach the process's error handlers
  server.on('clientError', (_err, socket) => socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address() as { port: number };
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  let closed: Promise<void> | null = null;
  return {
    server,
    url: `http://${host}:${addr.port}`,
    close: () =>
      (closed ??= new Promise<void>((r) => {
        history?.stop();
        server.close(() => r());
        server.closeIdleConnections();
      })),
  };
}

export { ROUTES };

/** Whether Redis answers: a single one, or every master of a cluster, one line each (a down master named). */
export async function readiness(store: TaskStore): Promise<{ ready: boolean; text: string }> {
  if (!isCluster(store.redis)) {
    await store.redis.ping();
    return { ready: true, text: 'ready\n' };
  }
  const rows = await Promise.all(
    (await masters(store.redis)).map(async ({ name, node }) => {
      try {
        await node.ping();
        return { ok: true, line: `master ${name} ok` };
      } catch (e) {
        return { ok: false, line: `master ${name} down: ${(e as Error).message}` };
      }
    }),
  );
  const ready = rows.every((r) => r.ok);
  return { ready, text: `${ready ? 'ready' : 'not ready'}\n${rows.map((r) => r.line).join('\n')}\n` };
}
