/**
 * The ledger checker of the fault-injection suite.
 *
 * A run produces N records over many aggregates (some fail a few times, some
 * always), runs the consumer and the workers as separate processes (the
 * consumer app and the real `zretry worker` CLI), lets a test inject a fault,
 * and at the end checks, from what the handler wrote to the ledger file and
 * what the dead-letter topic holds:
 *   - lost: an id that neither succeeded nor reached the DLT;
 *   - order: within an aggregate, no record was tried before the record
 *     ahead of it had succeeded (for records that succeed);
 *   - duplicates: successes or dead letters beyond the first, counted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import kafkajs, { type Consumer, type Kafka } from 'kafkajs';
import { afterEach } from 'vitest';
import { redisFromConfig } from '../../../src/config/connections.js';
import type { RedisClient } from '../../../src/store/client.js';
import { TaskStore } from '../../../src/store/store.js';
import { dropNamespace, kafkaBrokers, redisUrl, uniqueNamespace, uniqueTopic, waitFor } from '../../helpers/env.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const HANDLER = join(import.meta.dirname, 'handler.mjs');

/** One planned record. fail: attempts that fail before success; -1: every attempt (ends in the DLT). */
export interface Spec {
  id: string;
  agg: string;
  seq: number;
  fail: number;
}

/** A line the handler wrote. */
export interface LedgerLine {
  ev: 'ok' | 'fail' | 'killed';
  id?: string;
  agg?: string;
  seq?: number;
  attempt?: number;
  fault?: string;
  /** On a consumer's kill line: the message id whose task was stored just before. */
  stored?: string;
  role: string;
  pid: number;
  t: number;
}

/** What a run ended with. */
export interface Report {
  records: number;
  succeeded: number;
  dead: number;
  lost: string[];
  outOfOrder: string[];
  /** Successes beyond the first, plus dead letters beyond the first. */
  duplicates: number;
  duplicateIds: string[];
  /** Ids in the DLT that were planned to succeed. */
  wronglyDead: string[];
  handlerCalls: number;
}

/** N records over `aggs` aggregates: 2 in 10 fail once or twice, 1 in 25 always fails. */
export function plan(n: number, aggs: number): Spec[] {
  const seqs = new Map<string, number>();
  return Array.from({ length: n }, (_, i) => {
    const agg = `agg-${i % aggs}`;
    const seq = seqs.get(agg) ?? 0;
    seqs.set(agg, seq + 1);
    const fail = i % 25 === 12 ? -1 : i % 10 === 3 ? 1 : i % 10 === 7 ? 2 : 0;
    return { id: `r${i}`, agg, seq, fail };
  });
}

/** A child process of the run: its output, a kill, its exit. */
export interface Child {
  proc: ChildProcess;
  output(): string;
  signal(sig: NodeJS.Signals): void;
  exited: Promise<number | null>;
}

export interface RunOptions {
  dispatch?: 'process' | 'republish';
  records?: number;
  aggregates?: number;
  partitions?: number;
  redisUrl?: string;
  brokers?: string;
  leaseMs?: number;
  concurrency?: number;
  backoffMs?: number;
  /** redisUrl is a seed node of a Redis Cluster. */
  cluster?: boolean;
  /** store.shards (2). */
  shards?: number;
  /** store.waitReplicas (0). */
  waitReplicas?: number;
  /** The records' planned failures; default: plan()'s mix. */
  plan?: (n: number, aggs: number) => Spec[];
}

export class LedgerRun {
  readonly dir = mkdtempSync(join(tmpdir(), 'zretry-ledger-'));
  readonly ledger = join(this.dir, 'ledger.jsonl');
  readonly topic = uniqueTopic('ledger');
  readonly dlt = `${this.topic}.dlt`;
  readonly namespace = uniqueNamespace('ledger');
  readonly specs: Spec[];
  readonly redisUrl: string;
  readonly brokers: string;
  readonly kafka: Kafka;
  readonly dispatch: 'process' | 'republish';
  private readonly children: Child[] = [];
  private readonly dead: { id: string; reason: string }[] = [];
  private dltConsumer: Consumer | null = null;
  private redis: RedisClient | null = null;

  constructor(private readonly o: RunOptions = {}) {
    this.specs = (o.plan ?? plan)(o.records ?? 200, o.aggregates ?? 20);
    this.redisUrl = o.redisUrl ?? redisUrl();
    this.brokers = o.brokers ?? kafkaBrokers();
    this.dispatch = o.dispatch ?? 'process';
    this.kafka = new kafkajs.Kafka({ clientId: 'ledger-test', brokers: this.brokers.split(','), logLevel: kafkajs.logLevel.NOTHING, retry: { retries: 30, maxRetryTime: 2_000 } });
    writeFileSync(this.ledger, '');
  }

  /** Settings shared by the consumer and the workers (the same namespace, policy and lease). */
  config(): Record<string, unknown> {
    return {
      store: {
        redisUrl: this.redisUrl,
        namespace: this.namespace,
        shards: this.o.shards ?? 2,
        commandTimeoutMs: 2_000,
        ...(this.o.cluster ? { cluster: true } : {}),
        ...(this.o.waitReplicas ? { waitReplicas: this.o.waitReplicas } : {}),
      },
      worker: { leaseMs: this.o.leaseMs ?? 2_000, taskConcurrency: this.o.concurrency ?? 20, maxSleepMs: 250, closeTimeoutMs: 2_000 },
      failure: { policy: { backoff: { type: 'fixed', delayMs: this.o.backoffMs ?? 200 }, maxAttempts: 4 } },
      consumer: { dispatch: this.dispatch, fromBeginning: true, redisProbeMs: 200, republishLeaseMs: 5_000 },
    };
  }

  /** Creates the topics and starts reading the DLT. */
  async start(): Promise<this> {
    const admin = this.kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [this.topic, this.dlt].map((topic) => ({ topic, numPartitions: this.o.partitions ?? 2 })), waitForLeaders: true });
    await admin.disconnect();
    this.dltConsumer = this.kafka.consumer({ groupId: `dlt-${this.topic}`, maxWaitTimeInMs: 50 });
    await this.dltConsumer.connect();
    await this.dltConsumer.subscribe({ topic: this.dlt, fromBeginning: true });
    await this.dltConsumer.run({
      eachMessage: async ({ message }) => {
        const v = JSON.parse(message.value!.toString()) as Spec;
        this.dead.push({ id: v.id, reason: message.headers?.['zretry-dead-reason']?.toString() ?? '?' });
      },
    });
    return this;
  }

  private spawnChild(args: string[], env: Record<string, string>, ready: RegExp): Promise<Child> {
    const proc = spawn('node', args, { cwd: ROOT, env: { ...process.env, LEDGER: this.ledger, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    const child: Child = { proc, output: () => out, signal: (sig) => void proc.kill(sig), exited };
    this.children.push(child);
    return waitFor(() => ready.test(out) || proc.exitCode !== null, 30_000, `${args.join(' ')} to start`).then(
      () => {
        if (proc.exitCode !== null) throw new Error(`process exited with ${proc.exitCode} before it was ready:\n${out.slice(-2_000)}`);
        return child;
      },
      (e: Error) => {
        throw new Error(`${e.message}; output:\n${out.slice(-2_000)}`);
      },
    );
  }

  /** Starts the consumer app (consume() without a worker). */
  consumer(env: Record<string, string> = {}, group = `g-${this.topic}`): Promise<Child> {
    return this.spawnChild(
      ['--import', 'tsx', join(import.meta.dirname, 'consumer-app.ts')],
      { KAFKA_BROKERS: this.brokers, LEDGER_GROUP: group, LEDGER_TOPIC: this.topic, LEDGER_CONFIG: JSON.stringify(this.config()), LEDGER_ROLE: 'consumer', ...env },
      /consumer ready/,
    );
  }

  /** Starts `zretry worker` with a config file; extra settings override the run's. */
  worker(env: Record<string, string> = {}, nodeArgs: string[] = []): Promise<Child> {
    const file = join(this.dir, `worker-${this.children.length}.json`);
    writeFileSync(file, JSON.stringify({ ...this.config(), kafka: { brokers: this.brokers.split(',') }, http: { enabled: false } }));
    return this.spawnChild([...nodeArgs, 'bin/zretry.js', 'worker', '--config', file, '--handler', HANDLER], { LEDGER_ROLE: 'worker', ...env }, /worker started/);
  }

  /** Produces the planned records (key = aggregate), in order. */
  async produce(from = 0, to = this.specs.length): Promise<void> {
    const producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      for (let i = from; i < to; i += 50) {
        await producer.send({
          topic: this.topic,
          acks: -1,
          messages: this.specs.slice(i, Math.min(i + 50, to)).map((s) => ({ key: s.agg, value: JSON.stringify(s) })),
        });
      }
    } finally {
      await producer.disconnect();
    }
  }

  /** Records of the topic the group has not committed yet. */
  async lag(group = `g-${this.topic}`): Promise<number> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const high = await admin.fetchTopicOffsets(this.topic);
      const [committed] = await admin.fetchOffsets({ groupId: group, topics: [this.topic] });
      return high.reduce((sum, p) => {
        const c = Number(committed?.partitions.find((x) => x.partition === p.partition)?.offset ?? -1);
        return sum + Number(p.high) - Math.max(c, 0);
      }, 0);
    } finally {
      await admin.disconnect();
    }
  }

  lines(): LedgerLine[] {
    const text = readFileSync(this.ledger, 'utf8');
    // a line a process is writing right now has no newline yet: leave it for the next read
    return text
      .slice(0, text.lastIndexOf('\n') + 1)
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as LedgerLine);
  }

  /** The store, for stats (a client of the run's Redis). */
  store(): TaskStore {
    this.redis ??= redisFromConfig({ redisUrl: this.redisUrl, cluster: this.o.cluster ?? false }, { maxRetriesPerRequest: 1 });
    this.redis.on('error', () => undefined);
    return new TaskStore(this.redis, { namespace: this.namespace, shards: this.o.shards ?? 2, maxBatch: 500 });
  }

  /** True when every record succeeded or reached the DLT and Redis holds no live task. */
  async finished(): Promise<boolean> {
    const ok = new Set(this.lines().filter((l) => l.ev === 'ok').map((l) => l.id));
    const dead = new Set(this.dead.map((d) => d.id));
    if (!this.specs.every((s) => ok.has(s.id) || dead.has(s.id))) return false;
    try {
      const t = (await this.store().stats()).total;
      return t.dueNow + t.dueLater + t.inflight + t.queued === 0;
    } catch {
      return false;
    }
  }

  /** Waits until finished(), or fails with the report of what is missing. */
  async waitUntilFinished(timeoutMs = 60_000): Promise<void> {
    try {
      await waitFor(() => this.finished(), timeoutMs, 'every record to succeed or reach the DLT');
    } catch (e) {
      const r = this.report();
      throw new Error(`${(e as Error).message}; lost so far: ${r.lost.slice(0, 20).join(', ')} (${r.lost.length}); children:\n${this.children.map((c) => c.output().slice(-1_500)).join('\n---\n')}`);
    }
  }

  /** The checks, from the ledger and the DLT. */
  report(): Report {
    const lines = this.lines();
    const okLines = lines.filter((l) => l.ev === 'ok');
    const okCount = new Map<string, number>();
    for (const l of okLines) okCount.set(l.id!, (okCount.get(l.id!) ?? 0) + 1);
    const deadCount = new Map<string, number>();
    for (const d of this.dead) deadCount.set(d.id, (deadCount.get(d.id) ?? 0) + 1);
    const lost = this.specs.filter((s) => !okCount.has(s.id) && !deadCount.has(s.id)).map((s) => s.id);
    const wronglyDead = this.specs.filter((s) => s.fail !== -1 && deadCount.has(s.id)).map((s) => s.id);
    const duplicateIds = [...okCount, ...deadCount].filter(([, n]) => n > 1).map(([id]) => id);
    const duplicates = [...okCount.values(), ...deadCount.values()].reduce((a, n) => a + n - 1, 0);

    // order: a record that succeeds is first tried only after the previous succeeding record of its aggregate succeeded
    const firstOk = new Map<string, number>();
    const firstTry = new Map<string, number>();
    lines.forEach((l, i) => {
      if (l.ev === 'ok' && !firstOk.has(l.id!)) firstOk.set(l.id!, i);
      if ((l.ev === 'ok' || l.ev === 'fail') && !firstTry.has(l.id!)) firstTry.set(l.id!, i);
    });
    const outOfOrder: string[] = [];
    const byAgg = new Map<string, Spec[]>();
    for (const s of this.specs) if (s.fail !== -1) (byAgg.get(s.agg) ?? byAgg.set(s.agg, []).get(s.agg)!).push(s);
    for (const list of byAgg.values()) {
      for (let k = 1; k < list.length; k++) {
        const prev = firstOk.get(list[k - 1]!.id);
        const cur = firstTry.get(list[k]!.id);
        if (prev !== undefined && cur !== undefined && cur < prev) outOfOrder.push(`${list[k]!.id} tried before ${list[k - 1]!.id} succeeded`);
      }
    }
    return {
      records: this.specs.length,
      succeeded: okCount.size,
      dead: deadCount.size,
      lost,
      outOfOrder,
      duplicates,
      duplicateIds,
      wronglyDead,
      handlerCalls: lines.filter((l) => l.ev !== 'killed').length,
    };
  }

  /** The ids planned to end in the DLT. */
  alwaysFailing(): string[] {
    return this.specs.filter((s) => s.fail === -1).map((s) => s.id);
  }

  /** One line for the test output, the source of the table in docs/guarantees.md. */
  summary(fault: string, r: Report, extra = ''): string {
    const line = `[fault] ${fault}: ${r.records} records, lost ${r.lost.length}, out of order ${r.outOfOrder.length}, duplicates ${r.duplicates}${r.duplicateIds.length ? ` (${r.duplicateIds.slice(0, 8).join(' ')})` : ''}, dead ${r.dead} of ${this.alwaysFailing().length} planned${extra ? `, ${extra}` : ''}`;
    console.log(line);
    return line;
  }

  /** Kills every child, stops the DLT reader, drops the namespace. */
  async cleanup(): Promise<void> {
    for (const c of this.children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
    await this.dltConsumer?.disconnect().catch(() => undefined);
    if (this.redis) {
      await dropNamespace(this.redis, this.namespace).catch(() => undefined);
      this.redis.disconnect();
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Registers cleanup after each test of the file; returns a function that starts a run. */
export function ledgerRuns(): (opts?: RunOptions) => Promise<LedgerRun> {
  const runs: LedgerRun[] = [];
  afterEach(async () => {
    for (const r of runs.splice(0)) await r.cleanup();
  });
  return (opts = {}) => {
    const r = new LedgerRun(opts);
    runs.push(r);
    return r.start();
  };
}
