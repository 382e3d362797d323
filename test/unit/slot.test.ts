import { describe, expect, it } from 'vitest';
import { keySlot } from '../../src/store/slot.js';
import { shardKeys, wakeChannel } from '../../src/store/keys.js';

describe('keySlot', () => {
  it('gives the slot Redis Cluster gives (CLUSTER KEYSLOT on Redis 7.0.15)', () => {
    expect(['123456789', 'foo', '{user1000}.following', '{billing:0}:due', '{billing:15}:wake', 'a{}b', 'é'].map(keySlot)).toEqual([12739, 12182, 3443, 6055, 2397, 13694, 10180]);
  });

  it("puts every key of a shard and its wake channel in one slot, and different shards' in different slots", () => {
    const slots = Array.from({ length: 16 }, (_, s) => new Set([...shardKeys('billing', s), wakeChannel('billing', s)].map(keySlot)));
    for (const s of slots) expect(s.size).toBe(1);
    expect(new Set(slots.map((s) => [...s][0])).size).toBe(16);
  });
});
