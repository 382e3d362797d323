import { describe } from 'vitest';
import { clientUnderTest } from '../helpers/env.js';
import { commonScenarios } from './e2e-scenarios.js';

describe(`end to end (${clientUnderTest}), consumer behaviour`, () => commonScenarios());
