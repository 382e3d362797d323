/** Plain text tables for the operator CLI. */

/** Text on one line: line breaks, tabs and other control characters become single spaces. */
export function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\s*[\u0000-\u001f\u007f]+\s*/g, ' ').trim();
}

/** Renders rows under headers, columns padded; numbers right-aligned; every cell on one line. */
export function table(headers: string[], rows: Array<Array<string | number>>): string {
  const cells = [headers, ...rows.map((r) => r.map((v) => oneLine(String(v))))];
  const widths = headers.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  const numeric = headers.map((_, c) => rows.length > 0 && rows.every((r) => typeof r[c] === 'number'));
  const line = (r: string[]) =>
    r.map((v, c) => (numeric[c] ? v.padStart(widths[c]!) : v.padEnd(widths[c]!))).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...cells.slice(1).map(line)].join('\n');
}

export { duration } from '../util/duration.js';
