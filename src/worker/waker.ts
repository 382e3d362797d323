/**
 * Sleeps until the next due time, and wakes early when a task is scheduled
 * sooner: the scripts publish a task's due time on their shard's wake
 * channel (sharded pub/sub, SPUBLISH) when it becomes the earliest of the
 * shard. A client timer, not a blocking Redis timeout, so wake-ups are not
 * rounded to Redis's 100 ms server tick.
 */
import type { RedisClient } from '../store/client.js';
import type { Logger } from 'pino';

/** A sleep that a nudge on the wake channel can cut short. */
export class Waker {
  private wake: (() => void) | null = null;
  /** Redis time the current sleep ends at. */
  private until = Infinity;
  private subscribed: Promise<unknown> | null = null;
  /** Earliest due time nudged while no sleep was on (during a claim round). */
  private missed = Infinity;
  /** Channels nudged since the last takeNudged(): the worker polls only those shards (and the ones due). */
  private nudged = new Set<string>();

  constructor(
    private readonly sub: RedisClient,
    /** One channel per shard; each is in its shard's slot, so on a cluster each lives on the shard's master. */
    private readonly channels: readonly string[],
    private readonly log: Logger,
  ) {}

  /**
   * Subscribes to the wake channels (SSUBSCRIBE, one channel a call: on a
   * cluster each goes to its own master); a failure only costs early
   * wake-ups.
   */
  start(): Promise<unknown> {
    this.sub.on('smessage', (ch: string, msg: string) => {
      this.nudged.add(ch);
      const dueAt = Number.isFinite(Number(msg)) ? Number(msg) : -Infinity;
      if (!this.wake) this.missed = Math.min(this.missed, dueAt);
      else if (dueAt < this.until) this.interrupt();
    });
    this.subscribed = Promise.all(this.channels.map((c) => this.sub.ssubscribe(c))).catch((err: unknown) => {
      this.log.warn({ err, channels: this.channels.length }, 'wake channel subscription failed; the worker falls back to its timer');
    });
    return this.subscribed;
  }

  /** The channels nudged since the last call. */
  takeNudged(): Set<string> {
    const n = this.nudged;
    this.nudged = new Set();
    return n;
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
