/**
 * The flow the ACL tests run as the least-privilege users, on a single
 * Redis (acl.test.ts) and on the cluster (acl-cluster.test.ts): consume()
 * with its embedded worker in process mode, retries, a dead letter, then
 * the operator CLI (stats, dead list, purge; the worker user may not
 * purge), with no other refusal in the ACL LOG.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import { consume } from '../../src/consume.js';
import { aclUser, type AclRole } from '../../src/store/acl.js';
import { collect, createTopic, kafka, silentLogger, uniqueTopic, waitFor } from '../helpers/env.js';

const run = promisify(execFile);

/** Runs a line as a shell would, e.g. `redis-cli -u <url> ACL SETUSER ...`. */
export const sh = (line: string) =>
  run('sh', ['-c', line]).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

/** The zretry command, through a shell. */
export const zretry = (args: string[]) => sh(['node', 'bin/zretry.js', ...args].map((a) => `'${a}'`).join(' '));

/** Where the flow runs and how to read its refusals. */
export interface AclTarget {
  namespace: string;
  /** store settings that connect as the worker user (redisUrl, cluster, shards) */
  workerStore: Record<string, unknown>;
  /** CLI arguments that connect as a role's user to the namespace */
  cliArgs(role: AclRole): string[];
  /** Refusals in the ACL LOG (of every node) */
  refusals(): Promise<Array<{ user?: string; object?: string }>>;
  /** Checks while consume() runs */
  whileRunning?(): Promise<void>;
}

/** The whole flow as the ACL users; fails naming what Redis refused. */
export async function aclFlow(t: AclTarget): Promise<void> {
    const topic = uniqueTopic('acl');
    await createTopic(topic, 2);
    const calls = new Map<string, number>();
    const succeeded = new Set<string>();
    const z = await consume({
      kafka: kafka('acl'),
      groupId: `g-${topic}`,
      topics: [topic],
      logger: silentLogger(),
      handler: async (r) => {
        const v = r.message.value!.toString();
        const n = (calls.get(v) ?? 0) + 1;
        calls.set(v, n);
        if (v === 'r:7') throw new Error('always fails');
        if (Number(v.split(':')[1]) % 4 === 1 && n < 3) throw new Error(`fails on try ${n}`);
        succeeded.add(v);
      },
      config: {
        store: { ...t.workerStore, namespace: t.namespace },
        worker: { maxSleepMs: 200 },
        failure: { policy: { backoff: { type: 'fixed', delayMs: 100 }, maxAttempts: 3 } },
        consumer: { dispatch: 'process', fromBeginning: true },
      },
      consumerConfig: { maxWaitTimeInMs: 50 },
    });
    let closed = false;
    const dlt = await collect(`${topic}.dlt`).catch(async (e: unknown) => {
      await z.close();
      throw e;
    });
    try {
      await t.whileRunning?.();
      const producer = kafka().producer();
      await producer.connect();
      await producer.send({ topic, acks: -1, messages: Array.from({ length: 16 }, (_, i) => ({ key: `k${i % 5}`, value: `r:${i}` })) });
      await producer.disconnect();

      await waitFor(() => succeeded.size === 15 && dlt.messages.length === 1, 20_000, 'every record handled and one dead letter').catch(async (e: Error) => {
        // a missing right shows as a stall; say which command Redis refused
        throw new Error(`${e.message}; refused by the ACL: ${JSON.stringify(await t.refusals())}`);
      });
      expect(dlt.messages.map((m) => m.value?.toString())).toEqual(['r:7']);
      expect([1, 5, 9, 13].map((i) => calls.get(`r:${i}`))).toEqual([3, 3, 3, 3]);
      expect(calls.get('r:7')).toBe(3);
      await waitFor(async () => {
        const { total } = await z.store.stats();
        return total.dueNow + total.dueLater + total.inflight + total.queued === 0 && total.dead === 1;
      }, 10_000, 'the store to drain, the dead task kept');
      await z.close();
      closed = true;

      const op = t.cliArgs('operator');
      const [stats, dead] = await Promise.all([zretry(['stats', '--json', ...op]), zretry(['dead', 'list', '--json', ...op])]);
      expect(stats.code, stats.stderr).toBe(0);
      expect((JSON.parse(stats.stdout) as { total: Record<string, number> }).total).toMatchObject({ dueNow: 0, dueLater: 0, inflight: 0, queued: 0, dead: 1 });
      expect(dead.code, dead.stderr).toBe(0);
      const deadTasks = (JSON.parse(dead.stdout) as { tasks: Array<{ aggregateId: string; lastError: { message: string }; record: { topic: string } }> }).tasks;
      expect(deadTasks.map((t) => [t.aggregateId, t.lastError.message, t.record.topic])).toEqual([['k2', 'always fails', topic]]);

      // the worker may not delete a whole namespace; the operator may
      const workerPurge = await zretry(['purge', '--yes', ...t.cliArgs('worker')]);
      expect(workerPurge.code).toBe(1);
      expect(workerPurge.stderr).toContain("NOPERM this user has no permissions to run the 'del' command");
      const purge = await zretry(['purge', '--yes', ...op]);
      expect(purge.code, purge.stderr).toBe(0);
      expect(purge.stdout).toMatch(new RegExp(`^purged namespace ${t.namespace}: 1 tasks, \\d+ keys`));

      // no command of the flow was refused: the documented rules are enough
      // (the purge by the worker user above is the only refusal, and it was meant)
      const refused = (await t.refusals()).filter((e) => !(e.user === aclUser('worker', t.namespace) && e.object === 'del'));
      expect(refused).toEqual([]);
    } finally {
      await dlt.stop();
      if (!closed) await z.close();
    }
}
