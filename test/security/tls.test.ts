/**
 * Redis over TLS with a private CA: store.tls.caFile is passed through to
 * the worker's client and to the operator commands; without it the
 * server's certificate is refused. Certificates are made with openssl.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { redisFromConfig } from '../../src/config/connections.js';
import { createWorker } from '../../src/create-worker.js';
import { TaskStore } from '../../src/store/store.js';
import { uniqueNamespace, waitFor } from '../helpers/env.js';
import { freePort, ownRedis, type OwnRedis } from '../helpers/redis-process.js';
import { failed } from '../lua/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'zretry-tls-'));
const f = (n: string) => join(dir, n);
let redis: OwnRedis;
let tlsUrl: string;

beforeAll(async () => {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=zretry-test-ca');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(f('ext'), 'subjectAltName=IP:127.0.0.1\n');
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'ext');
  const tlsPort = await freePort();
  redis = await ownRedis({ extra: ['--tls-port', String(tlsPort), '--tls-cert-file', f('server.pem'), '--tls-key-file', f('server.key'), '--tls-ca-cert-file', f('ca.pem'), '--tls-auth-clients', 'no'] });
  tlsUrl = `rediss://127.0.0.1:${tlsPort}`;
});
afterAll(async () => redis.cleanup());

it('a worker and the operator CLI reach Redis over TLS with store.tls.caFile; without it the certificate is refused', async () => {
  const namespace = uniqueNamespace();
  const store = { redisUrl: tlsUrl, namespace, shards: 1, tls: { caFile: f('ca.pem'), rejectUnauthorized: true } };
  const client = redisFromConfig(store);
  const tasks = new TaskStore(client, { namespace, shards: 1, maxBatch: 100 });
  await tasks.schedule([failed(1, 'A'), failed(2, 'A')]);
  const handled: string[] = [];
  const w = await createWorker({ config: { store, worker: { maxSleepMs: 100 } }, handler: (r) => void handled.push(r.message.offset) });
  await waitFor(() => handled.length === 2, 10_000, 'both tasks over TLS');
  await w.close();
  expect(handled).toEqual(['1', '2']);

  const cfg = f('zretry.json');
  writeFileSync(cfg, JSON.stringify({ store }));
  const r = await promisify(execFile)('node', ['bin/zretry.js', 'stats', '--json', '--config', cfg]);
  expect((JSON.parse(r.stdout) as { total: { dead: number } }).total).toMatchObject({ dueNow: 0, inflight: 0 });

  const untrusting = redisFromConfig({ redisUrl: tlsUrl, tls: undefined }, { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
  const errors: string[] = [];
  untrusting.on('error', (e: Error) => errors.push(e.message));
  await expect(untrusting.connect()).rejects.toThrow();
  // the reason a person reads is the TLS one (ioredis's rejection only says the connection closed)
  expect(errors.join('\n')).toMatch(/self[- ]signed certificate/);
  untrusting.disconnect();
  client.disconnect();
});
