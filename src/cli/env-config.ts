/**
 * Maps environment variables and a JSON config file into the config
 * schemas; the schemas validate. Environment wins over the file. A ZRETRY_*
 * variable zretry does not know is an error naming the closest one, as an
 * unknown key in the file is.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import { closest } from '../config/closest.js';
import { warnRenamed } from '../config/renamed.js';

/** Environment variables the CLI reads, and where each goes. */
export const ENV_MAP: ReadonlyArray<[env: string, path: string, kind: 'string' | 'int' | 'number' | 'bool' | 'list' | 'bool-or-list']> = [
  ['ZRETRY_REDIS_URL', 'store.redisUrl', 'string'],
  ['ZRETRY_REDIS_CLUSTER', 'store.cluster', 'bool-or-list'],
  ['ZRETRY_WAIT_REPLICAS', 'store.waitReplicas', 'int'],
  ['ZRETRY_WAIT_TIMEOUT_MS', 'store.waitTimeoutMs', 'int'],
  ['ZRETRY_NAMESPACE', 'store.namespace', 'string'],
  ['ZRETRY_SHARDS', 'store.shards', 'int'],
  ['ZRETRY_ALLOW_EVICTION', 'store.allowEviction', 'bool'],
  ['ZRETRY_COMMAND_TIMEOUT_MS', 'store.commandTimeoutMs', 'int'],
  ['ZRETRY_TASK_CONCURRENCY', 'worker.taskConcurrency', 'int'],
  ['ZRETRY_BATCH_SIZE', 'worker.batchSize', 'int'],
  ['ZRETRY_CHAIN_LENGTH', 'worker.chainLength', 'int'],
  ['ZRETRY_LEASE_MS', 'worker.leaseMs', 'int'],
  ['ZRETRY_ATTEMPT_TIMEOUT_MS', 'failure.attemptTimeoutMs', 'int'],
  ['ZRETRY_CLOSE_TIMEOUT_MS', 'worker.closeTimeoutMs', 'int'],
  ['ZRETRY_MAX_ATTEMPTS', 'failure.policy.maxAttempts', 'int'],
  ['ZRETRY_FOLLOWER_POLICY', 'failure.followerPolicy', 'string'],
  ['ZRETRY_DISPATCH_SYNC_MS', 'dispatch.syncMs', 'int'],
  ['ZRETRY_BREAKER', 'dispatch.breaker.enabled', 'bool'],
  ['ZRETRY_BREAKER_FAILURE_RATE', 'dispatch.breaker.failureRate', 'number'],
  ['ZRETRY_BREAKER_MIN_ATTEMPTS', 'dispatch.breaker.minAttempts', 'int'],
  ['ZRETRY_BREAKER_WINDOW_MS', 'dispatch.breaker.windowMs', 'int'],
  ['ZRETRY_BREAKER_PROBE_INTERVAL_MS', 'dispatch.breaker.probeIntervalMs', 'int'],
  ['ZRETRY_DISPATCH', 'consumer.dispatch', 'string'],
  ['ZRETRY_AUTO_CREATE_TOPICS', 'consumer.autoCreateTopics', 'bool'],
  ['ZRETRY_DLT_SUFFIX', 'consumer.dltSuffix', 'string'],
  ['ZRETRY_REPUBLISH_SECRET', 'consumer.republishSecret', 'string'],
  ['ZRETRY_MAX_RECORD_BYTES', 'consumer.maxRecordBytes', 'int'],
  ['ZRETRY_KAFKA_BROKERS', 'kafka.brokers', 'list'],
  ['ZRETRY_KAFKA_CLIENT', 'kafka.client', 'string'],
  ['ZRETRY_KAFKA_CLIENT_ID', 'kafka.clientId', 'string'],
  ['ZRETRY_KAFKA_SSL', 'kafka.ssl', 'bool'],
  ['ZRETRY_KAFKA_SASL_MECHANISM', 'kafka.sasl.mechanism', 'string'],
  ['ZRETRY_KAFKA_SASL_USERNAME', 'kafka.sasl.username', 'string'],
  ['ZRETRY_KAFKA_SASL_PASSWORD', 'kafka.sasl.password', 'string'],
  ['ZRETRY_HTTP', 'http.enabled', 'bool'],
  ['ZRETRY_HTTP_HOST', 'http.host', 'string'],
  ['ZRETRY_HTTP_PORT', 'http.port', 'int'],
  ['ZRETRY_HTTP_TOKEN', 'http.token', 'string'],
  ['ZRETRY_HTTP_QUEUE_GAUGES', 'http.queueGauges', 'bool'],
  ['ZRETRY_HTTP_API', 'http.api', 'bool'],
  ['ZRETRY_HTTP_OPEN_READS', 'http.openReads', 'bool'],
  ['ZRETRY_HTTP_SHOW_PAYLOADS', 'http.showPayloads', 'bool'],
  ['ZRETRY_LOG_LEVEL', 'log.level', 'string'],
];

/** Old names still read, each with a DeprecationWarning naming the new one. */
const RENAMED_ENV: Readonly<Record<string, string>> = {
  ZRETRY_CONCURRENCY: 'ZRETRY_TASK_CONCURRENCY',
};

/** ZRETRY_* variables that are not configuration: the worker's handler path, and the project's own test scripts. */
const OTHER_ENV = ['ZRETRY_HANDLER', 'ZRETRY_TESTCONTAINERS', 'ZRETRY_SERVICES_DIR', 'ZRETRY_CACHE_DIR', 'ZRETRY_TEST_KAFKA_CLIENT', 'ZRETRY_TEST_CONFLUENT'];

/** Every ZRETRY_* variable zretry reads. */
export const KNOWN_ENV: readonly string[] = [...ENV_MAP.map(([name]) => name), ...Object.keys(RENAMED_ENV), ...OTHER_ENV];

/** The environment with renamed variables moved to their new names; an unknown ZRETRY_* variable is a ConfigError. */
function checkedEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  const unknown: string[] = [];
  for (const name of Object.keys(env)) {
    if (!name.startsWith('ZRETRY_') || KNOWN_ENV.includes(name)) continue;
    const near = closest(name.slice('ZRETRY_'.length), KNOWN_ENV.map((k) => k.slice('ZRETRY_'.length)));
    unknown.push(`  ${name}: unknown variable; ${near ? `did you mean ZRETRY_${near}?` : 'the variables are listed in docs/configuration.md'}`);
  }
  if (unknown.length > 0) throw new ConfigError(`invalid environment:\n${unknown.join('\n')}`);
  for (const [old, now] of Object.entries(RENAMED_ENV)) {
    if (env[old] === undefined) continue;
    if (env[now] !== undefined) throw new ConfigError(`invalid environment:\n  ${old}: is the old name of ${now}; set only ${now}`);
    warnRenamed(old, now);
    out[now] = env[old];
    delete out[old];
  }
  return out;
}

function set(obj: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let o = obj;
  for (const k of keys.slice(0, -1)) o = (o[k] ??= {}) as Record<string, unknown>;
  o[keys.at(-1)!] = value;
}

/** The raw config: the file (if any) overlaid with the environment; validation is the schema's. */
export function rawConfig(file: string | undefined, given: NodeJS.ProcessEnv): Record<string, unknown> {
  const env = checkedEnv(given);
  let cfg: Record<string, unknown> = {};
  if (file) {
    try {
      cfg = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new ConfigError(`cannot read config file ${file}: ${(e as Error).message}`);
    }
  }
  // the conventional REDIS_URL is only a fallback: a redisUrl in the file or ZRETRY_REDIS_URL wins
  const fileUrl = (cfg.store as { redisUrl?: unknown } | undefined)?.redisUrl;
  if (env.REDIS_URL && !env.ZRETRY_REDIS_URL && fileUrl === undefined) set(cfg, 'store.redisUrl', env.REDIS_URL);
  for (const [name, path, kind] of ENV_MAP) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    // numbers and booleans that do not parse are passed through as text, so the schema names the variable's field
    const parsed =
      (kind === 'int' && /^-?\d+$/.test(v)) || (kind === 'number' && /^-?\d+(\.\d+)?$/.test(v))
        ? Number(v)
        : (kind === 'bool' || kind === 'bool-or-list') && /^(1|0|true|false)$/.test(v)
          ? v === '1' || v === 'true'
          : kind === 'list' || kind === 'bool-or-list'
            ? v.split(',').map((x) => x.trim()).filter(Boolean)
            : v;
    set(cfg, path, parsed);
  }
  return cfg;
}
