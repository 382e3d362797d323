/**
 * The zretry command: `zretry worker` runs a standalone worker; the other
 * commands inspect queues. Flags and environment variables only map into
 * the config schemas.
 */
import { parseArgs } from 'node:util';
import { parseConfig } from '../config/parse.js';
import { workerConfigSchema } from '../config/schema.js';
import { redisFromConfig } from '../config/connections.js';
import { DEFAULT_SHARDS, shardMismatch, storedShards } from '../store/namespace.js';
import { ConfigError, ZRetryError } from '../errors.js';
import type { TaskView } from '../store/task.js';
import { table } from './table.js';
import { applyOp, listTasks, purge, selectIds, showTask, type Filter } from './tasks.js';
import { TaskStore } from '../store/store.js';
import { rawConfig } from './env-config.js';
import { statsReport } from './stats.js';
import { aclReport } from './acl.js';
import { runWorker } from './worker.js';

const USAGE = `usage: zretry <command> [options]

commands:
  stats                         queue sizes per shard and in total
  list [filters]                tasks waiting, due or in flight (--state to choose)
  show <task>                   one task in full (payload sizes, never contents)
  retry-now <task...>|filters   make due tasks due now
  kill <task...>|filters        send tasks to the dead-letter topic (through a worker)
  skip <task...>|filters        delete tasks without running or dead-lettering them
  dead list [filters]           dead tasks kept in Redis
  dead replay <task...>|filters|--all
                                put dead tasks back, fresh attempts, behind their aggregate
  unhold <aggregate...>         release aggregates held by the 'hold' follower policy
  pause [--topic t|--error-class c]   stop dispatch (all, or one topic or error class)
  resume [--topic t|--error-class c]  lift that pause; held tasks are due again
  shift <duration>              push every due time back (e.g. 90s, 10m, 2h)
  purge [--yes]                 delete every task of the namespace
  worker                        run a standalone worker (see docs/configuration.md)
  acl [--role worker|operator]  print the ACL SETUSER commands of the namespace's Redis users

filters:
  --state <s>        due, inflight, waiting or dead (list only)
  --topic <t>  --aggregate <a>  --error-class <c>
  --limit <n> (default 50)  --offset <n>

options:
  --config <file>    JSON config file (environment variables override it)
  --redis <url>      Redis URL (or ZRETRY_REDIS_URL / REDIS_URL)
  --cluster          Redis Cluster, the --redis host as seed (or ZRETRY_REDIS_CLUSTER=1 or host:port,...)
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
      cluster: { type: 'boolean', default: false },
      namespace: { type: 'string' },
      shards: { type: 'string' },
      handler: { type: 'string' },
      role: { type: 'string' },
      state: { type: 'string' },
      topic: { type: 'string' },
      aggregate: { type: 'string' },
      'error-class': { type: 'string' },
      limit: { type: 'string', default: '50' },
      offset: { type: 'string', default: '0' },
      all: { type: 'boolean', default: false },
      yes: { type: 'boolean', default: false },
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
  if (values.cluster && !env.ZRETRY_REDIS_CLUSTER) overrides.ZRETRY_REDIS_CLUSTER = '1';
  if (values.namespace) overrides.ZRETRY_NAMESPACE = values.namespace;
  if (values.shards) overrides.ZRETRY_SHARDS = values.shards;
  const raw = rawConfig(values.config, overrides);

  if (command === 'worker') return runWorker(raw, values.handler ?? env.ZRETRY_HANDLER);
  if (command === 'acl') {
    const { store } = parseConfig(workerConfigSchema, { store: raw.store ?? {} }, 'configuration');
    const { out, notes } = aclReport(store.namespace, values.role, values.json, clusterSeed(store));
    if (notes) console.error(notes);
    console.log(out);
    return 0;
  }
  if (!OPERATOR_COMMANDS.has(command)) {
    console.error(`zretry: unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }
  const cfg = parseConfig(workerConfigSchema, { store: raw.store ?? {} }, 'configuration');
  const redis = redisFromConfig(cfg.store, { maxRetriesPerRequest: 1, lazyConnect: true });
  redis.on('error', () => undefined); // the failed command reports it
  try {
    await redis.connect();
    // the namespace knows its shard count: a given one must match it, an absent one is read from it
    const stored = await storedShards(redis, cfg.store.namespace);
    const given = cfg.store.shards;
    if (stored !== null && given !== undefined && stored !== given) throw shardMismatch(cfg.store.namespace, stored, given);
    const store = new TaskStore(redis, { ...cfg.store, shards: stored ?? given ?? DEFAULT_SHARDS });
    return await operate(store, command, positionals.slice(1), values);
  } finally {
    redis.disconnect();
  }
}

/** The first seed node of a cluster configuration (host:port), or undefined for a single Redis. */
function clusterSeed(store: { redisUrl: string; cluster: boolean | string[] }): string | undefined {
  if (store.cluster === false) return undefined;
  if (store.cluster !== true) return store.cluster[0];
  const u = new URL(store.redisUrl);
  return `${u.hostname}:${u.port || 6379}`;
}

const OPERATOR_COMMANDS = new Set(['stats', 'list', 'show', 'retry-now', 'kill', 'skip', 'dead', 'unhold', 'purge', 'pause', 'resume', 'shift']);

type Values = { json: boolean; state?: string; topic?: string; aggregate?: string; 'error-class'?: string; limit: string; offset: string; all: boolean; yes: boolean };

const progress = (m: string) => process.stderr.write(`zretry: ${m}\n`);

function intFlag(name: string, v: string, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new ConfigError(`--${name} must be a whole number >= ${min} (got "${v}")`);
  return n;
}

function filterOf(values: Values, states: TaskView['state'][]): Filter {
  const f: Filter = { states };
  if (values.topic !== undefined) f.topic = values.topic;
  if (values.aggregate !== undefined) f.aggregate = values.aggregate;
  if (values['error-class'] !== undefined) f.errorClass = values['error-class'];
  return f;
}

/** A filter that selects something, or null when none was given. */
function selection(values: Values, states: TaskView['state'][]): Filter | null {
  const f = filterOf(values, states);
  return f.topic !== undefined || f.aggregate !== undefined || f.errorClass !== undefined || values.all ? f : null;
}

async function operate(store: TaskStore, command: string, args: string[], values: Values): Promise<number> {
  const print = (s: string) => console.log(s);
  switch (command) {
    case 'stats':
      print(await statsReport(store, values.json));
      return 0;
    case 'list':
    case 'dead': {
      if (command === 'dead' && args[0] === 'replay') return bulk(store, 'requeue', args.slice(1), selection(values, ['dead']), values);
      if (command === 'dead' && args[0] !== 'list') throw new ConfigError('usage: zretry dead list [filters] | zretry dead replay <task...>|filters|--all');
      const states: TaskView['state'][] =
        command === 'dead' ? ['dead'] : values.state ? [parseState(values.state)] : ['due', 'inflight', 'waiting'];
      print(await listTasks(store, filterOf(values, states), intFlag('limit', values.limit, 1), intFlag('offset', values.offset, 0), values.json, progress));
      return 0;
    }
    case 'show': {
      if (args.length !== 1) throw new ConfigError('usage: zretry show <task id>');
      const r = await showTask(store, args[0]!, values.json);
      (r.found ? print : (m: string) => console.error(`zretry: ${m}`))(r.text);
      return r.found ? 0 : 1;
    }
    case 'retry-now':
      return bulk(store, 'requeue', args, selection(values, ['due']), values);
    case 'kill':
      return bulk(store, 'doom', args, selection(values, ['due', 'waiting']), values);
    case 'skip':
      return bulk(store, 'skip', args, selection(values, ['due', 'waiting', 'dead']), values);
    case 'unhold': {
      if (args.length === 0) throw new ConfigError('usage: zretry unhold <aggregate...>');
      const rows: Array<[string, string]> = [];
      for (const agg of args) rows.push([agg, (await store.shard(store.shardOf(agg, agg)).unhold([agg]))[0]!]);
      print(values.json ? JSON.stringify(Object.fromEntries(rows), null, 2) : table(['aggregate', 'outcome'], rows));
      return 0;
    }
    case 'pause':
    case 'resume': {
      const what = values.topic !== undefined ? `topic:${values.topic}` : values['error-class'] !== undefined ? `error:${values['error-class']}` : 'all';
      if (command === 'pause') {
        const fresh = await store.pause(what);
        print(values.json ? JSON.stringify({ paused: what, new: fresh }) : `dispatch paused: ${what}${fresh ? '' : ' (it already was)'}`);
      } else {
        const moved = await store.resume(what, (n) => progress(`${n} held tasks due again`));
        print(values.json ? JSON.stringify({ resumed: what, moved }) : `dispatch resumed: ${what}; ${moved} held tasks due again`);
      }
      return 0;
    }
    case 'shift': {
      if (args.length !== 1) throw new ConfigError('usage: zretry shift <duration>, e.g. 90s, 10m, 2h');
      const ms = parseDuration(args[0]!);
      const moved = await store.shift(ms, (n) => progress(`${n} tasks shifted`));
      print(values.json ? JSON.stringify({ shiftedMs: ms, moved }) : `pushed ${moved} due times back by ${args[0]}`);
      return 0;
    }
    case 'purge': {
      const r = await purge(store, values.yes, process.stdin.isTTY === true);
      (r.code === 0 ? print : (m: string) => console.error(`zretry: ${m}`))(r.text);
      return r.code;
    }
  }
  return 2;
}

function parseState(s: string): TaskView['state'] {
  if (s === 'due' || s === 'inflight' || s === 'waiting' || s === 'dead' || s === 'paused') return s;
  throw new ConfigError(`--state must be one of due, inflight, waiting, dead, paused (got "${s}")`);
}

/** '500ms', '90s', '10m', '2h' or plain milliseconds. */
export function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(s.trim());
  if (!m) throw new ConfigError(`duration must look like 500ms, 90s, 10m or 2h (got "${s}")`);
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[(m[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * unit);
}

async function bulk(store: TaskStore, op: 'requeue' | 'doom' | 'skip', ids: string[], f: Filter | null, values: Values): Promise<number> {
  if (ids.length === 0 && !f) throw new ConfigError('name task ids, or select tasks with --topic, --aggregate or --error-class (or --all)');
  const selected = await selectIds(store, ids, f, progress);
  const { text } = await applyOp(store, selected, op, values.json, progress);
  console.log(text);
  return 0;
}

/** Prints an error a person can act on and returns the exit code. */
export function reportError(e: unknown): number {
  if (e instanceof ZRetryError) console.error(`zretry: ${e.message}`);
  else console.error('zretry:', e);
  return 1;
}
