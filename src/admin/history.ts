/**
 * What the dashboard's charts draw: a point every interval with the
 * throughput of successes, retries and deaths (per second), the lateness
 * percentiles of the claims made in it, and the queue depth. Throughput and
 * lateness come from this process's events (a worker's); the depth from the
 * store's stats (one read-only script call per shard and interval). Kept in
 * memory, a fixed number of points.
 */
import type { ZRetryEmitter } from '../events.js';
import type { TaskStore } from '../store/store.js';
import type { ShardStats } from '../store/task.js';

/** A uniform sample of at most `size` values out of however many are offered (Algorithm R). */
export class Reservoir {
  private readonly values: number[] = [];
  private seen = 0;

  constructor(
    private readonly size: number,
    private readonly random: () => number = Math.random,
  ) {}

  offer(v: number): void {
    this.seen++;
    if (this.values.length < this.size) this.values.push(v);
    else {
      const j = Math.floor(this.random() * this.seen);
      if (j < this.size) this.values[j] = v;
    }
  }

  /** The sample, and starts a new one. */
  take(): number[] {
    const out = this.values.splice(0);
    this.seen = 0;
    return out;
  }
}

/** The q-quantiles (0..1) of values by nearest rank; null for none. */
export function percentiles(values: readonly number[], qs: readonly number[]): Array<number | null> {
  if (values.length === 0) return qs.map(() => null);
  const sorted = [...values].sort((a, b) => a - b);
  return qs.map((q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!);
}

/** The series, one value per point; null where nothing was measured. */
export interface HistorySeries {
  intervalMs: number;
  /** Whether this process sees a worker's events (throughput and lateness), or only the store (depth). */
  hasEvents: boolean;
  /** Point times, ms since the epoch (this process's clock). */
  t: number[];
  succeeded: Array<number | null>;
  retried: Array<number | null>;
  dead: Array<number | null>;
  latencyP50: Array<number | null>;
  latencyP90: Array<number | null>;
  latencyP99: Array<number | null>;
  dueNow: Array<number | null>;
  dueLater: Array<number | null>;
  inflight: Array<number | null>;
  queued: Array<number | null>;
  deadTotal: Array<number | null>;
}

type Key = Exclude<keyof HistorySeries, 'intervalMs' | 'hasEvents'>;
const KEYS: Key[] = ['t', 'succeeded', 'retried', 'dead', 'latencyP50', 'latencyP90', 'latencyP99', 'dueNow', 'dueLater', 'inflight', 'queued', 'deadTotal'];

/** Samples every intervalMs; stop() ends it. */
export class History {
  private readonly series: HistorySeries;
  private counts = { succeeded: 0, retried: 0, dead: 0 };
  private readonly lateness = new Reservoir(1024);
  private timer: NodeJS.Timeout | null = null;
  private readonly off: Array<() => void> = [];

  constructor(
    private readonly store: TaskStore,
    events: ZRetryEmitter | undefined,
    private readonly opts: { intervalMs: number; points: number } = { intervalMs: 2_000, points: 900 },
  ) {
    this.series = { intervalMs: opts.intervalMs, hasEvents: events !== undefined, ...(Object.fromEntries(KEYS.map((k) => [k, []])) as unknown as Record<Key, number[]>) };
    if (events) {
      const succeeded = () => void this.counts.succeeded++;
      const retried = () => void this.counts.retried++;
      const dead = () => void this.counts.dead++;
      const claimed = (e: { latenessMs: number[] }) => {
        for (const ms of e.latenessMs) this.lateness.offer(Math.max(0, ms));
      };
      events.on('succeeded', succeeded).on('retried', retried).on('dead', dead).on('claimed', claimed);
      this.off.push(() => events.off('succeeded', succeeded).off('retried', retried).off('dead', dead).off('claimed', claimed));
    }
  }

  start(): this {
    this.timer ??= setInterval(() => void this.sample(), this.opts.intervalMs);
    this.timer.unref();
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const off of this.off.splice(0)) off();
  }

  /** The series so far. */
  view(): HistorySeries {
    return this.series;
  }

  /** Adds one point: this interval's events, and the depth (null when Redis did not answer). */
  async sample(now = Date.now()): Promise<void> {
    const perSecond = (n: number) => (this.series.hasEvents ? Math.round((n * 1000 * 10) / this.opts.intervalMs) / 10 : null);
    const { succeeded, retried, dead } = this.counts;
    this.counts = { succeeded: 0, retried: 0, dead: 0 };
    const lateness = this.lateness.take();
    const [p50, p90, p99] = this.series.hasEvents ? percentiles(lateness, [0.5, 0.9, 0.99]) : [null, null, null];
    const total: ShardStats | null = await this.store.stats().then((s) => s.total, () => null);
    this.push({
      t: now,
      succeeded: perSecond(succeeded),
      retried: perSecond(retried),
      dead: perSecond(dead),
      latencyP50: p50 ?? null,
      latencyP90: p90 ?? null,
      latencyP99: p99 ?? null,
      dueNow: total?.dueNow ?? null,
      dueLater: total?.dueLater ?? null,
      inflight: total?.inflight ?? null,
      queued: total?.queued ?? null,
      deadTotal: total?.dead ?? null,
    });
  }

  private push(p: Record<Key, number | null>): void {
    for (const k of KEYS) {
      const arr = this.series[k] as Array<number | null>;
      arr.push(p[k]);
      if (arr.length > this.opts.points) arr.shift();
    }
  }
}
