/**
 * The retrying consumer: wraps a Kafka consumer (eachBatch; kafkajs's or
 * Confluent's, src/kafka/client.ts) so a failing record never blocks its
 * partition.
 *
 * Per batch, in order:
 *   1. read: each record is fresh, a worker's republished copy, done
 *      already, too large to keep, or unreadable by the id functions;
 *   2. admit: one call per shard says which fresh records run now, which
 *      must park behind their aggregate's queue, which are duplicates, and
 *      gives copies their lease (only ids cross to Redis here);
 *   3. run: records of one aggregate in offset order, aggregates
 *      concurrently up to a limit;
 *   4. store: the batch's failures and parked records in one schedule call;
 *   5. resolve: offsets move only past records that succeeded or are
 *      durably in Redis (past its fsync window: src/kafka/durable-offsets.ts),
 *      then are committed.
 * When Redis is away the partition pauses, nothing new is committed, and it
 * resumes (from the first unresolved offset) once Redis answers.
 */
import type { Consumer, EachBatchPayload } from './client.js';
import type { Logger } from 'pino';
import type { ZRetryEmitter } from '../events.js';
import type { Handler, HandlerRecord } from '../handler.js';
import type { ClassifierOptions } from '../policy/classify.js';
import type { RetryPolicy } from '../policy/backoff.js';
import type { TaskStore } from '../store/store.js';
import type { ClaimedTask } from '../store/task.js';
import { lease, type DeadLetterSink, type Outcomes } from '../worker/outcomes.js';
import { Batch, Kind } from './batch.js';
import { runBatch, type RunOptions } from './batch-run.js';
import { PartitionPauser } from './partition-pauser.js';
import { DurableOffsets, type OffsetSink } from './durable-offsets.js';

export { MAX_ID_BYTES, recordBytes } from './batch.js';

/** How the consumer treats records. */
export interface RetryingConsumerOptions {
  consumer: Consumer;
  store: TaskStore;
  handler: Handler;
  /** Reports outcomes of republished records (ack / retry / dead letter). */
  outcomes: Outcomes;
  policy: RetryPolicy;
  classifier: ClassifierOptions;
  /** The aggregate of a record (records of one aggregate never overtake each other); null: no ordering. */
  aggregateId: (r: HandlerRecord) => string | null;
  /** The dedup id of a record; default topic/partition/offset. */
  messageId: (r: HandlerRecord) => string;
  /** Aggregates run concurrently within a batch, up to this many. */
  concurrency: number;
  /** Quick in-process attempts before a failure is scheduled (0: none). */
  blocking: { attempts: number; delayMs: number };
  /** Interval of the probe that resumes paused partitions. */
  redisProbeMs: number;
  /** A fresh record larger than this (key + value + headers) is never stored: it goes to the dead-letter topic. */
  maxRecordBytes: number;
  /** Longest stack kept with a failure's error (failure.maxStackChars; 0: none). */
  maxStackChars: number;
  /** Whether a failed first try counts no attempt (see RunOptions.deferFresh). */
  deferFresh?: RunOptions['deferFresh'];
  /** Where such records go. */
  deadLetter: DeadLetterSink;
  /** When set, only copies signed with it count as republished; other zretry headers are ignored. */
  republishSecret?: string;
  /** Lease of a republished record while the consumer handles it (extended while the handler runs). */
  leaseMs: number;
  /** An attempt that runs longer fails with HandlerTimeoutError and aborts ctx.signal (0: no limit). */
  attemptTimeoutMs: number;
  /** Aborted when the consumer closes: probes stop, handlers' ctx.signal aborts. */
  signal?: AbortSignal;
  /** How long after a write Redis may still lose it: a batch that stored tasks commits its offsets after this. */
  fsyncWindowMs: number;
  logger: Logger;
  events: ZRetryEmitter;
}

/** How long a batch waits for its republished records' outcomes to reach Redis before pausing instead. */
const OUTCOME_DEADLINE_MS = 10_000;

/** The retrying consumer: its eachBatch function, and its offsets (consume() flushes them on close). */
export interface RetryingConsumer {
  eachBatch: (p: EachBatchPayload) => Promise<void>;
  offsets: DurableOffsets;
}

/** Builds the eachBatch function of the retrying consumer, and the offsets it commits. */
export function retryingConsumer(opts: RetryingConsumerOptions): RetryingConsumer {
  const log = opts.logger.child({ component: 'consumer' });
  const { store } = opts;
  const pauser = new PartitionPauser({ consumer: opts.consumer, ping: () => store.redis.ping(), probeMs: opts.redisProbeMs, signal: opts.signal, logger: log, events: opts.events });
  const offsets = new DurableOffsets(opts.consumer, opts.fsyncWindowMs, log, (topic, partition, offset) => pauser.rewindTo(topic, partition, offset));
  const signal = opts.signal ?? new AbortController().signal;
  const read = {
    aggregateId: opts.aggregateId,
    messageId: opts.messageId,
    maxRecordBytes: opts.maxRecordBytes,
    republishSecret: opts.republishSecret,
    shards: store.options.shards,
    shardOf: (agg: string | null, id: string) => store.shardOf(agg, id),
    logger: log,
  };
  const run = { ...opts, logger: log, signal };

  const eachBatch = async (payload: EachBatchPayload): Promise<void> => {
    const { batch } = payload;
    if (batch.messages.length === 0) return;
    const { topic, partition } = batch;
    const ahead = pauser.takeDoneAhead(topic, partition);
    const epoch = offsets.epoch(topic, partition);
    const guard = batchGuard(payload, store, opts.leaseMs);
    try {
      // 1. read
      const b = new Batch(topic, partition, batch.messages, ahead, read);
      // 2. admit
      try {
        await admit(b, store, opts.leaseMs);
      } catch (error) {
        if (ahead) pauser.rememberDone(topic, partition, ahead);
        return pauser.pause(topic, partition, b.messages[0]!.offset, error);
      }
      // 3. run
      const deadLetterFailed = await runBatch(b, run, guard);
      // 4. store: parked and failed records, in one schedule call
      const stored = await storeFailures(b, store, opts.events);
      if (stored !== true) {
        let first = b.donePrefix();
        for (const s of b.toStore) first = Math.min(first, s.index);
        return pauseAt(b, first, stored, 'Redis unavailable', payload, false, epoch);
      }
      // outcomes of republished records must be in Redis before their offsets move
      if (b.copies.size > 0 && !(await opts.outcomes.drain(OUTCOME_DEADLINE_MS))) {
        let firstCopy = b.n;
        for (const i of b.copies.keys()) if (b.verdicts[i]?.outcome === 'go') firstCopy = Math.min(firstCopy, i);
        return pauseAt(b, Math.min(b.donePrefix(), firstCopy), new Error('outcomes of republished records could not be written'), 'Redis unavailable', payload, true, epoch);
      }
      // 5. resolve
      const prefix = b.donePrefix();
      if (deadLetterFailed !== null && prefix < b.n) {
        // a too-large record's dead letter could not be written: read it again after a pause
        return pauseAt(b, prefix, deadLetterFailed, 'dead-letter write of a too-large record failed', payload, true, epoch);
      }
      if (prefix > 0) await offsets.done(topic, partition, b.messages[0]!.offset, b.messages[prefix - 1]!.offset, storedBefore(b, prefix), payload, epoch);
    } finally {
      guard.stop();
      // remembered offsets past this batch (a smaller re-read) stay remembered
      if (ahead) {
        const last = BigInt(batch.messages.at(-1)!.offset);
        pauser.rememberDone(topic, partition, [...ahead].filter((o) => BigInt(o) > last));
      }
    }
  };

  return { eachBatch, offsets };

  /**
   * Resolves the offsets before record `first` (scheduled: whether the
   * batch's schedule call went through), remembers the done records after
   * it, and pauses the partition there.
   */
  function pauseAt(b: Batch, first: number, error: unknown, what: string, sink: OffsetSink, scheduled: boolean, epoch: number): void {
    if (first > 0) void offsets.done(b.topic, b.partition, b.messages[0]!.offset, b.messages[first - 1]!.offset, scheduled && storedBefore(b, first), sink, epoch);
    if (first >= b.n) return;
    pauser.rememberDone(b.topic, b.partition, b.doneFrom(first));
    pauser.pause(b.topic, b.partition, b.messages[first]!.offset, error, what);
  }
}

/** Stage 2: the verdicts on the fresh records and copies, one admit call per shard and chunk of store.maxBatch. */
async function admit(b: Batch, store: TaskStore, leaseMs: number): Promise<void> {
  const index: number[] = [];
  for (let i = 0; i < b.n; i++) if (b.kind[i] === Kind.Fresh || b.kind[i] === Kind.Copy) index.push(i);
  if (index.length === 0) return;
  const verdicts = await store.admitBatch(b, index, (i) => b.shards[i]!, leaseMs);
  b.verdicts = new Array(b.n);
  index.forEach((i, k) => (b.verdicts[i] = verdicts[k]));
}

/** Whether records before index p were stored as tasks (they then wait out the fsync window). */
function storedBefore(b: Batch, p: number): boolean {
  return b.toStore.some((s) => s.index < p);
}

/** Stage 4: stores the batch's failures and parked records; true, or the error that kept them out of Redis. */
async function storeFailures(b: Batch, store: TaskStore, events: ZRetryEmitter): Promise<true | unknown> {
  if (b.toStore.length === 0) return true;
  try {
    const out = await store.schedule(b.toStore.map((s) => s.task));
    b.toStore.forEach((s, k) => {
      b.done[s.index] = 1;
      events.emit('scheduled', { id: s.task.id, outcome: out[k]!, attempt: s.task.attempt });
    });
    return true;
  } catch (error) {
    return error;
  }
}

/**
 * Per batch: a heartbeat while it runs (kafkajs signals a rebalance by
 * rejecting it: no new records start then, as for isStale()), and the
 * leases of republished copies kept alive while their handlers run.
 */
function batchGuard(p: EachBatchPayload, store: TaskStore, leaseMs: number) {
  let rebalancing = false;
  const beat = setInterval(() => void p.heartbeat().catch(() => (rebalancing = true)), 1_000);
  const holding = new Map<string, ClaimedTask>();
  let keep: NodeJS.Timeout | null = null;
  return {
    stopped: () => rebalancing || !p.isRunning() || p.isStale(),
    hold(task: ClaimedTask): () => void {
      const key = `${task.id}#${task.token}`;
      holding.set(key, task);
      keep ??= setInterval(() => {
        if (holding.size > 0) void store.extend([...holding.values()].map(lease), leaseMs).catch(() => undefined);
      }, Math.max(100, Math.floor(leaseMs / 3)));
      return () => void holding.delete(key);
    },
    stop(): void {
      clearInterval(beat);
      if (keep) clearInterval(keep);
    },
  };
}
