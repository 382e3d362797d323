import { describe } from 'vitest';
import { clientUnderTest } from '../helpers/env.js';
import { scenarios } from './e2e-scenarios.js';

describe(`end to end (${clientUnderTest}), dispatch process`, () => scenarios('process'));
