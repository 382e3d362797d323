/**
 * The least-privilege ACL on the real Redis Cluster (3 masters + 3
 * replicas): the users are created on every node by the exact shell lines
 * `zretry acl --cluster` prints (`redis-cli --cluster call ...`, run by a
 * shell, `|` quoted), then consume() with its embedded worker, retries, a
 * dead letter and the operator CLI run as those users. No node's ACL LOG
 * may show a refusal of these users, except the purge the worker user is
 * not allowed.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consume } from '../../src/consume.js';
import { aclClusterCommand, aclUser, type AclRole } from '../../src/store/acl.js';
import { clusterNodes, collect, createTopic, kafka, silentLogger, uniqueNamespace, uniqueTopic, useCluster, waitFor } from '../helpers/env.js';

useCluster();
const run = promisify(execFile);
const sh = (line: string) =>
  run('sh', ['-c', line]).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
const zretry = (args: string[]) => sh(['node', 'bin/zretry.js', ...args].map((a) => `'${a}'`).join(' '));

const namespace = uniqueNamespace('aclc');
const password = randomUUID();
const seed = () => clusterNodes()[0]!;
const url = (role: AclRole) => `redis://${aclUser(role, namespace)}:${password}@${seed()}`;
const nodes = () => clusterNodes().map((n) => new Redis({ host: n.split(':')[0], port: Number(n.split(':')[1]) }));

/** Refusals of this namespace's users in every node's ACL LOG. */
async function refusals(): Promise<Array<{ node: string; user: string; object: string; reason: string }>> {
  const out: Array<{ node: string; user: string; object: string; reason: string }> = [];
  for (const r of nodes()) {
    try {
      for (const flat of (await r.call('ACL', 'LOG')) as string[][]) {
        const e: Record<string, string> = {};
        for (let i = 0; i < flat.length; i += 2) e[flat[i]!] = String(flat[i + 1]);
        if (e.username?.startsWith(namespace)) out.push({ node: `${r.options.host}:${r.options.port}`, user: e.username, object: e.object!, reason: e.reason! });
      }
    } finally {
      r.disconnect();
    }
  }
  return out;
}

describe('the ACL on Redis Cluster', () => {
  beforeAll(async () => {
    for (const role of ['worker', 'operator'] as AclRole[]) {
      // the line `zretry acl --cluster` prints, with the password filled in, through a shell
      const printed = await zretry(['acl', '--cluster', '--redis', `redis://${seed()}`, '--namespace', namespace, '--role', role]);
      expect(printed.code, printed.stderr).toBe(0);
      expect(printed.stdout.trim()).toBe(aclClusterCommand(role, namespace, seed()));
      const r = await sh(printed.stdout.trim().replace('<password>', password));
      // one OK per node: masters and replicas
      expect((r.stdout.match(/: OK/g) ?? []).length, r.stdout + r.stderr).toBe(clusterNodes().length);
    }
  });
  afterAll(async () => {
    await sh(`redis-cli --cluster call ${seed()} ACL DELUSER ${aclUser('worker', namespace)} ${aclUser('operator', namespace)}`);
  });

  it('docs/security.md shows the cluster lines `zretry acl --cluster` prints', async () => {
    const doc = readFileSync('docs/security.md', 'utf8');
    for (const role of ['worker', 'operator'] as AclRole[]) expect(doc).toContain(aclClusterCommand(role, 'billing', '10.0.0.1:7000'));
    const printed = await zretry(['acl', '--cluster', '--redis', 'redis://10.0.0.1:7000', '--namespace', 'billing']);
    expect(printed.stdout.trim().split('\n')).toEqual([aclClusterCommand('worker', 'billing', '10.0.0.1:7000'), aclClusterCommand('operator', 'billing', '10.0.0.1:7000')]);
  });

  it('consume() with its worker retries and dead-letters, the operator CLI reads and purges, on every master, with no command refused', async () => {
    const topic = uniqueTopic('aclc');
    await createTopic(topic, 2);
    const calls = new Map<string, number>();
    const succeeded = new Set<string>();
    const z = await consume({
      kafka: kafka('aclc'),
      groupId: `g-${topic}`,
      topics: [topic],
      logger: silentLogger(),
      handler: async (r) => {
        const v = r.value!.toString();
        const n = (calls.get(v) ?? 0) + 1;
        calls.set(v, n);
        if (v === 'r:7') throw new Error('always fails');
        if (Number(v.split(':')[1]) % 4 === 1 && n < 3) throw new Error(`fails on try ${n}`);
        succeeded.add(v);
      },
      config: {
        store: { redisUrl: url('worker'), cluster: true, namespace, shards: 16 },
        worker: { maxSleepMs: 200 },
        failure: { policy: { backoff: { type: 'fixed', delayMs: 100 }, maxAttempts: 3 } },
        consumer: { dispatch: 'process', fromBeginning: true },
      },
      consumerConfig: { maxWaitTimeInMs: 50 },
    });
    let closed = false;
    const dlt = await collect(`${topic}.dlt`);
    try {
      const producer = kafka().producer();
      await producer.connect();
      await producer.send({ topic, acks: -1, messages: Array.from({ length: 16 }, (_, i) => ({ key: `k${i % 5}`, value: `r:${i}` })) });
      await producer.disconnect();
      await waitFor(() => succeeded.size === 15 && dlt.messages.length === 1, 30_000, 'every record handled and one dead letter').catch(async (e: Error) => {
        throw new Error(`${e.message}; refused by the ACL: ${JSON.stringify(await refusals())}`);
      });
      expect(dlt.messages.map((m) => m.value?.toString())).toEqual(['r:7']);
      expect([1, 5, 9, 13].map((i) => calls.get(`r:${i}`))).toEqual([3, 3, 3, 3]);
      await waitFor(async () => {
        const { total } = await z.store.stats();
        return total.dueNow + total.dueLater + total.inflight + total.queued === 0 && total.dead === 1;
      }, 10_000, 'the store to drain, the dead task kept');
      await z.close();
      closed = true;

      const op = ['--redis', url('operator'), '--cluster', '--namespace', namespace];
      const stats = await zretry(['stats', '--json', ...op]);
      expect(stats.code, stats.stderr).toBe(0);
      expect((JSON.parse(stats.stdout) as { total: Record<string, number> }).total).toMatchObject({ dueNow: 0, inflight: 0, queued: 0, dead: 1 });
      const workerPurge = await zretry(['purge', '--yes', '--redis', url('worker'), '--cluster', '--namespace', namespace]);
      expect(workerPurge.code).toBe(1);
      expect(workerPurge.stderr).toContain("NOPERM this user has no permissions to run the 'del' command");
      const purge = await zretry(['purge', '--yes', ...op]);
      expect(purge.code, purge.stderr).toBe(0);
      expect(purge.stdout).toMatch(new RegExp(`^purged namespace ${namespace}: 1 tasks, \\d+ keys`));
      const refused = (await refusals()).filter((e) => !(e.user === aclUser('worker', namespace) && e.object === 'del'));
      expect(refused).toEqual([]);
    } finally {
      await dlt.stop();
      if (!closed) await z.close();
    }
  }, 90_000);
});
