import { describe } from 'vitest';
import { commonScenarios } from './e2e-scenarios.js';

describe('end to end, consumer behaviour', () => commonScenarios());
