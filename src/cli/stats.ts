/** `zretry stats`: queue sizes per shard and in total. */
import { controlRows } from '../ops/limits.js';
import { statsSnapshot } from '../ops/stats.js';
import type { TaskStore } from '../store/store.js';
import type { ShardStats } from '../store/task.js';
import type { ControlView } from '../store/scripts.js';
import { duration, table } from './table.js';

/** The stats of a store as a table (or JSON). */
export async function statsReport(store: TaskStore, json: boolean): Promise<string> {
  const snap = await statsSnapshot(store);
  if (json) return JSON.stringify(snap, null, 2);
  const { shards, total, pauses } = snap;
  const row = (name: string, s: ShardStats) => [name, s.dueNow, s.dueLater, s.inflight, s.queued, s.blockedAggregates, s.dead, s.paused, s.held, s.dueNow === 0 ? '-' : duration(s.oldestDueAgeMs)];
  const t = table(
    ['shard', 'due now', 'due later', 'in flight', 'queued', 'blocked aggs', 'dead', 'paused', 'held', 'oldest overdue'],
    [...shards.map((s, i) => row(String(i), s)), row('total', total)],
  );
  const control = controlReport(snap.dispatch, 5);
  return [pauses.length > 0 ? `dispatch paused: ${pauses.join(', ')}` : '', control, t].filter(Boolean).join('\n');
}

/** Limits, breakers and the last transitions as text; '' when nothing was ever under control. */
export function controlReport(v: ControlView, lastTransitions: number): string {
  const lines: string[] = [];
  const rows = controlRows(v);
  if (rows.length > 0) lines.push(table(['scope', 'limit', 'breaker', 'forced'], rows.map((r) => [r.scope, r.limit, r.breaker, r.forced])));
  if (v.log.length > 0 && lastTransitions > 0) {
    lines.push('last transitions:');
    for (const t of v.log.slice(0, lastTransitions)) {
      const { at, scope, to, ...detail } = t;
      lines.push(`  ${new Date(at).toISOString()} ${scope} ${to} ${Object.entries(detail).map(([k, x]) => `${k}=${String(x)}`).join(' ')}`.trimEnd());
    }
  }
  return lines.join('\n');
}
