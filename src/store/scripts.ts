/**
 * The only module that builds KEYS/ARGV for the Lua scripts and decodes their
 * replies. The rest of zretry calls the typed store API (store.ts).
 */
import type { Result } from 'ioredis';
import { PayloadError, StoreError } from '../errors.js';
import { nodeForKey, type RedisClient } from './client.js';
import { loadScripts } from './lua-loader.js';
import { decodeRecord, encodeRecord, type TaskRecord } from './record-codec.js';
import { decodeTaskValue } from './task-value.js';
import type {
  AdmitOutcome,
  ClaimedTask,
  DeadKind,
  FollowerPolicy,
  LeaseOutcome,
  NewTask,
  ScheduleOutcome,
  OperatorOutcome,
  ShardStats,
  TaskError,
  TaskView,
} from './task.js';

type Arg = string | Buffer | number;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    zrSchedule(...args: Arg[]): Result<number[], Context>;
    zrAdmit(...args: Arg[]): Result<Array<[number, number]>, Context>;
    zrClaimBuffer(...args: Arg[]): Result<unknown[], Context>;
    zrAck(...args: Arg[]): Result<number[], Context>;
    zrRetry(...args: Arg[]): Result<number[], Context>;
    zrKill(...args: Arg[]): Result<number[], Context>;
    zrExtend(...args: Arg[]): Result<number[], Context>;
    zrRelease(...args: Arg[]): Result<number[], Context>;
    zrReap(...args: Arg[]): Result<number, Context>;
    zrStats(...args: Arg[]): Result<number[], Context>;
    zrRequeue(...args: Arg[]): Result<number[], Context>;
    zrDoom(...args: Arg[]): Result<number[], Context>;
    zrSkip(...args: Arg[]): Result<number[], Context>;
    zrUnhold(...args: Arg[]): Result<number[], Context>;
    zrListBuffer(...args: Arg[]): Result<unknown[], Context>;
    zrGetBuffer(...args: Arg[]): Result<unknown[], Context>;
    zrPause(...args: Arg[]): Result<number, Context>;
    zrResume(...args: Arg[]): Result<[number, number], Context>;
    zrShift(...args: Arg[]): Result<number, Context>;
  }
}

const COMMAND_NAME: Record<string, string> = {};

/** Defines every script of lua/ on a client (EVALSHA with NOSCRIPT fallback). Idempotent. */
export function defineScripts(redis: RedisClient): void {
  const r = redis as RedisClient & { __zretryScripts?: true };
  if (r.__zretryScripts) return;
  for (const s of loadScripts()) {
    const name = `zr${s.name.replace(/(^|-)([a-z])/g, (_m, _d, c: string) => c.toUpperCase())}`;
    COMMAND_NAME[s.name] = name;
    redis.defineCommand(name, { numberOfKeys: s.numberOfKeys, lua: s.lua });
  }
  r.__zretryScripts = true;
}

/** A claimed task whose record could not be decoded. */
export interface CorruptClaim {
  id: string;
  token: string;
  reason: string;
}

/** What one claim call returns. */
export interface ClaimReply {
  /** Redis's time at the claim (ms). */
  now: number;
  /** When the shard next needs attention (next due time or lease deadline), or null if idle. */
  next: number | null;
  reaped: number;
  tasks: ClaimedTask[];
  /** Claimed tasks whose record bytes are unreadable: the caller must kill them. */
  unreadable: CorruptClaim[];
  /** Ids whose task value was unreadable; the script moved them to the dead set. */
  corruptMeta: string[];
}

const SCHEDULE_CODES: Record<number, ScheduleOutcome> = { 1: 'scheduled', 2: 'queued', 0: 'duplicate' };
const ADMIT_CODES: Record<number, AdmitOutcome> = { 1: 'go', 2: 'parked', 0: 'duplicate', 3: 'stale' };
const OPERATOR_CODES: Record<number, OperatorOutcome> = {
  1: 'due-now',
  2: 'replayed-queued',
  [-1]: 'gone',
  [-3]: 'waiting',
  [-4]: 'in-flight',
  [-5]: 'dead-already',
  [-6]: 'paused',
  [-7]: 'unreadable',
};
const LEASE_CODES: Record<number, LeaseOutcome> = { 1: 'ok', [-1]: 'gone', [-2]: 'lease-lost' };

/** Maps a script's numeric codes to names; an unknown code is a bug worth a loud error. */
function decodeCodes<T>(script: string, codes: number[], table: Record<number, T>): T[] {
  return codes.map((c) => {
    const v = table[c];
    if (v === undefined) throw new Error(`zretry: script ${script} returned unknown code ${c}`);
    return v;
  });
}

/** Serializes a task error for the err field of a task value (lua/includes/task.lua). */
export function encodeError(e: TaskError | null): string {
  return e === null ? '' : JSON.stringify(e.stack === undefined ? [e.class, e.message] : [e.class, e.message, e.stack]);
}

/** Reads a stored task error; unreadable text becomes a readable error, never a throw. */
export function decodeError(s: string): TaskError | null {
  if (s === '') return null;
  try {
    const [cls, message, stack] = JSON.parse(s) as [string, string, string?];
    return stack === undefined ? { class: String(cls), message: String(message) } : { class: String(cls), message: String(message), stack };
  } catch {
    return { class: 'Unknown', message: s };
  }
}

/** Replicas a write must reach (Redis WAIT) before the call resolves. */
export interface WaitReplicas {
  replicas: number;
  timeoutMs: number;
}

/** Typed calls on the scripts of one shard. */
export class ShardScripts {
  constructor(
    private readonly redis: RedisClient,
    readonly shard: number,
    private readonly keys: string[],
    /** The shard's wake channel, in its slot (SPUBLISH inside a script needs that on a cluster). */
    private readonly channel: string,
    /** Set: schedule and admit wait for this many replicas (WAIT on the same connection, so the same master). */
    private readonly wait: WaitReplicas | null = null,
  ) {}

  /**
   * Runs a write script, then, when replicas are asked for, WAIT on the
   * connection that ran it: on a cluster the connection of the shard's
   * master (after a MOVED, ioredis has already put the new master in its
   * slot table), so WAIT counts the replicas of the master that took the
   * write. Not one pipeline: a pipeline answered MOVED for the script but
   * not for WAIT is not redirected by ioredis.
   */
  private async replicated<T>(script: 'zrSchedule' | 'zrAdmit', args: Arg[]): Promise<T> {
    const reply = (await this.redis[script](...args)) as T;
    if (!this.wait) return reply;
    const { replicas, timeoutMs } = this.wait;
    const acked = await nodeForKey(this.redis, this.keys[0]!).wait(replicas, timeoutMs);
    if (acked < replicas) {
      throw new StoreError(
        `only ${acked} of ${replicas} replicas confirmed the write of shard ${this.shard} within ${timeoutMs} ms (store.waitReplicas); it is tried again`,
        script,
        this.shard,
        { retriable: true },
      );
    }
    return reply;
  }

  async schedule(tasks: readonly NewTask[]): Promise<ScheduleOutcome[]> {
    const args: Arg[] = [...this.keys, this.channel, tasks.length];
    for (const t of tasks) {
      args.push(t.id, t.aggregateId ?? '', Math.max(0, Math.round(t.delayMs)), t.attempt, t.firstFailureAt ?? 0, encodeError(t.error), encodeRecord(t.record), t.doom ?? '');
    }
    return decodeCodes('schedule', await this.replicated<number[]>('zrSchedule', args), SCHEDULE_CODES);
  }

  /**
   * entries: fresh records (with their bytes) or republished ones (task id
   * and delivery attempt). A republished record that may run gets a lease of
   * leaseMs and the token its outcome must carry.
   */
  async admit(entries: ReadonlyArray<AdmitEntry>, leaseMs: number): Promise<AdmitResult[]> {
    const args: Arg[] = [...this.keys, this.channel, Math.round(leaseMs), entries.length];
    for (const e of entries) {
      if (e.kind === 'fresh') args.push('f', e.id, e.aggregateId ?? '', encodeRecord(e.record));
      else args.push('r', e.taskId, e.attempt, '');
    }
    const rows = await this.replicated<Array<[number, number]>>('zrAdmit', args);
    const outcomes = decodeCodes('admit', rows.map(([code]) => code), ADMIT_CODES);
    return outcomes.map((outcome, i) => (rows[i]![1] > 0 ? { outcome, token: String(rows[i]![1]) } : { outcome }));
  }

  async claim(n: number, leaseMs: number, reapLimit: number): Promise<ClaimReply> {
    const reply = await this.redis.zrClaimBuffer(...this.keys, n, Math.round(leaseMs), reapLimit);
    const [now, next, reaped, corruptMeta, claimed] = reply as [number, number, number, Buffer[], Buffer];
    const out: ClaimReply = {
      now,
      next: next < 0 ? null : next,
      reaped,
      tasks: [],
      unreadable: [],
      corruptMeta: corruptMeta.map(String),
    };
    // claimed: per task an I2 id length, the id, an I6 due time, an I4 value length, the value (lua/claim-10.lua)
    for (let at = 0; at < claimed.length; ) {
      const idLen = claimed.readUInt16BE(at);
      const idS = claimed.toString('utf8', at + 2, (at += 2 + idLen));
      const dueAt = claimed.readUIntBE(at, 6);
      const valueLen = claimed.readUInt32BE(at + 6);
      const value = claimed.subarray(at + 10, (at += 10 + valueLen));
      let token = '';
      try {
        const v = decodeTaskValue(value);
        token = String(v.token);
        out.tasks.push({
          id: idS,
          shard: this.shard,
          token,
          attempt: v.attempt,
          aggregateId: v.aggregateId === '' ? null : v.aggregateId,
          firstFailureAt: v.firstFailureAt === 0 ? null : v.firstFailureAt,
          lastError: decodeError(v.error),
          dueAt,
          doomed: v.doom === '' ? null : (v.doom as DeadKind),
          record: decodeRecord(v.record),
        });
      } catch (e) {
        const reason = e instanceof PayloadError ? e.message : String(e);
        out.unreadable.push({ id: idS, token, reason });
      }
    }
    return out;
  }

  async ack(leases: ReadonlyArray<{ id: string; token: string }>): Promise<LeaseOutcome[]> {
    const args: Arg[] = [...this.keys, this.channel, leases.length];
    for (const l of leases) args.push(l.id, l.token);
    return decodeCodes('ack', await this.redis.zrAck(...args), LEASE_CODES);
  }

  /** doom: the task is dead but its dead-letter write failed; write it later without running the handler. */
  async retry(items: ReadonlyArray<{ id: string; token: string; delayMs: number; error: TaskError | null; doom?: DeadKind }>): Promise<LeaseOutcome[]> {
    const args: Arg[] = [...this.keys, this.channel, items.length];
    for (const i of items) args.push(i.id, i.token, Math.max(0, Math.round(i.delayMs)), encodeError(i.error), i.doom ?? '');
    return decodeCodes('retry', await this.redis.zrRetry(...args), LEASE_CODES);
  }

  async kill(
    items: ReadonlyArray<{ id: string; token: string; error: TaskError | null }>,
    policy: FollowerPolicy,
    keepDead: boolean,
  ): Promise<LeaseOutcome[]> {
    const args: Arg[] = [...this.keys, this.channel, policy, keepDead ? 1 : 0, items.length];
    for (const i of items) args.push(i.id, i.token, encodeError(i.error));
    return decodeCodes('kill', await this.redis.zrKill(...args), LEASE_CODES);
  }

  async extend(leases: ReadonlyArray<{ id: string; token: string }>, leaseMs: number): Promise<LeaseOutcome[]> {
    const args: Arg[] = [...this.keys, Math.round(leaseMs), leases.length];
    for (const l of leases) args.push(l.id, l.token);
    return decodeCodes('extend', await this.redis.zrExtend(...args), LEASE_CODES);
  }

  async release(leases: ReadonlyArray<{ id: string; token: string }>): Promise<LeaseOutcome[]> {
    const args: Arg[] = [...this.keys, this.channel, leases.length];
    for (const l of leases) args.push(l.id, l.token);
    return decodeCodes('release', await this.redis.zrRelease(...args), LEASE_CODES);
  }

  /** retry-now for due tasks, replay for dead ones. */
  async requeue(ids: readonly string[]): Promise<OperatorOutcome[]> {
    return decodeCodes('requeue', await this.redis.zrRequeue(...this.keys, this.channel, ids.length, ...ids), OPERATOR_CODES);
  }

  /** Operator kill: the tasks go to the dead-letter topic through a worker. */
  async doom(ids: readonly string[]): Promise<OperatorOutcome[]> {
    const codes = await this.redis.zrDoom(...this.keys, this.channel, ids.length, ...ids);
    return decodeCodes('doom', codes, { ...OPERATOR_CODES, 1: 'doomed' });
  }

  /** Operator skip: delete without running or dead-lettering. */
  async skip(ids: readonly string[]): Promise<OperatorOutcome[]> {
    const codes = await this.redis.zrSkip(...this.keys, this.channel, ids.length, ...ids);
    return decodeCodes('skip', codes, { ...OPERATOR_CODES, 1: 'deleted' });
  }

  /** Releases held aggregates: 'released', 'freed' (nothing waited), 'not-held'. */
  async unhold(aggregates: readonly string[]): Promise<Array<'released' | 'freed' | 'not-held'>> {
    const codes = await this.redis.zrUnhold(...this.keys, this.channel, aggregates.length, ...aggregates);
    return decodeCodes('unhold', codes, { 1: 'released' as const, 2: 'freed' as const, 0: 'not-held' as const });
  }

  /** One page of a state's tasks; total is the size of that state's set. */
  async list(state: TaskView['state'], offset: number, count: number): Promise<{ total: number; tasks: TaskView[] }> {
    const [total, ...rows] = (await this.redis.zrListBuffer(...this.keys, state, offset, count)) as [number, ...unknown[][]];
    return { total, tasks: rows.map((row) => this.view(row)) };
  }

  /** Tasks by id; null where the id is not on this shard. */
  async get(ids: readonly string[]): Promise<Array<TaskView | null>> {
    const rows = (await this.redis.zrGetBuffer(...this.keys, ...ids)) as Array<unknown[] | null>;
    return rows.map((row) => (row ? this.view(row) : null));
  }

  private view(row: unknown[]): TaskView {
    const [id, at, attempt, state, agg, first, err, , doom, rec] = row as [Buffer, number, number, Buffer, Buffer, number, Buffer, number, Buffer, Buffer];
    let record: TaskRecord | null = null;
    try {
      record = decodeRecord(rec);
    } catch {
      // shown as unreadable; the worker dead-letters such tasks when it claims them
    }
    return {
      id: id.toString(),
      shard: this.shard,
      state: state.toString() as TaskView['state'],
      at,
      attempt,
      aggregateId: agg.length === 0 ? null : agg.toString(),
      firstFailureAt: first === 0 ? null : first,
      lastError: decodeError(err.toString()),
      doomed: doom.length === 0 ? null : (doom.toString() as DeadKind),
      record,
    };
  }

  async reap(limit: number): Promise<number> {
    return this.redis.zrReap(...this.keys, limit);
  }

  async stats(): Promise<ShardStats & { now: number; pauses: string[] }> {
    const [now, dueNow, dueLater, inflight, queued, aggs, dead, oldest, paused, pauses] = (await this.redis.zrStats(...this.keys)) as unknown as [
      number, number, number, number, number, number, number, number, number, string[],
    ];
    return {
      now,
      dueNow,
      dueLater,
      inflight,
      queued,
      blockedAggregates: aggs,
      dead,
      paused,
      oldestDueAgeMs: oldest < 0 ? 0 : Math.max(0, now - oldest),
      pauses,
    };
  }

  /** Pauses dispatch: 'all', 'topic:<t>' or 'error:<class>'. True if it was not on already. */
  async pause(what: string): Promise<boolean> {
    return (await this.redis.zrPause(...this.keys, what)) === 1;
  }

  /** Lifts a pause ('' to only continue) and moves up to limit held tasks back, from offset. */
  async resume(what: string, offset: number, limit: number): Promise<{ moved: number; next: number }> {
    const [moved, next] = await this.redis.zrResume(...this.keys, this.channel, what, offset, limit);
    return { moved, next };
  }

  /** One step of a shift: phase 'out' pushes due times back by deltaMs into the shifting set, 'in' moves them back. */
  async shift(phase: 'out' | 'in', deltaMs: number, limit: number): Promise<number> {
    return this.redis.zrShift(...this.keys, phase, Math.round(deltaMs), limit);
  }
}

/** A record offered to admit. */
export type AdmitEntry =
  | { kind: 'fresh'; id: string; aggregateId: string | null; record: import('./record-codec.js').TaskRecord }
  | { kind: 'republished'; taskId: string; attempt: number };

/** What admit says of a record; token: the fencing token of a republished record that may run. */
export interface AdmitResult {
  outcome: AdmitOutcome;
  token?: string;
}
