/** A namespace-wide rate limit with three workers on one Redis (test/integration/dispatch-rate.ts). */
import { describe } from 'vitest';
import { rateScenario } from './dispatch-rate.js';

describe('dispatch rate limit', () => rateScenario('one Redis'));
