/**
 * Tracing across retries, with the OpenTelemetry SDK's in-memory exporter,
 * through the real Kafka and Redis: a record that fails twice and then
 * succeeds yields one span per attempt, all in the trace of the record's
 * traceparent (children of it, and linked to it); in republish mode, the
 * republish and the dead-letter write get producer spans whose traceparent
 * the copy and the dead letter carry.
 */
import { context, propagation, trace, type SpanContext } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consume, type ZRetryConsumer } from '../../src/consume.js';
import type { HandlerRecord, RetryContext } from '../../src/handler.js';
import { collect, createTopic, dropNamespace, kafka, newRedis, redisUrl, silentLogger, uniqueNamespace, uniqueTopic, waitFor } from '../helpers/env.js';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const redis = newRedis();
const namespaces: string[] = [];
const SPAN_KINDS = ['INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(provider);
});
afterAll(async () => {
  trace.disable();
  context.disable();
  propagation.disable();
  for (const ns of namespaces) await dropNamespace(redis, ns);
  await redis.quit();
});

/** The span of the application that produced the record, and its traceparent. */
function producerSpan(topic: string): { context: SpanContext; traceparent: string } {
  const span = trace.getTracer('the-app').startSpan(`send ${topic}`);
  span.end();
  const c = span.spanContext();
  return { context: c, traceparent: `00-${c.traceId}-${c.spanId}-01` };
}

/** A span as a person reads it (what the test prints). */
function show(s: ReadableSpan): string {
  const attrs = Object.entries(s.attributes)
    .filter(([k]) => k.startsWith('zretry.'))
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');
  const links = s.links.map((l) => `${l.context.traceId.slice(0, 8)}…/${l.context.spanId}`).join(',');
  return `${s.name.padEnd(34)} ${SPAN_KINDS[s.kind]!.padEnd(8)} trace=${s.spanContext().traceId.slice(0, 8)}… span=${s.spanContext().spanId} parent=${s.parentSpanContext?.spanId ?? '-'} links=[${links}] status=${s.status.code === 2 ? 'ERROR' : 'OK'} ${attrs}`;
}

/** zretry's finished spans of one trace, in the order they started. */
function spansOf(traceId: string): ReadableSpan[] {
  return exporter
    .getFinishedSpans()
    .filter((s) => s.instrumentationScope.name === 'zretry' && s.spanContext().traceId === traceId)
    .sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1]);
}

async function start(topic: string, handler: (r: HandlerRecord, ctx: RetryContext) => Promise<void>, config: Record<string, unknown>): Promise<ZRetryConsumer> {
  const namespace = uniqueNamespace('trace');
  namespaces.push(namespace);
  return consume({
    kafka: kafka(),
    groupId: `g-${namespace}`,
    topics: [topic],
    handler,
    logger: silentLogger(),
    config: { store: { redisUrl: redisUrl(), namespace, shards: 1 }, consumer: { fromBeginning: true, ...(config.consumer as object) }, worker: { maxSleepMs: 100 }, failure: config.failure as never },
  });
}

async function produce(topic: string, key: string, traceparent: string): Promise<void> {
  const p = kafka().producer();
  await p.connect();
  await p.send({ topic, messages: [{ key, value: '{"amount":12}', headers: { traceparent } }] });
  await p.disconnect();
}

describe('a span per attempt, in the record’s trace', () => {
  it('fails twice, then succeeds: three attempt spans, children of and linked to the incoming traceparent', async () => {
    const topic = uniqueTopic('traced');
    await createTopic([topic, `${topic}.dlt`]);
    const seen: Array<{ attempt: number; active: string | undefined }> = [];
    const z = await start(
      topic,
      async (_r, ctx) => {
        seen.push({ attempt: ctx.attempt, active: trace.getActiveSpan()?.spanContext().spanId });
        if (ctx.attempt < 3) throw new Error(`payment service timeout (attempt ${ctx.attempt})`);
      },
      { failure: { policy: { backoff: { type: 'fixed', delayMs: 150 }, maxAttempts: 5 } } },
    );
    try {
      const origin = producerSpan(topic);
      await produce(topic, 'customer-7', origin.traceparent);
      await waitFor(() => spansOf(origin.context.traceId).some((s) => s.attributes['zretry.outcome'] === 'success'), 30_000, 'the third attempt to succeed');
      const spans = spansOf(origin.context.traceId);
      console.log(`spans of the record (trace ${origin.context.traceId}, produced by span ${origin.context.spanId}):\n  ${spans.map(show).join('\n  ')}`);
      expect(spans.map((s) => [s.name, SPAN_KINDS[s.kind], s.attributes['zretry.attempt'], s.attributes['zretry.outcome'], s.attributes['zretry.delay_ms']])).toEqual([
        [`process ${topic}`, 'CONSUMER', 1, 'retry', 150],
        [`process ${topic}`, 'CONSUMER', 2, 'retry', 150],
        [`process ${topic}`, 'CONSUMER', 3, 'success', undefined],
      ]);
      for (const s of spans) {
        expect(s.parentSpanContext?.spanId).toBe(origin.context.spanId);
        expect(s.links.map((l) => l.context.spanId)).toEqual([origin.context.spanId]);
        expect(s.attributes).toMatchObject({ 'zretry.task_id': `${topic}/0/0`, 'zretry.aggregate': 'customer-7', 'messaging.destination.name': topic });
      }
      expect(spans[0]!.status.code).toBe(2);
      expect(spans[0]!.events.map((e) => e.name)).toEqual(['exception']);
      expect(spans[2]!.status.code).toBe(0);
      // retries run in a worker: claimed for a due time, which the span carries
      expect(spans[1]!.attributes['zretry.due_at']).toEqual(expect.any(Number));
      expect(spans[0]!.attributes['zretry.due_at']).toBeUndefined();
      // the handler ran inside each attempt's span
      expect(seen.map((x) => x.active)).toEqual(spans.map((s) => s.spanContext().spanId));
    } finally {
      await z.close();
    }
  });

  it('republish mode: the copy carries the republish span, the dead letter the dead-letter span; all in the record’s trace', async () => {
    const topic = uniqueTopic('traced-rep');
    await createTopic([topic, `${topic}.dlt`]);
    const copies: string[] = [];
    const dlt = await collect(`${topic}.dlt`);
    const z = await start(
      topic,
      async (r, ctx) => {
        copies.push(String(r.message.headers.traceparent));
        throw new Error(`card declined (attempt ${ctx.attempt})`);
      },
      { consumer: { dispatch: 'republish' }, failure: { policy: { backoff: { type: 'fixed', delayMs: 100 }, maxAttempts: 2 } } },
    );
    try {
      const origin = producerSpan(topic);
      await produce(topic, 'customer-9', origin.traceparent);
      await waitFor(() => dlt.messages.length === 1, 30_000, 'the dead letter');
      await waitFor(() => spansOf(origin.context.traceId).length === 4, 5_000, 'four spans');
      const spans = spansOf(origin.context.traceId);
      console.log(`spans of the record in republish mode (trace ${origin.context.traceId}, produced by span ${origin.context.spanId}):\n  ${spans.map(show).join('\n  ')}`);
      const [first, republish, second, dead] = spans;
      expect(spans.map((s) => [s.name, SPAN_KINDS[s.kind], s.attributes['zretry.attempt'], s.attributes['zretry.outcome']])).toEqual([
        [`process ${topic}`, 'CONSUMER', 1, 'retry'],
        [`republish ${topic}`, 'PRODUCER', 2, 'republished'],
        [`process ${topic}`, 'CONSUMER', 2, 'dead'],
        [`dead-letter ${topic}.dlt`, 'PRODUCER', 2, 'written'],
      ]);
      const tp = (s: ReadableSpan) => `00-${s.spanContext().traceId}-${s.spanContext().spanId}-01`;
      // the handler saw the original traceparent, then the copy's: the republish span's
      expect(copies).toEqual([origin.traceparent, tp(republish!)]);
      // the first attempt and the republish are children of the record's own span; the copy's attempt and
      // its dead letter of the republish span, whose traceparent the copy brought
      for (const s of [first!, republish!]) expect(s.parentSpanContext?.spanId).toBe(origin.context.spanId);
      for (const s of [second!, dead!]) expect(s.parentSpanContext?.spanId).toBe(republish!.spanContext().spanId);
      expect(String(dlt.messages[0]!.headers.traceparent)).toBe(tp(dead!));
      expect(dead!.attributes).toMatchObject({ 'zretry.task_id': `${topic}/0/0`, 'zretry.aggregate': 'customer-9', 'zretry.target_topic': `${topic}.dlt` });
    } finally {
      await dlt.stop();
      await z.close();
    }
  });
});
