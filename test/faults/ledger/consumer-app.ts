/**
 * The consumer process of the fault-injection suite: consume() with the
 * ledger handler and no embedded worker (standalone workers do that), as a
 * service would run it. Configured from the environment by the harness;
 * prints "consumer ready" when it has joined. SIGTERM closes it cleanly.
 *
 *   LEDGER_KILL=scheduled  SIGKILL right after the first failure is stored in
 *                          Redis, before its offset is resolved or committed
 */
import kafkajs from 'kafkajs';
import pino from 'pino';
import { consume } from '../../../src/consume.js';
import handler, { killOnce } from './handler.mjs';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

const logger = pino({ name: 'ledger-consumer' });
const kafka = new kafkajs.Kafka({
  clientId: 'ledger-consumer',
  brokers: env('KAFKA_BROKERS').split(','),
  logLevel: kafkajs.logLevel.ERROR,
  retry: { retries: 100, initialRetryTime: 200, maxRetryTime: 2_000 },
});
const z = await consume({
  kafka,
  groupId: env('LEDGER_GROUP'),
  topics: [env('LEDGER_TOPIC')],
  handler,
  logger,
  worker: false,
  // the planned id is the dedup id (as a service would use its own message ids)
  messageId: (r) => (JSON.parse(r.message.value!.toString()) as { id: string }).id,
  config: JSON.parse(env('LEDGER_CONFIG')),
  consumerConfig: { maxWaitTimeInMs: 50, sessionTimeout: 6_000, heartbeatInterval: 500, rebalanceTimeout: 10_000, retry: { retries: 100 } },
});
if (process.env.LEDGER_KILL === 'scheduled') {
  z.events.on('scheduled', (e) => {
    // the id travels as `stored`: the checker expects it never to run again as a first attempt
    if (e.outcome === 'scheduled') killOnce('consumer-after-schedule', { stored: e.id });
  });
}
z.consumer.on(z.consumer.events.GROUP_JOIN, (e) => logger.info({ assigned: e.payload.memberAssignment }, 'group joined'));
logger.info('consumer ready');
process.on('SIGTERM', () => {
  void z.close().then(() => process.exit(0), () => process.exit(1));
});
