/**
 * A dependency outage against the real Kafka and Redis, with consume() and
 * its worker (process dispatch): for 10 s the handler fails every record
 * that needs the payment service (error class PaymentDown); the others
 * fail once (Flaky) and then succeed. The breaker of error:PaymentDown
 * opens by itself, no record dies of exhausted attempts, the Flaky ones
 * keep flowing, a probe every second finds the service back, and the
 * backlog comes back on the ramp. The timeline is printed for the docs
 * (docs/dispatch-control.md).
 */
import { afterEach, expect, it } from 'vitest';
import { consume } from '../../src/consume.js';
import type { ControlTransition } from '../../src/store/scripts.js';
import { collect, consumerSettings, createTopic, kafka, newRedis, silentLogger, testingCluster, uniqueNamespace, uniqueTopic, waitFor, dropNamespace, zretryKafka } from '../helpers/env.js';

class PaymentDown extends Error {
  override name = 'PaymentDown';
}
class Flaky extends Error {
  override name = 'Flaky';
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const PAYMENTS = 150;
const OTHERS = 150;
const OUTAGE_MS = 10_000;

it('a 10 s outage of one dependency: its breaker opens, nothing dies, the rest flows, the backlog comes back on the ramp', async () => {
  const topic = uniqueTopic('outage');
  const namespace = uniqueNamespace('outage');
  await createTopic(topic, 2);
  const redis = newRedis();
  let outageEnds = Infinity;
  const succeeded = new Map<string, { at: number; attempt: number; kind: 'payment' | 'other' }>();
  const paymentRuns: number[] = [];
  const transitions: ControlTransition[] = [];
  let dead = 0;
  const z = await consume({
    kafka: zretryKafka('zretry-outage'),
    groupId: `g-${namespace}`,
    topics: [topic],
    redis,
    logger: silentLogger(),
    handler: (record, ctx) => {
      const key = record.message.key!.toString();
      const payment = key.startsWith('pay-');
      if (payment) paymentRuns.push(Date.now());
      if (payment && Date.now() < outageEnds) throw new PaymentDown('payment service unavailable');
      if (!payment && ctx.attempt === 1) throw new Flaky('try again');
      succeeded.set(key, { at: Date.now(), attempt: ctx.attempt, kind: payment ? 'payment' : 'other' });
    },
    config: {
      store: { namespace, shards: testingCluster() ? 16 : 4 },
      worker: { maxSleepMs: 1_000, leaseMs: 5_000 },
      // without the breaker every payment record would die after 0.5 + 1 + 2 s of retries
      failure: { policy: { backoff: { type: 'exponential', initialMs: 500, multiplier: 2, maxMs: 5_000 }, maxAttempts: 4 } },
      dispatch: { syncMs: 200, breaker: { minAttempts: 20, failureRate: 0.8, windowMs: 5_000, probeIntervalMs: 1_000 }, ramp: { startRate: 10, doublingMs: 1_000, endRate: 1_000 } },
      consumer: { fromBeginning: true },
    },
    consumerConfig: consumerSettings({ maxWaitTimeInMs: 50 }),
  });
  z.events.on('dispatch-transition', (t) => void transitions.push(t));
  z.events.on('dead', () => void dead++);
  // attempts counted for the payment class, when: none may be counted while its breaker is open
  const paymentRetries: number[] = [];
  z.events.on('retried', ({ error }) => void (error?.class === 'PaymentDown' && paymentRetries.push(Date.now())));
  const dlt = await collect(`${topic}.dlt`);
  cleanups.push(async () => {
    await dlt.stop();
    await z.close();
    await dropNamespace(redis, namespace);
    await redis.quit();
  });

  const start = Date.now();
  outageEnds = start + OUTAGE_MS;
  const p = kafka().producer();
  await p.connect();
  const messages = [
    ...Array.from({ length: PAYMENTS }, (_, i) => ({ key: `pay-${i}`, value: `payment ${i}` })),
    ...Array.from({ length: OTHERS }, (_, i) => ({ key: `mail-${i}`, value: `mail ${i}` })),
  ];
  await p.send({ topic, acks: -1, messages });
  await p.disconnect();

  await waitFor(() => succeeded.size === PAYMENTS + OTHERS, 60_000, 'every record to succeed').catch(async (e: unknown) => {
    // what a timeout leaves behind, so a failure in CI says where the records are
    const missing = messages.map((m) => m.key).filter((k) => !succeeded.has(k));
    const stats = await z.store.stats().catch((err: unknown) => String(err));
    console.log(
      JSON.stringify({ missing: missing.length, sample: missing.slice(0, 10), dead, transitions: transitions.map((t) => ({ ...t, at: t.at - start })), stats }, null, 1),
    );
    throw e;
  });
  const rel = (t: number) => ((t - start) / 1000).toFixed(2);
  const opened = transitions.find((t) => t.scope === 'error:PaymentDown' && t.to === 'opened');
  const closed = transitions.find((t) => t.scope === 'error:PaymentDown' && t.to === 'closed');
  const probes = transitions.filter((t) => t.scope === 'error:PaymentDown' && t.to === 'probe');
  const others = [...succeeded.values()].filter((s) => s.kind === 'other');
  const payments = [...succeeded.values()].filter((s) => s.kind === 'payment');
  const lastOther = Math.max(...others.map((s) => s.at));
  const afterClose = paymentRuns.filter((t) => closed && t >= closed.at).sort((a, b) => a - b);
  const perSecond: number[] = [];
  for (const t of afterClose) perSecond[Math.floor((t - closed!.at) / 1000)] = (perSecond[Math.floor((t - closed!.at) / 1000)] ?? 0) + 1;
  console.log(
    [
      `outage timeline (t = 0 when ${PAYMENTS} payment and ${OTHERS} other records were produced; the payment service is down until t = ${OUTAGE_MS / 1000} s):`,
      `  breaker error:PaymentDown opened at t = ${opened ? rel(opened.at) : '-'} s (${String(opened?.failed)} of ${String(opened?.attempts)} attempts failed)`,
      `  probes at t = ${probes.map((t) => rel(t.at)).join(', ')} s`,
      `  closed at t = ${closed ? rel(closed.at) : '-'} s after ${String(closed?.probes)} probes`,
      `  other records: all ${others.length} succeeded by t = ${rel(lastOther)} s`,
      `  payment records after the close, per second: ${perSecond.map((n) => n ?? 0).join(' ')} (ramp from 10/s, doubling every second)`,
      `  all ${payments.length} payment records succeeded by t = ${rel(Math.max(...payments.map((s) => s.at)))} s, most attempts ${Math.max(...payments.map((s) => s.attempt))} of 4; records dead: ${dead}`,
    ].join('\n'),
  );
  expect(opened).toBeDefined();
  expect(closed).toBeDefined();
  expect(probes.length).toBeGreaterThan(0);
  expect(dead).toBe(0);
  expect(dlt.messages).toEqual([]);
  // the other class kept flowing during the outage
  expect(lastOther).toBeLessThan(outageEnds);
  // no attempt was counted while the breaker was open: a failure then (a probe, or a task under way) went back
  // keeping its attempt; the grace covers the writes of failures judged before it opened
  const whileOpen = paymentRetries.filter((t) => t > opened!.at + 500 && t < closed!.at);
  expect(whileOpen).toEqual([]);
  // the backlog came back on the ramp, not at once: by the end of second k after the close, at most what a rate of
  // 10/s doubling every second allows (10/ln 2 (2^(k+1) - 1) tokens, plus the ramp's bucket of a tenth of the
  // rate), with 20 % to spare; an upper bound only, so a slow machine passes too
  let cumulative = 0;
  perSecond.forEach((n, k) => {
    cumulative += n ?? 0;
    const T = k + 1;
    expect(cumulative).toBeLessThanOrEqual(Math.ceil(1.2 * ((10 / Math.LN2) * (2 ** T - 1) + 2 ** T) + 3));
  });
  expect(closed!.at).toBeGreaterThanOrEqual(outageEnds - 50);
  expect((await z.store.stats()).total).toMatchObject({ dead: 0, held: 0 });
}, 90_000);
