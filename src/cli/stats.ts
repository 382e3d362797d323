/** `zretry stats`: queue sizes per shard and in total. */
import { statsSnapshot } from '../ops/stats.js';
import type { TaskStore } from '../store/store.js';
import type { ShardStats } from '../store/task.js';
import { duration, table } from './table.js';

/** The stats of a store as a table (or JSON). */
export async function statsReport(store: TaskStore, json: boolean): Promise<string> {
  const snap = await statsSnapshot(store);
  if (json) return JSON.stringify(snap, null, 2);
  const { shards, total, pauses } = snap;
  const row = (name: string, s: ShardStats) => [name, s.dueNow, s.dueLater, s.inflight, s.queued, s.blockedAggregates, s.dead, s.paused, s.dueNow === 0 ? '-' : duration(s.oldestDueAgeMs)];
  const t = table(
    ['shard', 'due now', 'due later', 'in flight', 'queued', 'blocked aggs', 'dead', 'paused', 'oldest overdue'],
    [...shards.map((s, i) => row(String(i), s)), row('total', total)],
  );
  return pauses.length > 0 ? `dispatch paused: ${pauses.join(', ')}\n${t}` : t;
}
