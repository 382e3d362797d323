/**
 * `zretry worker` as a process on the real Redis Cluster
 * (ZRETRY_REDIS_CLUSTER=1; test/integration/worker-process.test.ts): the
 * /metrics gauges match the store, /readyz lists every master, SIGTERM
 * loses nothing.
 */
import { useCluster } from '../helpers/env.js';

useCluster();
await import('../integration/worker-process.test.js');
