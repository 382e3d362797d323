/**
 * The dashboard in a real browser (Debian's chromium through
 * playwright-core), served by a worker's admin endpoint on the real Redis,
 * with a worker that dead-letters to the real Kafka: what an operator sees
 * and does. Screenshots of the overview and a task page go to
 * test-results/ (docs/ with ZRETRY_UPDATE_SCREENSHOTS=1).
 */
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveAdmin } from '../../src/cli/admin.js';
import { adminSchema } from '../../src/config/schema.js';
import { createWorker, type StartedWorker } from '../../src/create-worker.js';
import type { RetryContext } from '../../src/handler.js';
import { viewsOf } from '../../src/ops/select.js';
import type { NewTask } from '../../src/store/task.js';
import { launchBrowser } from '../helpers/browser.js';
import { collect, createTopic, dropNamespace, kafkaBrokers, newRedis, redisUrl, silentLogger, uniqueNamespace, uniqueTopic, waitFor } from '../helpers/env.js';

const run = promisify(execFile);
const TOKEN = 'browser-test-token-1234';
const ns = uniqueNamespace('dash');
const topic = uniqueTopic('orders');
const redis = newRedis();
const seen: Array<{ taskId: string | null; attempt: number }> = [];
const shotDir = process.env.ZRETRY_UPDATE_SCREENSHOTS === '1' ? 'docs' : join('test-results', 'screenshots');

let worker: StartedWorker;
let admin: { url: string; close: () => Promise<void> };
let browser: Browser;
let closeBrowser: () => Promise<void>;

const id = (offset: number) => `${topic}/0/${offset}`;
function task(offset: number, agg: string | null, over: Partial<NewTask> = {}): NewTask {
  return {
    id: id(offset),
    aggregateId: agg,
    delayMs: 600_000,
    attempt: 1,
    error: { class: 'TimeoutError', message: `payment service timeout (record ${offset})` },
    record: { topic, partition: 0, offset: String(offset), timestamp: String(Date.now()), key: Buffer.from(`key-${offset}`), value: Buffer.from(`{"order":${offset}}`), headers: [['traceparent', Buffer.from('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')]] },
    ...over,
  };
}

beforeAll(async () => {
  await createTopic([topic, `${topic}.dlt`]);
  worker = await createWorker({
    config: { store: { redisUrl: redisUrl(), namespace: ns, shards: 2 }, kafka: { brokers: kafkaBrokers().split(',') }, worker: { maxSleepMs: 200 } },
    handler: async (_r, ctx: RetryContext) => void seen.push({ taskId: ctx.taskId, attempt: ctx.attempt }),
    logger: silentLogger(),
  });
  await worker.store.schedule([
    task(1, 'alice'),
    task(2, 'alice', { attempt: 0, error: null }),
    task(3, 'bob', { error: { class: 'TypeError', message: "Cannot read properties of undefined (reading 'amount')", stack: "TypeError: Cannot read properties of undefined (reading 'amount')\n    at charge (/srv/billing/handler.js:42:17)\n    at process (/srv/billing/handler.js:12:5)" } }),
    task(4, 'carol'),
    task(5, 'dave'),
    task(6, 'erin', { delayMs: 0, doom: 'fatal', error: { class: 'SchemaError', message: 'field "amount" is missing' } }),
  ]);
  // the doomed one is dead-lettered by the worker: a real dead task
  await waitFor(async () => (await worker.store.stats()).total.dead === 1, 20_000, 'the fatal task to die');
  const http = adminSchema.parse({ port: 0, token: TOKEN });
  admin = await serveAdmin(http, worker.store, silentLogger(), worker.worker.events);
  ({ browser, close: closeBrowser } = await launchBrowser());
  mkdirSync(shotDir, { recursive: true });
}, 120_000);

afterAll(async () => {
  await closeBrowser?.();
  await admin?.close();
  await worker?.close();
  await dropNamespace(redis, ns);
  await redis.quit();
});

/** Retries an assertion until it passes (the page updates asynchronously) or the time is up, then fails with its last error. */
async function eventually(check: () => Promise<void>, ms = 8_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
async function text(page: Page, sel: string): Promise<string> {
  await page.locator(sel).first().waitFor({ state: 'attached', timeout: 8_000 });
  return (await page.locator(sel).first().textContent()) ?? '';
}
const rows = (page: Page) => page.locator('#task-table tbody tr[data-task]');

/** A page of the dashboard, signed in with the token. */
async function signedIn(hash = '#/overview'): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1360, height: 900 }, colorScheme: 'dark' });
  await page.goto(`${admin.url}/`);
  await page.fill('#token', TOKEN);
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#view-overview:not([hidden])');
  if (hash !== '#/overview') await page.evaluate((h) => (location.hash = h), hash);
  return page;
}

const zretryStats = async () =>
  JSON.parse((await run('node', ['bin/zretry.js', 'stats', '--json', '--redis', redisUrl(), '--namespace', ns])).stdout) as { total: Record<string, number> };

describe('the dashboard in chromium', () => {
  it('without the token the page asks for it, the API refuses (401), and a wrong token is named', async () => {
    const page = await browser.newPage();
    await page.goto(`${admin.url}/#/overview`);
    await page.locator('#view-login').waitFor({ state: 'visible' });
    expect(await page.locator('#view-overview').isHidden()).toBe(true);
    const r = await page.evaluate(async () => {
      const res = await fetch('/api/stats');
      return { status: res.status, body: await res.json() };
    });
    expect(r).toEqual({ status: 401, body: { error: 'a token is required: send Authorization: Bearer <token>' } });
    await page.fill('#token', 'not-the-token');
    await page.click('#login-form button[type=submit]');
    await eventually(async () => expect(await text(page, '#login-error')).toBe('the token is wrong'));
    // the token typed never lands in the page
    expect(await page.content()).not.toContain('not-the-token');
    await page.close();
  });

  it("the overview's numbers equal zretry stats", async () => {
    const page = await signedIn();
    const want = (await zretryStats()).total;
    expect(want).toMatchObject({ dueNow: 0, dueLater: 4, queued: 1, dead: 1 });
    await eventually(async () => {
      const shown: Record<string, string> = {};
      for (const k of ['dueNow', 'dueLater', 'inflight', 'queued', 'blockedAggregates', 'paused', 'dead']) shown[k] = await text(page, `#cards [data-stat=${k}] .value`);
      expect(shown).toEqual({ dueNow: '0', dueLater: String(want.dueLater), inflight: String(want.inflight), queued: String(want.queued), blockedAggregates: String(want.blockedAggregates), paused: '0', dead: String(want.dead) });
    });
    console.log(`overview cards equal zretry stats --json: ${JSON.stringify(want)}`);
    expect(await page.locator('#shard-table tr.total td').nth(2).textContent()).toBe(String(want.dueLater));
    await eventually(async () => expect(await text(page, '#topic-table')).toContain(topic));
    expect(await text(page, '#error-table')).toContain('SchemaError');
    await page.locator('#chart-depth .uplot').waitFor();
    // two samples of the charts' series
    await page.waitForTimeout(4_500);
    await page.screenshot({ path: join(shotDir, 'dashboard-overview.png') });
    await page.close();
  });

  it('a filter finds a task', async () => {
    const page = await signedIn('#/tasks');
    await eventually(async () => expect(await rows(page).count()).toBe(5));
    await page.fill('#filter-form [name=errorClass]', 'TypeError');
    await page.click('#filter-form button[type=submit]');
    await eventually(async () => expect(await rows(page).evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-task')))).toEqual([id(3)]));
    await page.click('#filter-clear');
    await page.fill('#filter-form [name=aggregate]', 'alice');
    await page.click('#filter-form button[type=submit]');
    await eventually(async () => expect(await rows(page).evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-task')))).toEqual([id(1), id(2)]));
    await page.click('#state-tabs [data-state=waiting]');
    await eventually(async () => expect(await rows(page).evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-task')))).toEqual([id(2)]));
    expect(page.url()).toContain('aggregate=alice');
    await page.close();
  });

  it("a task's page shows its attempts, error, place in its aggregate and headers; retry-now makes the handler run it", async () => {
    const page = await signedIn(`#/task/${encodeURIComponent(id(3))}`);
    await eventually(async () => expect(await text(page, '#task-title')).toBe(id(3)));
    await eventually(async () => expect(await text(page, '#task-fields')).toContain('Position in aggregatehead of 1 task'));
    expect(await text(page, '#task-fields')).toContain('Attempts made1');
    expect(await text(page, '#task-error')).toContain('at charge (/srv/billing/handler.js:42:17)');
    expect(await text(page, '#task-headers')).toContain('traceparent');
    await page.screenshot({ path: join(shotDir, 'dashboard-task.png') });
    expect(seen.find((s) => s.taskId === id(3))).toBeUndefined();
    await page.click('#task-actions [data-act=retry-now]');
    await eventually(async () => expect(await text(page, '#toast')).toBe(`Retry now ${id(3)}: due-now`));
    await waitFor(() => seen.some((s) => s.taskId === id(3)), 10_000, 'the handler to run the task');
    expect(seen.find((s) => s.taskId === id(3))).toEqual({ taskId: id(3), attempt: 2 });
    console.log(`retry-now from the page: the handler ran ${id(3)} (attempt 2)`);
    await page.close();
  });

  it('kill asks for confirmation, and the record reaches the dead-letter topic', async () => {
    const dlt = await collect(`${topic}.dlt`);
    try {
      const page = await signedIn(`#/task/${encodeURIComponent(id(4))}`);
      await eventually(async () => expect(await text(page, '#task-title')).toBe(id(4)));
      await page.click('#task-actions [data-act=kill]');
      await page.locator('#confirm').waitFor({ state: 'visible' });
      expect(await text(page, '#confirm-title')).toBe(`Kill ${id(4)}?`);
      await page.click('#confirm-cancel');
      await eventually(async () => expect(await text(page, '#toast')).toBe('Kill cancelled; nothing changed'));
      expect((await viewsOf(worker.store, [id(4)]))[0]?.state).toBe('due');
      await page.click('#task-actions [data-act=kill]');
      await page.locator('#confirm').waitFor({ state: 'visible' });
      await page.click('#confirm-ok');
      await eventually(async () => expect(await text(page, '#toast')).toBe(`Kill ${id(4)}: doomed`));
      await waitFor(() => dlt.messages.some((m) => m.key?.toString() === 'key-4'), 20_000, 'the dead letter');
      const letter = dlt.messages.find((m) => m.key?.toString() === 'key-4')!;
      expect(String(letter.headers['zretry-dead-reason'])).toBe('killed-by-operator');
      expect(letter.value?.toString()).toBe('{"order":4}');
      expect(seen.some((s) => s.taskId === id(4))).toBe(false);
      console.log(`kill from the page: confirmed, then ${topic}.dlt got ${letter.key} at offset ${letter.offset} (zretry-dead-reason ${String(letter.headers['zretry-dead-reason'])})`);
      await page.close();
    } finally {
      await dlt.stop();
    }
  });

  it('a bulk action shows its dry-run count before it asks', async () => {
    const page = await signedIn('#/tasks?aggregate=alice');
    await eventually(async () => expect(await rows(page).count()).toBe(2));
    await page.click('#bulk [data-bulk=skip]');
    await page.locator('#confirm').waitFor({ state: 'visible' });
    expect(await text(page, '#confirm-text')).toBe('Dry run: 2 tasks selected by aggregate alice would be deleted without running or dead-lettering.');
    await page.click('#confirm-cancel');
    expect((await worker.store.stats()).total).toMatchObject({ dueLater: 2, queued: 1, dead: 2 });
    await page.close();
  });

  it('a cross-site form post is refused and changes nothing', async () => {
    // another origin (another port) with a form that posts JSON-looking text to the API, as a CSRF attack does
    const evil: Server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><form method="POST" action="${admin.url}/api/actions/skip" enctype="text/plain">
        <input name='{"ids":["${id(5)}"],"confirm":true,"x":"' value='"}'></form><script>document.forms[0].submit()</script>`);
    });
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
    try {
      const page = await browser.newPage();
      const answer = page.waitForResponse((r) => r.url().endsWith('/api/actions/skip'));
      await page.goto(`http://127.0.0.1:${(evil.address() as { port: number }).port}/`);
      const res = await answer;
      const body = (await res.json()) as { error: string };
      console.log(`cross-site form post: ${res.status()} ${body.error}`);
      expect(res.status()).toBe(403);
      expect(body.error).toMatch(/^cross-origin request refused \(Sec-Fetch-Site: same-site\)/);
      expect((await viewsOf(worker.store, [id(5)]))[0]?.state).toBe('due');
      await page.close();
    } finally {
      evil.close();
    }
  });

  it('limits and breakers show on the overview; the tasks a limit holds back are counted and listed as held', async () => {
    const slow = `${topic}-slow`;
    await worker.store.control.setLimit(`topic:${slow}`, 0.01, 1);
    await worker.store.control.force('error:TypeError', 'open', 5_000);
    // the worker hears of the limit within dispatch.syncMs (500 ms)
    await new Promise((r) => setTimeout(r, 1_500));
    const base = task(20, null);
    await worker.store.schedule([20, 21, 22].map((o) => ({ ...task(o, `slow-${o}`, { delayMs: 0 }), record: { ...base.record, topic: slow, offset: String(o) } })));
    await waitFor(async () => (await worker.store.stats()).total.held === 2, 20_000, 'two of the three tasks held by a limit of one');
    try {
      const page = await signedIn();
      await eventually(async () => expect(await text(page, '#cards [data-stat=held] .value')).toBe('2'));
      await eventually(async () => expect(await page.locator('#dispatch-box').isVisible()).toBe(true));
      const table = await text(page, '#dispatch-table');
      console.log(`dispatch control on the overview: ${table}`);
      expect(table).toContain(`topic:${slow}0.01/s burst 1`);
      expect(table).toMatch(/error:TypeError-open \S+ \(0 probes\)open/);
      expect(await text(page, '#banner')).toContain('Stopped by dispatch control: error:TypeError open');
      await page.evaluate(() => (location.hash = '#/tasks'));
      await page.click('#state-tabs [data-state=held]');
      await eventually(async () => expect((await rows(page).evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-task')))).length).toBe(2));
      await page.close();
    } finally {
      await worker.store.control.clearLimit(`topic:${slow}`);
      await worker.store.control.force('error:TypeError', 'auto', 5_000);
    }
  });
});
