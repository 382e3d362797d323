// A separate process that measures Redis's PING latency while a benchmark
// drains (a Lua batch must not stall Redis for other clients). Raw RESP on
// one socket, one PING in flight, a new one 1 ms after each reply; its own
// event loop, so the worker's load in the parent process is not in it.
//   node bench/ping-probe.mjs <host> <port>
// Prints "ready" once connected; on "stop" from stdin prints
// {"samples","p50","p99","max"} (ms) and exits.
import { createConnection } from 'node:net';

const [host, port] = [process.argv[2] ?? '127.0.0.1', Number(process.argv[3] ?? 6379)];
const lat = [];
let sentAt = 0;
let on = true;
const sock = createConnection({ host, port }, () => {
  sock.setNoDelay(true);
  process.stdout.write('ready\n');
  ping();
});
function ping() {
  if (!on) return;
  sentAt = performance.now();
  sock.write('PING\r\n');
}
let buf = '';
sock.on('data', (d) => {
  buf += d.toString('latin1');
  while (buf.includes('\r\n')) {
    buf = buf.slice(buf.indexOf('\r\n') + 2);
    lat.push(performance.now() - sentAt);
    setTimeout(ping, 1);
  }
});
process.stdin.on('data', (d) => {
  if (!d.toString().includes('stop')) return;
  on = false;
  lat.sort((a, b) => a - b);
  const at = (p) => Number((lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? 0).toFixed(2));
  process.stdout.write(JSON.stringify({ samples: lat.length, p50: at(0.5), p99: at(0.99), max: Number((lat.at(-1) ?? 0).toFixed(2)) }) + '\n');
  sock.end();
  process.exit(0);
});
