/**
 * Entry point run inside a client pod's netns (`ip netns exec <ns> node connect-child.js IP PORT COUNT
 * CAP_MS`) by latency.ts: opens COUNT fresh TCP connections one after the other, each timed from
 * `connect()` to the connect event (the SYN/SYN-ACK round trip), and prints the times in microseconds as
 * one JSON array. Each connection is reset rather than closed, so the loop leaves no TIME_WAIT behind.
 * Stops early at CAP_MS so that a dropped SYN (policy wrong) cannot hang a run.
 */
import { connect } from 'node:net';

function once(host: string, port: number, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const socket = connect({ host, port, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connect to ${host}:${port} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      const us = Number(process.hrtime.bigint() - started) / 1000;
      clearTimeout(timer);
      socket.resetAndDestroy();
      resolve(us);
    });
    socket.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

async function main(): Promise<void> {
  const [host = '', portText = '', countText = '', capText = ''] = process.argv.slice(2);
  const port = Number(portText);
  const count = Number(countText);
  const cap = Number(capText);
  const deadline = Date.now() + cap;
  const times: number[] = [];
  while (times.length < count && Date.now() < deadline) {
    times.push(await once(host, port, Math.max(1, Math.min(2000, deadline - Date.now()))));
  }
  process.stdout.write(JSON.stringify(times) + '\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
