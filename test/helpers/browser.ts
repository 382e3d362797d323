/**
 * A real browser for the dashboard tests: Debian's chromium (installed by
 * scripts/browser when missing), driven by playwright-core, which never
 * downloads a browser of its own. The flags keep it off the network: this
 * machine refuses everything but loopback, and chromium would otherwise
 * try Google's hosts at every start.
 */
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The chromium binary: CHROMIUM_PATH, or what scripts/browser finds or installs. */
export function chromiumPath(): string {
  return process.env.CHROMIUM_PATH || execFileSync('bash', [join(root, 'scripts', 'browser')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}

/** Launches headless chromium (playwright gives it a fresh profile of its own). */
export async function launchBrowser(): Promise<{ browser: Browser; close: () => Promise<void> }> {
  const browser = await chromium.launch({
    executablePath: chromiumPath(),
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
  return {
    browser,
    close: async () => {
      await browser.close();
    },
  };
}
