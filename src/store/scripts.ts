/**
 * The only module that builds KEYS/ARGV for the Lua scripts and decodes their
 * replies. The rest of zretry calls the typed store API (store.ts).
 */
import type { Result } from 'ioredis';
import { PayloadError, StoreError } from '../errors.js';
import { nodeForKey, type RedisClient } from './client.js';
import { loadScripts } from './lua-loader.js';
import { decodeRecord, recordSize, writeRecord, type TaskRecord } from './record-codec.js';
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
    zrAdmitBuffer(...args: Arg[]): Result<[Buffer, Array<[number, number]>], Context>;
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
    zrResume(...args: Arg[]): Result<[number, string, string], Context>;
    zrShift(...args: Arg[]): Result<[number, string], Context>;
    zrGrant(...args: Arg[]): Result<[number, Array<string | number>, number, number, string[], string[], Array<string | number>], Context>;
    zrControl(...args: Arg[]): Result<unknown, Context>;
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
  /** now is the worker's own estimate (dispatch control answered without asking Redis): not a clock reading to learn from. */
  estimated?: boolean;
  /** When the shard next needs attention (next due time or lease deadline), or null if idle. */
  next: number | null;
  reaped: number;
  tasks: ClaimedTask[];
  /** Claimed tasks whose record bytes are unreadable: the caller must kill them. */
  unreadable: CorruptClaim[];
  /** Ids whose task value was unreadable; the script moved them to the dead set. */
  corruptMeta: string[];
  /** Per limited scope given to the claim: how many of its tokens were used. */
  used: Map<string, number>;
  /** Tasks in the shard's held set after the claim (a dispatch limit holds them back). */
  held: number;
  /** Scopes whose tasks the shard held when the claim began: the limited ones given that hold some, and up to 16 others looked at in turn. */
  heldScopes: string[];
  /** The last held scope looked at in turn: pass it to the shard's next claim, so every held scope is reached. */
  heldCursor: string;
  /** Held scopes were left out of this turn (the next claim goes on from heldCursor). */
  heldMore: boolean;
}

const SCHEDULE_CODES: Record<number, ScheduleOutcome> = { 1: 'scheduled', 2: 'queued', 0: 'duplicate' };
/** admit-11.lua's one byte per fresh record, to shared verdicts (a batch holds thousands). */
const FRESH_VERDICTS: Record<number, AdmitResult> = {
  0x67 /* g */: Object.freeze({ outcome: 'go' }),
  0x70 /* p */: Object.freeze({ outcome: 'park' }),
  0x64 /* d */: Object.freeze({ outcome: 'duplicate' }),
};
const REPUBLISHED_CODES: Record<number, AdmitOutcome> = { 1: 'go', 3: 'stale' };
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

/** One code, as decodeCodes. */
function decodeCode<T>(script: string, code: number, table: Record<number, T>): T {
  const v = table[code];
  if (v === undefined) throw new Error(`zretry: script ${script} returned unknown code ${code}`);
  return v;
}

/**
 * Buffer's own UTF-8 writer, without write()'s argument checks: that
 * wrapper cost four times the copy in the consumer's profile.
 */
const utf8Write: (buf: Buffer, s: string, at: number) => number =
  typeof (Buffer.prototype as unknown as { utf8Write?: unknown }).utf8Write === 'function'
    ? (buf, s, at) => (buf as unknown as { utf8Write(s: string, at: number): number }).utf8Write(s, at)
    : (buf, s, at) => buf.write(s, at, 'utf8');

/** Writes an I2 length and the string's UTF-8 bytes at `at` (ids are at most 16 KiB: checked by the consumer). */
function packString(buf: Buffer, at: number, s: string): number {
  const len = s.length === 0 ? 0 : utf8Write(buf, s, at + 2);
  buf[at] = len >>> 8;
  buf[at + 1] = len & 0xff;
  return at + 2 + len;
}

/** Writes an I4 length and the string's UTF-8 bytes at `at`. */
function packLong(buf: Buffer, at: number, s: string): number {
  const len = s.length === 0 ? 0 : utf8Write(buf, s, at + 4);
  buf.writeUInt32BE(len, at);
  return at + 4 + len;
}

/**
 * Serializes a task's last failure for the err field of its value
 * (lua/includes/task.lua): JSON [class, message, stack?], or, with the
 * delay the retry policy chose after it, [class, message, stack or null,
 * delayMs]. The scripts read only the class (dispatch pauses).
 */
export function encodeError(e: TaskError | null, delayMs?: number): string {
  if (e === null) return '';
  if (delayMs !== undefined) return JSON.stringify([e.class, e.message, e.stack ?? null, Math.max(0, Math.round(delayMs))]);
  return JSON.stringify(e.stack === undefined ? [e.class, e.message] : [e.class, e.message, e.stack]);
}

/** Reads a stored last failure; unreadable text becomes a readable error, never a throw. */
export function decodeFailure(s: string): { error: TaskError | null; delayMs: number | null } {
  if (s === '') return { error: null, delayMs: null };
  try {
    const [cls, message, stack, delayMs] = JSON.parse(s) as [string, string, string | null | undefined, number | undefined];
    const error: TaskError = { class: String(cls), message: String(message) };
    if (typeof stack === 'string') error.stack = stack;
    return { error, delayMs: typeof delayMs === 'number' && delayMs >= 0 ? delayMs : null };
  } catch {
    return { error: { class: 'Unknown', message: s }, delayMs: null };
  }
}

/** Reads a stored task error (see decodeFailure). */
export function decodeError(s: string): TaskError | null {
  return decodeFailure(s).error;
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
    /** Set: schedule waits for this many replicas (WAIT on the same connection, so the same master); admit writes no task. */
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
  private async replicated<T>(script: 'zrSchedule', args: Arg[]): Promise<T> {
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
    // packed into one argument, the record encoded in place (lua/schedule-11.lua): ioredis's cost is per argument
    const errs = tasks.map((t) => encodeError(t.error, Math.max(0, Math.round(t.delayMs))));
    let bytes = 0;
    tasks.forEach((t, i) => {
      bytes += 2 + 2 + 4 + 4 + 6 + 4 + 4 + 2 + (t.id.length + (t.aggregateId?.length ?? 0) + errs[i]!.length + (t.doom?.length ?? 0)) * 3 + recordSize(t.record);
    });
    const packed = Buffer.allocUnsafe(bytes);
    let at = 0;
    tasks.forEach((t, i) => {
      at = packString(packed, at, t.id);
      at = packString(packed, at, t.aggregateId ?? '');
      at = packed.writeUInt32BE(Math.max(0, Math.round(t.delayMs)), at);
      at = packed.writeUInt32BE(t.attempt, at);
      at = packed.writeUIntBE(t.firstFailureAt ?? 0, at, 6);
      at = packLong(packed, at, errs[i]!);
      const recAt = at + 4;
      at = writeRecord(t.record, packed, recAt);
      packed.writeUInt32BE(at - recAt, recAt - 4);
      at = packString(packed, at, t.doom ?? '');
    });
    return decodeCodes('schedule', await this.replicated<number[]>('zrSchedule', [...this.keys, this.channel, packed.subarray(0, at)]), SCHEDULE_CODES);
  }

  /**
   * Judges records of a batch (`index` into its columns): fresh ones by
   * message id and aggregate only (their bytes stay here; a record that
   * must park is stored later by schedule), republished ones by task id and
   * delivery attempt. A republished record that may run gets a lease of
   * leaseMs and the token its outcome must carry. Results come in the order
   * of index; those of fresh records are shared objects: never change them.
   */
  async admit(batch: AdmitBatch, index: readonly number[], leaseMs: number): Promise<AdmitResult[]> {
    const fresh: number[] = [];
    const isCopy = new Uint8Array(index.length);
    const republished: Arg[] = [];
    let bytes = 0;
    const { ids, aggs, origin } = batch;
    for (let k = 0; k < index.length; k++) {
      const i = index[k]!;
      const copy = batch.copyOf(i);
      if (copy) {
        isCopy[k] = 1;
        republished.push(copy.taskId, copy.attempt);
        continue;
      }
      fresh.push(i);
      bytes += 6 + (ids[i]!.length + (aggs[i]?.length ?? 0)) * 3 + (origin?.offsets[i]!.length ?? 0);
    }
    // the fresh records packed into one argument: ioredis's cost is per argument
    const packed = Buffer.allocUnsafe(bytes);
    let at = 0;
    for (const i of fresh) {
      at = packString(packed, at, ids[i]!);
      at = packString(packed, at, aggs[i] ?? '');
      at = packString(packed, at, origin?.offsets[i] ?? '');
    }
    const [codes, tokens] = await this.redis.zrAdmitBuffer(
      ...this.keys,
      Math.round(leaseMs),
      packed.subarray(0, at),
      republished.length / 2,
      origin?.topic ?? '',
      origin?.partition ?? -1,
      ...republished,
    );
    if (codes.length !== fresh.length) throw new Error(`zretry: script admit returned ${codes.length} verdicts for ${fresh.length} records`);
    const out = new Array<AdmitResult>(index.length);
    let f = 0;
    let c = 0;
    for (let k = 0; k < index.length; k++) {
      if (isCopy[k] === 0) {
        out[k] = decodeCode('admit', codes[f++]!, FRESH_VERDICTS);
        continue;
      }
      const [code, token] = tokens[c++]!;
      const outcome = decodeCode('admit', code, REPUBLISHED_CODES);
      out[k] = token > 0 ? { outcome, token: String(token) } : { outcome };
    }
    return out;
  }

  /**
   * Claims up to n heads; each head of an aggregate takes up to `chain`
   * followers along (at most `chainBudget` in all), returned as its
   * `followers`, under the head's token.
   */
  async claim(n: number, leaseMs: number, reapLimit: number, chain = 0, chainBudget = 0, allowances?: ReadonlyMap<string, number>, heldCursor = ''): Promise<ClaimReply> {
    const args: Arg[] = [...this.keys, n, Math.round(leaseMs), reapLimit, chain, chainBudget];
    const scopes = allowances ? [...allowances.keys()] : [];
    // allowances given (even none): a claim under a grant of this round, which may release held tasks
    if (allowances) {
      args.push(scopes.length);
      for (const [scope, a] of allowances) args.push(scope, a);
      args.push(heldCursor);
    }
    const reply = await this.redis.zrClaimBuffer(...args);
    const [now, next, reaped, corruptMeta, claimed, used, held, heldScopes, cursor, more] = reply as [number, number, number, Buffer[], Buffer, number[], number, Buffer[], Buffer, number];
    const out: ClaimReply = {
      now,
      next: next < 0 ? null : next,
      reaped,
      tasks: [],
      unreadable: [],
      corruptMeta: corruptMeta.map(String),
      used: new Map(scopes.map((s, i) => [s, used[i] ?? 0])),
      held,
      heldScopes: heldScopes.map(String),
      heldCursor: String(cursor),
      heldMore: more === 1,
    };
    // claimed: per task an I2 id length, the id, an I6 due time, an I2 count of the followers
    // right after it, an I4 value length, the value (lua/claim-11.lua)
    let head: ClaimedTask | null = null;
    let followersLeft = 0;
    for (let at = 0; at < claimed.length; ) {
      const idLen = claimed.readUInt16BE(at);
      const idS = claimed.toString('utf8', at + 2, (at += 2 + idLen));
      const dueAt = claimed.readUIntBE(at, 6);
      const followers = claimed.readUInt16BE(at + 6);
      const valueLen = claimed.readUInt32BE(at + 8);
      const value = claimed.subarray(at + 12, (at += 12 + valueLen));
      const task = this.claimedTask(idS, dueAt, value);
      if (followersLeft > 0) {
        followersLeft--;
        // an unreadable follower ends its chain there: it and the rest stay waiting (their 'c' mark goes stale)
        if (head && 'record' in task) head.followers!.push(task);
        else head = null;
        continue;
      }
      if ('record' in task) {
        if (followers > 0) task.followers = [];
        out.tasks.push(task);
        head = task;
      } else {
        out.unreadable.push(task);
        head = null;
      }
      followersLeft = followers;
    }
    return out;
  }

  private claimedTask(id: string, dueAt: number, value: Buffer): ClaimedTask | CorruptClaim {
    let token = '';
    try {
      const v = decodeTaskValue(value);
      token = String(v.token);
      const failure = decodeFailure(v.error);
      return {
        id,
        shard: this.shard,
        token,
        attempt: v.attempt,
        aggregateId: v.aggregateId === '' ? null : v.aggregateId,
        firstFailureAt: v.firstFailureAt === 0 ? null : v.firstFailureAt,
        lastError: failure.error,
        ...(failure.delayMs === null ? {} : { previousDelayMs: failure.delayMs }),
        dueAt,
        doomed: v.doom === '' ? null : (v.doom as DeadKind),
        record: decodeRecord(v.record),
      };
    } catch (e) {
      return { id, token, reason: e instanceof PayloadError ? e.message : String(e) };
    }
  }


  /**
   * Acks claimed tasks; an item with followers or a tail acks a chain's
   * successful prefix and says what becomes of the follower that failed
   * (lua/ack-11.lua). leaseMs: the lease of a follower handed over.
   */
  async ack(items: ReadonlyArray<AckItem>, leaseMs = 0): Promise<AckResult[]> {
    const args: Arg[] = [...this.keys, this.channel, Math.round(leaseMs), items.length];
    for (const it of items) {
      args.push(it.id, it.token, it.followers?.length ?? 0);
      if (it.followers) args.push(...it.followers);
      const tail = it.tail;
      if (!tail) args.push('');
      else if (tail.kind === 'retry') args.push(tail.keepAttempt ? 'k' : 'r', tail.id, Math.max(0, Math.round(tail.delayMs)), encodeError(tail.error));
      else args.push('h', tail.id);
    }
    const flat = await this.redis.zrAck(...args);
    return items.map((_, i) => ({
      outcome: decodeCode('ack', flat[i * 3]!, LEASE_CODES),
      acked: flat[i * 3 + 1]!,
      tailApplied: flat[i * 3 + 2] === 1,
    }));
  }

  /** doom: the task is dead but its dead-letter write failed; write it later without running the handler. */
  /** keepAttempt: the attempt does not count (throttled, or failed while its breaker is open). */
  async retry(items: ReadonlyArray<{ id: string; token: string; delayMs: number; error: TaskError | null; doom?: DeadKind; keepAttempt?: boolean }>): Promise<LeaseOutcome[]> {
    const args: Arg[] = [...this.keys, this.channel, items.length];
    for (const i of items) {
      const delayMs = Math.max(0, Math.round(i.delayMs));
      args.push(i.id, i.token, delayMs, encodeError(i.error, delayMs), i.doom ?? '', i.keepAttempt ? '1' : '');
    }
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
    const [now, dueNow, dueLater, inflight, queued, aggs, dead, oldest, paused, pauses, held] = (await this.redis.zrStats(...this.keys)) as unknown as [
      number, number, number, number, number, number, number, number, number, string[], number,
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
      held,
      oldestDueAgeMs: oldest < 0 ? 0 : Math.max(0, now - oldest),
      pauses,
    };
  }

  /** Pauses dispatch: 'all', 'topic:<t>' or 'error:<class>'. True if it was not on already. */
  async pause(what: string): Promise<boolean> {
    return (await this.redis.zrPause(...this.keys, what)) === 1;
  }

  /**
   * One step of a resume: lifts a pause ('' to only continue) and looks at
   * up to limit held tasks, just after the one the step before ended on
   * (null: from the start). next is where the following step goes on, null
   * when the paused set has been gone through.
   */
  async resume(what: string, after: PausedCursor | null, limit: number): Promise<{ moved: number; next: PausedCursor | null }> {
    const [moved, score, id] = await this.redis.zrResume(...this.keys, this.channel, what, after?.score ?? '', after?.id ?? '', limit);
    return { moved, next: score === '' ? null : { score, id } };
  }

  /**
   * One step of a shift: pushes back by deltaMs (a whole number > 0) the due
   * times of up to limit tasks due at or before cursor ('+inf' for the first
   * step), latest first. next is the following step's cursor, null when done.
   */
  async shift(deltaMs: number, cursor: string, limit: number): Promise<{ moved: number; next: string | null }> {
    const [moved, next] = await this.redis.zrShift(...this.keys, deltaMs, cursor, limit);
    return { moved, next: next === '' ? null : next };
  }
}

/** Where a walk through the paused set goes on: the score (as Redis wrote it) and id of the last task it looked at. */
export interface PausedCursor {
  score: string;
  id: string;
}

/** A record offered to admit: a fresh one by its ids, a republished one by its task and attempt. */
export type AdmitEntry = { kind: 'fresh'; id: string; aggregateId: string | null } | { kind: 'republished'; taskId: string; attempt: number };

/**
 * Records offered to admit in columns, as the consumer holds a batch:
 * record i is a republished copy when copyOf(i) says so, else fresh with
 * ids[i] and aggs[i]. origin: the batch's topic, partition and offsets
 * (null when unknown: then a re-read is told only by its id).
 */
export interface AdmitBatch {
  ids: readonly string[];
  aggs: readonly (string | null)[];
  copyOf(i: number): { taskId: string; attempt: number } | undefined;
  origin: { topic: string; partition: number; offsets: readonly string[] } | null;
}

/** One ack: a claimed task, or a chain's head with the followers that succeeded and what becomes of the one that failed. */
export interface AckItem {
  id: string;
  token: string;
  /** Followers that succeeded, in chain order. */
  followers?: readonly string[];
  /** The follower that failed right after them: due again after delayMs, or handed over (in flight under this token). */
  /** keepAttempt: the follower's failure does not count (throttled, or its breaker is open). */
  tail?: { kind: 'retry'; id: string; delayMs: number; error: TaskError; keepAttempt?: boolean } | { kind: 'handover'; id: string };
}

/** What became of one ack item. */
export interface AckResult {
  outcome: LeaseOutcome;
  /** Followers acked (the chain stops at the first that is no longer its). */
  acked: number;
  tailApplied: boolean;
}

/** What admit says of a record; token: the fencing token of a republished record that may run. */
export interface AdmitResult {
  outcome: AdmitOutcome;
  token?: string;
}

/** The breaker's and ramp's settings, as grant-4.lua takes them. */
export interface BreakerArgs {
  enabled: boolean;
  failureRate: number;
  minAttempts: number;
  windowMs: number;
  probeIntervalMs: number;
  rampStartRate: number;
  rampDoublingMs: number;
  rampEndRate: number;
}

/** What one worker tells the control slot at a grant. */
export interface ControlReport {
  /** Per scope: dispatched tasks that succeeded and that failed; probeOk: of the successes, probes (only a probe's success closes an open breaker). */
  outcomes: ReadonlyMap<string, { ok: number; fail: number; probeOk?: number }>;
  /** Per scope: tokens granted before and not used. */
  refunds: ReadonlyMap<string, number>;
  /** Per scope: the longest wait a throttled handler asked for (ms). */
  throttles: ReadonlyMap<string, number>;
}

/** What a grant answers. */
export interface GrantReply {
  now: number;
  /** Tokens granted per limited scope ('all' caps the claim). */
  grants: Map<string, number>;
  /** When the namespace-wide limit has tokens again; null: no such limit, or it had tokens. */
  nextAll: number | null;
  /** The earliest time another scope without tokens now gets some; null: none. */
  nextAny: number | null;
  /** Every scope under control and its mode. */
  states: Map<string, ScopeMode>;
  /** JSON lines of the transitions this call made. */
  transitions: ControlTransition[];
  /** When each limited scope but 'all' has a token next (Redis ms; now if it has one; null: never, forced open). */
  nexts: Map<string, number | null>;
}

/** How a scope is controlled now. */
export type ScopeMode = 'limit' | 'concurrency' | 'open' | 'forced-open' | 'ramp' | 'throttle';

/** One change of a scope's state, as logged. */
export interface ControlTransition {
  at: number;
  scope: string;
  to: 'opened' | 'closed' | 'probe' | 'throttled' | 'ramp-ended' | 'limit-set' | 'limit-cleared';
  [detail: string]: unknown;
}

/** The control state of a namespace, for stats. */
export interface ControlView {
  now: number;
  /** Per scope: a rate with its burst, and a concurrency (null where not set). */
  limits: Array<{ scope: string; rate: number | null; burst: number | null; concurrency: number | null }>;
  forced: Array<{ scope: string; state: string }>;
  active: Array<{ scope: string; state: Record<string, unknown> }>;
  log: ControlTransition[];
  /** Topics zretry knows: a worker dispatched their tasks, or a consumer subscribed to them. */
  topics: string[];
}

function parseTransitions(lines: readonly string[]): ControlTransition[] {
  return lines.map((l) => JSON.parse(String(l)) as ControlTransition);
}

const NO_WORKER = { id: 'operator', leaseMs: 0, running: new Map<string, number>() };

/** The scripts of a namespace's control slot (lua/grant-4.lua, lua/control-4.lua). */
export class ControlScripts {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: string[],
  ) {}

  /**
   * worker: who asks, how long its running counts hold, how many tasks of
   * each scope it runs now (concurrency limits), and the report's number
   * (seq: a report sent again with the number it had is not applied twice).
   */
  async grant(want: number, breaker: BreakerArgs, report: ControlReport, worker: { id: string; leaseMs: number; running: ReadonlyMap<string, number>; seq?: number } = NO_WORKER): Promise<GrantReply> {
    const b = breaker;
    const args: Arg[] = [...this.keys, want, `${b.enabled ? 1 : 0} ${b.failureRate} ${b.minAttempts} ${b.windowMs} ${b.probeIntervalMs} ${b.rampStartRate} ${b.rampDoublingMs} ${b.rampEndRate}`];
    args.push(report.outcomes.size);
    for (const [scope, o] of report.outcomes) args.push(scope, o.ok, o.fail, o.probeOk ?? 0);
    args.push(report.refunds.size);
    for (const [scope, n] of report.refunds) args.push(scope, n);
    args.push(report.throttles.size);
    for (const [scope, ms] of report.throttles) args.push(scope, Math.max(0, Math.round(ms)));
    args.push(worker.id, Math.round(worker.leaseMs), worker.seq ?? 0, worker.running.size);
    for (const [scope, n] of worker.running) args.push(scope, n);
    const [now, grants, nextAll, nextAny, states, transitions, nextsFlat] = await this.redis.zrGrant(...args);
    const nexts = new Map<string, number | null>();
    for (let i = 0; i < nextsFlat.length; i += 2) nexts.set(String(nextsFlat[i]), Number(nextsFlat[i + 1]) < 0 ? null : Number(nextsFlat[i + 1]));
    const g = new Map<string, number>();
    for (let i = 0; i < grants.length; i += 2) g.set(String(grants[i]), Number(grants[i + 1]));
    const st = new Map<string, ScopeMode>();
    for (let i = 0; i < states.length; i += 2) st.set(String(states[i]), String(states[i + 1]) as ScopeMode);
    return { now, grants: g, nextAll: nextAll < 0 ? null : nextAll, nextAny: nextAny < 0 ? null : nextAny, states: st, transitions: parseTransitions(transitions), nexts };
  }

  /** Sets a scope's limits: a rate (with its burst) and a concurrency; a missing one is removed. True if they changed. */
  async setLimit(scope: string, rate: number | null, burst: number | null, concurrency: number | null = null): Promise<boolean> {
    return (await this.redis.zrControl(...this.keys, 'set', scope, rate ?? '', burst ?? '', concurrency ?? '')) === 1;
  }

  /** Removes a rate limit; true if there was one. */
  async clearLimit(scope: string): Promise<boolean> {
    return (await this.redis.zrControl(...this.keys, 'clear', scope)) === 1;
  }

  /** Forces a breaker open or closed, or gives it back to the failure rate ('auto'); true if the setting changed. */
  async force(scope: string, state: 'open' | 'closed' | 'auto', probeIntervalMs: number): Promise<boolean> {
    return (await this.redis.zrControl(...this.keys, 'force', scope, state, probeIntervalMs)) === 1;
  }

  /** Whether zretry has seen the topic (a worker dispatched its tasks, or a consumer subscribed to it). */
  async knownTopic(topic: string): Promise<boolean> {
    return (await this.redis.zrControl(...this.keys, 'known', topic)) === 1;
  }

  /** Records topics as known (a consumer's subscriptions). */
  async registerTopics(topics: readonly string[]): Promise<number> {
    if (topics.length === 0) return 0;
    return (await this.redis.zrControl(...this.keys, 'register', ...topics)) as number;
  }

  async view(): Promise<ControlView> {
    const [settings, active, log, now, scopes] = (await this.redis.zrControl(...this.keys, 'view')) as [string[], string[], string[], number, string[]];
    const topics = scopes.map(String).filter((s) => s.startsWith('topic:')).map((s) => s.slice(6)).sort();
    const out: ControlView = { now, limits: [], forced: [], active: [], log: parseTransitions(log), topics };
    const limits = new Map<string, ControlView['limits'][number]>();
    const limitOf = (scope: string) => limits.get(scope) ?? limits.set(scope, { scope, rate: null, burst: null, concurrency: null }).get(scope)!;
    for (let i = 0; i < settings.length; i += 2) {
      const f = String(settings[i]);
      const v = String(settings[i + 1]);
      if (f.startsWith('limit:')) {
        const [rate, burst] = v.split(' ').map(Number);
        Object.assign(limitOf(f.slice(6)), { rate: rate!, burst: burst! });
      } else if (f.startsWith('concurrency:')) limitOf(f.slice(12)).concurrency = Number(v);
      else if (f.startsWith('force:')) out.forced.push({ scope: f.slice(6), state: v });
    }
    out.limits = [...limits.values()];
    for (let i = 0; i < active.length; i += 2) {
      try {
        out.active.push({ scope: String(active[i]), state: JSON.parse(String(active[i + 1])) as Record<string, unknown> });
      } catch {
        // an unreadable entry is rewritten by the next grant
      }
    }
    out.limits.sort((a, b) => a.scope.localeCompare(b.scope));
    out.active.sort((a, b) => a.scope.localeCompare(b.scope));
    return out;
  }
}
