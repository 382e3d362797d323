/** Shared fixtures of the script tests: a store on a fresh namespace. */
import type { RedisClient } from '../../src/store/client.js';
import { TaskStore } from '../../src/store/store.js';
import type { TaskRecord } from '../../src/store/record-codec.js';
import type { NewTask } from '../../src/store/task.js';
import { newRedis, uniqueNamespace, dropNamespace } from '../helpers/env.js';

/** A record with binary key, binary headers and the given value. */
export function record(offset: number, value: Buffer | null = Buffer.from(`v${offset}`)): TaskRecord {
  return {
    topic: 'orders',
    partition: 0,
    offset: String(offset),
    timestamp: '1700000000000',
    key: Buffer.from([0, 255, offset & 0xff]),
    value,
    headers: [['trace', Buffer.from([1, 2, 3])], ['trace', null]],
  };
}

/** A first failure of record offset, in aggregate agg. */
export function failed(offset: number, agg: string | null, delayMs = 0): NewTask {
  return { id: `orders/0/${offset}`, aggregateId: agg, delayMs, attempt: 1, error: { class: 'Error', message: `boom ${offset}` }, record: record(offset) };
}

/** A store on a fresh namespace, and its client. */
export async function freshStore(shards = 1): Promise<{ store: TaskStore; redis: RedisClient; namespace: string; close: () => Promise<void> }> {
  const redis = newRedis();
  const namespace = uniqueNamespace();
  const store = new TaskStore(redis, { namespace, shards, maxBatch: 100 });
  return {
    store,
    redis,
    namespace,
    close: async () => {
      await dropNamespace(redis, namespace);
      await redis.quit();
    },
  };
}
