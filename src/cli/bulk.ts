/**
 * The bulk task commands (retry-now, kill, skip, dead replay): select tasks
 * by id or by filter, show them with --dry-run, ask before a destructive
 * selection (kill, skip) on a terminal and refuse it elsewhere without
 * --yes, then apply the operator script in chunks.
 */
import type { TaskStore } from '../store/store.js';
import type { TaskView } from '../store/task.js';
import { confirm, type Asker } from './confirm.js';
import { UsageError } from './exit.js';
import { applyOp, scan, taskJson, taskTable, viewsOf, type Filter } from './tasks.js';

/** What a bulk command does. */
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

/** The selection flags of a bulk command. */
export interface SelectionFlags {
  topic?: string;
  aggregate?: string;
  errorClass?: string;
  all?: boolean;
}

/** The filter the flags select with, and how to name it; null when no flag selects anything. */
function filterOf(cmd: BulkCommand, flags: SelectionFlags): { filter: Filter; named: string } | null {
  const parts: string[] = [];
  const filter: Filter = { states: cmd.states };
  if (flags.topic !== undefined) parts.push(`--topic ${(filter.topic = flags.topic)}`);
  if (flags.aggregate !== undefined) parts.push(`--aggregate ${(filter.aggregate = flags.aggregate)}`);
  if (flags.errorClass !== undefined) parts.push(`--error-class ${(filter.errorClass = flags.errorClass)}`);
  if (parts.length === 0 && !flags.all) return null;
  return { filter, named: parts.length > 0 ? parts.join(' ') : '--all' };
}

/** "1 task", "3 tasks". */
const count = (n: number) => `${n} task${n === 1 ? '' : 's'}`;

/** Refuses a command line that selects nothing, or selects twice. */
export function checkSelection(cmd: BulkCommand, ids: string[], flags: SelectionFlags): void {
  const byFlags = filterOf(cmd, flags) !== null;
  if (ids.length === 0 && !byFlags) throw new UsageError(`name the task ids to ${cmd.name}, or select tasks with --topic, --aggregate, --error-class or --all`);
  if (ids.length > 0 && byFlags) throw new UsageError(`give task ids or selection flags to ${cmd.name}, not both`);
}

/** Runs a bulk command; the text goes to stdout, code is the exit code. */
export async function runBulk(
  store: TaskStore,
  cmd: BulkCommand,
  ids: string[],
  flags: SelectionFlags,
  opts: { dryRun: boolean; yes: boolean; json: boolean; asker: Asker; progress: (m: string) => void },
): Promise<{ text: string; code: number }> {
  checkSelection(cmd, ids, flags);
  const selected = ids.length > 0 ? null : filterOf(cmd, flags);
  const ns = store.options.namespace;
  let tasks: TaskView[] = [];
  let missing: string[] = [];
  if (selected) {
    for await (const t of scan(store, selected.filter, opts.progress)) tasks.push(t);
  } else if (opts.dryRun) {
    const views = await viewsOf(store, ids);
    tasks = views.filter((v): v is TaskView => v !== null);
    missing = ids.filter((_, i) => views[i] === null);
  }
  if (opts.dryRun) {
    const n = tasks.length;
    if (opts.json) return { text: JSON.stringify({ dryRun: true, command: cmd.name, namespace: ns, count: n, tasks: tasks.map(taskJson), notFound: missing }, null, 2), code: 0 };
    const lines = [n > 0 ? taskTable(tasks) : 'no tasks selected'];
    if (missing.length > 0) lines.push(`not found in namespace ${ns}: ${missing.join(', ')}`);
    lines.push(`dry run: ${count(n)} would be ${cmd.effect}; nothing changed`);
    return { text: lines.join('\n'), code: 0 };
  }
  const targets = selected ? tasks.map((t) => t.id) : ids;
  if (selected && cmd.destructive && targets.length > 0) {
    const n = targets.length;
    const go = await confirm(opts.asker, {
      yes: opts.yes,
      question: `${count(n)} of namespace "${ns}" selected by ${selected.named} will be ${cmd.effect}. Go ahead? [y/N] `,
      refusal: `refusing to ${cmd.name} ${count(n)} of namespace "${ns}" selected by ${selected.named}`,
    });
    if (!go) return { text: `${cmd.name} cancelled; nothing changed`, code: 1 };
  }
  return { text: (await applyOp(store, targets, cmd.op, opts.json, opts.progress)).text, code: 0 };
}
