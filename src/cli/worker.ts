/**
 * `zretry worker`: a standalone worker. The handler comes from a module path
 * (its default export, or an export named handler). Until Redis and Kafka
 * answer, it retries its start with a growing delay and logs each try
 * (a worker started before its Redis, as compose and Kubernetes do, waits
 * instead of exiting). SIGTERM or SIGINT: stop claiming, let running tasks
 * finish within the close timeout, release the rest, exit 0; a second
 * signal exits at once (the leases of what was running simply run out:
 * nothing is lost).
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { RedisClient } from '../store/client.js';
import pino, { type Logger } from 'pino';
import { redisFromConfig } from '../config/connections.js';
import { parseConfig } from '../config/parse.js';
import { cliConfigSchema, type CliConfig } from '../config/schema.js';
import { createWorker, type StartedWorker } from '../create-worker.js';
import { ConfigError, ZRetryError } from '../errors.js';
import type { Handler } from '../handler.js';
import { loadClientPackage } from '../kafka/from-config.js';
import { computeDelay } from '../policy/backoff.js';
import { connectRedis } from '../util/connect-redis.js';
import { logRedisErrors } from '../util/redis-errors.js';
import { sleep } from '../util/sleep.js';
import { serveAdmin } from './admin.js';

/** Delays between start attempts: 0.5 s doubling to 15 s, randomized by half so restarted fleets spread out. */
const START_BACKOFF = { type: 'exponential', initialMs: 500, multiplier: 2, maxMs: 15_000, jitter: 'equal' } as const;

async function loadHandler(path: string | undefined, republish: boolean): Promise<Handler | undefined> {
  if (!path && republish) return undefined;
  if (!path) throw new ConfigError('the worker needs a handler: --handler <module path> or ZRETRY_HANDLER (or consumer.dispatch "republish" with a kafka section)');
  let mod: { default?: unknown; handler?: unknown };
  try {
    mod = (await import(pathToFileURL(resolve(path)).href)) as typeof mod;
  } catch (e) {
    throw new ConfigError(`cannot load the handler module ${path} (${(e as Error).message}); give the path of an ES module or CommonJS file`);
  }
  const h = mod.handler ?? mod.default;
  if (typeof h !== 'function') throw new ConfigError(`handler module ${path} must export a function (default export or "handler")`);
  return h as Handler;
}

/** Whether a failed start may succeed later: Redis or Kafka not reachable yet. */
function worthRetrying(e: unknown): boolean {
  if (e instanceof ZRetryError) return e.retriable;
  for (let err = e as { name?: string; code?: string; retriable?: boolean; cause?: unknown; originalError?: unknown } | undefined, depth = 0; err && depth < 5; depth++) {
    if (/^KafkaJS(Connection|ConnectionClosed|BrokerNotFound|RequestTimeout|LockTimeout)Error$/.test(err.name ?? '')) return true;
    if (err.name === 'MaxRetriesPerRequestError' || /^(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH)$/.test(err.code ?? '')) return true;
    err = (err.originalError ?? err.cause) as typeof err;
  }
  return false;
}

/** The error of a failed start, one line, naming where (Kafka errors name their broker). */
function startFailure(e: unknown, cfg: CliConfig): string {
  const err = e as { name?: string; message?: string };
  if (err.name?.startsWith('KafkaJS')) return `Kafka (brokers ${cfg.kafka?.brokers.join(',')}): ${err.message}`;
  return err.message ?? String(e);
}

/** Connects and starts; retries what is worth retrying until it starts or `stop` aborts (then null). */
async function startWithRetry(start: () => Promise<StartedWorker & { redis: RedisClient }>, cfg: CliConfig, logger: Logger, stop: AbortSignal) {
  let previousDelayMs: number | null = null;
  for (let attempt = 1; ; attempt++) {
    try {
      const started = await start();
      if (attempt > 1) logger.info({ attempt }, 'connected: worker starting');
      return started;
    } catch (e) {
      if (!worthRetrying(e) || stop.aborted) throw e;
      const delayMs = computeDelay(START_BACKOFF, { attempt, previousDelayMs });
      previousDelayMs = delayMs;
      logger.warn({ attempt, retryInMs: delayMs, err: startFailure(e, cfg) }, 'cannot start yet; retrying');
      await sleep(delayMs, stop);
      if (stop.aborted) return null;
    }
  }
}

/** Runs until a signal; returns the exit code. */
export async function runWorker(raw: Record<string, unknown>, handlerPath: string | undefined): Promise<number> {
  const cfg = parseConfig(cliConfigSchema, raw, 'configuration');
  const logger = pino({ name: 'zretry-worker', level: cfg.log.level });
  const handler = await loadHandler(handlerPath, cfg.consumer.dispatch === 'republish');
  // a Kafka client package that is not installed: one line now, not once Redis answers
  if (cfg.kafka) await loadClientPackage(cfg.kafka.client);
  const { http: _http, log: _log, ...config } = raw;

  let signals = 0;
  const stopping = new AbortController();
  let onStop: (sig: NodeJS.Signals) => void = () => undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      logger.warn({ signal: sig }, 'second signal: exiting now; unfinished leases will expire and their tasks run again');
      process.exit(130);
    }
    stopping.abort();
    onStop(sig);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  const started = await startWithRetry(
    async () => {
      // a first probe that fails in one line, then the worker's own client, which reconnects after later outages
      (await connectRedis(cfg.store)).disconnect();
      const redis = redisFromConfig(cfg.store);
      logRedisErrors(redis, logger, 'store');
      try {
        return { ...(await createWorker({ config, handler, logger, redis })), redis };
      } catch (e) {
        redis.disconnect();
        throw e;
      }
    },
    cfg,
    logger,
    stopping.signal,
  );
  if (!started) {
    logger.info('stopped before the worker started');
    return 0;
  }
  const w = started;
  logger.info(
    { dispatch: cfg.consumer.dispatch, deadLetters: w.deadLetters ? 'kafka' : 'redis-only' },
    w.deadLetters ? 'worker started' : 'worker started without a kafka section: dead tasks stay in Redis (zretry dead list), no dead-letter topic',
  );
  const admin = cfg.http.enabled ? await serveAdmin(cfg.http, w.store, logger, w.worker.events) : null;
  return new Promise<number>((done) => {
    onStop = (sig) => {
      logger.info({ signal: sig }, 'stopping: no new claims, finishing running tasks');
      void w
        .close()
        .then(async () => {
          await admin?.close();
          await w.redis.quit().catch(() => w.redis.disconnect());
        })
        .then(() => done(0), () => done(1));
    };
    if (stopping.signal.aborted) onStop('SIGTERM');
  });
}
