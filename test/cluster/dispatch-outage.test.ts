/** The dependency outage of test/integration/dispatch-outage.test.ts on the Redis Cluster: the control slot on one master, the shards on three. */
import { useCluster } from '../helpers/env.js';

useCluster();
await import('../integration/dispatch-outage.test.js');
