/**
 * The admin HTTP endpoint of a worker: /metrics (Prometheus), /healthz (the
 * process answers), /readyz (Redis answers; on a cluster, every master, one
 * line each). Binds 127.0.0.1 by default; a bearer token can be required.
 */
import { createServer, type Server } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { AnyRegistry } from './metrics.js';
import { isCluster, masters } from '../store/client.js';
import type { TaskStore } from '../store/store.js';

/** Where the admin endpoint listens. */
export interface AdminServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** When set, every request needs `Authorization: Bearer <token>`. */
  token?: string;
  registry: AnyRegistry;
  store: TaskStore;
}

function authorized(header: string | undefined, token: string | undefined): boolean {
  if (!token) return true;
  const want = Buffer.from(`Bearer ${token}`);
  const got = Buffer.from(header ?? '');
  return got.length === want.length && timingSafeEqual(got, want);
}

/**
 * Whether Redis answers: a single Redis a PING; a cluster a PING to every
 * master, one line each (`master 10.0.0.1:7000 ok`, or `down: <error>`), so
 * a failed master shows by name; ready only when every master answers.
 */
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

/** Starts the server; resolves with it and the address it bound. */
export async function startAdminServer(opts: AdminServerOptions): Promise<{ server: Server; url: string; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    void (async () => {
      if (!authorized(req.headers.authorization, opts.token)) {
        res.writeHead(401, { 'www-authenticate': 'Bearer' }).end('unauthorized\n');
        return;
      }
      const path = (req.url ?? '/').split('?')[0];
      try {
        if (path === '/metrics') {
          const body = await opts.registry.metrics();
          res.writeHead(200, { 'content-type': opts.registry.contentType }).end(body);
        } else if (path === '/healthz') {
          res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
        } else if (path === '/readyz') {
          const { ready, text } = await readiness(opts.store);
          res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(text);
        } else {
          res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: /metrics, /healthz, /readyz\n');
        }
      } catch (e) {
        res.writeHead(503, { 'content-type': 'text/plain' }).end(`not ready: ${(e as Error).message}\n`);
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address() as { port: number };
  return {
    server,
    url: `http://${opts.host}:${addr.port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
