/** A redis-server of a test's own, on a free port, that the test may kill and restart. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { waitFor } from './env.js';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** The handle on an own redis-server. */
export interface OwnRedis {
  url: string;
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Sends a signal without waiting for an exit (SIGSTOP / SIGCONT). */
  signal(signal: NodeJS.Signals): void;
  start(): Promise<void>;
  cleanup(): Promise<void>;
}

/** Starts a redis-server with AOF in a fresh directory. */
export async function ownRedis(opts: { appendfsync?: 'always' | 'everysec'; extra?: string[]; env?: Record<string, string> } = {}): Promise<OwnRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'zretry-redis-'));
  const port = await freePort();
  let proc: ChildProcess | null = null;
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', opts.appendfsync ?? 'always', '--maxmemory-policy', 'noeviction', ...(opts.extra ?? [])];
  const ping = async () => {
    const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on('error', () => undefined);
    try {
      await r.connect();
      return (await r.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      r.disconnect();
    }
  };
  const handle: OwnRedis = {
    url: `redis://127.0.0.1:${port}`,
    async start() {
      proc = spawn('redis-server', args, { stdio: 'ignore', env: { ...process.env, ...opts.env } });
      await waitFor(ping, 10_000, `redis-server on port ${port}`);
    },
    async kill(signal = 'SIGKILL') {
      const p = proc;
      if (!p || p.exitCode !== null) return;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill(signal);
      await exited;
    },
    signal(sig) {
      proc?.kill(sig);
    },
    async cleanup() {
      proc?.kill('SIGCONT');
      await handle.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await handle.start();
  return handle;
}
