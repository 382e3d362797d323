/**
 * The least-privilege ACL on the real Redis Cluster (3 masters + 3
 * replicas): the users are created on every node by the exact shell lines
 * `zretry acl --cluster` prints (`redis-cli --cluster call ...`, run by a
 * shell, `|` quoted), then consume() with its embedded worker, retries, a
 * dead letter and the operator CLI run as those users. No node's ACL LOG
 * may show a refusal of these users, except the purge the worker user is
 * not allowed.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aclClusterCommand, aclUser, type AclRole } from '../../src/store/acl.js';
import { clusterNodes, uniqueNamespace, useCluster } from '../helpers/env.js';
import { aclFlow, sh, zretry } from './acl-flow.js';

useCluster();

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

  it('consume() with its worker retries and dead-letters, the operator CLI reads and purges, over the shards of every master, with no command refused', async () => {
    await aclFlow({
      namespace,
      workerStore: { redisUrl: url('worker'), cluster: true, shards: 16 },
      cliArgs: (role) => ['--redis', url(role), '--cluster', '--namespace', namespace],
      refusals,
    });
  }, 90_000);
});
