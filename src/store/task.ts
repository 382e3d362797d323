/**
 * The task model shared by the store, the worker and the consumer.
 */
import type { TaskRecord } from './record-codec.js';

/** The last error of a task, as a person reads it. */
export interface TaskError {
  /** Error class name, e.g. "TypeError". */
  class: string;
  message: string;
  /** Trimmed stack, if kept. */
  stack?: string;
}

/** A failed or parked record to be stored as a task. */
export interface NewTask {
  /** The message id: the dedup key. */
  id: string;
  /** Records of one aggregate never overtake each other; null for no ordering. */
  aggregateId: string | null;
  /** Due this long after Redis's now. */
  delayMs: number;
  /** Handler attempts made so far: 1 after a first failure, 0 for a parked record. */
  attempt: number;
  /** First-failure time (Redis ms) if known; omitted: now when attempt > 0. */
  firstFailureAt?: number;
  error: TaskError | null;
  record: TaskRecord;
  /** Dead already (a fatal error in the consumer): dispatch only writes the dead letter. */
  doom?: DeadKind;
}

/** A task claimed by a worker: it holds the lease until ack, retry, kill or release. */
export interface ClaimedTask {
  id: string;
  shard: number;
  /** Fencing token of this claim; outcomes carry it back. */
  token: string;
  /** Attempts made before this one. */
  attempt: number;
  aggregateId: string | null;
  /** First-failure time (Redis ms), or null if it never failed (a parked record). */
  firstFailureAt: number | null;
  lastError: TaskError | null;
  /** The delay the retry policy chose after the last failure (ms), when stored: decorrelated jitter grows from it. */
  previousDelayMs?: number;
  /** The due time it was claimed for (Redis ms): claim time minus this is the lateness. */
  dueAt: number;
  /**
   * Set when the task is dead already and its dispatch must only write the
   * dead letter: a fatal error in the consumer, a predecessor that died under
   * the 'dead-letter' policy, or a dead-letter write that failed.
   */
  doomed: DeadKind | null;
  record: TaskRecord;
  /**
   * A chain's followers: tasks of the same aggregate queued right behind
   * this head, claimed with it under its token, to run in order after it
   * (lua/claim-11.lua). Their dueAt is 0.
   */
  followers?: ClaimedTask[];
}

/** Why a task died. */
export type DeadKind = 'attempts-exhausted' | 'time-budget-exhausted' | 'fatal' | 'predecessor-died' | 'unreadable' | 'killed-by-operator' | 'too-large';

/** What happens to the tasks queued behind a head that dies. */
export type FollowerPolicy = 'release' | 'dead-letter' | 'hold';

/** Per-task results of schedule. */
export type ScheduleOutcome = 'scheduled' | 'queued' | 'duplicate';

/** Per-record results of admit. */
export type AdmitOutcome = 'go' | 'park' | 'duplicate' | 'stale';

/** Per-task results of ack, retry, kill, extend and release. */
export type LeaseOutcome = 'ok' | 'gone' | 'lease-lost';

/** Per-id results of the operator commands. */
export type OperatorOutcome = 'due-now' | 'replayed-queued' | 'doomed' | 'deleted' | 'gone' | 'waiting' | 'in-flight' | 'dead-already' | 'paused' | 'unreadable';

/** A task as an operator sees it. */
export interface TaskView {
  id: string;
  shard: number;
  state: 'due' | 'inflight' | 'waiting' | 'dead' | 'paused' | 'held';
  /** due time, lease deadline or time of death (Redis ms); 0 while waiting. */
  at: number;
  attempt: number;
  aggregateId: string | null;
  firstFailureAt: number | null;
  lastError: TaskError | null;
  doomed: DeadKind | null;
  record: TaskRecord | null;
}

/** Counts of one shard, or summed over shards. */
export interface ShardStats {
  dueNow: number;
  dueLater: number;
  inflight: number;
  /** Tasks waiting behind the head of their aggregate. */
  queued: number;
  /** Aggregates with a head: their fresh records park behind it. */
  blockedAggregates: number;
  dead: number;
  /** Due tasks held back by a topic or error-class pause. */
  paused: number;
  /** Due tasks held back by a dispatch limit, breaker or throttle (docs/dispatch-control.md). */
  held: number;
  /** Age (ms) of the oldest task that is due and not yet claimed; 0 if none. */
  oldestDueAgeMs: number;
}
