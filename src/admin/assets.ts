/**
 * The dashboard page: plain HTML, JS and CSS shipped in the package's ui/
 * folder, and uPlot (the charting library, a dependency) served from its
 * own package. No build step; the files are read once, on first request.
 * They hold no data: the page asks the API, with the token, for that.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** URL path -> [file, content type]. */
function files(): Map<string, [string, string]> {
  const here = dirname(fileURLToPath(import.meta.url));
  // src/admin/ in a checkout, dist/src/admin/ once built
  const ui = [join(here, '..', '..', 'ui'), join(here, '..', '..', '..', 'ui')].find((d) => existsSync(join(d, 'index.html')));
  if (!ui) throw new Error(`the dashboard's ui/ folder is missing next to ${here}`);
  const uplot = dirname(createRequire(import.meta.url).resolve('uplot'));
  return new Map([
    ['/', [join(ui, 'index.html'), 'text/html; charset=utf-8']],
    ['/app.js', [join(ui, 'app.js'), 'text/javascript; charset=utf-8']],
    ['/app.css', [join(ui, 'app.css'), 'text/css; charset=utf-8']],
    ['/uplot.js', [join(uplot, 'uPlot.iife.min.js'), 'text/javascript; charset=utf-8']],
    ['/uplot.css', [join(uplot, 'uPlot.min.css'), 'text/css; charset=utf-8']],
  ]);
}

let table: Map<string, [string, string]> | null = null;
const cache = new Map<string, Promise<Buffer>>();

/** The asset at a URL path, or null when there is none. */
export async function asset(path: string): Promise<{ type: string; body: Buffer } | null> {
  table ??= files();
  const f = table.get(path);
  if (!f) return null;
  let body = cache.get(path);
  if (!body) cache.set(path, (body = readFile(f[0])));
  return { type: f[1], body: await body };
}
