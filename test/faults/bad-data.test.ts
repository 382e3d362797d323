/**
 * Corrupted task data in Redis under a running worker: the worker names the
 * broken task in an error log, moves it to the dead set, and keeps serving
 * every other task; the broken task's aggregate holds (its followers must not
 * overtake a head whose state is unknown) until an operator runs unhold.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, expect, it } from 'vitest';
import { createWorker } from '../../src/create-worker.js';
import { shardKeys } from '../../src/store/keys.js';
import { waitFor } from '../helpers/env.js';
import { failed, freshStore } from '../lua/fixtures.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

it('a task value overwritten with garbage: error log naming it, dead set, other tasks unaffected, unhold frees its aggregate', async () => {
  const { store, redis, namespace, close } = await freshStore(1);
  cleanups.push(close);
  await store.schedule([failed(1, 'A', 300), failed(2, 'A'), failed(3, 'B', 300), failed(4, null, 300)]);
  await redis.hset(shardKeys(namespace, 0)[2]!, 'orders/0/1', Buffer.from([0xc1, 0xff, 0x00, 0x13]));

  const logs: Array<{ level: number; msg: string; ids?: string[] }> = [];
  const logger = pino({ level: 'info' }, new Writable({ write: (chunk, _e, cb) => (logs.push(JSON.parse(chunk.toString())), cb()) }));
  const handled: string[] = [];
  const w = await createWorker({
    redis,
    logger,
    config: { store: { namespace, shards: 1 }, worker: { maxSleepMs: 100 } },
    handler: (r) => void handled.push(r.message.offset),
  });
  cleanups.push(() => w.close());

  await waitFor(() => handled.includes('3') && handled.includes('4'), 10_000, 'the healthy tasks to run');
  await waitFor(() => logs.some((l) => l.level === 50 && l.ids?.includes('orders/0/1')), 5_000, 'an error log naming the broken task');
  expect(logs.find((l) => l.ids?.includes('orders/0/1'))!.msg).toMatch(/^tasks with unreadable metadata were moved to the dead set; .* `zretry unhold <aggregate>` frees it$/);
  await new Promise((r) => setTimeout(r, 500));
  expect(handled).not.toContain('2');
  expect((await store.stats()).total).toMatchObject({ dead: 1, queued: 1, inflight: 0 });

  expect(await store.shard(0).unhold(['A'])).toEqual(['released']);
  await waitFor(() => handled.includes('2'), 5_000, 'the follower to run after unhold');
  expect(handled.sort()).toEqual(['2', '3', '4']);
});
