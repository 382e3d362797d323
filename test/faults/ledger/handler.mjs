// The handler of the fault-injection suite, plain JS so both `zretry worker`
// (a real CLI process) and the consumer app load it as is.
//
// A record's value is JSON {id, agg, seq, fail}: the handler fails the first
// `fail` attempts (-1: every attempt) and appends one JSON line per call to
// the ledger file (O_APPEND: lines of concurrent processes never interleave).
//
// Faults, from the environment, each fired once per ledger (a marker file):
//   LEDGER_KILL=before:<id>@<attempt>  SIGKILL this process when that attempt starts (claimed, nothing done)
//   LEDGER_KILL=after:<id>@<attempt>   SIGKILL it right after that attempt succeeded (before the ack)
//   LEDGER_KILL=nth:<n>                SIGKILL it when its n-th call starts (others of the batch in flight)
//   LEDGER_SLOW_MS=<ms>                each call takes this long
import { appendFileSync, writeFileSync } from 'node:fs';

const ledger = process.env.LEDGER;
if (!ledger) throw new Error('LEDGER (the ledger file path) is not set');
const role = process.env.LEDGER_ROLE ?? 'worker';
const slowMs = Number(process.env.LEDGER_SLOW_MS ?? 0);
const [killWhen, killWhat] = (process.env.LEDGER_KILL ?? '').split(':');
let calls = 0;

/** True the first time (across processes) a fault with this name fires. */
function once(name) {
  try {
    writeFileSync(`${ledger}.fired-${name.replace(/[^A-Za-z0-9_.-]/g, '_')}`, String(process.pid), { flag: 'wx' });
    return true;
  } catch {
    return false;
  }
}

function line(fields) {
  // wall clock read without Date.now, so a test that skews Date.now still records real time
  appendFileSync(ledger, JSON.stringify({ ...fields, role, pid: process.pid, t: Math.round(performance.timeOrigin + performance.now()) }) + '\n');
}

/** SIGKILLs this process the first time this fault fires (for faults outside the handler). */
export function killOnce(name, fields = {}) {
  if (once(name)) void die(name, fields);
}

function die(fault, fields = {}) {
  line({ ...fields, ev: 'killed', fault });
  process.kill(process.pid, 'SIGKILL');
  return new Promise(() => undefined);
}

export default async function handler(record, ctx) {
  const r = JSON.parse(record.message.value.toString('utf8'));
  calls++;
  const at = `${r.id}@${ctx.attempt}`;
  if (killWhen === 'before' && killWhat === at && once(`before-${at}`)) return die(`before ${at}`);
  if (killWhen === 'nth' && Number(killWhat) === calls && once(`nth-${calls}`)) return die(`nth ${calls}`);
  if (slowMs > 0) await new Promise((res) => setTimeout(res, slowMs));
  if (r.fail === -1 || ctx.attempt <= r.fail) {
    line({ ev: 'fail', id: r.id, agg: r.agg, seq: r.seq, attempt: ctx.attempt });
    throw new Error(`planned failure ${ctx.attempt} of ${r.id}`);
  }
  line({ ev: 'ok', id: r.id, agg: r.agg, seq: r.seq, attempt: ctx.attempt });
  if (killWhen === 'after' && killWhat === at && once(`after-${at}`)) return die(`after ${at}`);
}
