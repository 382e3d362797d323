/**
 * The zretry command: `zretry worker` runs a standalone worker; the other
 * commands inspect queues. Flags and environment variables only map into
 * the config schemas.
 */
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { parseConfig } from '../config/parse.js';
import { workerConfigSchema } from '../config/schema.js';
import { ZRetryError } from '../errors.js';
import { TaskStore } from '../store/store.js';
import { rawConfig } from './env-config.js';
import { statsReport } from './stats.js';
import { runWorker } from './worker.js';

const USAGE = `usage: zretry <command> [options]

commands:
  stats              queue sizes per shard and in total
  worker             run a standalone worker (see docs/configuration.md)

options:
  --config <file>    JSON config file (environment variables override it)
  --redis <url>      Redis URL (or ZRETRY_REDIS_URL / REDIS_URL)
  --namespace <ns>   key namespace (or ZRETRY_NAMESPACE)
  --shards <n>       shard count of the namespace (or ZRETRY_SHARDS)
  --handler <path>   worker: module whose default export is the handler
  --json             machine-readable output
  -h, --help         this text`;

/** Runs the CLI; returns the exit code. */
export async function main(argv: string[], env = process.env): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      redis: { type: 'string' },
      namespace: { type: 'string' },
      shards: { type: 'string' },
      handler: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return command || values.help ? 0 : 2;
  }
  const overrides: NodeJS.ProcessEnv = { ...env };
  if (values.redis) overrides.ZRETRY_REDIS_URL = values.redis;
  if (values.namespace) overrides.ZRETRY_NAMESPACE = values.namespace;
  if (values.shards) overrides.ZRETRY_SHARDS = values.shards;
  const raw = rawConfig(values.config, overrides);

  switch (command) {
    case 'stats': {
      const cfg = parseConfig(workerConfigSchema, { store: raw.store ?? {} }, 'configuration');
      const redis = new Redis(cfg.store.redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true });
      try {
        await redis.connect();
        console.log(await statsReport(new TaskStore(redis, cfg.store), values.json));
      } finally {
        redis.disconnect();
      }
      return 0;
    }
    case 'worker':
      return runWorker(raw, values.handler ?? env.ZRETRY_HANDLER);
    default:
      console.error(`zretry: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

/** Prints an error a person can act on and returns the exit code. */
export function reportError(e: unknown): number {
  if (e instanceof ZRetryError) console.error(`zretry: ${e.message}`);
  else console.error('zretry:', e);
  return 1;
}
