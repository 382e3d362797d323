/**
 * Dispatch 'republish': due tasks go back to Kafka (the original topic and
 * partition, or a configured retry topic) with an idempotent producer,
 * acks=all, in batches. The task then stays in flight under a longer lease
 * until the retrying consumer reports the handler's outcome; if that lease
 * runs out the task is republished again, and the token check in admit
 * skips the stale copy.
 */
import type { Producer, TopicMessages } from './client.js';
import type { Logger } from 'pino';
import { describeError } from '../policy/classify.js';
import type { TaskStore } from '../store/store.js';
import type { ClaimedTask } from '../store/task.js';
import { sleep } from '../util/sleep.js';
import { lease } from '../worker/outcomes.js';
import type { LazyTaskRunner } from '../worker/worker.js';
import { startProducerSpan, traceparentOf } from '../tracing.js';
import { republishKafkaHeaders } from './headers.js';

/** Where and how republished records go. */
export interface RepublishOptions {
  producer: Producer;
  store: TaskStore;
  logger: Logger;
  /** Target topic of a task; default: the original topic (and partition). */
  retryTopic?: (sourceTopic: string) => string;
  /** How long a republished record may take to come back through the consumer. */
  republishLeaseMs: number;
  /** Signs the copies' zretry headers (HMAC-SHA256), so forged ones are not taken for copies. */
  secret?: string;
  /** Makes sure a retry topic exists before the first send to it (a standalone worker learns its topics from its tasks). */
  ensureTopic?: (topic: string, like: string) => Promise<void>;
}

type Pending = { task: ClaimedTask; done: () => void };

/** A runner that sends tasks to Kafka in batches. */
export function republishRunner(opts: RepublishOptions): LazyTaskRunner {
  const log = opts.logger.child({ component: 'republish' });
  let pending: Pending[] = [];
  let scheduled = false;

  async function flush(): Promise<void> {
    scheduled = false;
    const batch = pending;
    pending = [];
    const byTopic = new Map<string, TopicMessages>();
    const spans: Array<NonNullable<ReturnType<typeof startProducerSpan>>> = [];
    for (const { task } of batch) {
      const r = task.record;
      const retry = opts.retryTopic?.(r.topic);
      const topic = retry ?? r.topic;
      let tm = byTopic.get(topic);
      if (!tm) byTopic.set(topic, (tm = { topic, messages: [] }));
      // traced: the copy carries the republish span's traceparent
      const traced = startProducerSpan('republish', task, topic);
      if (traced) spans.push(traced);
      tm.messages.push({
        key: r.key,
        value: r.value,
        partition: retry === undefined ? r.partition : undefined,
        headers: republishKafkaHeaders(task, opts.secret, traced ? traceparentOf(traced.span) : undefined),
      });
    }
    for (let delay = 100; ; delay = Math.min(delay * 2, 5_000)) {
      try {
        if (opts.ensureTopic && opts.retryTopic) {
          for (const tm of byTopic.values()) {
            const source = batch.find((p) => opts.retryTopic!(p.task.record.topic) === tm.topic)!.task.record.topic;
            await opts.ensureTopic(tm.topic, source);
          }
        }
        await opts.producer.sendBatch({ topicMessages: [...byTopic.values()], acks: -1 });
        for (const s of spans) s.done();
        break;
      } catch (error) {
        for (const s of spans) s.span.addEvent('republish failed; trying again', { 'exception.message': describeError(error, 0).message });
        // Kafka away: hold the batch (and the worker's slots, which pauses claiming) and try again.
        log.warn({ err: describeError(error, 500), count: batch.length }, 'republish failed; holding the tasks and trying again');
        await opts.store.extend(batch.map((p) => lease(p.task)), opts.republishLeaseMs).catch(() => undefined);
        await sleep(delay);
      }
    }
    // The slots are free once Kafka has the copies; the leases are stretched meanwhile (a copy the
    // consumer admits first takes the task with its own token, and this extend is refused for it).
    for (const p of batch) p.done();
    opts.store.extend(batch.map((p) => lease(p.task)), opts.republishLeaseMs).catch((error: unknown) => {
      // The short claim lease still runs: at worst the task is republished once more, and the stale copy is skipped.
      log.warn({ err: describeError(error, 500) }, 'extending leases after republish failed');
    });
  }

  const run = (task: ClaimedTask): Promise<void> =>
    new Promise<void>((done) => {
      pending.push({ task, done });
      if (!scheduled) {
        scheduled = true;
        setImmediate(() => void flush());
      }
    });
  return {
    ownsLease: () => true,
    run,
    // the abort state is never read here: no AbortSignal per task
    runLazy: run,
  };
}
