/**
 * Reports every handler call as a `handled` event (topic, duration,
 * success or error), wherever it runs: the consumer's first tries and
 * blocking retries, and the worker's process dispatch.
 */
import type { ZRetryEmitter } from './events.js';
import type { Handler } from './handler.js';

/** The handler, emitting `handled` after each call. */
export function timedHandler(handler: Handler, events: ZRetryEmitter): Handler {
  return async (record, ctx) => {
    const started = performance.now();
    try {
      await handler(record, ctx);
    } catch (err) {
      events.emit('handled', { topic: record.topic, durationMs: performance.now() - started, result: 'error' });
      throw err;
    }
    events.emit('handled', { topic: record.topic, durationMs: performance.now() - started, result: 'success' });
  };
}
