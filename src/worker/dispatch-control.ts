/**
 * A worker's side of dispatch control (docs/dispatch-control.md). Rate
 * limits, breakers and throttles live in the namespace's control slot
 * ({<namespace>:ctl}, lua/grant-4.lua); before each claim, while anything is
 * under control, the worker asks it for tokens (one call), claims only what
 * they allow (the claim holds back the rest, lua/claim-11.lua), and gives
 * back what it did not use with its next call. With nothing under control
 * a claim costs nothing more: the worker only reports, every syncMs, the
 * outcomes the breakers judge, and learns of new limits that way.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { DispatchConfig } from '../config/schema.js';
import type { ZRetryEmitter } from '../events.js';
import { describeError } from '../policy/classify.js';
import { taskScopes, throttleOf } from '../policy/dispatch.js';
import type { BreakerArgs, ClaimReply, ControlReport, GrantReply, ScopeMode } from '../store/scripts.js';
import type { TaskStore } from '../store/store.js';
import type { ClaimedTask } from '../store/task.js';
import { redactCommand } from '../util/redis-errors.js';

/** How soon a claim goes on with held scopes a claim left out of its turn. */
const HELD_TURN_MS = 250;

/** Dead-letter reasons that end a run of retriable failures: they count as failures for the breaker. */
const FAILED_DEATHS = new Set(['attempts-exhausted', 'time-budget-exhausted']);

/** What dispatch control judges a failure by: the record's topic and the task's last error class (taskScopes). */
type Judged = Pick<ClaimedTask, 'record' | 'lastError'>;

/** Why a failed task goes back without counting an attempt. */
export type Deferral = { reason: 'throttled' | 'breaker-open' | 'breaker-unknown'; delayMs: number };

export class DispatchControl {
  private outcomes = new Map<string, { ok: number; fail: number; probeOk: number }>();
  /** Claimed tasks that took an open breaker's probe token ('<id>#<token>' → those scopes): only their success closes it. */
  private readonly probes = new Map<string, string[]>();
  private refunds = new Map<string, number>();
  private throttles = new Map<string, number>();
  /** Every scope under control, as of the last answer of the control slot. */
  private states = new Map<string, ScopeMode>();
  /**
   * Until when (performance.now(), a monotonic clock) the namespace-wide
   * limit has no tokens, so there is no need to ask: measured from the
   * grant's answer, never from the local wall clock, which may step.
   */
  private allUntil = 0;
  private timer: NodeJS.Timeout | null = null;
  private failing = false;
  /**
   * A plain claim found held tasks: claims go under control (with a grant)
   * until a granted claim finds none, so held tasks are never stranded when
   * every limit is gone.
   */
  private heldSeen = false;
  /** An exchange under way for deaths to confirm (confirmDeath). */
  private refreshing: Promise<GrantReply> | null = null;
  /** Per shard, where the last claim left off among its held scopes (claim-11.lua takes them in turn). */
  private readonly cursors = new Map<number, string>();
  private readonly breaker: BreakerArgs;
  private readonly onSucceeded = ({ task }: { task: ClaimedTask }) => this.count(task, 'ok');
  private readonly onRetried = ({ task }: { task: ClaimedTask }) => this.count(task, 'fail');
  private readonly onDead = ({ task, reason }: { task: ClaimedTask; reason: { kind: string } }) => {
    if (FAILED_DEATHS.has(reason.kind)) this.count(task, 'fail');
    else this.probes.delete(probeKey(task));
  };
  /** A probe that failed while its breaker is open goes back deferred: it is a probe no more. */
  private readonly onDeferred = ({ task }: { task: ClaimedTask }) => this.probes.delete(probeKey(task));

  /** Who this worker is to the control slot (its running counts under concurrency limits). */
  private readonly id = randomUUID();
  /**
   * Tokens granted to claims not answered yet, per scope: they count as
   * running in this worker's reports, or a second claim in flight would be
   * granted the same free places again.
   */
  private readonly pending = new Map<string, number>();
  private queue: Promise<unknown> = Promise.resolve();
  /** The number of this worker's last report (grant-4.lua applies each number once). */
  private reportSeq = 0;
  /** A report whose call failed: sent again as it was, with its number, before anything newer (it may have been applied). */
  private unsent: { seq: number; report: ControlReport } | null = null;

  constructor(
    private readonly store: TaskStore,
    private readonly cfg: DispatchConfig,
    private readonly events: ZRetryEmitter,
    private readonly log: Logger,
    /** The tasks this worker runs now, per topic scope ('topic:<t>'), for concurrency limits. */
    private readonly running: () => ReadonlyMap<string, number> = () => new Map(),
  ) {
    const { breaker: b, ramp } = cfg;
    this.breaker = { enabled: b.enabled, failureRate: b.failureRate, minAttempts: b.minAttempts, windowMs: b.windowMs, probeIntervalMs: b.probeIntervalMs, rampStartRate: ramp.startRate, rampDoublingMs: ramp.doublingMs, rampEndRate: ramp.endRate };
  }

  /** Listens to outcomes and starts the periodic report; resolves after the first one (or its failure, logged). */
  async start(): Promise<void> {
    this.events.on('succeeded', this.onSucceeded);
    this.events.on('retried', this.onRetried);
    this.events.on('dead', this.onDead);
    this.events.on('deferred', this.onDeferred);
    await this.sync();
    this.timer = setInterval(() => void this.sync(), this.cfg.syncMs);
    this.timer.unref();
  }

  /** Stops the timer, and sends what is left to report. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.events.off('succeeded', this.onSucceeded);
    this.events.off('retried', this.onRetried);
    this.events.off('dead', this.onDead);
    this.events.off('deferred', this.onDeferred);
    // a report sent again goes alone: what came after it takes one more call
    for (let i = 0; i < 2 && (this.unsent || this.outcomes.size + this.refunds.size + this.throttles.size > 0); i++) await this.sync();
  }

  /** Whether anything is under control (limits, breakers, throttles): then claims ask for tokens and take no chains. */
  get active(): boolean {
    return this.states.size > 0 || this.heldSeen;
  }

  /** The mode of each scope under control, as this worker last heard. */
  get modes(): ReadonlyMap<string, ScopeMode> {
    return this.states;
  }

  /**
   * Whether a failure of task goes back without counting an attempt: the
   * handler was throttled (its topic stops for the wait asked, noted for
   * the next report), or a breaker of its scopes is open.
   */
  defer(task: Judged, err: unknown): Deferral | null {
    const wait = throttleOf(err, this.cfg.throttle.defaultRetryAfterMs, this.cfg.throttle.maxRetryAfterMs);
    if (wait !== null) {
      const scope = `topic:${task.record.topic}`;
      this.throttles.set(scope, Math.max(this.throttles.get(scope) ?? 0, wait));
      // told at once, not at the next report: every worker stops the topic from its next claim
      void this.sync();
      return { reason: 'throttled', delayMs: wait };
    }
    return this.breakerDeferral(task);
  }

  private breakerDeferral(task: Judged): Deferral | null {
    for (const s of taskScopes(task)) {
      const mode = this.states.get(s);
      if (mode === 'open' || mode === 'forced-open') return { reason: 'breaker-open', delayMs: 0 };
    }
    return null;
  }

  /**
   * Before a task dies of its attempts or time budget: the breaker state as
   * of now (one exchange with the control slot), not as last heard, so a
   * task of a breaker that opened since (or that this worker never heard
   * of) goes back keeping its attempt instead of being dead-lettered. When
   * the control slot does not answer, nobody can tell: the task goes back
   * too, keeping its attempt, and is judged again later.
   */
  async confirmDeath(task: ClaimedTask): Promise<Deferral | null> {
    try {
      // deaths at the same time share one exchange
      this.refreshing ??= this.exchange(0).finally(() => (this.refreshing = null));
      await this.refreshing;
    } catch {
      return { reason: 'breaker-unknown', delayMs: Math.max(1_000, 2 * this.cfg.syncMs) };
    }
    return this.breakerDeferral(task);
  }

  /**
   * One claim under control: tokens first, then a claim of what they allow
   * (no chains), and the tokens it did not use go back with the next call.
   * With nothing under control, a plain claim.
   */
  async claim(shard: number, want: number, leaseMs: number, chain: number, redisNow: number): Promise<ClaimReply> {
    if (!this.active) return this.plainClaim(shard, want, leaseMs, chain);
    const wait = this.allUntil - performance.now();
    // the worker's estimate of Redis's now, handed back as it came: not a time Redis said (estimated: the worker keeps its clock offset)
    if (this.states.has('all') && wait > 0) return { ...idle(redisNow, redisNow + Math.ceil(wait)), estimated: true };
    let g: GrantReply;
    try {
      g = await this.exchange(want);
    } catch (e) {
      // only held tasks made this claim one under control: without a grant, a plain claim (held tasks stay held)
      if (this.states.size === 0) return this.plainClaim(shard, want, leaseMs, chain, true);
      throw e;
    }
    const allowances = new Map([...g.grants].filter(([s]) => s !== 'all'));
    const all = g.grants.get('all');
    if (all === 0) {
      // nothing claimed under these grants: the tokens go back, the places are free again
      for (const [s, n] of allowances) {
        this.refund(s, n);
        this.pending.set(s, (this.pending.get(s) ?? 0) - n);
      }
      const next = g.nextAll ?? g.now + this.cfg.syncMs;
      this.allUntil = performance.now() + (next - g.now);
      return idle(g.now, next);
    }
    // a claim under this grant (even with nothing limited): it releases the held tasks of scopes the grant does not limit
    // a claim that fails is not refunded: it may have run and only its answer been lost (its tokens used);
    // tokens given up cost a little rate, tokens refunded twice would dispatch past the limit
    let reply: ClaimReply;
    try {
      reply = await this.store.claim(shard, all ?? want, leaseMs, 0, undefined, allowances, this.cursors.get(shard) ?? '');
    } finally {
      // the tasks claimed start before anything else can ask (the worker's loop takes the answer first)
      for (const [s, n] of allowances) this.pending.set(s, (this.pending.get(s) ?? 0) - n);
    }
    if (all !== undefined) this.refund('all', all - reply.tasks.length - reply.unreadable.length);
    for (const [s, n] of allowances) this.refund(s, n - (reply.used.get(s) ?? 0));
    this.heldSeen = reply.held > 0;
    this.cursors.set(shard, reply.heldCursor);
    // an open breaker's token is its probe: the task of that scope claimed with it is the one whose outcome may close it
    for (const [s, n] of allowances) {
      if (n <= 0 || g.states.get(s) !== 'open' || !(reply.used.get(s) ?? 0)) continue;
      for (const t of reply.tasks) {
        if (!taskScopes(t).includes(s)) continue;
        const k = probeKey(t);
        this.probes.set(k, [...(this.probes.get(k) ?? []), s]);
      }
    }
    // held tasks come back when their scope has a token again (a scope no longer limited: at once)
    if (reply.held > 0) {
      let at = reply.next ?? Infinity;
      for (const s of reply.heldScopes) {
        const t = g.nexts.has(s) ? g.nexts.get(s)! : g.now;
        if (t !== null) at = Math.min(at, Math.max(t, g.now));
      }
      // more held scopes than one claim looks at: the next claim goes on with the others soon
      if (reply.heldMore) at = Math.min(at, g.now + HELD_TURN_MS);
      reply.next = Number.isFinite(at) ? at : reply.next;
    }
    return reply;
  }

  /**
   * A claim without a grant: it never releases held tasks. When it finds
   * some, claims go under control, and the shard is due again at once for
   * a claim with a grant to release them (its answer says nothing is due
   * there); unless this claim is plain because the control slot did not
   * answer (unanswered): then the shard waits as usual, or the worker
   * would claim in a loop while the control slot is away.
   */
  private async plainClaim(shard: number, want: number, leaseMs: number, chain: number, unanswered = false): Promise<ClaimReply> {
    const reply = await this.store.claim(shard, want, leaseMs, chain);
    if (reply.held > 0) {
      this.heldSeen = true;
      if (!unanswered) reply.next = reply.now;
    }
    return reply;
  }

  private refund(scope: string, n: number): void {
    if (n > 0) this.refunds.set(scope, (this.refunds.get(scope) ?? 0) + n);
  }

  private count(task: ClaimedTask, what: 'ok' | 'fail'): void {
    const k = probeKey(task);
    const probed = this.probes.get(k);
    if (probed) this.probes.delete(k);
    for (const s of taskScopes(task)) {
      let o = this.outcomes.get(s);
      if (!o) this.outcomes.set(s, (o = { ok: 0, fail: 0, probeOk: 0 }));
      o[what]++;
      if (what === 'ok' && probed?.includes(s)) o.probeOk++;
    }
  }

  /** The periodic report (and how this worker learns of new limits); failures are logged once, the report kept. */
  private async sync(): Promise<void> {
    try {
      await this.exchange(0);
      if (this.failing) this.log.info('dispatch control answers again');
      this.failing = false;
    } catch (error) {
      this.events.emit('store-error', { op: 'grant', error: redactCommand(error) });
      if (!this.failing) this.log.warn({ err: describeError(error, 500) }, 'dispatch control did not answer; limits and breakers stay as last heard, outcomes are kept for the next report');
      this.failing = true;
    }
  }

  /**
   * One exchange at a time: a worker's report of what it runs must include
   * what its previous grant gave (counted in pending before the next
   * exchange is sent), or two claims in flight would be granted the same
   * free places under a concurrency limit.
   */
  private exchange(want: number): Promise<GrantReply> {
    const next = this.queue.then(() => this.exchangeNow(want));
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Sends the report (kept for the next call if this one fails), asks for want tokens, and takes in the answer. */
  private async exchangeNow(want: number): Promise<GrantReply> {
    const pending = this.unsent ?? { report: { outcomes: this.outcomes, refunds: this.refunds, throttles: this.throttles }, seq: 0 };
    const report: ControlReport = pending.report;
    let seq = pending.seq;
    if (!this.unsent) {
      this.outcomes = new Map();
      this.refunds = new Map();
      this.throttles = new Map();
      if (report.outcomes.size + report.refunds.size + report.throttles.size > 0) seq = ++this.reportSeq;
    }
    let g: GrantReply;
    try {
      // counts a worker reported hold for a few reports: a worker that stops is forgotten after that
      const running = new Map(this.active ? this.running() : []);
      for (const [s, n] of this.pending) if (n > 0) running.set(s, (running.get(s) ?? 0) + n);
      const worker = { id: this.id, leaseMs: Math.max(2_000, 4 * this.cfg.syncMs), running, seq };
      g = await this.store.control.grant(want, this.breaker, report, worker);
    } catch (e) {
      // the script may have run and only its answer been lost: the same report goes again with the same number,
      // which the control slot applies at most once (merged into a newer one it would count twice)
      if (seq > 0) this.unsent = { seq, report };
      throw e;
    }
    this.unsent = null;
    // the places granted count as this worker's until its claim answers (claim() takes them off)
    for (const [s, n] of g.grants) if (s !== 'all' && n > 0) this.pending.set(s, (this.pending.get(s) ?? 0) + n);
    this.states = g.states;
    if (!g.states.has('all')) this.allUntil = 0;
    for (const t of g.transitions) {
      const { at, scope, to, ...detail } = t;
      this.log.info({ scope, to, at: new Date(at).toISOString(), ...detail }, `dispatch ${scope}: ${to}`);
      this.events.emit('dispatch-transition', t);
    }
    return g;
  }

  /**
   * A consumer's first try of a fresh record failed: defer's rules, judged
   * by the record's topic and this error's class (a fresh record has no
   * earlier error), so a throttled first try stops its topic and an open
   * breaker's failures wait in Redis, neither counting an attempt.
   */
  deferFresh(record: ClaimedTask['record'], err: unknown): Deferral | null {
    return this.defer({ record, lastError: describeError(err, 0) }, err);
  }
}

function probeKey(t: ClaimedTask): string {
  return `${t.id}#${t.token}`;
}

/** A claim that did not go to Redis: nothing claimed, look again at next. */
function idle(now: number, next: number): ClaimReply {
  return { now, next, reaped: 0, tasks: [], unreadable: [], corruptMeta: [], used: new Map(), held: 0, heldScopes: [], heldCursor: '', heldMore: false };
}
