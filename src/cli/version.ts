/** The version of the installed zretry package, from its package.json (found from src/ and from dist/src/). */
import { existsSync, readFileSync } from 'node:fs';

export function packageVersion(): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    const url = new URL(rel, import.meta.url);
    if (!existsSync(url)) continue;
    const pkg = JSON.parse(readFileSync(url, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === 'zretry' && pkg.version) return pkg.version;
  }
  return 'unknown';
}
