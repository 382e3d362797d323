/**
 * The task commands of the operator CLI: list, show, retry-now, kill, skip,
 * dead list / replay, unhold, purge, as text. What they do is src/ops/ (the
 * admin API calls the same functions); this file only prints it.
 */
import { listPage, taskJson, viewsOf, type Filter } from '../ops/select.js';
import type { TaskStore } from '../store/store.js';
import type { OperatorOutcome, TaskView } from '../store/task.js';
import { confirm, type Asker } from './confirm.js';
import { duration, oneLine, table } from './table.js';

/** The results of an operator script as a table (up to 50 rows) and the counts, or JSON. */
export function outcomeReport(results: ReadonlyArray<{ id: string; outcome: OperatorOutcome }>, counts: Record<string, number>, asJson: boolean): string {
  if (asJson) return JSON.stringify({ counts, results }, null, 2);
  if (results.length === 0) return 'no tasks selected';
  const body = results.length <= 50 ? table(['task', 'outcome'], results.map((r) => [r.id, r.outcome])) + '\n' : '';
  return body + Object.entries(counts).map(([k, v]) => `${k}: ${v}`).join(', ');
}

/** The columns of a task table (list, and a dry run). */
const TASK_COLUMNS = ['task', 'state', 'when', 'attempts', 'aggregate', 'record', 'last error'];

/** Tasks as a table a person reads. */
export function taskTable(tasks: readonly TaskView[]): string {
  const now = Date.now();
  return table(TASK_COLUMNS, tasks.map((t) => row(t, now)));
}

/** A task as one table row. */
function row(t: TaskView, now: number): Array<string | number> {
  const when = t.state === 'waiting' ? '-' : t.at > now ? `in ${duration(t.at - now)}` : `${duration(now - t.at)} ago`;
  return [
    t.id,
    t.state + (t.doomed ? ' (doomed)' : ''),
    when,
    t.attempt,
    t.aggregateId ?? '-',
    t.record ? `${t.record.topic}/${t.record.partition}@${t.record.offset}` : '(unreadable)',
    t.lastError ? oneLine(`${t.lastError.class}: ${t.lastError.message}`).slice(0, 60) : '-',
  ];
}

/** `zretry list`: one page of matching tasks. */
export async function listTasks(store: TaskStore, f: Filter, limit: number, offset: number, asJson: boolean, progress: (m: string) => void): Promise<string> {
  const { tasks: out, more } = await listPage(store, f, limit, offset, progress);
  if (asJson) return JSON.stringify({ offset, count: out.length, tasks: out.map((t) => taskJson(t)) }, null, 2);
  if (out.length === 0) return 'no tasks match';
  return taskTable(out) + (more ? `\n(first ${limit} from ${offset}; next page: --offset ${offset + limit})` : '');
}

/** `zretry show <id>`: everything about one task, payload sizes but not contents. */
export async function showTask(store: TaskStore, id: string, asJson: boolean): Promise<{ text: string; found: boolean }> {
  const [t] = await viewsOf(store, [id]);
  if (!t) return { text: `no task ${id} in namespace ${store.options.namespace}`, found: false };
  if (asJson) return { text: JSON.stringify(taskJson(t), null, 2), found: true };
  const r = t.record;
  const lines = [
    ['task', t.id],
    ['shard', String(t.shard)],
    ['state', t.state + (t.doomed ? ` (doomed: ${t.doomed})` : '')],
    ['attempts made', String(t.attempt)],
    ['aggregate', t.aggregateId ?? '-'],
    ['first failure', t.firstFailureAt ? new Date(t.firstFailureAt).toISOString() : '-'],
    [t.state === 'dead' ? 'died' : t.state === 'inflight' ? 'lease until' : 'due', t.at ? new Date(t.at).toISOString() : '-'],
    ['record', r ? `${r.topic}/${r.partition}@${r.offset}, key ${r.key?.length ?? 'null'} bytes, value ${r.value?.length ?? 'null (tombstone)'} bytes, headers ${r.headers.map(([n]) => n).join(', ') || '-'}` : '(unreadable)'],
    ['last error', t.lastError ? oneLine(`${t.lastError.class}: ${t.lastError.message}`) : '-'],
  ];
  const w = Math.max(...lines.map(([k]) => k!.length));
  let text = lines.map(([k, v]) => `${k!.padEnd(w)}  ${v}`).join('\n');
  if (t.lastError?.stack) text += `\n\n${t.lastError.stack}`;
  return { text, found: true };
}

/** `zretry purge`: deletes every key of the namespace, after confirmation (the namespace typed) unless yes; dryRun only counts. */
export async function purge(store: TaskStore, opts: { yes: boolean; dryRun: boolean; asker: Asker }): Promise<{ text: string; code: number }> {
  const ns = store.options.namespace;
  const { total } = await store.stats();
  const count = total.dueNow + total.dueLater + total.inflight + total.queued + total.paused + total.held + total.dead;
  if (opts.dryRun) return { text: `dry run: purge would delete all ${count} tasks of namespace "${ns}" (${store.options.shards} shards); nothing changed`, code: 0 };
  const go = await confirm(opts.asker, {
    yes: opts.yes,
    question: `Delete all ${count} tasks of namespace "${ns}"? Type the namespace to confirm: `,
    refusal: `refusing to purge ${count} tasks of namespace "${ns}"`,
    expect: ns,
  });
  if (!go) return { text: 'purge cancelled; nothing changed', code: 1 };
  const deleted = await store.purge();
  const { limits, forced } = await store.control.view();
  const kept = limits.length + forced.length > 0 ? `; its ${limits.length} rate or concurrency limits and ${forced.length} forced breakers stay (zretry limit list, zretry limit clear, zretry breaker auto)` : '';
  return { text: `purged namespace ${ns}: ${count} tasks, ${deleted} keys${kept}`, code: 0 };
}
