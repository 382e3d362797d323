#!/usr/bin/env node
// The zretry command. Runs the built CLI (dist/), or the TypeScript sources
// through tsx in a checkout that was not built.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const built = new URL('../dist/src/cli/main.js', import.meta.url);
let cli;
if (existsSync(fileURLToPath(built))) {
  cli = await import(built.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import(new URL('../src/cli/main.ts', import.meta.url).href);
}
try {
  process.exitCode = await cli.main(process.argv.slice(2));
} catch (e) {
  process.exitCode = cli.reportError(e);
}
