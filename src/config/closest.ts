/**
 * The valid name a mistyped one most likely meant, for "did you mean"
 * hints on unknown options and environment variables. Pure, no I/O.
 */

/**
 * Names people bring from Spring Kafka's @RetryableTopic / @Backoff (and
 * other retry libraries) for zretry options; used when spelling alone
 * finds nothing close.
 */
const SYNONYMS: Readonly<Record<string, string>> = {
  attempts: 'maxAttempts',
  delay: 'delayMs',
  initialms: 'delayMs',
  maxdelay: 'maxMs',
  timeout: 'maxElapsedMs',
  dlttopicsuffix: 'dltSuffix',
  retrytopicsuffix: 'retryTopicSuffix',
  random: 'jitter',
};

/** Edit distance, case-insensitive, where swapping two neighbouring letters counts as one edit. */
export function editDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  const d: number[][] = Array.from({ length: s.length + 1 }, (_, i) => Array.from({ length: t.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= s.length; i++) {
    for (let j = 1; j <= t.length; j++) {
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[s.length]![t.length]!;
}

/**
 * The candidate that name most likely meant: the nearest by spelling when
 * it is within a third of the name's length (at least 2 edits), else a
 * known synonym; undefined when nothing is close.
 */
export function closest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const dist = editDistance(name, c);
    if (dist < bestDistance) [best, bestDistance] = [c, dist];
  }
  if (best !== undefined && bestDistance <= Math.max(2, Math.floor(name.length / 3))) return best;
  const synonym = SYNONYMS[name.toLowerCase().replace(/[_-]/g, '')];
  return synonym !== undefined && candidates.includes(synonym) ? synonym : undefined;
}
