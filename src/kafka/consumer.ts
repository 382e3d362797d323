/**
 * The retrying consumer: wraps a kafkajs consumer (eachBatch) so a failing
 * record never blocks its partition.
 *
 * Per batch: one admit call decides which records run now (a record whose
 * aggregate waits behind a failure is parked in Redis instead); records of
 * one aggregate run in offset order, aggregates run concurrently up to a
 * limit; the failures of the batch are stored in one schedule call; and
 * offsets are resolved only past records that succeeded or are durably in
 * Redis. When Redis is away the partition pauses, nothing new is committed,
 * and it resumes (from the first unresolved offset) once Redis answers.
 */
import type { Consumer, EachBatchPayload, KafkaMessage } from 'kafkajs';
import type { Logger } from 'pino';
import { toHandlerRecord, type Handler, type RetryContext } from '../handler.js';
import { classify, describeError, type ClassifierOptions } from '../policy/classify.js';
import { decide, type RetryPolicy } from '../policy/backoff.js';
import type { ZRetryEmitter } from '../events.js';
import type { AdmitEntry, AdmitResult } from '../store/scripts.js';
import type { TaskStore } from '../store/store.js';
import type { TaskRecord } from '../store/record-codec.js';
import type { ClaimedTask, NewTask } from '../store/task.js';
import { sleep } from '../util/sleep.js';
import { lease, type DeadLetterSink, type Outcomes } from '../worker/outcomes.js';
import { offsetMessageId } from './ids.js';
import { fromKafkaHeaders, parseRepublished, SignatureError, type RepublishedInfo } from './headers.js';
import { redactCommand } from '../util/redis-errors.js';

/** A delivered record with where it came from. */
export interface DeliveredRecord {
  topic: string;
  partition: number;
  message: KafkaMessage;
}

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
  aggregateId: (r: DeliveredRecord) => string | null;
  /** The dedup id of a record; default topic/partition/offset. */
  messageId: (r: DeliveredRecord) => string;
  /** Aggregates run concurrently within a batch, up to this many. */
  concurrency: number;
  /** Quick in-process attempts before a failure is scheduled (0: none). */
  blocking: { attempts: number; delayMs: number };
  /** Interval of the probe that resumes paused partitions. */
  redisProbeMs: number;
  /** A fresh record larger than this (key + value + headers) is never stored: it goes to the dead-letter topic. */
  maxRecordBytes: number;
  /** Where such records go. */
  deadLetter: DeadLetterSink;
  /** When set, only copies signed with it count as republished; other zretry headers are ignored. */
  republishSecret?: string;
  /** Lease of a republished record while the consumer handles it (extended while the handler runs). */
  leaseMs: number;
  /** Aborted when the consumer closes: probes stop. */
  signal?: AbortSignal;
  logger: Logger;
  events: ZRetryEmitter;
}

/** What became of one record of a batch. */
type Fate = 'pending' | 'done';

/** Runs the handler with the blocking phase; returns the last error, or undefined on success. */
async function runBlocking(
  handler: Handler,
  record: TaskRecord,
  ctx: Omit<RetryContext, 'attempt'> & { attempt: number },
  blocking: { attempts: number; delayMs: number },
  retriable: (err: unknown) => boolean,
): Promise<{ error?: unknown; attempts: number }> {
  let attempts = 0;
  for (;;) {
    attempts++;
    try {
      await handler(toHandlerRecord(record), { ...ctx, attempt: ctx.attempt + attempts - 1 });
      return { attempts };
    } catch (error) {
      if (attempts > blocking.attempts || !retriable(error)) return { error, attempts };
      await sleep(blocking.delayMs);
    }
  }
}

/** Builds the eachBatch function of the retrying consumer. */
export function retryingEachBatch(opts: RetryingConsumerOptions): (p: EachBatchPayload) => Promise<void> {
  const log = opts.logger.child({ component: 'consumer' });
  const shards = opts.store.options.shards;
  const paused = new Set<string>();
  /**
   * Offsets per partition whose records are done (handled, or stored) but
   * lie past the resolved prefix because an earlier record could not be
   * stored. When the paused partition is read again they are skipped, so a
   * Redis outage or an out-of-memory spell does not run them again and
   * again. Forgotten on a rebalance: a new owner reads them anew.
   */
  const doneAhead = new Map<string, Set<string>>();
  opts.consumer.on(opts.consumer.events.GROUP_JOIN, () => doneAhead.clear());

  /** Pauses a partition until Redis answers, then seeks back to its first unresolved offset. */
  function pauseUntilRedis(topic: string, partition: number, fromOffset: string, error: unknown, what = 'Redis unavailable'): void {
    const key = `${topic}/${partition}`;
    opts.events.emit('store-error', { op: 'consume', error: redactCommand(error) });
    opts.consumer.pause([{ topic, partitions: [partition] }]);
    if (paused.has(key)) return;
    paused.add(key);
    log.warn({ topic, partition, offset: fromOffset, err: describeError(error, 300) }, `${what}: partition paused, nothing committed past this offset`);
    void (async () => {
      for (;;) {
        await sleep(opts.redisProbeMs, opts.signal);
        if (opts.signal?.aborted) return;
        try {
          await opts.store.redis.ping();
          break;
        } catch {
          // still away
        }
      }
      paused.delete(key);
      opts.consumer.seek({ topic, partition, offset: fromOffset });
      opts.consumer.resume([{ topic, partitions: [partition] }]);
      log.info({ topic, partition, offset: fromOffset }, 'Redis answers again: partition resumed');
    })();
  }

  return async ({ batch, resolveOffset, heartbeat, isRunning, isStale, commitOffsetsIfNecessary }) => {
    const { topic, partition } = batch;
    const msgs = batch.messages;
    if (msgs.length === 0) return;
    const partKey = `${topic}/${partition}`;
    const ahead = doneAhead.get(partKey);
    doneAhead.delete(partKey);
    // kafkajs signals a rebalance by rejecting heartbeat(): stop starting records then, as for isStale()
    let rebalancing = false;
    const beat = setInterval(() => void heartbeat().catch(() => (rebalancing = true)), 1_000);
    const stopped = () => rebalancing || !isRunning() || isStale();
    // republished records being handled hold a lease; keep it alive while their handler runs
    const holding = new Map<string, ClaimedTask>();
    const keepLeases = setInterval(() => {
      if (holding.size === 0) return;
      void opts.store.extend([...holding.values()].map(lease), opts.leaseMs).catch(() => undefined);
    }, Math.max(100, Math.floor(opts.leaseMs / 3)));
    try {
      // 1. read each record: fresh, or republished by a worker
      const records: TaskRecord[] = msgs.map((m) => ({
        topic,
        partition,
        offset: m.offset,
        timestamp: m.timestamp,
        key: m.key ?? null,
        value: m.value ?? null,
        headers: fromKafkaHeaders(m.headers),
      }));
      // a copy whose signature does not verify is neither a copy nor fresh: skipped (its task, if real, stays in Redis)
      const unsigned = new Set<number>();
      const info: (RepublishedInfo | null)[] = records.map((r, i) => {
        try {
          return parseRepublished(r, shards, opts.republishSecret);
        } catch (e) {
          if (e instanceof SignatureError) {
            unsigned.add(i);
            log.error({ topic, partition, offset: r.offset, reason: e.message }, 'zretry copy with a bad signature skipped: forged, or a worker without the same consumer.republishSecret');
          } else {
            log.warn({ topic, partition, offset: r.offset, reason: (e as Error).message }, 'record has malformed zretry headers; handling it as a fresh record');
          }
          return null;
        }
      });
      // a record too large to keep in Redis goes to the DLT as it arrives, outside admit and the aggregate's queue
      const tooLarge = new Set<number>();
      const already = new Set<number>();
      records.forEach((r, i) => {
        if (ahead?.has(r.offset) || unsigned.has(i)) already.add(i);
        else if (!info[i] && recordBytes(r) > opts.maxRecordBytes) tooLarge.add(i);
      });
      // the user's id functions may throw on a record they cannot read: that record goes to the DLT
      const badRecord = new Map<number, unknown>();
      const ids = msgs.map((m, i) => {
        if (info[i]) return info[i]!.taskId;
        try {
          return checkedId(opts.messageId({ topic, partition, message: m }), 'messageId');
        } catch (e) {
          badRecord.set(i, e);
          return offsetMessageId({ topic, partition, message: m });
        }
      });
      const aggs = msgs.map((m, i) => {
        if (info[i]) return info[i]!.aggregateId;
        if (badRecord.has(i)) return null;
        try {
          const agg = opts.aggregateId({ topic, partition, message: m });
          // an empty key is no aggregate, as a null one (the store keeps '' for "none")
          return agg === null || agg === '' ? null : checkedId(agg, 'aggregateId');
        } catch (e) {
          badRecord.set(i, e);
          return null;
        }
      });
      const entries: (AdmitEntry & { shard?: number })[] = records.map((r, i) =>
        info[i]
          ? { kind: 'republished', taskId: info[i]!.taskId, attempt: info[i]!.attempt, shard: info[i]!.shard }
          : { kind: 'fresh', id: ids[i]!, aggregateId: aggs[i]!, record: r },
      );

      // 2. one admit call: who runs now
      let admitted: AdmitResult[];
      try {
        const judged = await opts.store.admit(entries.filter((_, i) => !tooLarge.has(i) && !already.has(i)), opts.leaseMs);
        admitted = entries.map((_, i) => (tooLarge.has(i) ? { outcome: 'go' } : already.has(i) ? { outcome: 'stale' } : judged.shift()!));
      } catch (error) {
        if (ahead) doneAhead.set(partKey, ahead);
        pauseUntilRedis(topic, partition, msgs[0]!.offset, error);
        return;
      }

      const fate: Fate[] = admitted.map((a) => (a.outcome === 'go' ? 'pending' : 'done'));
      admitted.forEach((a, i) => {
        if (a.outcome === 'parked') opts.events.emit('scheduled', { id: ids[i]!, outcome: 'queued', attempt: 0 });
        if (a.outcome === 'duplicate') opts.events.emit('scheduled', { id: ids[i]!, outcome: 'duplicate', attempt: 0 });
      });
      const toSchedule: { index: number; task: NewTask }[] = [];

      // 3. chains: records of one aggregate in offset order; others concurrently
      const chains = new Map<string, number[]>();
      admitted.forEach((a, i) => {
        if (a.outcome !== 'go') return;
        const key = info[i] ? `task:${info[i]!.taskId}` : aggs[i] === null || tooLarge.has(i) ? `rec:${i}` : `agg:${aggs[i]}`;
        let c = chains.get(key);
        if (!c) chains.set(key, (c = []));
        c.push(i);
      });

      let deadLetterFailed: unknown = null;
      const deadLetterTooLarge = async (i: number): Promise<void> => {
        const rec = records[i]!;
        const bytes = recordBytes(rec);
        const task: ClaimedTask = { id: ids[i]!, shard: -1, token: '', attempt: 0, aggregateId: aggs[i]!, firstFailureAt: null, lastError: null, dueAt: 0, doomed: 'too-large', record: rec };
        const detail = `record of ${bytes} bytes is larger than consumer.maxRecordBytes (${opts.maxRecordBytes}); not handled, not stored`;
        try {
          await opts.deadLetter(task, { kind: 'too-large', detail, error: null });
          log.warn({ topic, partition, offset: rec.offset, bytes, limit: opts.maxRecordBytes }, 'record too large to keep for retries: written to the dead-letter topic');
          opts.events.emit('dead', { task, reason: { kind: 'too-large', detail, error: null } });
          fate[i] = 'done';
        } catch (error) {
          deadLetterFailed = error;
        }
      };

      const retriable = (err: unknown) => classify(err, opts.classifier).kind === 'retriable';
      const runChain = async (chain: number[]): Promise<void> => {
        let blocked = false;
        for (const i of chain) {
          if (stopped()) return;
          const rec = records[i]!;
          const rep = info[i];
          if (rep) {
            await runRepublished(rep, ids[i]!, admitted[i]!.token!, i);
            continue;
          }
          if (tooLarge.has(i)) {
            await deadLetterTooLarge(i);
            continue;
          }
          if (blocked) {
            // an earlier record of this aggregate failed in this batch: park behind it
            toSchedule.push({ index: i, task: { id: ids[i]!, aggregateId: aggs[i]!, delayMs: 0, attempt: 0, error: null, record: rec } });
            continue;
          }
          if (badRecord.has(i)) {
            const error = describeError(badRecord.get(i), 2_000);
            log.warn({ topic, partition, offset: rec.offset, err: { class: error.class, message: error.message } }, 'aggregateId/messageId failed on a record; it goes to the dead-letter topic');
            toSchedule.push({ index: i, task: { id: ids[i]!, aggregateId: null, delayMs: 0, attempt: 0, error, record: rec, doom: 'fatal' } });
            continue;
          }
          const { error, attempts } = await runBlocking(opts.handler, rec, { attempt: 1, firstFailureAt: null, lastError: null, taskId: null, signal: new AbortController().signal }, opts.blocking, retriable);
          if (error === undefined) {
            fate[i] = 'done';
            continue;
          }
          blocked = aggs[i] !== null;
          const described = describeError(error, 2_000);
          const decision = decide(opts.policy, {
            attempt: attempts,
            firstFailureAt: 0,
            now: 0,
            previousDelayMs: null,
            error,
            classification: classify(error, opts.classifier),
          });
          toSchedule.push({
            index: i,
            task: {
              id: ids[i]!,
              aggregateId: aggs[i]!,
              delayMs: decision.action === 'retry' ? decision.delayMs : 0,
              attempt: attempts,
              error: described,
              record: rec,
              doom: decision.action === 'dead' ? decision.reason : undefined,
            },
          });
        }
      };

      const runRepublished = async (rep: RepublishedInfo, taskId: string, token: string, i: number): Promise<void> => {
        const task: ClaimedTask = {
          id: taskId,
          shard: rep.shard,
          token,
          attempt: rep.attempt - 1,
          aggregateId: rep.aggregateId,
          firstFailureAt: rep.firstFailureAt,
          lastError: rep.lastError,
          dueAt: 0,
          doomed: null,
          record: rep.original,
        };
        holding.set(`${taskId}#${token}`, task);
        const started = performance.now();
        try {
          await opts.handler(toHandlerRecord(rep.original), {
            attempt: rep.attempt,
            firstFailureAt: rep.firstFailureAt,
            lastError: rep.lastError,
            taskId,
            signal: new AbortController().signal,
          });
          opts.outcomes.succeeded(task, performance.now() - started);
        } catch (error) {
          await opts.outcomes.failed(task, error);
        } finally {
          holding.delete(`${taskId}#${token}`);
        }
        fate[i] = 'done';
      };

      // run the chains, at most `concurrency` at once
      const queue = [...chains.values()];
      await Promise.all(
        Array.from({ length: Math.min(opts.concurrency, queue.length) }, async () => {
          for (let c = queue.shift(); c; c = queue.shift()) await runChain(c);
        }),
      );

      // 4. the failures of the batch in one schedule call (order kept per aggregate)
      if (toSchedule.length > 0) {
        try {
          const out = await opts.store.schedule(toSchedule.map((s) => s.task));
          toSchedule.forEach((s, k) => {
            fate[s.index] = 'done';
            opts.events.emit('scheduled', { id: s.task.id, outcome: out[k]!, attempt: s.task.attempt });
          });
        } catch (error) {
          const first = Math.min(donePrefix(), ...toSchedule.map((s) => s.index));
          resolvePrefix(first);
          rememberDoneAhead(first, fate);
          pauseUntilRedis(topic, partition, msgs[first]!.offset, error);
          return;
        }
      }
      // outcomes of republished records must be in Redis before their offsets move
      if (!(await opts.outcomes.drain(OUTCOME_DEADLINE_MS))) {
        const firstRepublished = info.findIndex((x, i) => x !== null && admitted[i]!.outcome === 'go');
        const upTo = Math.min(donePrefix(), firstRepublished < 0 ? msgs.length : firstRepublished);
        resolvePrefix(upTo);
        if (upTo < msgs.length) {
          rememberDoneAhead(upTo, fate);
          pauseUntilRedis(topic, partition, msgs[upTo]!.offset, new Error('outcomes of republished records could not be written'));
        }
        return;
      }

      // 5. resolve the longest prefix of records that are done
      resolvePrefix(donePrefix());
      if (deadLetterFailed !== null && donePrefix() < msgs.length) {
        // a too-large record's dead letter could not be written: read it again after a pause
        rememberDoneAhead(donePrefix(), fate);
        pauseUntilRedis(topic, partition, msgs[donePrefix()]!.offset, deadLetterFailed, 'dead-letter write of a too-large record failed');
        return;
      }
      await commitOffsetsIfNecessary();

      function donePrefix(): number {
        let n = 0;
        while (n < fate.length && fate[n] === 'done') n++;
        return n;
      }
    } finally {
      clearInterval(beat);
      clearInterval(keepLeases);
      // remembered offsets past this batch (a smaller re-read) stay remembered
      const last = BigInt(msgs.at(-1)!.offset);
      const rest = [...(ahead ?? [])].filter((o) => BigInt(o) > last);
      if (rest.length > 0) {
        const set = doneAhead.get(partKey) ?? new Set<string>();
        for (const o of rest) set.add(o);
        doneAhead.set(partKey, set);
      }
    }

    function resolvePrefix(n: number): void {
      if (n > 0) resolveOffset(msgs[n - 1]!.offset);
    }

    /** Remembers the done records from index `from` on, so the re-read after a pause skips them. */
    function rememberDoneAhead(from: number, fate: readonly Fate[]): void {
      const set = new Set<string>();
      for (let i = from; i < fate.length; i++) if (fate[i] === 'done') set.add(msgs[i]!.offset);
      if (set.size > 0) doneAhead.set(partKey, set);
    }
  };
}

/** Longest message or aggregate id (bytes, UTF-8); a task stores both with 16-bit lengths. */
export const MAX_ID_BYTES = 16 * 1024;

/** An id from the user's functions, checked: a string of 1 to MAX_ID_BYTES bytes. */
function checkedId(id: unknown, fn: 'messageId' | 'aggregateId'): string {
  if (typeof id !== 'string' || id.length === 0) throw new TypeError(`${fn} must return a non-empty string (got ${id === '' ? 'an empty string' : typeof id})`);
  const bytes = Buffer.byteLength(id);
  if (bytes > MAX_ID_BYTES) throw new RangeError(`${fn} returned ${bytes} bytes; at most ${MAX_ID_BYTES} are allowed`);
  return id;
}

/** Bytes a record takes in Redis, near enough: key, value, header names and values. */
export function recordBytes(r: TaskRecord): number {
  let n = (r.key?.length ?? 0) + (r.value?.length ?? 0);
  for (const [name, value] of r.headers) n += Buffer.byteLength(name) + (value?.length ?? 0);
  return n;
}

/** How long a batch waits for its republished records' outcomes to reach Redis before pausing instead. */
const OUTCOME_DEADLINE_MS = 10_000;
