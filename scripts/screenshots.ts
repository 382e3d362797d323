/**
 * The dashboard screenshots in docs/: a consumer with its worker on the real
 * Redis and Kafka (scripts/services up), a handler that fails some records,
 * a rate limit on its timeouts' retries, 40 seconds of traffic, then the
 * overview and a task's page in chromium.
 *
 *   bash scripts/services up && set -a && . .services/env && set +a && npx tsx scripts/screenshots.ts
 */
import { Kafka, logLevel } from 'kafkajs';
import pino from 'pino';
import { serveAdmin } from '../src/cli/admin.js';
import { adminSchema } from '../src/config/schema.js';
import { consume } from '../src/consume.js';
import { launchBrowser } from '../test/helpers/browser.js';

const TOKEN = 'screenshot-token-1234';
const brokers = (process.env.KAFKA_BROKERS ?? '').split(',');
const kafka = new Kafka({ clientId: 'screenshots', brokers, logLevel: logLevel.NOTHING });
const run = Date.now().toString(36);
const topic = `orders-${run}`;
const namespace = `billing-${run}`;

class TimeoutError extends Error {}
class SchemaError extends Error {}

const admin0 = kafka.admin();
await admin0.connect();
await admin0.createTopics({ topics: [{ topic, numPartitions: 3 }, { topic: `${topic}.dlt`, numPartitions: 3 }], waitForLeaders: true });
await admin0.disconnect();

const z = await consume({
  kafka,
  groupId: `shots-${run}`,
  topics: [topic],
  logger: pino({ level: 'silent' }),
  config: {
    store: { redisUrl: process.env.REDIS_URL, namespace, shards: 4 },
    failure: { policy: { backoff: { type: 'exponential', delayMs: 4_000, maxMs: 60_000, jitter: 'full' }, maxAttempts: 5 } },
  },
  handler: async ({ message }, ctx) => {
    await new Promise((r) => setTimeout(r, 2 + Math.random() * 8));
    const n = Number(message.offset);
    if (n % 97 === 3 && ctx.attempt === 1) throw new SchemaError('field "amount" is missing');
    if (Math.random() < (ctx.attempt === 1 ? 0.25 : 0.45)) {
      const e = Object.assign(new TimeoutError(`payment service did not answer in 2000 ms (attempt ${ctx.attempt})`), { name: 'TimeoutError' });
      // a stack as a user's service would have it, not this machine's paths
      e.stack = `TimeoutError: ${e.message}\n    at chargeCard (/srv/payments/src/charge.ts:42:11)\n    at async handler (/srv/payments/src/handler.ts:17:5)`;
      throw e;
    }
  },
});
// a rate limit on the payment timeouts' retries, so the overview shows tasks held back and the dispatch table
await z.store.control.setLimit('error:TimeoutError', 10, 10);
const http = adminSchema.parse({ port: 0, token: TOKEN });
const admin = await serveAdmin(http, z.store, pino({ level: 'silent' }), z.events);

const { browser, close } = await launchBrowser();
try {
  const page = await browser.newPage({ viewport: { width: 1440, height: 960 }, colorScheme: 'dark' });
  await page.goto(`${admin.url}/`);
  await page.fill('#token', TOKEN);
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#view-overview:not([hidden])');
  const producer = kafka.producer();
  await producer.connect();
  const end = Date.now() + 40_000;
  for (let i = 0; Date.now() < end; i++) {
    const burst = 20 + Math.round(15 * Math.sin(i / 6));
    await producer.send({ topic, messages: Array.from({ length: burst }, (_, k) => ({ key: `customer-${(i * 7 + k) % 60}`, value: JSON.stringify({ order: i * 100 + k, amount: 12.5 }), headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' } })) });
    await new Promise((r) => setTimeout(r, 500));
  }
  await producer.disconnect();
  await page.waitForTimeout(2_500);
  await page.screenshot({ path: 'docs/dashboard-overview.png' });
  const list = (await (await fetch(`${admin.url}/api/tasks?errorClass=TimeoutError&limit=200`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { tasks: Array<{ id: string; attempt: number }> };
  const pick = list.tasks.sort((a, b) => b.attempt - a.attempt)[0];
  if (!pick) throw new Error('no task to show: the handler failed nothing?');
  await page.evaluate((h) => (location.hash = h), `#/task/${encodeURIComponent(pick.id)}`);
  await page.waitForFunction((id) => document.getElementById('task-title')?.textContent === id, pick.id);
  await page.waitForTimeout(500);
  await page.screenshot({ path: 'docs/dashboard-task.png' });
  console.log(`screenshots written: docs/dashboard-overview.png, docs/dashboard-task.png (task ${pick.id})`);
} finally {
  await close();
  await admin.close();
  const keys = await z.store.redis.keys(`{${namespace}:*`);
  if (keys.length > 0) await z.store.redis.del(...keys);
  await z.close();
}
