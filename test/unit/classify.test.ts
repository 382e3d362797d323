import { describe, expect, it } from 'vitest';
import { causeChain, classify, describeError, requestedDelayMs } from '../../src/policy/classify.js';
import { PayloadError, StoreError, ZRetryError } from '../../src/errors.js';

class HttpError extends Error {
  constructor(readonly status: number) {
    super(`HTTP ${status}`);
  }
}
class TimeoutError extends Error {}

function jsonParseError(): unknown {
  try {
    JSON.parse('{not json');
  } catch (e) {
    return e;
  }
  throw new Error('JSON.parse did not throw');
}

describe('classify: default fatal list', () => {
  it('SyntaxError from JSON.parse is fatal', () => {
    expect(classify(jsonParseError())).toEqual({ kind: 'fatal', matched: 'SyntaxError' });
  });

  it('PayloadError and ZRetryFatalError are fatal by name', () => {
    expect(classify(new PayloadError('bad bytes'))).toMatchObject({ kind: 'fatal' });
    class ZRetryFatalError extends Error {}
    expect(classify(new ZRetryFatalError('no'))).toEqual({ kind: 'fatal', matched: 'ZRetryFatalError' });
    const named = Object.assign(new Error('renamed'), { name: 'ZRetryFatalError' });
    expect(classify(named)).toEqual({ kind: 'fatal', matched: 'ZRetryFatalError' });
  });

  it('fatal === true and retriable === false are fatal; retriable === true is not', () => {
    expect(classify(Object.assign(new Error('x'), { fatal: true }))).toEqual({ kind: 'fatal', matched: 'fatal-flag' });
    expect(classify(Object.assign(new Error('x'), { retriable: false }))).toEqual({ kind: 'fatal', matched: 'retriable-false' });
    expect(classify(new StoreError('redis down', 'claim', 0, { retriable: true }))).toEqual({ kind: 'retriable' });
    expect(classify(new ZRetryError('plain'))).toMatchObject({ kind: 'fatal', matched: 'retriable-false' });
  });

  it('ordinary errors are retriable', () => {
    expect(classify(new Error('ECONNRESET'))).toEqual({ kind: 'retriable' });
    expect(classify(new TypeError('x is undefined'))).toEqual({ kind: 'retriable' });
  });

  it('useDefaultFatal: false turns the list off', () => {
    expect(classify(jsonParseError(), { useDefaultFatal: false })).toEqual({ kind: 'retriable' });
  });
});

describe('classify: cause chain', () => {
  it('a retriable wrapper with a fatal cause is fatal', () => {
    const err = new Error('handler failed', { cause: new Error('decode failed', { cause: jsonParseError() }) });
    expect(classify(err)).toEqual({ kind: 'fatal', matched: 'SyntaxError' });
  });

  it('stops at maxCauseDepth', () => {
    const deep = new Error('l0', { cause: new Error('l1', { cause: new Error('l2', { cause: jsonParseError() }) }) });
    expect(classify(deep, { maxCauseDepth: 2 })).toEqual({ kind: 'retriable' });
    expect(classify(deep, { maxCauseDepth: 3 })).toMatchObject({ kind: 'fatal' });
    expect(causeChain(deep, 2)).toHaveLength(3);
  });

  it('a cycle in the cause chain does not hang', () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    expect(classify(a)).toEqual({ kind: 'retriable' });
    expect(classify(a, { retryOn: [TimeoutError] })).toEqual({ kind: 'fatal', matched: 'not-in-retryOn' });
    expect(causeChain(a)).toEqual([a, b]);
    expect(requestedDelayMs(a)).toBeUndefined();
    const self = new Error('self');
    (self as { cause?: unknown }).cause = self;
    expect(classify(self)).toEqual({ kind: 'retriable' });
  });
});

describe('classify: lists', () => {
  it('retryOn by class', () => {
    const opts = { retryOn: [TimeoutError] };
    expect(classify(new TimeoutError('slow'), opts)).toEqual({ kind: 'retriable', matched: 'TimeoutError' });
    expect(classify(new Error('wrapped', { cause: new TimeoutError('slow') }), opts)).toMatchObject({ kind: 'retriable' });
    expect(classify(new Error('other'), opts)).toEqual({ kind: 'fatal', matched: 'not-in-retryOn' });
  });

  it('retryOn by name string (class name or error.name)', () => {
    expect(classify(new HttpError(503), { retryOn: ['HttpError'] })).toEqual({ kind: 'retriable', matched: 'HttpError' });
    const named = Object.assign(new Error('reset'), { name: 'ConnectionReset' });
    expect(classify(named, { retryOn: ['ConnectionReset'] })).toEqual({ kind: 'retriable', matched: 'ConnectionReset' });
    expect(classify(new TypeError('x'), { retryOn: ['HttpError'] })).toEqual({ kind: 'fatal', matched: 'not-in-retryOn' });
  });

  it('retryOn by predicate', () => {
    const is5xx = (e: unknown) => e instanceof HttpError && e.status >= 500;
    expect(classify(new HttpError(503), { retryOn: [is5xx] })).toEqual({ kind: 'retriable', matched: 'is5xx' });
    expect(classify(new HttpError(404), { retryOn: [is5xx] })).toEqual({ kind: 'fatal', matched: 'not-in-retryOn' });
  });

  it('a predicate that throws does not match and does not crash', () => {
    const careless = (e: unknown) => (e as Error).message.includes('x');
    expect(classify('a string', { retryOn: [careless] })).toEqual({ kind: 'fatal', matched: 'not-in-retryOn' });
  });

  it('empty retryOn means everything not fatal is retried', () => {
    expect(classify(new Error('x'), { retryOn: [] })).toEqual({ kind: 'retriable' });
  });

  it('doNotRetry and fatal win over retryOn, anywhere in the chain', () => {
    const err = new TimeoutError('slow', { cause: new HttpError(400) });
    expect(classify(err, { retryOn: [TimeoutError], doNotRetry: [HttpError] })).toEqual({ kind: 'fatal', matched: 'HttpError' });
    expect(classify(err, { retryOn: [TimeoutError], fatal: ['HttpError'] })).toEqual({ kind: 'fatal', matched: 'HttpError' });
  });

  it('default fatal wins over retryOn', () => {
    expect(classify(jsonParseError(), { retryOn: [SyntaxError] })).toEqual({ kind: 'fatal', matched: 'SyntaxError' });
    expect(classify(jsonParseError(), { retryOn: [SyntaxError], useDefaultFatal: false })).toMatchObject({ kind: 'retriable' });
  });
});

describe('classify: non-Error values', () => {
  it.each([['a string'], [42], [null], [undefined], [{ code: 'E' }], [Symbol('s')], [Object.create(null)]])('%s does not crash', (v) => {
    expect(classify(v)).toEqual({ kind: 'retriable' });
    expect(classify(v, { retryOn: [HttpError, 'HttpError', () => false] })).toEqual({ kind: 'fatal', matched: 'not-in-retryOn' });
  });

  it('plain objects with fatal flags or a known name', () => {
    expect(classify({ fatal: true })).toEqual({ kind: 'fatal', matched: 'fatal-flag' });
    expect(classify({ name: 'PayloadError' })).toEqual({ kind: 'fatal', matched: 'PayloadError' });
    expect(classify({ name: 'Throttled' }, { retryOn: ['Throttled'] })).toEqual({ kind: 'retriable', matched: 'Throttled' });
  });

  it('a plain-object cause is walked', () => {
    expect(classify(new Error('w', { cause: { retriable: false } }))).toEqual({ kind: 'fatal', matched: 'retriable-false' });
  });
});

describe('requestedDelayMs', () => {
  it('retryAfterMs, or retryAfter in seconds', () => {
    expect(requestedDelayMs(Object.assign(new Error(), { retryAfterMs: 250 }))).toBe(250);
    expect(requestedDelayMs(Object.assign(new Error(), { retryAfter: 2 }))).toBe(2000);
    expect(requestedDelayMs(Object.assign(new Error(), { retryAfter: 0 }))).toBe(0);
    expect(requestedDelayMs({ retryAfterMs: 10 })).toBe(10);
  });

  it('looks through causes, outermost first', () => {
    const inner = Object.assign(new Error('inner'), { retryAfterMs: 900 });
    expect(requestedDelayMs(new Error('outer', { cause: inner }))).toBe(900);
    expect(requestedDelayMs(Object.assign(new Error('outer', { cause: inner }), { retryAfter: 1 }))).toBe(1000);
  });

  it('undefined when absent, negative or not finite', () => {
    expect(requestedDelayMs(new Error('x'))).toBeUndefined();
    expect(requestedDelayMs('retryAfterMs')).toBeUndefined();
    expect(requestedDelayMs(null)).toBeUndefined();
    expect(requestedDelayMs({ retryAfterMs: -1 })).toBeUndefined();
    expect(requestedDelayMs({ retryAfterMs: NaN, retryAfter: Infinity })).toBeUndefined();
    expect(requestedDelayMs({ retryAfterMs: '100' })).toBeUndefined();
  });
});

describe('describeError', () => {
  it('class is the constructor name', () => {
    expect(describeError(new HttpError(500))).toMatchObject({ class: 'HttpError', message: 'HTTP 500' });
    expect(describeError(new TypeError('t'))).toMatchObject({ class: 'TypeError', message: 't' });
    expect(describeError(new Error('e'))).toMatchObject({ class: 'Error', message: 'e' });
    expect(describeError(jsonParseError()).class).toBe('SyntaxError');
  });

  it('keeps the stack, trimmed to maxStackChars; 0 drops it', () => {
    const err = new Error('boom');
    expect(describeError(err).stack).toBe(err.stack!.slice(0, 2000));
    expect(describeError(err, 20).stack).toBe(err.stack!.slice(0, 20));
    expect(describeError(err, 20).stack).toHaveLength(20);
    expect(describeError(err, 0).stack).toBeUndefined();
  });

  it('truncates long messages to 1000 chars', () => {
    const long = 'x'.repeat(5000);
    expect(describeError(new Error(long)).message).toHaveLength(1000);
    expect(describeError(long)).toEqual({ class: 'NonError', message: 'x'.repeat(1000) });
  });

  it('non-errors: class NonError, message as text', () => {
    expect(describeError('oops')).toEqual({ class: 'NonError', message: 'oops' });
    expect(describeError(42)).toEqual({ class: 'NonError', message: '42' });
    expect(describeError(undefined)).toEqual({ class: 'NonError', message: 'undefined' });
    expect(describeError(null)).toEqual({ class: 'NonError', message: 'null' });
    expect(describeError({ code: 'E1' })).toEqual({ class: 'NonError', message: '{"code":"E1"}' });
    expect(describeError(10n)).toEqual({ class: 'NonError', message: '10' });
  });

  it('values that cannot be printed do not crash', () => {
    const circular: Record<string, unknown> = Object.create(null);
    circular.self = circular;
    expect(describeError(circular)).toEqual({ class: 'NonError', message: '[unprintable value]' });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(describeError(cyclic)).toEqual({ class: 'NonError', message: '[object Object]' });
    expect(describeError(Symbol('s'))).toEqual({ class: 'NonError', message: 'Symbol(s)' });
  });
});
