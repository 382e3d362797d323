/**
 * `zretry worker`: a standalone direct-mode worker. The handler comes from a
 * module path (its default export, or an export named handler). SIGTERM or
 * SIGINT: stop claiming, let running tasks finish within the close
 * timeout, release the rest, exit 0; a second signal exits at once (the
 * leases of what was running simply run out: nothing is lost).
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import { createWorker } from '../create-worker.js';
import { ConfigError } from '../errors.js';
import { parseConfig } from '../config/parse.js';
import { adminSchema } from '../config/schema.js';
import { createMetrics, type ZRetryMetrics } from '../metrics/metrics.js';
import { startAdminServer } from '../metrics/http.js';
import type { Handler } from '../handler.js';

async function loadHandler(path: string | undefined, republish: boolean): Promise<Handler | undefined> {
  if (!path && republish) return undefined;
  if (!path) throw new ConfigError('the worker needs a handler: --handler <module path> or ZRETRY_HANDLER (or consumer.dispatch "republish" with a kafka section)');
  const mod = (await import(pathToFileURL(resolve(path)).href)) as { default?: unknown; handler?: unknown };
  const h = mod.handler ?? mod.default;
  if (typeof h !== 'function') throw new ConfigError(`handler module ${path} must export a function (default export or "handler")`);
  return h as Handler;
}

/** Runs until a signal; returns the exit code. */
export async function runWorker(raw: Record<string, unknown>, handlerPath: string | undefined): Promise<number> {
  const logger = pino({ name: 'zretry-worker' });
  const republish = (raw.consumer as { dispatch?: unknown } | undefined)?.dispatch === 'republish';
  const handler = await loadHandler(handlerPath, republish);
  const http = parseConfig(adminSchema, raw.http ?? {}, 'configuration (http)');
  const { http: _http, ...config } = raw;
  const w = await createWorker({ config, handler, logger });
  logger.info(
    { dispatch: republish ? 'republish' : 'process', deadLetters: w.deadLetters ? 'kafka' : 'redis-only' },
    w.deadLetters ? 'worker started' : 'worker started without a kafka section: dead tasks stay in Redis (zretry dead list), no dead-letter topic',
  );
  let admin: { url: string; close: () => Promise<void> } | null = null;
  let metrics: ZRetryMetrics | null = null;
  if (http.enabled) {
    metrics = createMetrics(w.worker.events, w.store);
    admin = await startAdminServer({ ...http, registry: metrics.registry, store: w.store });
    logger.info({ url: admin.url, token: http.token ? 'required' : 'none' }, 'admin endpoint listening: /metrics /healthz /readyz');
  }
  return new Promise<number>((done) => {
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        logger.warn({ signal: sig }, 'second signal: exiting now; unfinished leases will expire and their tasks run again');
        process.exit(130);
      }
      logger.info({ signal: sig }, 'stopping: no new claims, finishing running tasks');
      void w
        .close()
        .then(async () => {
          metrics?.stop();
          await admin?.close();
        })
        .then(() => done(0), () => done(1));
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
