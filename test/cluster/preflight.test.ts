/** The start-up check of test/integration/preflight.test.ts on the Redis Cluster: every master is asked for its replicas. */
import { useCluster } from '../helpers/env.js';

useCluster();
await import('../integration/preflight.test.js');
