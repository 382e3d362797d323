/**
 * The zretry command line, on commander: every command with its own help
 * and examples, --version, and usage errors in one line that name the fix.
 * Flags and environment variables only map into the config schemas.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { parseDuration, pause, resume, shift, unhold } from '../ops/actions.js';
import { parseConfig } from '../config/parse.js';
import { cliConfigSchema } from '../config/schema.js';
import type { TaskStore } from '../store/store.js';
import type { TaskView } from '../store/task.js';
import { aclReport } from './acl.js';
import { BULK, checkSelection, runBulk, type BulkCommand, type SelectionFlags } from './bulk.js';
import { terminal, type Asker } from './confirm.js';
import { rawConfig } from './env-config.js';
import { EXIT } from './exit.js';
import { openStore } from './session.js';
import { controlReport, statsReport } from './stats.js';
import { clearLimit, dispatchControl, forceBreaker, setLimit } from '../ops/limits.js';
import { checkLimit, scopeName } from '../policy/dispatch.js';
import { table } from './table.js';
import { listTasks, purge, showTask } from './tasks.js';
import { packageVersion } from './version.js';
import { runWorker } from './worker.js';
import { runDashboard } from './dashboard.js';

/** What the commands need from outside: the environment, output, and a way to ask. */
export interface CliIo {
  env: NodeJS.ProcessEnv;
  out(text: string): void;
  err(text: string): void;
  asker: Asker;
}

/** Flags every command takes. */
interface GlobalFlags {
  config?: string;
  redis?: string;
  cluster?: boolean;
  namespace?: string;
  shards?: string;
}

type Flags = GlobalFlags & SelectionFlags & { rate?: string; burst?: string; concurrency?: string; newTopic?: boolean; json?: boolean; dryRun?: boolean; yes?: boolean; state?: TaskView['state']; limit?: number; offset?: number; role?: string; handler?: string; logLevel?: string };

const FOOTER = `
Configuration: a JSON file (--config) and ZRETRY_* variables, which win;
the flags above win over both. Every option and variable:
docs/configuration.md. Unknown keys and variables are errors.

Exit codes:
  0  done
  1  failed: Redis or Kafka unreachable, a task not found, a confirmation declined
  2  usage: unknown command or option, a bad value, invalid configuration,
     a destructive selection without --yes where no terminal can ask`;

/** The first seed node of a cluster configuration (host:port), or undefined for a single Redis. */
function clusterSeed(store: { redisUrl: string; cluster: boolean | string[] }): string | undefined {
  if (store.cluster === false) return undefined;
  if (store.cluster !== true) return store.cluster[0];
  const u = new URL(store.redisUrl);
  return `${u.hostname}:${u.port || 6379}`;
}

/** The raw config: file, environment, then the global flags. */
function rawOf(io: CliIo, flags: GlobalFlags, extra: Record<string, string | undefined> = {}): Record<string, unknown> {
  const env: NodeJS.ProcessEnv = { ...io.env };
  if (flags.redis !== undefined) env.ZRETRY_REDIS_URL = flags.redis;
  if (flags.cluster && !io.env.ZRETRY_REDIS_CLUSTER) env.ZRETRY_REDIS_CLUSTER = '1';
  if (flags.namespace !== undefined) env.ZRETRY_NAMESPACE = flags.namespace;
  if (flags.shards !== undefined) env.ZRETRY_SHARDS = flags.shards;
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return rawConfig(flags.config, env);
}

function wholeNumber(min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min) throw new InvalidArgumentError(`It must be a whole number of at least ${min}.`);
    return n;
  };
}

const examples = (lines: string[]) => `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;

/** Builds the program; setCode receives each command's exit code. */
export function buildProgram(io: CliIo, setCode: (code: number) => void): Command {
  const progress = (m: string) => io.err(`zretry: ${m}`);

  /** An action that works on the namespace's store. */
  /** An action on the namespace's store; check runs first, so a usage error needs no Redis. */
  const onStore = (
    run: (store: TaskStore, args: unknown[], flags: Flags) => Promise<{ text: string; code: number } | string>,
    check: (args: unknown[], flags: Flags) => void = () => undefined,
  ) =>
    async function (this: Command) {
      const flags = this.optsWithGlobals<Flags>();
      const args = this.processedArgs as unknown[];
      check(args, flags);
      const { store, close } = await openStore(rawOf(io, flags), progress);
      try {
        const r = await run(store, args, flags);
        const { text, code } = typeof r === 'string' ? { text: r, code: EXIT.ok } : r;
        (code === EXIT.ok ? io.out : (m: string) => io.err(`zretry: ${m}`))(text);
        setCode(code);
      } finally {
        close();
      }
    };

  const ids = (args: unknown[]) => (args[0] as string[] | undefined) ?? [];
  const bulk = (cmd: BulkCommand) =>
    onStore(
      (store, args, flags) => runBulk(store, cmd, ids(args), flags, { dryRun: flags.dryRun === true, yes: flags.yes === true, json: flags.json === true, asker: io.asker, progress }),
      (args, flags) => checkSelection(cmd, ids(args), flags),
    );

  const program = new Command('zretry')
    .description('Inspect and repair the retry queues zretry keeps in Redis, and run standalone workers.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help; zretry <command> --help for a command')
    .option('--config <file>', 'JSON config file (ZRETRY_* variables override it)')
    .option('--redis <url>', 'Redis URL (ZRETRY_REDIS_URL, REDIS_URL)')
    .option('--cluster', 'a Redis Cluster, the --redis host as its seed node (ZRETRY_REDIS_CLUSTER=1, or host:port,... seeds)')
    .option('--namespace <ns>', 'key namespace (ZRETRY_NAMESPACE)')
    .option('--shards <n>', 'shard count; read from the namespace when omitted (ZRETRY_SHARDS)')
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .showSuggestionAfterError(true)
    .exitOverride()
    .addHelpText('after', FOOTER);

  const json = () => new Option('--json', 'machine-readable output');
  const selecting = (c: Command, destructive: boolean) => {
    c.argument('[task...]', 'task ids (as zretry list shows them)')
      .option('--topic <topic>', 'select the tasks of this topic')
      .option('--aggregate <id>', 'select the tasks of this aggregate')
      .option('--error-class <class>', 'select the tasks whose last error has this class')
      .option('--all', 'select every task the command applies to')
      .option('--dry-run', 'show the selected tasks and change nothing');
    if (destructive) c.option('-y, --yes', 'go ahead without asking (required where no terminal can ask)');
    return c.addOption(json());
  };

  program
    .command('stats')
    .description('queue sizes per shard and in total; active pauses on top')
    .addOption(json())
    .addHelpText('after', examples(['zretry stats --namespace billing', 'zretry stats --json | jq .total']))
    .action(onStore((store, _args, flags) => statsReport(store, flags.json === true)));

  /** list and dead list: filters, paging, and the states shown (flags.state, or these). */
  const listing = (c: Command, states: TaskView['state'][]) =>
    c
      .option('--topic <topic>', 'only tasks of this topic')
      .option('--aggregate <id>', 'only tasks of this aggregate')
      .option('--error-class <class>', 'only tasks whose last error has this class')
      .option('--limit <n>', 'rows per page', wholeNumber(1), 50)
      .option('--offset <n>', 'rows to skip', wholeNumber(0), 0)
      .addOption(json())
      .action(
        onStore((store, _args, f) =>
          listTasks(store, { states: f.state ? [f.state] : states, topic: f.topic, aggregate: f.aggregate, errorClass: f.errorClass }, f.limit!, f.offset!, f.json === true, progress),
        ),
      );

  listing(
    program
      .command('list')
      .description('tasks with state, due time, attempts, aggregate, record and last error')
      .addOption(new Option('--state <state>', 'only this state (default: due, inflight and waiting)').choices(['due', 'inflight', 'waiting', 'dead', 'paused', 'held'])),
    ['due', 'inflight', 'waiting'],
  ).addHelpText('after', examples(['zretry list --topic orders --state due', 'zretry list --error-class TimeoutError --limit 20 --offset 20']));

  program
    .command('show')
    .description('one task in full, with the stack of its last error (payload sizes, never contents)')
    .argument('<task>', 'task id')
    .addOption(json())
    .addHelpText('after', examples(['zretry show orders/0/1234', 'zretry show orders/0/1234 --json']))
    .action(
      onStore(async (store, [id], flags) => {
        const r = await showTask(store, id as string, flags.json === true);
        return { text: r.text, code: r.found ? EXIT.ok : EXIT.failure };
      }),
    );

  selecting(program.command('retry-now').description('make due tasks due now (they keep their attempt count)'), false)
    .addHelpText('after', examples(['zretry retry-now orders/0/1234', 'zretry retry-now --error-class TimeoutError --dry-run', 'zretry retry-now --topic orders']))
    .action(bulk(BULK['retry-now']));

  selecting(program.command('kill').description('send tasks to the dead-letter topic (a worker writes them, without another handler call)'), true)
    .addHelpText('after', examples(['zretry kill orders/0/1234', 'zretry kill --aggregate customer-7 --dry-run', 'zretry kill --error-class SchemaError --yes']))
    .action(bulk(BULK.kill));

  selecting(program.command('skip').description('delete tasks without running or dead-lettering them; the next task of the aggregate becomes due'), true)
    .addHelpText('after', examples(['zretry skip orders/0/1234', 'zretry skip --topic orders --dry-run', 'zretry skip --topic orders --yes']))
    .action(bulk(BULK.skip));

  const dead = program.command('dead').description('dead tasks kept in Redis: list, replay');
  listing(dead.command('list').description('dead tasks with why they died'), ['dead']).addHelpText('after', examples(['zretry dead list --topic orders']));
  selecting(dead.command('replay').description('put dead tasks back with fresh attempts, behind their aggregate'), false)
    .addHelpText('after', examples(['zretry dead replay orders/0/1234', 'zretry dead replay --error-class TimeoutError --dry-run', 'zretry dead replay --all']))
    .action(bulk(BULK.replay));

  program
    .command('unhold')
    .description("release aggregates held by the 'hold' follower policy (or whose head is unreadable)")
    .argument('<aggregate...>', 'aggregate ids')
    .addOption(json())
    .addHelpText('after', examples(['zretry unhold customer-7 customer-9']))
    .action(
      onStore(async (store, [aggs], flags) => {
        const rows = await unhold(store, aggs as string[]);
        return flags.json ? JSON.stringify(Object.fromEntries(rows.map((r) => [r.aggregate, r.outcome])), null, 2) : table(['aggregate', 'outcome'], rows.map((r) => [r.aggregate, r.outcome]));
      }),
    );

  program
    .command('pause')
    .description('stop dispatch: everything, one topic, or one error class; held tasks keep their due time')
    .addOption(new Option('--topic <topic>', 'pause only this topic').conflicts('errorClass'))
    .option('--error-class <class>', 'pause only tasks whose last error has this class')
    .addOption(json())
    .addHelpText('after', examples(['zretry pause --topic orders', 'zretry pause --error-class TimeoutError', 'zretry pause']))
    .action(
      onStore(async (store, _args, flags) => {
        const { paused, fresh } = await pause(store, flags);
        return flags.json ? JSON.stringify({ paused, new: fresh }) : `dispatch paused: ${paused}${fresh ? '' : ' (it already was)'}`;
      }),
    );
  program
    .command('resume')
    .description('lift a pause; the tasks it held are due again')
    .addOption(new Option('--topic <topic>', 'resume this topic').conflicts('errorClass'))
    .option('--error-class <class>', 'resume this error class')
    .addOption(json())
    .addHelpText('after', examples(['zretry resume --topic orders', 'zretry resume']))
    .action(
      onStore(async (store, _args, flags) => {
        const { resumed, moved } = await resume(store, flags, progress);
        return flags.json ? JSON.stringify({ resumed, moved }) : `dispatch resumed: ${resumed}; ${moved} held tasks due again`;
      }),
    );

  const scoped = (c: Command, what: string) =>
    c
      .addOption(new Option('--topic <topic>', `${what} this topic`).conflicts('errorClass'))
      .option('--error-class <class>', `${what} tasks whose last error has this class`)
      .addOption(json());
  const controlList = () =>
    onStore(async (store, _args, flags) => {
      const v = await dispatchControl(store);
      if (flags.json) return JSON.stringify(v, null, 2);
      return controlReport(v, 20) || 'no limits, no breaker has opened';
    });

  const limit = program.command('limit').description('rate limits on dispatch (tasks/s with a burst), per namespace, topic or error class; workers apply a change within dispatch.syncMs');
  scoped(limit.command('set').description('set the limits of the whole namespace, or --topic / --error-class: a rate, and for a topic a concurrency (what is not given is removed)'), 'limit')
    .option('--rate <tasks/s>', 'tasks per second, above 0')
    .option('--burst <n>', 'most tasks at once (the bucket); default a tenth of a second of the rate, at least 1')
    .option('--concurrency <n>', 'most tasks of the topic running at once, over all workers')
    .option('--new-topic', 'the topic has had no retry yet and no consumer registered it: set it anyway')
    .addHelpText('after', examples(['zretry limit set --rate 200', 'zretry limit set --topic orders --rate 50 --burst 10', 'zretry limit set --topic orders --concurrency 8', 'zretry limit set --error-class RateLimited --rate 5']))
    .action(
      onStore(
        async (store, _args, f) => {
          const r = await setLimit(store, f, { rate: f.rate, burst: f.burst, concurrency: f.concurrency }, { newTopic: f.newTopic === true });
          const parts = [r.rate === null ? '' : `${r.rate} tasks/s, burst ${r.burst}`, r.concurrency === null ? '' : `at most ${r.concurrency} running`].filter(Boolean);
          return f.json ? JSON.stringify(r) : `limit ${r.scope}: ${parts.join('; ')}${r.changed ? '' : ' (unchanged)'}`;
        },
        (_args, f) => {
          checkLimit({ rate: f.rate, burst: f.burst, concurrency: f.concurrency });
          scopeName(f, 'limit');
        },
      ),
    );
  scoped(limit.command('clear').description('remove a rate limit; the tasks it held run again'), 'clear the limit of')
    .addHelpText('after', examples(['zretry limit clear', 'zretry limit clear --topic orders']))
    .action(
      onStore(async (store, _args, f) => {
        const r = await clearLimit(store, f);
        return f.json ? JSON.stringify(r) : r.cleared ? `limit ${r.scope} cleared` : `no limit on ${r.scope}`;
      }, (_args, f) => void scopeName(f, 'limit')),
    );
  limit.command('list').description('limits, breakers, throttles and the last transitions').addOption(json()).action(controlList());

  const breaker = program.command('breaker').description('the circuit breakers per topic and error class: list, or force one open or closed');
  for (const [state, text] of [
    ['open', 'open a breaker and keep it open (no probes) until closed or given back with auto'],
    ['close', 'close a breaker (its backlog comes back on the ramp) and keep it closed until auto'],
    ['auto', 'give a breaker back to the failure rate'],
  ] as const) {
    scoped(breaker.command(state).description(text), `the breaker of`)
      .option('--new-topic', 'the topic has had no retry yet and no consumer registered it: force its breaker anyway')
      .addHelpText('after', examples([`zretry breaker ${state} --error-class ConnectionRefused`, `zretry breaker ${state} --topic orders`]))
      .action(
        onStore(async (store, _args, f) => {
          const probe = parseConfig(cliConfigSchema, rawOf(io, f), 'configuration').dispatch.breaker.probeIntervalMs;
          const r = await forceBreaker(store, f, state === 'close' ? 'closed' : state, probe, { newTopic: f.newTopic === true });
          return f.json ? JSON.stringify(r) : `breaker ${r.scope}: ${r.state}${r.changed ? '' : ' (already)'}`;
        }),
      );
  }
  breaker.command('list').description('limits, breakers, throttles and the last transitions').addOption(json()).action(controlList());

  program
    .command('shift')
    .description('push every due time back, e.g. during a downstream outage')
    .argument('<duration>', '500ms, 90s, 10m or 2h')
    .addOption(json())
    .addHelpText('after', examples(['zretry shift 10m']))
    .action(
      onStore(async (store, [text], flags) => {
        const { shiftedMs, moved } = await shift(store, text as string, { progress });
        return flags.json ? JSON.stringify({ shiftedMs, moved }) : `pushed ${moved} due times back by ${text}`;
      }, ([text]) => void parseDuration(text as string)),
    );

  program
    .command('purge')
    .description('delete every task of the namespace, held ones too (asks for the namespace on a terminal); its limits and forced breakers stay')
    .option('--dry-run', 'count what would be deleted, delete nothing')
    .option('-y, --yes', 'go ahead without asking (required where no terminal can ask)')
    .addHelpText('after', examples(['zretry purge --namespace test-1234 --dry-run', 'zretry purge --namespace test-1234 --yes']))
    .action(onStore((store, _args, flags) => purge(store, { yes: flags.yes === true, dryRun: flags.dryRun === true, asker: io.asker })));

  program
    .command('worker')
    .description('run a standalone worker (process or republish dispatch)')
    .option('--handler <module>', 'module whose default export (or "handler" export) is the handler (ZRETRY_HANDLER)')
    .addOption(new Option('--log-level <level>', 'pino log level (ZRETRY_LOG_LEVEL)').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']))
    .addHelpText(
      'after',
      `\nIt waits for Redis (and Kafka) with a growing delay, logging each try, and serves
/metrics, /healthz and /readyz on 127.0.0.1:9464 (http.* options).
SIGTERM or SIGINT finishes running tasks and exits 0.
${examples([
  'ZRETRY_REDIS_URL=redis://127.0.0.1:6379 ZRETRY_NAMESPACE=billing zretry worker --handler ./dist/handler.js',
  'ZRETRY_KAFKA_BROKERS=127.0.0.1:9092 ZRETRY_DISPATCH=republish zretry worker --config zretry.json',
])}`,
    )
    .action(async function (this: Command) {
      const flags = this.optsWithGlobals<Flags>();
      const raw = rawOf(io, flags, { ZRETRY_LOG_LEVEL: flags.logLevel });
      setCode(await runWorker(raw, flags.handler ?? io.env.ZRETRY_HANDLER));
    });

  program
    .command('dashboard')
    .description('serve the admin API and the dashboard page on the namespace, without a worker (needs ZRETRY_HTTP_TOKEN)')
    .option('--host <host>', 'address to bind (ZRETRY_HTTP_HOST; default 127.0.0.1)')
    .option('--port <n>', 'port; 0 picks a free one (ZRETRY_HTTP_PORT; default 9464)', wholeNumber(0))
    .addHelpText(
      'after',
      `\nThe page is at http://<host>:<port>/ and asks for the token; the API is under /api
(docs/operations.md). It binds loopback unless told otherwise.
${examples(['ZRETRY_HTTP_TOKEN=$(cat ~/.zretry-token) zretry dashboard --namespace billing --port 9465'])}`,
    )
    .action(async function (this: Command) {
      const flags = this.optsWithGlobals<Flags & { host?: string; port?: number }>();
      const raw = rawOf(io, flags, { ZRETRY_HTTP_HOST: flags.host, ZRETRY_HTTP_PORT: flags.port === undefined ? undefined : String(flags.port) });
      setCode(await runDashboard(raw, progress));
    });

  program
    .command('acl')
    .description("print the ACL SETUSER commands of the namespace's least-privilege Redis users (no Redis needed)")
    .addOption(new Option('--role <role>', 'only this role').choices(['worker', 'operator']))
    .addOption(json())
    .addHelpText('after', examples(['zretry acl --namespace billing | redis-cli', 'zretry acl --namespace billing --role worker --json', 'zretry acl --namespace billing --cluster --redis redis://10.0.0.1:7000 | sh']))
    .action(function (this: Command) {
      const flags = this.optsWithGlobals<Flags>();
      const { store } = parseConfig(cliConfigSchema, rawOf(io, flags), 'configuration');
      const { out, notes } = aclReport(store.namespace, flags.role, flags.json === true, clusterSeed(store));
      if (notes) io.err(notes);
      io.out(out);
      setCode(EXIT.ok);
    });

  formatUsageErrors(program, io);
  return program;
}

/** The full name of a command, as typed: 'zretry dead replay'. */
function pathOf(c: Command): string {
  const names: string[] = [];
  for (let x: Command | null = c; x; x = x.parent) names.unshift(x.name());
  return names.join(' ');
}

/**
 * Every command prints commander's errors as one line naming the command
 * and where its help is: "zretry list: unknown option '--limt' (did you
 * mean --limit?); see zretry list --help".
 */
function formatUsageErrors(c: Command, io: CliIo): void {
  const name = pathOf(c);
  c.configureOutput({
    writeOut: (s) => io.out(s.replace(/\n$/, '')),
    writeErr: (s) => io.err(s.replace(/\n$/, '')),
    outputError: (s) => {
      const text = s.trim().replace(/^error: /, '').replace(/\n\(Did you mean (.*)\?\)$/, ' (did you mean $1?)').replace(/\n/g, ' ');
      io.err(`${name}: ${text}; see ${name} --help`);
    },
  });
  for (const sub of c.commands) formatUsageErrors(sub, io);
}
