/**
 * The least-privilege Redis ACL of docs/security.md, on a redis-server of
 * the test's own: the users are created from the exact lines the docs show
 * (through a shell and redis-cli, as a person would paste them), then the
 * whole flow runs as those users: consume() with its embedded worker in
 * process mode, retries, a dead letter, and the operator CLI. Redis's ACL
 * LOG must show no refusal during the flow, and the users must be refused
 * outside their namespace.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorker } from '../../src/create-worker.js';
import { aclRules, aclSetUserLine, aclUser, SCRIPT_COMMANDS, type AclRole } from '../../src/store/acl.js';
import { wakeChannel } from '../../src/store/keys.js';
import { loadScripts } from '../../src/store/lua-loader.js';
import { TaskStore } from '../../src/store/store.js';
import { silentLogger, uniqueNamespace } from '../helpers/env.js';
import { ownRedis, type OwnRedis } from '../helpers/redis-process.js';
import { aclFlow, sh, zretry } from './acl-flow.js';

describe('the ACL rules match the code', () => {
  it('docs/security.md shows exactly the ACL SETUSER lines that `zretry acl` prints', async () => {
    const doc = readFileSync('docs/security.md', 'utf8');
    for (const role of ['worker', 'operator'] as AclRole[]) expect(doc).toContain(aclSetUserLine(role, 'billing'));
    const printed = await zretry(['acl', '--namespace', 'billing']);
    expect(printed.code).toBe(0);
    expect(printed.stdout.trim().split('\n')).toEqual([aclSetUserLine('worker', 'billing'), aclSetUserLine('operator', 'billing')]);
  });

  it('every command a Lua script calls is granted, and every script names its command literally', () => {
    const called = new Set<string>();
    for (const s of loadScripts()) {
      const calls = [...s.lua.matchAll(/redis\.p?call\(\s*([^,)]*)/g)].map((m) => m[1]!.trim());
      for (const c of calls) {
        // a command chosen at run time could not be checked against the ACL
        expect(c, `${s.name}: redis.call with a computed command name`).toMatch(/^'[A-Za-z]+'$/);
        called.add(c.slice(1, -1).toLowerCase());
      }
    }
    expect([...called].filter((c) => !(SCRIPT_COMMANDS as readonly string[]).includes(c))).toEqual([]);
    // and nothing granted for the scripts that they no longer call
    expect(SCRIPT_COMMANDS.filter((c) => !called.has(c))).toEqual([]);
  });
});

describe('the whole flow as the ACL users', () => {
  let redisProc: OwnRedis;
  let admin: Redis;
  const namespace = uniqueNamespace('acl');
  const password = randomUUID();
  const url = (role: AclRole) => redisProc.url.replace('redis://', `redis://${aclUser(role, namespace)}:${password}@`);

  /** Refusals in Redis's ACL LOG, as { user, reason, object }. */
  const aclLog = async () =>
    ((await admin.call('ACL', 'LOG')) as string[][]).map((flat) => {
      const e = Object.fromEntries(flat.map((v, i) => (i % 2 === 0 ? [v, flat[i + 1]] : null)).filter((x) => x !== null)) as Record<string, string>;
      return { user: e.username, reason: e.reason, object: e.object };
    });

  beforeAll(async () => {
    redisProc = await ownRedis();
    admin = new Redis(redisProc.url);
    for (const role of ['worker', 'operator'] as AclRole[]) {
      const r = await sh(`redis-cli -u ${redisProc.url} ${aclSetUserLine(role, namespace, password)}`);
      expect(r.stdout.trim(), r.stderr).toBe('OK');
    }
  });
  afterAll(async () => {
    admin?.disconnect();
    await redisProc?.cleanup();
  });

  it('consume() with its worker retries, dead-letters, and the operator CLI reads and purges, with no command refused', async () => {
    await aclFlow({
      namespace,
      workerStore: { redisUrl: url('worker'), shards: 2 },
      cliArgs: (role) => ['--redis', url(role), '--namespace', namespace, '--shards', '2'],
      refusals: aclLog,
      // the embedded worker listens on the wake channels as the worker user
      whileRunning: async () =>
        expect(await admin.call('PUBSUB', 'SHARDNUMSUB', wakeChannel(namespace, 0), wakeChannel(namespace, 1))).toEqual([wakeChannel(namespace, 0), 1, wakeChannel(namespace, 1), 1]),
    });
  }, 60_000);

  it('outside its namespace, a user is refused with the NOPERM message a person reads', async () => {
    const worker = new Redis(url('worker'));
    const operator = new Redis(url('operator'));
    try {
      const other = uniqueNamespace('other');
      // a granted command on a key of another namespace
      await expect(worker.hget(`{${other}:0}:tasks`, 'x')).rejects.toThrow('NOPERM this user has no permissions to access one of the keys used as arguments');
      // the scripts on another namespace's keys
      await expect(new TaskStore(worker, { namespace: other, shards: 1, maxBatch: 10 }).stats()).rejects.toThrow(
        'NOPERM this user has no permissions to access one of the keys used as arguments',
      );
      await expect(operator.del(`{${other}:0}:due`)).rejects.toThrow('NOPERM this user has no permissions to access one of the keys used as arguments');
      // a namespace whose name starts with this one's is another namespace
      await expect(worker.hget(`{${namespace}x:0}:tasks`, 'x')).rejects.toThrow('NOPERM this user has no permissions to access one of the keys used as arguments');
      // another namespace's wake channel
      await expect(worker.spublish(wakeChannel(other, 0), '1')).rejects.toThrow('NOPERM this user has no permissions to access one of the channels used as arguments');
      // commands outside the list, even on its own keys
      await expect(worker.get(`{${namespace}:0}:seq`)).rejects.toThrow("NOPERM this user has no permissions to run the 'get' command");
      await expect(worker.config('SET', 'maxmemory-policy', 'allkeys-lru')).rejects.toThrow("NOPERM this user has no permissions to run the 'config|set' command");
      await expect(operator.flushall()).rejects.toThrow("NOPERM this user has no permissions to run the 'flushall' command");
      await expect(operator.keys('*')).rejects.toThrow("NOPERM this user has no permissions to run the 'keys' command");
      // its own keys are fine
      expect(await worker.hget(`{${namespace}:0}:tasks`, 'x')).toBeNull();
    } finally {
      worker.disconnect();
      operator.disconnect();
    }
  });

  it('a user without INFO is stopped at start with what to grant, not a bare NOPERM', async () => {
    const user = `${namespace}-noinfo`;
    const rules = aclRules('worker', namespace).filter((r) => r !== '+info');
    await admin.call('ACL', 'SETUSER', user, 'reset', 'on', `>${password}`, ...rules);
    // ioredis's own ready check also uses INFO; it is off here so the refusal reaches preflight
    const redis = new Redis(redisProc.url.replace('redis://', `redis://${user}:${password}@`), { enableReadyCheck: false });
    try {
      await expect(createWorker({ handler: () => {}, redis, logger: silentLogger(), config: { store: { namespace } } })).rejects.toThrow(
        /Redis refused INFO to this user \(NOPERM .*\).*Grant it with ACL SETUSER <user> \+info/,
      );
    } finally {
      redis.disconnect();
    }
  });
});
