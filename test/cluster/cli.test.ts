/**
 * The zretry command on the real Redis Cluster (ZRETRY_REDIS_CLUSTER=1;
 * test/integration/cli.test.ts): stats, list, show, retry-now, kill, skip,
 * dead, pause, resume, shift, purge over shards on three masters.
 */
import { useCluster } from '../helpers/env.js';

useCluster();
await import('../integration/cli.test.js');
