/**
 * The operator actions, one implementation each, for the zretry command and
 * the admin API alike: retry-now, kill, skip and dead replay on tasks named
 * by id or selected by filter (with a dry run, and a confirmation before a
 * destructive selection), unhold, pause and resume, shift. They return what
 * happened as data; the CLI prints it as tables, the API as JSON. Every
 * change is made by the store's scripts.
 */
import { OperatorInputError } from '../errors.js';
import type { TaskStore } from '../store/store.js';
import type { OperatorOutcome, TaskView } from '../store/task.js';
import { scan, viewsOf, type Filter } from './select.js';
import { scopeName } from '../policy/dispatch.js';

/** What a bulk action does. */
export interface BulkCommand {
  /** As typed: 'skip', 'dead replay'. */
  name: string;
  op: 'requeue' | 'doom' | 'skip';
  /** The states a filter selects from. */
  states: TaskView['state'][];
  /** What happens to each task, after "would be" / "were". */
  effect: string;
  /** Loses work (asks first when tasks are selected by filter). */
  destructive: boolean;
}

export const BULK: Record<'retry-now' | 'kill' | 'skip' | 'replay', BulkCommand> = {
  'retry-now': { name: 'retry-now', op: 'requeue', states: ['due'], effect: 'made due now', destructive: false },
  kill: { name: 'kill', op: 'doom', states: ['due', 'waiting'], effect: 'sent to the dead-letter topic by a worker, without another handler call', destructive: true },
  skip: { name: 'skip', op: 'skip', states: ['due', 'waiting', 'dead'], effect: 'deleted, neither run nor dead-lettered', destructive: true },
  replay: { name: 'dead replay', op: 'requeue', states: ['dead'], effect: 'put back with fresh attempts, behind their aggregate', destructive: false },
};

/** How tasks are selected by filter (the CLI's flags, the API's body fields). */
export interface Selection {
  topic?: string;
  aggregate?: string;
  errorClass?: string;
  all?: boolean;
}

/** "1 task", "3 tasks". */
export const count = (n: number): string => `${n} task${n === 1 ? '' : 's'}`;

/** The filter a selection makes, and how to name it; null when it selects nothing. */
function filterOf(cmd: BulkCommand, sel: Selection): { filter: Filter; named: string } | null {
  const parts: string[] = [];
  const filter: Filter = { states: cmd.states };
  if (sel.topic !== undefined) parts.push(`--topic ${(filter.topic = sel.topic)}`);
  if (sel.aggregate !== undefined) parts.push(`--aggregate ${(filter.aggregate = sel.aggregate)}`);
  if (sel.errorClass !== undefined) parts.push(`--error-class ${(filter.errorClass = sel.errorClass)}`);
  if (parts.length === 0 && !sel.all) return null;
  return { filter, named: parts.length > 0 ? parts.join(' ') : '--all' };
}

/** Refuses a request that selects nothing, or selects twice. */
export function checkSelection(cmd: BulkCommand, ids: readonly string[], sel: Selection): void {
  const byFilter = filterOf(cmd, sel) !== null;
  if (ids.length === 0 && !byFilter) throw new OperatorInputError(`name the task ids to ${cmd.name}, or select tasks with --topic, --aggregate, --error-class or --all`);
  if (ids.length > 0 && byFilter) throw new OperatorInputError(`give task ids or selection flags to ${cmd.name}, not both`);
}

/** Asks before a destructive selection; resolves true to go ahead (it may throw instead of asking, as the CLI does without a terminal). */
export type Confirm = (question: { count: number; named: string; text: string; refusal: string }) => Promise<boolean>;

/** What a bulk action did. */
export type BulkResult =
  | { kind: 'dry-run'; cmd: BulkCommand; count: number; tasks: TaskView[]; notFound: string[] }
  | { kind: 'declined'; cmd: BulkCommand; count: number; named: string }
  | { kind: 'done'; cmd: BulkCommand; results: Array<{ id: string; outcome: OperatorOutcome }>; counts: Record<string, number> };

/**
 * Runs a bulk action on tasks named by id or selected by filter. A dry run
 * lists what would be touched and changes nothing. A destructive selection
 * by filter goes ahead only if confirm says so; ids named one by one need
 * no confirmation.
 */
export async function bulkAction(
  store: TaskStore,
  cmd: BulkCommand,
  ids: readonly string[],
  sel: Selection,
  opts: { dryRun: boolean; confirm: Confirm; progress?: (m: string) => void },
): Promise<BulkResult> {
  checkSelection(cmd, ids, sel);
  const selected = ids.length > 0 ? null : filterOf(cmd, sel);
  const ns = store.options.namespace;
  let tasks: TaskView[] = [];
  let notFound: string[] = [];
  if (selected) {
    for await (const t of scan(store, selected.filter, opts.progress)) tasks.push(t);
  } else if (opts.dryRun) {
    const views = await viewsOf(store, ids);
    tasks = views.filter((v): v is TaskView => v !== null);
    notFound = ids.filter((_, i) => views[i] === null);
  }
  if (opts.dryRun) return { kind: 'dry-run', cmd, count: tasks.length, tasks, notFound };
  const targets = selected ? tasks.map((t) => t.id) : [...ids];
  if (selected && cmd.destructive && targets.length > 0) {
    const n = targets.length;
    const go = await opts.confirm({
      count: n,
      named: selected.named,
      text: `${count(n)} of namespace "${ns}" selected by ${selected.named} will be ${cmd.effect}. Go ahead?`,
      refusal: `refusing to ${cmd.name} ${count(n)} of namespace "${ns}" selected by ${selected.named}`,
    });
    if (!go) return { kind: 'declined', cmd, count: n, named: selected.named };
  }
  return { kind: 'done', cmd, ...(await applyOp(store, targets, cmd.op, opts.progress)) };
}

/** Applies an operator script to ids in chunks, with progress; returns each outcome and their counts. */
export async function applyOp(
  store: TaskStore,
  ids: readonly string[],
  op: BulkCommand['op'],
  progress: (m: string) => void = () => {},
): Promise<{ results: Array<{ id: string; outcome: OperatorOutcome }>; counts: Record<string, number> }> {
  const PAGE = 500;
  const results: Array<{ id: string; outcome: OperatorOutcome }> = [];
  for (let i = 0; i < ids.length; i += PAGE) {
    const part = ids.slice(i, i + PAGE);
    const out = await store.operate(part, op);
    part.forEach((id, k) => results.push({ id, outcome: out[k]! }));
    if (ids.length > PAGE) progress(`${Math.min(i + PAGE, ids.length)}/${ids.length} tasks`);
  }
  const counts: Record<string, number> = {};
  for (const r of results) counts[r.outcome] = (counts[r.outcome] ?? 0) + 1;
  return { results, counts };
}

/** Releases held aggregates; the outcome of each: 'released', 'freed' (nothing waited) or 'not-held'. */
export async function unhold(store: TaskStore, aggregates: readonly string[]): Promise<Array<{ aggregate: string; outcome: string }>> {
  if (aggregates.length === 0) throw new OperatorInputError('name the aggregates to unhold');
  const out: Array<{ aggregate: string; outcome: string }> = [];
  for (const agg of aggregates) out.push({ aggregate: agg, outcome: (await store.shard(store.shardOf(agg, agg)).unhold([agg]))[0]! });
  return out;
}

/** What a pause or resume is about: everything, one topic, or one error class. */
export interface PauseTarget {
  topic?: string;
  errorClass?: string;
}

/** The store's name of a pause: 'all', 'topic:<t>' or 'error:<class>'. */
export function pauseName(t: PauseTarget): string {
  return scopeName(t);
}

/** Stops dispatch of what the target names; fresh is false when it was paused already. */
export async function pause(store: TaskStore, target: PauseTarget): Promise<{ paused: string; fresh: boolean }> {
  const what = pauseName(target);
  return { paused: what, fresh: await store.pause(what) };
}

/** Lifts a pause; moved: the held tasks that are due again. */
export async function resume(store: TaskStore, target: PauseTarget, progress?: (m: string) => void): Promise<{ resumed: string; moved: number }> {
  const what = pauseName(target);
  return { resumed: what, moved: await store.resume(what, (n) => progress?.(`${n} held tasks due again`)) };
}

/** '500ms', '90s', '10m', '2h' or plain milliseconds. */
export function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(s.trim());
  if (!m) throw new OperatorInputError(`duration must look like 500ms, 90s, 10m or 2h (got "${s}")`);
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[(m[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * unit);
}

/** Pushes every due time back by a duration; a dry run counts the tasks it would move (due now and due later). */
export async function shift(store: TaskStore, duration: string, opts: { dryRun?: boolean; progress?: (m: string) => void } = {}): Promise<{ shiftedMs: number; moved: number; dryRun: boolean }> {
  const ms = parseDuration(duration);
  if (opts.dryRun) {
    const { total } = await store.stats();
    return { shiftedMs: ms, moved: total.dueNow + total.dueLater, dryRun: true };
  }
  return { shiftedMs: ms, moved: await store.shift(ms, (n) => opts.progress?.(`${n} tasks shifted`)), dryRun: false };
}
