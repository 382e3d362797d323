/**
 * The admin endpoint of a `zretry` process, as `zretry worker` and `zretry
 * dashboard` both serve it: Prometheus metrics (with Node's process
 * metrics), the probes, and the admin API with its page. Logs where it
 * listens and whether a token guards it, never the token.
 */
import type { Logger } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { AdminConfig } from '../config/schema.js';
import { TypedEmitter, type ZRetryEmitter, type ZRetryEvents } from '../events.js';
import { startAdminServer } from '../metrics/http.js';
import { createMetrics } from '../metrics/metrics.js';
import type { TaskStore } from '../store/store.js';

/** A loopback address: the endpoint may go without a token there. */
export const isLoopback = (host: string): boolean => /^(127\.|::1$|localhost$)/.test(host);

/** Serves the admin endpoint; events: a worker's (throughput and lateness in the charts), or none. */
export async function serveAdmin(http: AdminConfig, store: TaskStore, logger: Logger, events?: ZRetryEmitter): Promise<{ url: string; close: () => Promise<void> }> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const metrics = createMetrics(events ?? new TypedEmitter<ZRetryEvents>(), store, { registry, queueGauges: http.queueGauges });
  const admin = await startAdminServer({ ...http, registry, store, events, logger });
  const api = !http.api ? 'off' : http.token ? 'on' : 'off (no token)';
  logger.info({ url: admin.url, token: http.token ? 'required' : 'none', api, openReads: http.openReads }, `admin endpoint listening: /metrics /healthz /readyz${api === 'on' ? ', the dashboard on / and the admin API on /api' : ''}`);
  if (!http.token && !isLoopback(http.host)) {
    logger.warn({ host: http.host }, 'admin endpoint open beyond loopback without a token: set http.token (ZRETRY_HTTP_TOKEN)');
  }
  if (http.api && !http.token) logger.info('the admin API and dashboard answer only with a token: set http.token (ZRETRY_HTTP_TOKEN) to use them');
  return {
    url: admin.url,
    close: async () => {
      metrics.stop();
      await admin.close();
    },
  };
}
