/**
 * Queue sizes for an operator: the store's counts per shard and in total
 * (what `zretry stats` prints and the dashboard shows), and a breakdown by
 * topic and by error class, counted by paging through the tasks up to a
 * limit (the store keeps no counts per topic).
 */
import type { ControlView } from '../store/scripts.js';
import { controlRows, type ControlRow } from './limits.js';
import type { TaskStore } from '../store/store.js';
import type { ShardStats, TaskView } from '../store/task.js';
import { STATES, scan } from './select.js';

/** The counts of a namespace. */
export interface StatsSnapshot {
  namespace: string;
  shards: ShardStats[];
  total: ShardStats;
  /** Active pauses: 'all', 'topic:<t>', 'error:<class>'. */
  pauses: string[];
  /** Rate limits, forced breakers, scopes under control now and the last transitions (docs/dispatch-control.md). */
  dispatch: ControlView;
  /** The same scopes as an operator reads them (zretry limit list's table). */
  control: ControlRow[];
}

export async function statsSnapshot(store: TaskStore): Promise<StatsSnapshot> {
  const [{ shards, total, pauses }, dispatch] = await Promise.all([store.stats(), store.control.view()]);
  return { namespace: store.options.namespace, shards, total, pauses, dispatch, control: controlRows(dispatch) };
}

/** Tasks per state under one topic or error class. */
export type StateCounts = Record<TaskView['state'], number>;

/** Counts by topic and by error class; complete is false when the scan stopped at its limit. */
export interface Breakdown {
  byTopic: Record<string, StateCounts>;
  byErrorClass: Record<string, StateCounts>;
  scanned: number;
  complete: boolean;
}

const zero = (): StateCounts => ({ due: 0, inflight: 0, waiting: 0, paused: 0, held: 0, dead: 0 });

/** Counts the tasks of every state by topic and by last error's class (tasks that never failed: "-"), reading at most limit tasks. */
export async function breakdown(store: TaskStore, limit: number): Promise<Breakdown> {
  const byTopic: Record<string, StateCounts> = {};
  const byErrorClass: Record<string, StateCounts> = {};
  let scanned = 0;
  for await (const t of scan(store, { states: [...STATES] })) {
    if (scanned === limit) return { byTopic, byErrorClass, scanned, complete: false };
    scanned++;
    (byTopic[t.record?.topic ?? '(unreadable)'] ??= zero())[t.state]++;
    (byErrorClass[t.lastError?.class ?? '-'] ??= zero())[t.state]++;
  }
  return { byTopic, byErrorClass, scanned, complete: true };
}
