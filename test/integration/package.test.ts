/**
 * The package as a user gets it: `npm pack` (which builds through prepack)
 * in a copy of the repository, the tarball installed into a scratch
 * project, then zretry imported with `import` and with `require`, its types
 * checked by tsc, and its command run. Dependencies come from npm's cache
 * (or the registry).
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
const work = mkdtempSync(join(tmpdir(), 'zretry-pack-'));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
let files: string[] = [];
let tarball = '';
const app = join(work, 'app');
const unpacked = join(work, 'unpacked');

beforeAll(async () => {
  // a copy, so the build does not leave a dist/ in the checkout (bin/zretry.js would prefer it to src/)
  const copy = join(work, 'repo');
  mkdirSync(copy);
  for (const f of ['package.json', 'README.md', 'LICENSE', 'tsconfig.json', 'tsconfig.build.json', 'src', 'lua', 'ui', 'bin', 'monitoring']) cpSync(join(root, f), join(copy, f), { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'));
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: copy, maxBuffer: 16 * 1024 * 1024 });
  const report = JSON.parse(stdout.slice(stdout.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = join(work, report[0]!.filename);
  files = report[0]!.files.map((f) => f.path).sort();
  mkdirSync(unpacked);
  await run('tar', ['xzf', tarball, '-C', unpacked]);

  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'scratch', version: '1.0.0', private: true }));
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball, 'typescript@~5.7.0', '@types/node@^20.17.0'], { cwd: app, maxBuffer: 16 * 1024 * 1024 });
}, 240_000);

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

it('the tarball holds the build, the Lua scripts, the dashboard page, the command, the monitoring files and the licence; no tests, no TypeScript sources', () => {
  for (const f of ['LICENSE', 'README.md', 'package.json', 'bin/zretry.js', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli/main.js', 'lua/claim-11.lua', 'lua/includes/task.lua', 'monitoring/prometheus-rules.yml', 'monitoring/grafana-dashboard.json', 'ui/index.html', 'ui/app.js', 'ui/app.css']) {
    expect(files).toContain(f);
  }
  expect(files.filter((f) => f.startsWith('test/') || f.startsWith('src/') || (f.endsWith('.ts') && !f.endsWith('.d.ts')))).toEqual([]);
  expect(readFileSync(join(unpacked, 'package', 'LICENSE'), 'utf8')).toMatch(/^MIT License/);
});

it('every source map carries its sources, so stack traces and debuggers resolve without src/', () => {
  const maps = files.filter((f) => f.endsWith('.js.map'));
  expect(maps.length).toBeGreaterThan(30);
  const broken = maps.filter((f) => {
    const m = JSON.parse(readFileSync(join(unpacked, 'package', f), 'utf8')) as { sources: string[]; sourcesContent?: Array<string | null> };
    return m.sources.length === 0 || m.sourcesContent?.length !== m.sources.length || m.sourcesContent.some((c) => !c);
  });
  expect(broken).toEqual([]);
});

it('installed from the tarball, it imports with import and with require, and its types check', async () => {
  const esm = await run('node', ['--input-type=module', '-e', "import { consume, createWorker, createMetrics, parseConfig, cliConfigSchema } from 'zretry'; console.log([consume, createWorker, createMetrics, parseConfig].map((f) => typeof f).join(','), typeof cliConfigSchema.parse);"], { cwd: app });
  expect(esm.stdout).toBe('function,function,function,function function\n');
  const cjs = await run('node', ['-e', "const z = require('zretry'); console.log(typeof z.consume, typeof z.createWorker, Object.keys(z).length > 20);"], { cwd: app });
  expect(cjs.stdout).toBe('function function true\n');

  writeFileSync(
    join(app, 'check.mts'),
    "import { consume, type ConsumeOptions, type StandaloneWorkerConfigInput } from 'zretry';\n" +
      "const config: StandaloneWorkerConfigInput = { worker: { taskConcurrency: 10 }, failure: { policy: { backoff: { type: 'exponential', delayMs: 100 } } } };\n" +
      'export const started: (o: ConsumeOptions) => Promise<unknown> = consume;\nexport { config };\n',
  );
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, skipLibCheck: false, types: ['node'] }, files: ['check.mts'] }));
  const tsc = await run(join(app, 'node_modules/.bin/tsc'), ['-p', app], { cwd: app }).then(() => 'ok', (e: { stdout: string }) => e.stdout);
  expect(tsc).toBe('ok');
}, 60_000);

it('its command runs from the install: --version and --help', async () => {
  const v = await run(join(app, 'node_modules/.bin/zretry'), ['--version'], { cwd: app });
  expect(v.stdout).toBe(`${pkg.version}\n`);
  const h = await run(join(app, 'node_modules/.bin/zretry'), ['worker', '--help'], { cwd: app });
  expect(h.stdout).toMatch(/^Usage: zretry worker \[options\]/);
  expect(readdirSync(join(app, 'node_modules/zretry/lua')).length).toBeGreaterThan(10);
});

it("the Kafka clients are optional peer dependencies: neither comes with zretry, and a worker whose client is missing names the package to install", async () => {
  const manifest = JSON.parse(readFileSync(join(app, 'node_modules/zretry/package.json'), 'utf8')) as Record<string, Record<string, unknown>>;
  expect(manifest.dependencies).not.toHaveProperty('kafkajs');
  expect(manifest.peerDependenciesMeta).toEqual({ '@confluentinc/kafka-javascript': { optional: true }, '@opentelemetry/api': { optional: true }, kafkajs: { optional: true } });
  expect(existsSync(join(app, 'node_modules/kafkajs'))).toBe(false);
  // the scratch project's own environment: none of this process's ZRETRY_* variables (an unknown one is an error)
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ZRETRY_')));
  for (const [client, pkg] of [['kafkajs', 'kafkajs'], ['confluent', '@confluentinc/kafka-javascript']] as const) {
    // nothing listens on port 1: the error must come before any connection is tried
    const failed = await run(join(app, 'node_modules/.bin/zretry'), ['worker'], {
      cwd: app,
      env: { ...env, ZRETRY_REDIS_URL: 'redis://127.0.0.1:1', ZRETRY_KAFKA_BROKERS: '127.0.0.1:1', ZRETRY_DISPATCH: 'republish', ZRETRY_KAFKA_CLIENT: client },
    }).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(failed?.code).toBe(2);
    expect(failed?.stderr.trim()).toBe(
      `zretry: kafka.client is "${client}" but ${pkg} is not installed: run npm install ${pkg}` +
        (client === 'confluent' ? ' (it builds librdkafka bindings: see "Choosing the Kafka client" in the README)' : '') +
        `, or set kafka.client (ZRETRY_KAFKA_CLIENT) to "${client === 'kafkajs' ? 'confluent' : 'kafkajs'}"`,
    );
  }
});
