/** The dashboard's chart series: percentiles of lateness and the sample they come from (pure, no I/O). */
import { describe, expect, it } from 'vitest';
import { percentiles, Reservoir } from '../../src/admin/history.js';

describe('percentiles', () => {
  it('by nearest rank, in the order asked; null when nothing was measured', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted
    expect(percentiles(values, [0.5, 0.9, 0.99, 1])).toEqual([50, 90, 99, 100]);
    expect(percentiles([7], [0.5, 0.99])).toEqual([7, 7]);
    expect(percentiles([], [0.5])).toEqual([null]);
  });
});

describe('Reservoir', () => {
  it('keeps everything up to its size, then a uniform sample of the same size', () => {
    const r = new Reservoir(4, () => 0.99);
    for (const v of [1, 2, 3]) r.offer(v);
    expect(r.take()).toEqual([1, 2, 3]);
    expect(r.take()).toEqual([]);
    // 0.99 of a growing count never lands in the 4 slots: the first 4 stay
    for (let v = 1; v <= 10; v++) r.offer(v);
    expect(r.take()).toEqual([1, 2, 3, 4]);
    // a random source of 0 always replaces slot 0
    const z = new Reservoir(2, () => 0);
    for (let v = 1; v <= 5; v++) z.offer(v);
    expect(z.take()).toEqual([5, 2]);
  });

  it('a late burst of slow claims shows in the percentiles of a sample', () => {
    const r = new Reservoir(1024);
    for (let i = 0; i < 100_000; i++) r.offer(i < 90_000 ? 2 : 500);
    const sample = r.take();
    expect(sample).toHaveLength(1024);
    const [p50, p99] = percentiles(sample, [0.5, 0.99]);
    expect(p50).toBe(2);
    expect(p99).toBe(500);
  });
});
