/**
 * The start-up check against the real Redis (and, from test/cluster/, the
 * Redis Cluster): a store.waitReplicas no master can meet is refused at
 * start, naming the count found and the fix, instead of every schedule
 * waiting in vain. (An eviction policy is refused in worker-direct.test.ts,
 * on one node of a cluster in test/cluster/failover.test.ts.)
 */
import { expect, it } from 'vitest';
import { preflight } from '../../src/store/preflight.js';
import { newRedis, testingCluster } from '../helpers/env.js';

it('store.waitReplicas above the replicas a master has is refused at start, with the count found and the fix', async () => {
  const redis = newRedis();
  try {
    // the tests' cluster has one replica per master, the tests' Redis none
    const have = testingCluster() ? 1 : 0;
    await expect(preflight(redis, { allowEviction: false, waitReplicas: have + 1 })).rejects.toThrow(
      new RegExp(`^store\\.waitReplicas is ${have + 1} but (the master|master \\S+) has ${have} connected replicas?: every schedule would wait in vain\\. Add replicas, or lower store\\.waitReplicas \\(ZRETRY_WAIT_REPLICAS\\)\\.$`),
    );
    const ok = await preflight(redis, { allowEviction: false, waitReplicas: have });
    expect(ok.version).toMatch(/^7\./);
    // on a cluster every node is read, replicas too
    expect(ok.nodes.length).toBe(testingCluster() ? 6 : 1);
  } finally {
    redis.disconnect();
  }
});
