/**
 * Clients built from configuration: the Redis client of the store, and the
 * TLS files that it and the Kafka client of a standalone worker
 * (src/kafka/from-config.ts) read.
 */
import { readFileSync } from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';
import type { ConnectionOptions } from 'node:tls';
import { ConfigError } from '../errors.js';
import type { StoreConfig } from './schema.js';

type TlsFiles = { caFile?: string; certFile?: string; keyFile?: string; rejectUnauthorized: boolean };

function read(path: string | undefined, field: string): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (e) {
    throw new ConfigError(`${field}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); give a readable PEM file`);
  }
}

/** Node TLS options from the file paths of a tls/ssl section; an unreadable file is a ConfigError naming the field. */
export function tlsOptions(t: TlsFiles, field: string): ConnectionOptions {
  return {
    ca: read(t.caFile, `${field}.caFile`),
    cert: read(t.certFile, `${field}.certFile`),
    key: read(t.keyFile, `${field}.keyFile`),
    rejectUnauthorized: t.rejectUnauthorized,
  };
}

/** A Redis client for the store: the URL (rediss:// for TLS, user:password@ for an ACL user) plus store.tls. */
export function redisFromConfig(store: Pick<StoreConfig, 'redisUrl' | 'tls'> & Partial<Pick<StoreConfig, 'commandTimeoutMs'>>, extra: RedisOptions = {}): Redis {
  const tls = store.tls ? tlsOptions(store.tls, 'store.tls') : undefined;
  return new Redis(store.redisUrl, { maxRetriesPerRequest: 3, commandTimeout: store.commandTimeoutMs, ...(tls ? { tls } : {}), ...extra });
}
