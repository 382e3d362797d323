/**
 * The shipped Prometheus rules and Grafana dashboard: every expression
 * parses as PromQL, and every metric it selects, and every label it
 * matches on, is one a worker exports.
 */
import { readFileSync } from 'node:fs';
import { parser } from '@prometheus-io/lezer-promql';
import { Redis } from 'ioredis';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { TypedEmitter, type ZRetryEvents } from '../../src/events.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { TaskStore } from '../../src/store/store.js';

/** Every series name a standalone worker exports, with its labels (histograms expanded). */
function exported(): Map<string, Set<string>> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // the store is never called: names and labels are known at registration
  const store = new TaskStore(new Redis({ lazyConnect: true }), { namespace: 'n', shards: 1, maxBatch: 10 });
  createMetrics(new TypedEmitter<ZRetryEvents>(), store, { registry });
  const out = new Map<string, Set<string>>();
  for (const m of registry.getMetricsAsArray()) {
    const { name, labelNames = [], type } = m as unknown as { name: string; labelNames?: string[]; type: string };
    const labels = new Set([...labelNames, 'job', 'instance']); // Prometheus adds the target's labels
    const kind = type ?? (m.constructor.name === 'Histogram' ? 'histogram' : '');
    if (kind === 'histogram' || m.constructor.name === 'Histogram') {
      out.set(`${name}_bucket`, new Set([...labels, 'le']));
      out.set(`${name}_sum`, labels);
      out.set(`${name}_count`, labels);
    } else {
      out.set(name, labels);
    }
  }
  return out;
}

/** The metrics an expression selects and the labels each is matched on; syntax errors as their positions. */
function selectors(expr: string): { errors: string[]; selected: Array<{ metric: string; labels: string[] }> } {
  // Grafana's variables are not PromQL: put in what Grafana would
  const promql = expr.replaceAll('$__rate_interval', '5m');
  const errors: string[] = [];
  const selected: Array<{ metric: string; labels: string[] }> = [];
  parser.parse(promql).iterate({
    enter(node) {
      if (node.type.isError) errors.push(`error at ${node.from}: ${promql.slice(Math.max(0, node.from - 20), node.to + 20)}`);
      if (node.name === 'VectorSelector') {
        const metric = node.node.getChild('Identifier');
        const labels = node.node.getChild('LabelMatchers')?.getChildren('UnquotedLabelMatcher').map((m) => promql.slice(m.getChild('LabelName')!.from, m.getChild('LabelName')!.to)) ?? [];
        if (metric) selected.push({ metric: promql.slice(metric.from, metric.to), labels });
      }
    },
  });
  return { errors, selected };
}

type Rules = { groups: Array<{ name: string; rules: Array<{ record?: string; alert?: string; expr: string }> }> };
type Dashboard = { panels: Array<{ title: string; targets: Array<{ expr: string }> }>; templating: { list: Array<{ name: string; definition?: string }> } };

const rules = parseYaml(readFileSync('monitoring/prometheus-rules.yml', 'utf8')) as Rules;
const dashboard = JSON.parse(readFileSync('monitoring/grafana-dashboard.json', 'utf8')) as Dashboard;
const expressions: Array<[string, string]> = [
  ...rules.groups.flatMap((g) => g.rules.map((r): [string, string] => [`rules: ${r.record ?? r.alert}`, r.expr])),
  ...dashboard.panels.flatMap((p) => p.targets.map((t): [string, string] => [`dashboard: ${p.title}`, t.expr])),
  ...dashboard.templating.list.filter((v) => v.definition).map((v): [string, string] => [`dashboard variable ${v.name}`, v.definition!.replace(/^label_values\((\w+),.*\)$/, '$1')]),
];

describe('shipped monitoring files', () => {
  const metrics = exported();

  it('name only metrics and labels a worker exports, in PromQL that parses', () => {
    const problems: string[] = [];
    for (const [where, expr] of expressions) {
      const { errors, selected } = selectors(expr);
      problems.push(...errors.map((e) => `${where}: ${e}`));
      for (const { metric, labels } of selected) {
        const known = metrics.get(metric);
        if (!known) problems.push(`${where}: no metric ${metric}`);
        for (const l of labels) if (known && !known.has(l)) problems.push(`${where}: ${metric} has no label ${l}`);
      }
      if (selected.length === 0) problems.push(`${where}: selects no metric`);
    }
    expect(problems).toEqual([]);
    expect(expressions.length).toBeGreaterThan(20);
  });

  it('the check itself catches a metric that does not exist, a wrong label and bad syntax', () => {
    expect(metrics.has('zretry_handler_duration_seconds_bucket')).toBe(true);
    expect(metrics.has('process_cpu_seconds_total')).toBe(true);
    expect(metrics.has('zretry_due')).toBe(false);
    expect(selectors('max(zretry_tasks{stat="due"})').selected).toEqual([{ metric: 'zretry_tasks', labels: ['stat'] }]);
    expect(metrics.get('zretry_tasks')!.has('stat')).toBe(false);
    expect(selectors('sum(rate(zretry_dead_total[5m])').errors).not.toEqual([]);
  });

  it('alerts carry a severity and a summary', () => {
    const alerts = rules.groups.flatMap((g) => g.rules).filter((r) => r.alert) as Array<{ alert: string; labels?: { severity?: string }; annotations?: { summary?: string } }>;
    expect(alerts.length).toBeGreaterThanOrEqual(5);
    for (const a of alerts) expect([a.alert, a.labels?.severity, typeof a.annotations?.summary]).toEqual([a.alert, expect.stringMatching(/^(critical|warning|info)$/), 'string']);
  });
});
