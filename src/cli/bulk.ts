/**
 * The bulk task commands (retry-now, kill, skip, dead replay) as text:
 * src/ops/actions.ts selects and applies (the admin API calls the same
 * function); here a destructive selection is asked about on a terminal, or
 * refused elsewhere without --yes, and the result printed.
 */
import { BULK, bulkAction, checkSelection, count, type BulkCommand, type Selection } from '../ops/actions.js';
import { taskJson } from '../ops/select.js';
import type { TaskStore } from '../store/store.js';
import { confirm, type Asker } from './confirm.js';
import { outcomeReport, taskTable } from './tasks.js';

export { BULK, checkSelection, type BulkCommand };

/** The selection flags of a bulk command. */
export type SelectionFlags = Selection;

/** Runs a bulk command; the text goes to stdout, code is the exit code. */
export async function runBulk(
  store: TaskStore,
  cmd: BulkCommand,
  ids: string[],
  flags: SelectionFlags,
  opts: { dryRun: boolean; yes: boolean; json: boolean; asker: Asker; progress: (m: string) => void },
): Promise<{ text: string; code: number }> {
  const r = await bulkAction(store, cmd, ids, flags, {
    dryRun: opts.dryRun,
    progress: opts.progress,
    confirm: (q) => confirm(opts.asker, { yes: opts.yes, question: `${q.text} [y/N] `, refusal: q.refusal }),
  });
  const ns = store.options.namespace;
  switch (r.kind) {
    case 'dry-run': {
      if (opts.json) return { text: JSON.stringify({ dryRun: true, command: cmd.name, namespace: ns, count: r.count, tasks: r.tasks.map((t) => taskJson(t)), notFound: r.notFound }, null, 2), code: 0 };
      const lines = [r.count > 0 ? taskTable(r.tasks) : 'no tasks selected'];
      if (r.notFound.length > 0) lines.push(`not found in namespace ${ns}: ${r.notFound.join(', ')}`);
      lines.push(`dry run: ${count(r.count)} would be ${cmd.effect}; nothing changed`);
      return { text: lines.join('\n'), code: 0 };
    }
    case 'declined':
      return { text: `${cmd.name} cancelled; nothing changed`, code: 1 };
    case 'done':
      return { text: outcomeReport(r.results, r.counts, opts.json), code: 0 };
  }
}
