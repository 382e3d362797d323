/**
 * Operator actions on dispatch control (docs/dispatch-control.md), one
 * implementation for the zretry command and the admin API: rate limits
 * (set, clear, list) and forcing a breaker open or closed. Workers pick a
 * change up within dispatch.syncMs, without a restart.
 */
import { OperatorInputError } from '../errors.js';
import { checkLimit, scopeName, type LimitInput, type ScopeTarget } from '../policy/dispatch.js';
import type { ControlView } from '../store/scripts.js';
import type { TaskStore } from '../store/store.js';
import { duration } from '../util/duration.js';

/** A limit's scope; a topic must be one zretry knows unless newTopic says it is expected. */
async function scopeOf(store: TaskStore, target: ScopeTarget, verb: string, newTopic: boolean): Promise<string> {
  const scope = scopeName(target, verb);
  if (target.topic !== undefined && !newTopic && !(await store.control.knownTopic(target.topic))) {
    const { topics } = await store.control.view();
    const known = topics.length > 0 ? `known topics: ${topics.slice(0, 20).join(', ')}` : 'it knows none yet';
    throw new OperatorInputError(
      `unknown topic "${target.topic}": no consumer of namespace "${store.options.namespace}" subscribes to it and no retry of it ran (${known}); check the name, or pass --new-topic (API: "newTopic": true) to set it before its first retry`,
    );
  }
  return scope;
}

/**
 * Sets the limits of the namespace, a topic or an error class: a rate
 * (tasks/s, burst) and, for a topic, a concurrency; what is not given is
 * removed, so the command states the whole limit.
 */
export async function setLimit(
  store: TaskStore,
  target: ScopeTarget,
  input: LimitInput,
  opts: { newTopic?: boolean } = {},
): Promise<{ scope: string; rate: number | null; burst: number | null; concurrency: number | null; changed: boolean }> {
  const { rate, burst, concurrency } = checkLimit(input);
  if (concurrency !== null && target.topic === undefined) throw new OperatorInputError('a concurrency limit is per topic: add --topic <topic> (API: "topic")');
  const scope = await scopeOf(store, target, 'limit', opts.newTopic === true);
  return { scope, rate, burst, concurrency, changed: await store.control.setLimit(scope, rate, burst, concurrency) };
}

/** Removes a rate limit; the tasks it held come back at once. */
export async function clearLimit(store: TaskStore, target: ScopeTarget): Promise<{ scope: string; cleared: boolean }> {
  const scope = scopeName(target, 'limit');
  return { scope, cleared: await store.control.clearLimit(scope) };
}

/** Forces the breaker of a topic or error class open or closed, or gives it back to the failure rate ('auto'). */
export async function forceBreaker(
  store: TaskStore,
  target: ScopeTarget,
  state: string,
  probeIntervalMs: number,
  opts: { newTopic?: boolean } = {},
): Promise<{ scope: string; state: string; changed: boolean }> {
  if (state !== 'open' && state !== 'closed' && state !== 'auto') throw new OperatorInputError(`breaker state must be open, closed or auto (got ${JSON.stringify(state)})`);
  if (target.topic === undefined && target.errorClass === undefined) throw new OperatorInputError('name the breaker: --topic <topic> or --error-class <class> (a breaker is per topic or error class; to stop everything use `zretry pause`)');
  const scope = await scopeOf(store, target, 'force', opts.newTopic === true);
  return { scope, state, changed: await store.control.force(scope, state, probeIntervalMs) };
}

/** Limits, forced breakers, scopes under control now and the last transitions. */
export async function dispatchControl(store: TaskStore): Promise<ControlView> {
  return store.control.view();
}

/** One scope under dispatch control as an operator reads it: `zretry limit list`, `zretry stats`, the dashboard. */
export interface ControlRow {
  scope: string;
  /** '200/s burst 20', '4 at once', both, or '-'. */
  limit: string;
  /** closed, open for how long (probes), ramping, throttled for how long more; '-' for the namespace. */
  breaker: string;
  /** open or closed when an operator forced it, else '-'. */
  forced: string;
  /** A breaker or a throttle stops its dispatch now. */
  stopped: boolean;
}

/** The scopes of a control view with a limit, a forced state or a state now, by name. */
export function controlRows(v: ControlView): ControlRow[] {
  const forced = new Map(v.forced.map((f) => [f.scope, f.state]));
  const limit = new Map(v.limits.map((l) => [l.scope, [l.rate === null ? '' : `${l.rate}/s burst ${l.burst}`, l.concurrency === null ? '' : `${l.concurrency} at once`].filter(Boolean).join(', ')]));
  const state = new Map(v.active.map((a) => [a.scope, a.state]));
  const scopes = [...new Set([...limit.keys(), ...forced.keys(), ...state.keys()])].sort();
  return scopes.map((scope) => {
    const st = state.get(scope);
    return {
      scope,
      limit: limit.get(scope) ?? '-',
      breaker: scope === 'all' ? '-' : st ? breakerState(st, v.now) : 'closed',
      forced: forced.get(scope) ?? '-',
      stopped: st?.b === 'open' || st?.b === 'throttle',
    };
  });
}

/** A scope's breaker as words, with how long it has been open. */
function breakerState(st: Record<string, unknown>, now: number): string {
  if (st.b === 'open') return `open ${duration(now - Number(st.o ?? now))} (${Number(st.n ?? 0)} probes)`;
  if (st.b === 'ramp') return 'ramping';
  if (st.b === 'throttle') return `throttled ${duration(Math.max(0, Number(st.u ?? now) - now))} more`;
  return 'closed';
}
