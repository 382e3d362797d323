import { describe, expect, it } from 'vitest';
import { closest, editDistance } from '../../src/config/closest.js';

describe('closest: the name a typo most likely meant', () => {
  it('counts edits case-insensitively, a swap of neighbours as one', () => {
    expect(editDistance('maxAttempt', 'maxAttempts')).toBe(1);
    expect(editDistance('dltSufix', 'dltSuffix')).toBe(1);
    expect(editDistance('laeseMs', 'leaseMs')).toBe(1);
    expect(editDistance('MAXATTEMPTS', 'maxAttempts')).toBe(0);
    expect(editDistance('', 'abc')).toBe(3);
  });
  it('picks the nearest candidate within a third of the length (at least 2 edits)', () => {
    const keys = ['backoff', 'maxAttempts', 'maxElapsedMs', 'retryAfter'];
    expect(closest('maxAttempt', keys)).toBe('maxAttempts');
    expect(closest('maxElapsed', keys)).toBe('maxElapsedMs');
    expect(closest('colour', keys)).toBeUndefined();
  });
  it('falls back to Spring names, only when the synonym is valid here', () => {
    expect(closest('attempts', ['backoff', 'maxAttempts'])).toBe('maxAttempts');
    expect(closest('maxDelay', ['type', 'delayMs', 'multiplier', 'maxMs', 'jitter'])).toBe('maxMs');
    expect(closest('maxDelay', ['type', 'delayMs', 'jitter'])).toBeUndefined();
  });
});
