/**
 * The Kafka client of a standalone worker, from its kafka section:
 * `kafka.client` names the package (kafkajs, or Confluent's
 * @confluentinc/kafka-javascript), loaded only when asked for, since both
 * are optional peer dependencies. Brokers, TLS and SASL map onto each
 * client's own settings, and the client's logs go to the pino logger.
 */
import type { Logger } from 'pino';
import { tlsOptions } from '../config/connections.js';
import type { KafkaClientConfig } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import type { Kafka, KafkaClientName } from './client.js';

/** The npm package of each client. */
export const CLIENT_PACKAGES: Readonly<Record<KafkaClientName, string>> = {
  kafkajs: 'kafkajs',
  confluent: '@confluentinc/kafka-javascript',
};

/** kafkajs's log levels, which Confluent's KafkaJS API shares. */
export const LOG_LEVEL = { NOTHING: 0, ERROR: 1, WARN: 2, INFO: 3, DEBUG: 4 } as const;

const PINO_LEVEL: Record<number, 'error' | 'warn' | 'info' | 'debug'> = { 1: 'error', 2: 'warn', 3: 'info', 4: 'debug' };

/**
 * Loads a client's package; when it is missing or broken, a ConfigError
 * that names the package to install and the other choice.
 */
export async function loadClientPackage(client: KafkaClientName): Promise<Record<string, unknown>> {
  const pkg = CLIENT_PACKAGES[client];
  const other = client === 'kafkajs' ? 'confluent' : 'kafkajs';
  try {
    const mod = (await import(pkg)) as { default?: Record<string, unknown> } & Record<string, unknown>;
    return mod.default ?? mod;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ERR_MODULE_NOT_FOUND' && err.message.includes(`'${pkg}'`)) {
      const build = client === 'confluent' ? ' (it builds librdkafka bindings: see "Choosing the Kafka client" in the README)' : '';
      throw new ConfigError(`kafka.client is "${client}" but ${pkg} is not installed: run npm install ${pkg}${build}, or set kafka.client (ZRETRY_KAFKA_CLIENT) to "${other}"`);
    }
    throw new ConfigError(`kafka.client is "${client}" but ${pkg} does not load (${err.message.split('\n')[0]}); reinstall it${client === 'confluent' ? ' so that its native part builds (README, "Choosing the Kafka client")' : ''}`);
  }
}

/** A Kafka client from a standalone worker's kafka section; the client's logs go to the pino logger. */
export async function kafkaFromConfig(k: KafkaClientConfig, logger: Logger, logLevel: number = LOG_LEVEL.WARN): Promise<Kafka> {
  const log = logger.child({ component: k.client });
  const mod = await loadClientPackage(k.client);
  return k.client === 'confluent' ? confluentFromConfig(mod, k, log, logLevel) : kafkajsFromConfig(mod, k, log, logLevel);
}

type KafkaCtor = new (config: object) => Kafka;

function kafkajsFromConfig(mod: Record<string, unknown>, k: KafkaClientConfig, log: Logger, logLevel: number): Kafka {
  const cfg: Record<string, unknown> = {
    clientId: k.clientId,
    brokers: k.brokers,
    logLevel,
    logCreator: () => (e: { level: number; namespace: string; log: { message: string } & Record<string, unknown> }) => {
      const { message, ...fields } = e.log;
      log[PINO_LEVEL[e.level] ?? 'info']({ ns: e.namespace, ...fields }, message);
    },
  };
  if (k.ssl !== false) cfg.ssl = k.ssl === true ? true : tlsOptions(k.ssl, 'kafka.ssl');
  if (k.sasl) cfg.sasl = { mechanism: k.sasl.mechanism, username: k.sasl.username, password: k.sasl.password };
  return new (mod.Kafka as KafkaCtor)(cfg);
}

/** Confluent's KafkaJS logger interface, on pino. */
function confluentLogger(log: Logger, level: number): object {
  let threshold = level;
  const at = (n: number) => (message: string, extra?: object) => {
    if (n <= threshold) log[PINO_LEVEL[n]!]({ ...extra }, message);
  };
  const logger = {
    error: at(LOG_LEVEL.ERROR),
    warn: at(LOG_LEVEL.WARN),
    info: at(LOG_LEVEL.INFO),
    debug: at(LOG_LEVEL.DEBUG),
    namespace: (ns: string, nsLevel?: number) => confluentLogger(log.child({ ns }), nsLevel ?? threshold),
    setLogLevel: (n: number) => void (threshold = n),
  };
  return logger;
}

function confluentFromConfig(mod: Record<string, unknown>, k: KafkaClientConfig, log: Logger, logLevel: number): Kafka {
  const kafkaJS: Record<string, unknown> = { clientId: k.clientId, brokers: k.brokers, logLevel, logger: confluentLogger(log, logLevel), ssl: k.ssl !== false };
  if (k.sasl) kafkaJS.sasl = { mechanism: k.sasl.mechanism, username: k.sasl.username, password: k.sasl.password };
  // librdkafka reads certificates from files itself: their paths go outside the kafkaJS block (read once here, for a clear error)
  const outer: Record<string, unknown> = {};
  if (typeof k.ssl === 'object') {
    tlsOptions(k.ssl, 'kafka.ssl');
    if (k.ssl.caFile) outer['ssl.ca.location'] = k.ssl.caFile;
    if (k.ssl.certFile) outer['ssl.certificate.location'] = k.ssl.certFile;
    if (k.ssl.keyFile) outer['ssl.key.location'] = k.ssl.keyFile;
    outer['enable.ssl.certificate.verification'] = k.ssl.rejectUnauthorized;
  }
  const { Kafka } = mod.KafkaJS as { Kafka: KafkaCtor };
  return new Kafka({ ...outer, kafkaJS });
}
