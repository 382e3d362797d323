/**
 * `zretry dashboard`: the admin API and its page for operators who run no
 * worker here: the same endpoint a worker serves, on the namespace's store
 * alone (the charts then draw queue depth; throughput and lateness come
 * with a worker's events). Runs until SIGINT or SIGTERM.
 */
import pino from 'pino';
import { parseConfig } from '../config/parse.js';
import { cliConfigSchema } from '../config/schema.js';
import { serveAdmin } from './admin.js';
import { UsageError } from './exit.js';
import { openStore } from './session.js';

/** Serves until a signal; resolves with the exit code. */
export async function runDashboard(raw: Record<string, unknown>, progress: (m: string) => void): Promise<number> {
  const cfg = parseConfig(cliConfigSchema, raw, 'configuration');
  if (!cfg.http.token) throw new UsageError('zretry dashboard needs a token: set ZRETRY_HTTP_TOKEN (8 characters or more) or http.token in --config; the page asks for it');
  if (!cfg.http.api) throw new UsageError('zretry dashboard serves the admin API, which http.api (ZRETRY_HTTP_API) turns off');
  const logger = pino({ name: 'zretry-dashboard', level: cfg.log.level });
  const { store, close } = await openStore(raw, progress);
  try {
    const admin = await serveAdmin(cfg.http, store, logger);
    progress(`dashboard on ${admin.url}/ (namespace ${store.options.namespace}); sign in with the token; Ctrl-C stops it`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await admin.close();
    return 0;
  } finally {
    close();
  }
}
