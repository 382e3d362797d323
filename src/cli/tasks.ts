/**
 * The task commands of the operator CLI: list, show, retry-now, kill, skip,
 * dead list / replay, unhold, purge. Selections by aggregate or error class
 * are resolved by paging through the shards (progress on stderr).
 */
import type { TaskStore } from '../store/store.js';
import type { OperatorOutcome, TaskView } from '../store/task.js';
import { confirm, type Asker } from './confirm.js';
import { duration, oneLine, table } from './table.js';

/** Which tasks a command is about. */
export interface Filter {
  states: TaskView['state'][];
  topic?: string;
  aggregate?: string;
  errorClass?: string;
}

const PAGE = 500;

function matches(t: TaskView, f: Filter): boolean {
  if (f.topic !== undefined && t.record?.topic !== f.topic) return false;
  if (f.aggregate !== undefined && t.aggregateId !== f.aggregate) return false;
  if (f.errorClass !== undefined && t.lastError?.class !== f.errorClass) return false;
  return true;
}

/** Pages through every shard and state, yielding the tasks that match; reports progress on long scans. */
export async function* scan(store: TaskStore, f: Filter, progress: (msg: string) => void = () => {}): AsyncGenerator<TaskView> {
  let seen = 0;
  for (let s = 0; s < store.options.shards; s++) {
    for (const state of f.states) {
      for (let offset = 0; ; offset += PAGE) {
        const { total, tasks } = await store.shard(s).list(state, offset, PAGE);
        for (const t of tasks) if (matches(t, f)) yield t;
        seen += tasks.length;
        if (seen >= 5 * PAGE && seen % (5 * PAGE) < PAGE) progress(`scanned ${seen} tasks (shard ${s + 1}/${store.options.shards}, ${state})`);
        if (offset + PAGE >= total) break;
      }
    }
  }
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

/** JSON for scripts: everything but the payload bytes (sizes only). */
export function taskJson(t: TaskView): unknown {
  const { record, ...rest } = t;
  return {
    ...rest,
    record: record && {
      topic: record.topic,
      partition: record.partition,
      offset: record.offset,
      timestamp: record.timestamp,
      keyBytes: record.key?.length ?? null,
      valueBytes: record.value?.length ?? null,
      headers: record.headers.map(([n]) => n),
    },
  };
}

/** `zretry list`: one page of matching tasks. */
export async function listTasks(store: TaskStore, f: Filter, limit: number, offset: number, asJson: boolean, progress: (m: string) => void): Promise<string> {
  const out: TaskView[] = [];
  let skipped = 0;
  for await (const t of scan(store, f, progress)) {
    if (skipped++ < offset) continue;
    out.push(t);
    if (out.length >= limit) break;
  }
  if (asJson) return JSON.stringify({ offset, count: out.length, tasks: out.map(taskJson) }, null, 2);
  if (out.length === 0) return 'no tasks match';
  const more = out.length === limit ? `\n(first ${limit} from ${offset}; next page: --offset ${offset + limit})` : '';
  return taskTable(out) + more;
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

/** The view of each task id, null where no shard holds it: one lookup for all, then one get per shard. */
export async function viewsOf(store: TaskStore, ids: readonly string[]): Promise<Array<TaskView | null>> {
  const shards = await store.locateAll(ids);
  const out: Array<TaskView | null> = ids.map(() => null);
  for (const s of new Set(shards.filter((x): x is number => x !== null))) {
    const at = ids.flatMap((_, i) => (shards[i] === s ? [i] : []));
    const views = await store.shard(s).get(at.map((i) => ids[i]!));
    at.forEach((i, k) => (out[i] = views[k] ?? null));
  }
  return out;
}

/** Applies an operator script to ids in chunks, with progress; returns a summary table and the counts. */
export async function applyOp(
  store: TaskStore,
  ids: string[],
  op: 'requeue' | 'doom' | 'skip',
  asJson: boolean,
  progress: (m: string) => void,
): Promise<{ text: string; counts: Record<string, number> }> {
  const results: Array<{ id: string; outcome: OperatorOutcome }> = [];
  for (let i = 0; i < ids.length; i += PAGE) {
    const part = ids.slice(i, i + PAGE);
    const out = await store.operate(part, op);
    part.forEach((id, k) => results.push({ id, outcome: out[k]! }));
    if (ids.length > PAGE) progress(`${Math.min(i + PAGE, ids.length)}/${ids.length} tasks`);
  }
  const counts: Record<string, number> = {};
  for (const r of results) counts[r.outcome] = (counts[r.outcome] ?? 0) + 1;
  if (asJson) return { text: JSON.stringify({ counts, results }, null, 2), counts };
  if (results.length === 0) return { text: 'no tasks selected', counts };
  const body = results.length <= 50 ? table(['task', 'outcome'], results.map((r) => [r.id, r.outcome])) + '\n' : '';
  return { text: body + Object.entries(counts).map(([k, v]) => `${k}: ${v}`).join(', '), counts };
}

/** `zretry purge`: deletes every key of the namespace, after confirmation (the namespace typed) unless yes; dryRun only counts. */
export async function purge(store: TaskStore, opts: { yes: boolean; dryRun: boolean; asker: Asker }): Promise<{ text: string; code: number }> {
  const ns = store.options.namespace;
  const { total } = await store.stats();
  const count = total.dueNow + total.dueLater + total.inflight + total.queued + total.paused + total.dead;
  if (opts.dryRun) return { text: `dry run: purge would delete all ${count} tasks of namespace "${ns}" (${store.options.shards} shards); nothing changed`, code: 0 };
  const go = await confirm(opts.asker, {
    yes: opts.yes,
    question: `Delete all ${count} tasks of namespace "${ns}"? Type the namespace to confirm: `,
    refusal: `refusing to purge ${count} tasks of namespace "${ns}"`,
    expect: ns,
  });
  if (!go) return { text: 'purge cancelled; nothing changed', code: 1 };
  const deleted = await store.purge();
  return { text: `purged namespace ${ns}: ${count} tasks, ${deleted} keys`, code: 0 };
}
