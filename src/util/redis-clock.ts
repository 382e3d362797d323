/**
 * Redis's clock, read without a round trip: the offset between Redis TIME and
 * the local clock is sampled at start and refreshed now and then, so
 * decisions about time budgets use Redis's time (DESIGN.md invariant 4).
 */
import { nodeForKey, type RedisClient } from '../store/client.js';
import { configKey } from '../store/namespace.js';

/** now() in Redis milliseconds. */
export class RedisClock {
  private offset = 0;
  private timer: NodeJS.Timeout | null = null;

  /**
   * namespace: on a cluster, TIME is read from the master of the
   * namespace's first shard, always the same node (a random node's clock
   * could differ from the one before); a single Redis is its own.
   */
  constructor(
    private readonly redis: RedisClient,
    private readonly namespace = '',
  ) {}

  /** Samples TIME once, then every refreshMs. */
  async start(refreshMs = 30_000): Promise<void> {
    await this.sample();
    this.timer = setInterval(() => void this.sample().catch(() => undefined), refreshMs);
    this.timer.unref();
  }

  /** Redis's time now (ms), estimated. */
  now(): number {
    return Date.now() + this.offset;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private async sample(): Promise<void> {
    const before = Date.now();
    const [s, us] = await nodeForKey(this.redis, configKey(this.namespace)).time();
    const after = Date.now();
    this.offset = Number(s) * 1000 + Math.floor(Number(us) / 1000) - Math.round((before + after) / 2);
  }
}
