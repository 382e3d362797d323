/**
 * Sleeps until the next due time, and wakes early when a task is scheduled
 * sooner: the scripts publish a task's due time on the wake channel when it
 * becomes the earliest of its shard. A client timer, not a blocking Redis
 * timeout, so wake-ups are not rounded to Redis's 100 ms server tick.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

/** A sleep that a nudge on the wake channel can cut short. */
export class Waker {
  private wake: (() => void) | null = null;
  /** Redis time the current sleep ends at. */
  private until = Infinity;
  private subscribed: Promise<unknown> | null = null;
  /** Earliest due time nudged while no sleep was on (during a claim round). */
  private missed = Infinity;

  constructor(
    private readonly sub: Redis,
    private readonly channel: string,
    private readonly log: Logger,
  ) {}

  /** Subscribes to the wake channel; a failure only costs early wake-ups. */
  start(): Promise<unknown> {
    this.sub.on('message', (_ch: string, msg: string) => {
      const dueAt = Number.isFinite(Number(msg)) ? Number(msg) : -Infinity;
      if (!this.wake) this.missed = Math.min(this.missed, dueAt);
      else if (dueAt < this.until) this.interrupt();
    });
    this.subscribed = this.sub.subscribe(this.channel).catch((err: unknown) => {
      this.log.warn({ err, channel: this.channel }, 'wake channel subscription failed; the worker falls back to its timer');
    });
    return this.subscribed;
  }

  /** A claim round starts: nudges from now on, until the next sleep, are remembered. */
  beginRound(): void {
    this.missed = Infinity;
  }

  /** Sleeps ms (ending at Redis time untilRedis), unless interrupted sooner or nudged since beginRound(). */
  sleep(ms: number, untilRedis: number): Promise<void> {
    this.interrupt();
    if (this.missed < untilRedis) {
      this.missed = Infinity;
      return Promise.resolve();
    }
    this.until = untilRedis;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.interrupt(), Math.max(0, ms));
      this.wake = () => {
        clearTimeout(timer);
        this.wake = null;
        this.until = Infinity;
        resolve();
      };
    });
  }

  /** Ends the current sleep now. */
  interrupt(): void {
    this.wake?.();
  }

  /** Unsubscribes and ends any sleep. */
  async stop(): Promise<void> {
    this.interrupt();
    await this.subscribed;
    this.sub.disconnect();
  }
}
