/**
 * Typed events: components emit what happened, with durations; metrics and
 * logs listen. No metrics calls inside the logic.
 */
import { EventEmitter } from 'node:events';
import type { ClaimedTask, DeadKind, ScheduleOutcome, TaskError } from './store/task.js';
import type { ControlTransition } from './store/scripts.js';

/** Why a task died. */
export interface DeadReason {
  kind: DeadKind;
  /** A sentence for a person, e.g. "4 of 4 attempts failed". */
  detail: string;
  error: TaskError | null;
}

/** Every event zretry emits, with its payload. */
export interface ZRetryEvents {
  /** Failed or parked records stored (one per record). */
  scheduled: [{ id: string; outcome: ScheduleOutcome; attempt: number }];
  /** A claim call returned tasks; lateness = claim time minus due time, per task. */
  claimed: [{ shard: number; count: number; latenessMs: number[] }];
  succeeded: [{ task: ClaimedTask; durationMs: number }];
  /** A handler call ended, in the consumer or a worker: its record's topic, how long it ran, whether it threw. */
  handled: [{ topic: string; durationMs: number; result: 'success' | 'error' }];
  retried: [{ task: ClaimedTask; delayMs: number; error: TaskError }];
  dead: [{ task: ClaimedTask; reason: DeadReason }];
  /** An outcome was refused because another claim owns the task now. */
  'lease-lost': [{ id: string; shard: number; op: string }];
  /** A failed task went back without counting an attempt: its handler was throttled, or a breaker of its scopes is open. */
  deferred: [{ task: ClaimedTask; reason: 'throttled' | 'breaker-open' | 'breaker-unknown'; delayMs: number }];
  /** A dispatch scope changed state (a breaker opened, probed, closed; a throttle; a ramp ended; an operator's limit). */
  'dispatch-transition': [ControlTransition];
  /** A Redis call failed; the work is kept and tried again. */
  'store-error': [{ op: string; error: unknown }];
}

/** An EventEmitter whose event names and payloads are checked. */
export class TypedEmitter<E extends { [K in keyof E]: unknown[] }> {
  private readonly ee = new EventEmitter();

  on<K extends keyof E & string>(event: K, fn: (...args: E[K]) => void): this {
    this.ee.on(event, fn as (...a: unknown[]) => void);
    return this;
  }

  off<K extends keyof E & string>(event: K, fn: (...args: E[K]) => void): this {
    this.ee.off(event, fn as (...a: unknown[]) => void);
    return this;
  }

  emit<K extends keyof E & string>(event: K, ...args: E[K]): void {
    this.ee.emit(event, ...args);
  }

  /** Whether anyone listens to event: a hot path measures only then. */
  listened<K extends keyof E & string>(event: K): boolean {
    return this.ee.listenerCount(event) > 0;
  }
}

/** The emitter type components share. */
export type ZRetryEmitter = TypedEmitter<ZRetryEvents>;
