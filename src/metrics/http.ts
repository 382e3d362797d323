/**
 * The admin HTTP endpoint of a worker: /metrics (Prometheus), /healthz (the
 * process answers), /readyz (Redis answers). Binds 127.0.0.1 by default; a
 * bearer token can be required.
 */
import { createServer, type Server } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { AnyRegistry } from './metrics.js';
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
          await opts.store.redis.ping();
          res.writeHead(200, { 'content-type': 'text/plain' }).end('ready\n');
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
