/**
 * Proves the real parts are real: a sorted set in the project's Redis, and a
 * record with a binary key, binary headers and a tombstone through Kafka.
 */
import { describe, expect, it } from 'vitest';
import { collect, createTopic, kafka, newRedis, uniqueNamespace, uniqueTopic, waitFor } from '../helpers/env.js';

describe('smoke: the real services', () => {
  it('Redis 7+ keeps a sorted set in score order', async () => {
    const redis = newRedis();
    const key = `${uniqueNamespace()}:zset`;
    try {
      const info = await redis.info('server');
      expect(Number(/redis_version:(\d+)/.exec(info)![1])).toBeGreaterThanOrEqual(7);
      await redis.zadd(key, 3, 'c', 1, 'a', 2, 'b');
      expect(await redis.zrange(key, 0, -1, 'WITHSCORES')).toEqual(['a', '1', 'b', '2', 'c', '3']);
    } finally {
      await redis.del(key);
      await redis.quit();
    }
  });

  it('Kafka carries binary keys, binary headers and tombstones in order', async () => {
    const topic = uniqueTopic('smoke');
    await createTopic(topic);
    const producer = kafka().producer();
    await producer.connect();
    await producer.send({
      topic,
      acks: -1,
      messages: [
        { key: Buffer.from([0, 255, 1]), value: Buffer.from('one'), headers: { bin: Buffer.from([0, 1, 2, 255]) } },
        { key: Buffer.from([0, 255, 2]), value: null },
        { key: Buffer.from([0, 255, 3]), value: Buffer.from('three'), headers: { text: 'héllo' } },
      ],
    });
    await producer.disconnect();
    const c = await collect(topic);
    try {
      await waitFor(() => c.messages.length === 3, 30_000, 'three records back');
      expect(c.messages.map((m) => m.key)).toEqual([Buffer.from([0, 255, 1]), Buffer.from([0, 255, 2]), Buffer.from([0, 255, 3])]);
      expect(c.messages.map((m) => m.value)).toEqual([Buffer.from('one'), null, Buffer.from('three')]);
      expect(c.messages[0]!.headers.bin).toEqual(Buffer.from([0, 1, 2, 255]));
      expect(c.messages[2]!.headers.text).toEqual(Buffer.from('héllo'));
    } finally {
      await c.stop();
    }
  });
});
