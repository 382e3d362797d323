// Preloaded with `node --import` to give a process a wrong wall clock:
// Date.now() and new Date() run CLOCK_SKEW_MS ahead (negative: behind).
// Timers and performance.now() are monotonic and unaffected, as on a host
// whose wall clock is off.
const skew = Number(process.env.CLOCK_SKEW_MS ?? 0);
const RealDate = globalThis.Date;
const realNow = RealDate.now.bind(RealDate);
class SkewedDate extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(realNow() + skew);
    else super(...args);
  }
  static now() {
    return realNow() + skew;
  }
}
globalThis.Date = SkewedDate;
