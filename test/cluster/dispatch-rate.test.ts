/** A namespace-wide rate limit with three workers on the Redis Cluster: the limiter's slot and the shards on three masters (test/integration/dispatch-rate.ts). */
import { describe } from 'vitest';
import { useCluster } from '../helpers/env.js';
import { rateScenario } from '../integration/dispatch-rate.js';

useCluster();
describe('dispatch rate limit on the cluster', () => rateScenario('the Redis Cluster'));
