/**
 * Committed offsets move only past what would survive a host crash. Redis
 * answers a write once it is in its memory and AOF buffer; with appendfsync
 * everysec it reaches the disk up to a couple of seconds later. A batch
 * that stored tasks therefore has its offsets committed only once that
 * window has passed; a batch that stored nothing is committed at once,
 * unless an earlier one of its partition still waits (offsets are a
 * prefix). The wait never holds the partition: a batch's offsets are
 * resolved at once (kafkajs fetches on from the resolved offset), and the
 * consumer runs with autoCommit off so that only this class commits.
 *
 * Should Redis come back without what it acknowledged (it restarted: a new
 * run_id), every partition with offsets still in their window is sought
 * back to where they start: their records are read again, the stored ones
 * that survived are duplicates admit skips, the lost ones are stored again.
 * Batches begun before such a rewind no longer move offsets.
 *
 * On a rebalance the waiting offsets are dropped: the next owner starts at
 * the last commit and reads those records again.
 */
import type { Consumer } from './client.js';
import type { Logger } from 'pino';
import { describeError } from '../policy/classify.js';

/** How a batch's offsets are resolved (from its eachBatch payload): kafkajs fetches on from there. */
export interface OffsetSink {
  resolveOffset(offset: string): void;
}

interface Waiting {
  /** The first offset of the records this entry covers: where a rewind starts. */
  from: string;
  /** The last offset done: the commit is the next one. */
  offset: string;
  /** Local time (ms) at which the offset may be committed. */
  at: number;
}

type Done = { key: string; topic: string; partition: number; offset: string };

export class DurableOffsets {
  private readonly waiting = new Map<string, Waiting[]>();
  /** Per partition, bumped by a rewind: batches begun before it no longer move offsets. */
  private readonly epochs = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private nextAt = Infinity;

  constructor(
    private readonly consumer: Consumer,
    /** How long after a write Redis may still lose it (0: writes are durable when acknowledged). */
    private readonly windowMs: number,
    private readonly log: Logger,
    /** Told where a rewound partition starts (a paused partition must resume there, not later). */
    private readonly onRewind: (topic: string, partition: number, offset: string) => void = () => {},
  ) {
    consumer.on(consumer.events.GROUP_JOIN, () => this.forget());
  }

  /** The partition's epoch when a batch begins (see done). */
  epoch(topic: string, partition: number): number {
    return this.epochs.get(`${topic}/${partition}`) ?? 0;
  }

  /**
   * The records of a partition from `from` up to `offset` are done;
   * `stored`: whether that took task writes (then their commit waits out
   * the window); `epoch`: the partition's epoch when the batch began.
   */
  done(topic: string, partition: number, from: string, offset: string, stored: boolean, sink: OffsetSink, epoch: number): Promise<void> {
    const key = `${topic}/${partition}`;
    // rewound since the batch began: the seek decides where reading goes on
    if (epoch !== (this.epochs.get(key) ?? 0)) return Promise.resolve();
    sink.resolveOffset(offset);
    const queue = this.waiting.get(key);
    const at = stored && this.windowMs > 0 ? Date.now() + this.windowMs : 0;
    if (at === 0 && !queue) return this.commit([{ key, topic, partition, offset }]);
    const entry = { from, offset, at: at === 0 ? Date.now() : at };
    if (queue) queue.push(entry);
    else this.waiting.set(key, [entry]);
    this.arm(entry.at);
    return Promise.resolve();
  }

  /** Offsets still waiting, over every partition. */
  pending(): number {
    let n = 0;
    for (const q of this.waiting.values()) n += q.length;
    return n;
  }

  /** Redis lost what it had not yet written to disk: reads every partition with waiting offsets again from their start. */
  rewind(): void {
    for (const [key, queue] of this.waiting) {
      const cut = key.lastIndexOf('/');
      const topic = key.slice(0, cut);
      const partition = Number(key.slice(cut + 1));
      const from = queue[0]!.from;
      this.epochs.set(key, (this.epochs.get(key) ?? 0) + 1);
      try {
        this.consumer.seek({ topic, partition, offset: from });
        this.onRewind(topic, partition, from);
        this.log.warn({ topic, partition, offset: from }, 'Redis restarted and may have lost writes not yet on disk: partition read again from its last durable offset');
      } catch (e) {
        this.log.warn({ topic, partition, err: describeError(e, 300) }, 'could not rewind a partition after a Redis restart; its next owner reads it from the last commit');
      }
    }
    this.waiting.clear();
  }

  /** Waits out the window of everything stored so far and commits those offsets (closing). */
  async flush(): Promise<void> {
    const last = Math.max(0, ...[...this.waiting.values()].flat().map((w) => w.at));
    const wait = last - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    await this.release();
  }

  /** Drops the waiting offsets: the partitions are assigned anew. */
  forget(): void {
    this.waiting.clear();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.nextAt = Infinity;
  }

  private arm(at: number): void {
    if (at >= this.nextAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.nextAt = at;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.nextAt = Infinity;
      void this.release();
    }, Math.max(0, at - Date.now()));
    this.timer.unref();
  }

  /** Commits every partition's offsets whose window has passed, in order. */
  private async release(): Promise<void> {
    const now = Date.now();
    const due: Done[] = [];
    for (const [key, queue] of this.waiting) {
      let last: Waiting | null = null;
      while (queue.length > 0 && queue[0]!.at <= now) last = queue.shift()!;
      if (last) {
        const cut = key.lastIndexOf('/');
        due.push({ key, topic: key.slice(0, cut), partition: Number(key.slice(cut + 1)), offset: last.offset });
      }
      if (queue.length === 0) this.waiting.delete(key);
      else this.arm(queue[0]!.at);
    }
    if (due.length > 0) await this.commit(due);
  }

  /** Commits the offsets after the given ones; a failure is left to the next commit (or the next owner's re-read). */
  private async commit(done: Done[]): Promise<void> {
    try {
      await this.consumer.commitOffsets(done.map((d) => ({ topic: d.topic, partition: d.partition, offset: String(BigInt(d.offset) + 1n) })));
    } catch (e) {
      // a rebalance or the coordinator moving: the next commit carries these offsets, or the next owner reads them again
      this.log.warn({ partitions: done.map((d) => d.key), err: describeError(e, 300) }, 'offset commit failed; the next one carries these offsets');
    }
  }
}
