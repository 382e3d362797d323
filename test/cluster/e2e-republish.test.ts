/**
 * The end-to-end scenarios of dispatch republish (test/integration/e2e-scenarios.ts,
 * the seed scenario first) on the real Redis Cluster: consume() with its
 * embedded worker on a Cluster client, shards on three masters.
 */
import { describe } from 'vitest';
import { useCluster } from '../helpers/env.js';
import { scenarios } from '../integration/e2e-scenarios.js';

useCluster();
describe('end to end on the cluster, dispatch republish', () => scenarios('republish'));
