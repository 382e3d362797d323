import { describe } from 'vitest';
import { scenarios } from './e2e-scenarios.js';

describe('end to end, dispatch process', () => scenarios('process'));
