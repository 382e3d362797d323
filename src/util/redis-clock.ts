/**
 * Redis's clock, read without a round trip: the offset between Redis TIME and
 * the local clock is sampled at start and refreshed now and then, so
 * decisions about time budgets use Redis's time (DESIGN.md invariant 4).
 */
import type { Redis } from 'ioredis';

/** now() in Redis milliseconds. */
export class RedisClock {
  private offset = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly redis: Redis) {}

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
    const [s, us] = await this.redis.time();
    const after = Date.now();
    this.offset = Number(s) * 1000 + Math.floor(Number(us) / 1000) - Math.round((before + after) / 2);
  }
}
