/**
 * Finding tasks for an operator, the same way for the CLI and the admin
 * API: a filter (states, topic, aggregate, error class) resolved by paging
 * through the shards, one page of a listing, tasks by id, where a task
 * stands in its aggregate's queue, and the JSON a task is shown as
 * (payload sizes, contents only when asked for).
 */
import type { TaskStore } from '../store/store.js';
import type { TaskView } from '../store/task.js';

/** Which tasks a command is about. */
export interface Filter {
  states: TaskView['state'][];
  topic?: string;
  aggregate?: string;
  errorClass?: string;
}

/** Every state a task can be in, in the order a person reads them. */
export const STATES: readonly TaskView['state'][] = ['due', 'inflight', 'waiting', 'paused', 'held', 'dead'];

const PAGE = 500;

function matches(t: TaskView, f: Filter): boolean {
  if (f.topic !== undefined && t.record?.topic !== f.topic) return false;
  if (f.aggregate !== undefined && t.aggregateId !== f.aggregate) return false;
  if (f.errorClass !== undefined && t.lastError?.class !== f.errorClass) return false;
  return true;
}

/**
 * Pages through the shards (all, or only those given) and states, yielding
 * the tasks that match; reports progress on long scans.
 */
export async function* scan(store: TaskStore, f: Filter, progress: (msg: string) => void = () => {}, shards?: readonly number[]): AsyncGenerator<TaskView> {
  let seen = 0;
  const which = shards ?? Array.from({ length: store.options.shards }, (_, s) => s);
  for (const s of which) {
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

/** One page of the tasks that match: `limit` of them after skipping `offset`; more tells whether another page follows. */
export async function listPage(store: TaskStore, f: Filter, limit: number, offset: number, progress?: (m: string) => void): Promise<{ tasks: TaskView[]; more: boolean }> {
  const tasks: TaskView[] = [];
  let skipped = 0;
  for await (const t of scan(store, f, progress)) {
    if (skipped++ < offset) continue;
    if (tasks.length === limit) return { tasks, more: true };
    tasks.push(t);
  }
  return { tasks, more: false };
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

/**
 * Where a task stands in its aggregate's queue: position 0 is the head (due,
 * in flight or paused), 1 the first task waiting behind it; length counts
 * them all. Null for a task without an aggregate, or a dead one.
 */
export async function queuePosition(store: TaskStore, t: TaskView): Promise<{ position: number; length: number; head: string | null } | null> {
  if (t.aggregateId === null || t.state === 'dead') return null;
  // the head first, then the waiting tasks in queue order (the waiting set sorts by aggregate, then arrival)
  const queue: string[] = [];
  for await (const x of scan(store, { states: ['due', 'inflight', 'paused', 'waiting'], aggregate: t.aggregateId }, undefined, [t.shard])) queue.push(x.id);
  const position = queue.indexOf(t.id);
  return position < 0 ? null : { position, length: queue.length, head: queue[0] ?? null };
}

/** The JSON of a task: everything but the payload bytes (their sizes and header names), or with them, base64, when asked. */
export function taskJson(t: TaskView, opts: { payload?: boolean } = {}): Record<string, unknown> {
  const { record, ...rest } = t;
  const base64 = (b: Buffer | null) => (b === null ? null : b.toString('base64'));
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
      ...(opts.payload
        ? { key: base64(record.key), value: base64(record.value), headerValues: record.headers.map(([n, v]) => ({ name: n, value: base64(v) })) }
        : {}),
    },
  };
}
