/**
 * Pauses a partition while Redis is away: nothing past its first unresolved
 * offset is committed; a probe pings Redis and, once it answers, seeks back
 * to that offset and resumes. The records already done past it are
 * remembered, so the re-read skips them instead of running them again.
 *
 * A probe only acts on the assignment it paused: after a rebalance (the
 * partition may have moved away and back, with another member committing
 * further meanwhile) it resumes without seeking, and after the consumer
 * stopped, crashed or closed it does nothing at all.
 */
import type { Consumer } from './client.js';
import type { Logger } from 'pino';
import type { ZRetryEmitter } from '../events.js';
import { describeError } from '../policy/classify.js';
import { sleep } from '../util/sleep.js';
import { redactCommand } from '../util/redis-errors.js';

/** What the pauser needs. */
export interface PauserOptions {
  consumer: Consumer;
  /** Resolves once Redis answers; rejects while it is away. */
  ping: () => Promise<unknown>;
  probeMs: number;
  /** Aborted when the consumer closes: probes stop. */
  signal?: AbortSignal;
  logger: Logger;
  events: ZRetryEmitter;
}

export class PartitionPauser {
  private readonly paused = new Set<string>();
  /** Offsets done past the first unresolved one, per partition, until the re-read. */
  private readonly doneAhead = new Map<string, Set<string>>();
  /** Counts group joins: a probe from an older assignment must not seek. */
  private generation = 0;
  /** False once the consumer stopped or crashed: probes must not touch it. */
  private running = true;
  /** Where a paused partition must resume at the latest: it was rewound meanwhile (DurableOffsets). */
  private readonly rewound = new Map<string, string>();

  constructor(private readonly opts: PauserOptions) {
    const c = opts.consumer;
    c.on(c.events.GROUP_JOIN, () => {
      this.generation++;
      this.running = true;
      // a new owner reads these partitions anew
      this.doneAhead.clear();
    });
    c.on(c.events.STOP, () => void (this.running = false));
    c.on(c.events.CRASH, () => void (this.running = false));
  }

  /** Takes the remembered done offsets of a partition (the batch re-reading it skips them). */
  takeDoneAhead(topic: string, partition: number): Set<string> | undefined {
    const key = `${topic}/${partition}`;
    const set = this.doneAhead.get(key);
    this.doneAhead.delete(key);
    return set;
  }

  /** Remembers done offsets of a partition for its next read (merged with what is remembered). */
  rememberDone(topic: string, partition: number, offsets: Iterable<string>): void {
    const key = `${topic}/${partition}`;
    const set = this.doneAhead.get(key) ?? new Set<string>();
    for (const o of offsets) set.add(o);
    if (set.size > 0) this.doneAhead.set(key, set);
  }

  /**
   * A partition was read again from `offset` (Redis lost writes): what was
   * remembered as done past it is forgotten, and a paused partition resumes
   * there instead of at its own offset.
   */
  rewindTo(topic: string, partition: number, offset: string): void {
    const key = `${topic}/${partition}`;
    this.doneAhead.delete(key);
    if (this.paused.has(key)) this.rewound.set(key, offset);
  }

  /** Pauses a partition until Redis answers, then seeks back to fromOffset and resumes. */
  pause(topic: string, partition: number, fromOffset: string, error: unknown, what = 'Redis unavailable'): void {
    const { consumer, logger, events } = this.opts;
    const key = `${topic}/${partition}`;
    events.emit('store-error', { op: 'consume', error: redactCommand(error) });
    consumer.pause([{ topic, partitions: [partition] }]);
    if (this.paused.has(key)) return;
    this.paused.add(key);
    logger.warn({ topic, partition, offset: fromOffset, err: describeError(error, 300) }, `${what}: partition paused, nothing committed past this offset`);
    void this.probe(topic, partition, fromOffset, this.generation);
  }

  private async probe(topic: string, partition: number, fromOffset: string, generation: number): Promise<void> {
    const { consumer, logger, signal } = this.opts;
    const key = `${topic}/${partition}`;
    try {
      for (;;) {
        await sleep(this.opts.probeMs, signal);
        if (signal?.aborted || !this.running) return;
        try {
          await this.opts.ping();
          break;
        } catch {
          // still away
        }
      }
      if (signal?.aborted || !this.running) return;
      const rewound = this.rewound.get(key);
      const offset = rewound !== undefined && BigInt(rewound) < BigInt(fromOffset) ? rewound : fromOffset;
      if (generation === this.generation) consumer.seek({ topic, partition, offset });
      consumer.resume([{ topic, partitions: [partition] }]);
      logger.info({ topic, partition, offset, rebalanced: generation !== this.generation }, 'Redis answers again: partition resumed');
    } catch (error) {
      // the consumer went away under the probe (closing, or kafkajs restarting it): nothing to resume
      logger.debug({ topic, partition, err: describeError(error, 300) }, 'partition probe ended: the consumer is not running');
    } finally {
      this.paused.delete(key);
      this.rewound.delete(key);
    }
  }
}
