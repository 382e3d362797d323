/**
 * Tracing with OpenTelemetry, when the application has it: a span per
 * handler attempt (src/handler-call.ts), per republish and per dead-letter
 * write, each a child of the record's incoming W3C `traceparent` and linked
 * to it, so a record's retries stay in its trace however long they take.
 * The republished copy and the dead letter carry a `traceparent` of their
 * own span.
 *
 * @opentelemetry/api is an optional peer dependency, loaded on first use.
 * Without it, or with no tracer provider registered, activeTracer() is null
 * and nothing else here runs: the hot path pays one check.
 */
import { createRequire } from 'node:module';
import type * as OtelApi from '@opentelemetry/api';
import type { HandlerRecord, RecordHeaders } from './handler.js';
import type { RecordHeader } from './store/record-codec.js';
import type { ClaimedTask } from './store/task.js';
import type { AttemptEnd, AttemptOutcome } from './tracing-types.js';

type Api = typeof OtelApi;
type Tracer = OtelApi.Tracer;
type Span = OtelApi.Span;

/** The instrumentation scope zretry's spans carry. */
export const TRACER_NAME = 'zretry';

/** The API module; undefined until looked for, null when not installed. */
let api: Api | null | undefined;

function load(): Api | null {
  if (api !== undefined) return api;
  try {
    // the CommonJS build: synchronous, and it shares the global provider with the ESM one
    api = createRequire(import.meta.url)('@opentelemetry/api') as Api;
  } catch {
    api = null;
  }
  return api;
}

/** The last answer of activeTracer, and when it was looked up (local ms). */
let known: { tracer: Tracer | null; at: number } | null = null;
/** How long an answer holds: a provider registered later is seen within this (every attempt asks). */
const TRACER_RECHECK_MS = 1_000;

/** The tracer of the registered provider, or null when there is none (or no @opentelemetry/api). */
export function activeTracer(): Tracer | null {
  const now = Date.now();
  if (known !== null && now - known.at < TRACER_RECHECK_MS) return known.tracer;
  known = { tracer: lookUpTracer(), at: now };
  return known.tracer;
}

function lookUpTracer(): Tracer | null {
  const a = api === undefined ? load() : api;
  if (a === null) return null;
  // the global provider is a proxy; its delegate tracer exists only once a provider is registered
  const provider = a.trace.getTracerProvider() as OtelApi.TracerProvider & { getDelegateTracer?: (name: string) => Tracer | undefined };
  return typeof provider.getDelegateTracer === 'function' ? (provider.getDelegateTracer(TRACER_NAME) ?? null) : provider.getTracer(TRACER_NAME);
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$/;

/** The span context a W3C traceparent names, or null when it is absent or malformed. */
export function parseTraceparent(value: string | undefined): OtelApi.SpanContext | null {
  const m = value === undefined ? null : TRACEPARENT.exec(value.trim());
  if (!m || m[1] === 'ff' || /^0+$/.test(m[2]!) || /^0+$/.test(m[3]!)) return null;
  return { traceId: m[2]!, spanId: m[3]!, traceFlags: parseInt(m[4]!, 16) & 1, isRemote: true };
}

/** The W3C traceparent of a span. */
export function traceparentOf(span: Span): string {
  const c = span.spanContext();
  return `00-${c.traceId}-${c.spanId}-${(c.traceFlags & 1).toString(16).padStart(2, '0')}`;
}

/** A record's traceparent, from kafkajs-style headers or zretry's ordered list. */
function traceparentIn(headers: RecordHeaders | readonly RecordHeader[]): string | undefined {
  const v = Array.isArray(headers) ? (headers as readonly RecordHeader[]).find(([n]) => n === 'traceparent')?.[1] : (headers as RecordHeaders).traceparent;
  const one = Array.isArray(v) ? v[0] : v;
  return one === undefined || one === null ? undefined : one.toString();
}

/** What a span of zretry's says about its task. */
export interface TaskAttributes {
  attempt: number;
  /** The task id (for a first attempt: the message id it would get as a task). */
  taskId: string | null;
  aggregateId: string | null;
  /** The due time it ran for (Redis ms), when a worker claimed it. */
  dueAt?: number;
}

/**
 * Starts a span under the record's traceparent (its child, with a link to
 * it), or under the active context when the record has none.
 */
function startSpan(tracer: Tracer, a: Api, name: string, kind: OtelApi.SpanKind, parentHeader: string | undefined, attrs: TaskAttributes, topic: string, partition: number, offset: string): { span: Span; context: OtelApi.Context } {
  const remote = parseTraceparent(parentHeader);
  const parent = remote ? a.trace.setSpanContext(a.context.active(), remote) : a.context.active();
  const attributes: OtelApi.Attributes = {
    'messaging.system': 'kafka',
    'messaging.destination.name': topic,
    'messaging.destination.partition.id': String(partition),
    'messaging.kafka.offset': Number(offset),
    'zretry.attempt': attrs.attempt,
  };
  if (attrs.taskId !== null) attributes['zretry.task_id'] = attrs.taskId;
  if (attrs.aggregateId !== null) attributes['zretry.aggregate'] = attrs.aggregateId;
  if (attrs.dueAt) attributes['zretry.due_at'] = attrs.dueAt;
  const span = tracer.startSpan(name, { kind, attributes, links: remote ? [{ context: remote, attributes: { 'zretry.link': 'record' } }] : [] }, parent);
  return { span, context: a.trace.setSpan(parent, span) };
}

/** The span of one handler attempt; the handler runs in its context. */
export class AttemptSpan implements AttemptEnd {
  private ended = false;

  constructor(
    private readonly span: Span,
    readonly context: OtelApi.Context,
  ) {}

  /** Ends it with the attempt's outcome (and, for a retry, the delay before the next attempt). */
  end(outcome: AttemptOutcome, delayMs?: number, error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.span.setAttribute('zretry.outcome', outcome);
    if (delayMs !== undefined) this.span.setAttribute('zretry.delay_ms', delayMs);
    if (error !== undefined) {
      this.span.recordException(error instanceof Error ? error : new Error(String(error)));
      this.span.setStatus({ code: 2, message: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
    }
    this.span.end();
  }
}

/** Starts the span of an attempt of record, or returns null when not tracing. */
export function startAttempt(tracer: Tracer, record: HandlerRecord, attrs: TaskAttributes): AttemptSpan {
  const a = api!;
  const { span, context } = startSpan(tracer, a, `process ${record.topic}`, a.SpanKind.CONSUMER, traceparentIn(record.message.headers), attrs, record.topic, record.partition, record.message.offset);
  return new AttemptSpan(span, context);
}

/** Runs fn in an attempt's context (so the handler's own spans are its children). */
export function inContext<T>(s: AttemptSpan, fn: () => T): T {
  return api!.context.with(s.context, fn);
}

/**
 * A producer span for a task's record on its way to Kafka (a republished
 * copy, or a dead letter), or null when not tracing; end it with done().
 */
export function startProducerSpan(kind: 'republish' | 'dead-letter', task: ClaimedTask, target: string): { span: Span; done: (error?: unknown) => void } | null {
  const tracer = activeTracer();
  if (tracer === null) return null;
  const a = api!;
  const r = task.record;
  // a copy carries the next attempt; a dead letter counts the attempts made (a doomed task's count is complete)
  const attempt = task.attempt + (kind === 'republish' || !task.doomed ? 1 : 0);
  const { span } = startSpan(tracer, a, `${kind} ${target}`, a.SpanKind.PRODUCER, traceparentIn(r.headers), { attempt, taskId: task.id, aggregateId: task.aggregateId, dueAt: task.dueAt }, r.topic, r.partition, r.offset);
  span.setAttribute('zretry.target_topic', target);
  return {
    span,
    done: (error) => {
      span.setAttribute('zretry.outcome', error === undefined ? (kind === 'republish' ? 'republished' : 'written') : 'failed');
      if (error !== undefined) {
        span.recordException(error instanceof Error ? error : new Error(String(error)));
        span.setStatus({ code: 2 });
      }
      span.end();
    },
  };
}
