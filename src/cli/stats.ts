/** `zretry stats`: queue sizes per shard and in total. */
import type { TaskStore } from '../store/store.js';
import type { ShardStats } from '../store/task.js';
import { duration, table } from './table.js';

/** The stats of a store as a table (or JSON). */
export async function statsReport(store: TaskStore, json: boolean): Promise<string> {
  const { shards, total } = await store.stats();
  if (json) return JSON.stringify({ namespace: store.options.namespace, shards, total }, null, 2);
  const row = (name: string, s: ShardStats) => [name, s.dueNow, s.dueLater, s.inflight, s.queued, s.blockedAggregates, s.dead, s.dueNow === 0 ? '-' : duration(s.oldestDueAgeMs)];
  return table(
    ['shard', 'due now', 'due later', 'in flight', 'queued', 'blocked aggs', 'dead', 'oldest overdue'],
    [...shards.map((s, i) => row(String(i), s)), row('total', total)],
  );
}
