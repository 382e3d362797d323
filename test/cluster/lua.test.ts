/**
 * The Lua script tests (test/lua/scripts.test.ts, every script, every
 * return code; test/lua/operator.test.ts, the operator scripts over 2
 * shards) on the real Redis Cluster of scripts/services, and what only
 * a cluster shows: a namespace's shards spread over the masters, each
 * script runs on its shard's master, and each shard's wake-up reaches a
 * sharded subscriber from that master.
 */
import { describe, expect, it } from 'vitest';
import { isCluster, masterOfKey, masters, subscriberFor } from '../../src/store/client.js';
import { shardKeys } from '../../src/store/keys.js';
import { DEFAULT_SHARDS } from '../../src/store/namespace.js';
import { keySlot } from '../../src/store/slot.js';
import { TaskStore } from '../../src/store/store.js';
import { dropNamespace, newRedis, uniqueNamespace, useCluster, waitFor } from '../helpers/env.js';
import { failed } from '../lua/fixtures.js';

useCluster();
await import('../lua/scripts.test.js');
await import('../lua/operator.test.js');

describe('on the cluster', () => {
  it('a namespace of the default shard count spreads over the 3 masters; every shard is scheduled, claimed and acked on its own master', async () => {
    const redis = newRedis();
    const namespace = uniqueNamespace();
    try {
      expect(isCluster(redis)).toBe(true);
      expect((await masters(redis)).length).toBe(3);
      const store = new TaskStore(redis, { namespace, shards: DEFAULT_SHARDS, maxBatch: 100 });
      const perMaster = new Map<string, number>();
      for (let s = 0; s < DEFAULT_SHARDS; s++) {
        const keys = shardKeys(namespace, s);
        // every key of a shard, and its wake channel, in one slot
        expect(new Set([...keys, store.channels[s]!].map(keySlot)).size).toBe(1);
        const m = masterOfKey(redis, keys[0]!);
        perMaster.set(m, (perMaster.get(m) ?? 0) + 1);
      }
      expect(perMaster.size).toBe(3);
      const tasks = Array.from({ length: 200 }, (_, i) => failed(i, `agg-${i % 50}`));
      expect(new Set(await store.schedule(tasks))).toEqual(new Set(['scheduled', 'queued']));
      const claimed = (await Promise.all(Array.from({ length: DEFAULT_SHARDS }, (_, s) => store.claim(s, 100, 10_000)))).flatMap((c) => c.tasks);
      expect(claimed).toHaveLength(50); // one head per aggregate
      expect((await store.ack(claimed)).every((c) => c === 'ok')).toBe(true);
      // each ack promoted the next task of its aggregate, on the same shard
      expect((await store.stats()).total).toMatchObject({ dueNow: 50, queued: 100, inflight: 0 });
    } finally {
      await dropNamespace(redis, namespace);
      redis.disconnect();
    }
  });

  it('a task that becomes the earliest of its shard nudges a sharded subscriber, from every master (SPUBLISH in the shard slot)', async () => {
    const redis = newRedis();
    const namespace = uniqueNamespace();
    const sub = subscriberFor(redis);
    try {
      const shards = 8;
      const store = new TaskStore(redis, { namespace, shards, maxBatch: 100 });
      const heard = new Set<string>();
      sub.on('smessage', (ch: string) => heard.add(ch));
      for (const c of store.channels) await sub.ssubscribe(c);
      const tasks = Array.from({ length: 64 }, (_, i) => failed(i, `a${i}`, 60_000));
      await store.schedule(tasks);
      const shardsUsed = new Set(tasks.map((t) => store.shardOf(t.aggregateId, t.id)));
      await waitFor(() => heard.size === shardsUsed.size, 5_000, 'a nudge from every shard');
      expect([...heard].sort()).toEqual([...shardsUsed].map((s) => store.channels[s]!).sort());
      // and they came from all three masters
      expect(new Set([...shardsUsed].map((s) => masterOfKey(redis, shardKeys(namespace, s)[0]!))).size).toBe(3);
    } finally {
      sub.disconnect();
      await dropNamespace(redis, namespace);
      redis.disconnect();
    }
  });
});
