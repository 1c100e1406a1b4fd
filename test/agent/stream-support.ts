/**
 * Real traffic for the strict-mode and crash tests: a TCP stream server that writes to and reads from
 * every connection, a stream client doing the same, a prober opening fresh connections on a timer, and a
 * UDP flow whose 5-tuple never changes (an echo server and a client pinging from one fixed port).
 * Each is a Node child in a pod's netns reporting JSON lines on stdout, with its own lifetime cap; the
 * topology's `destroy` kills them by pid.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Topology } from '../datapath/support/netns.js';
import { waitFor } from './agent-support.js';

/** Lifetime cap of every child, in seconds: a test that hangs leaves nothing running for long. */
const LIFE_S = 90;

const COMMON = `const net = require('node:net');
const say = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
setTimeout(() => process.exit(0), ${LIFE_S * 1000});
const chunk = Buffer.alloc(512, 120);
// Writes stop while the kernel buffer is full, so a stalled peer costs bounded memory.
const pump = (s) => setInterval(() => { if (!s.destroyed && s.writableLength < 65536) s.write(chunk); }, 20);
`;

const SERVER = `${COMMON}
const rx = {};
net.createServer((s) => {
  const peer = String(s.remoteAddress).replace(/^::ffff:/, '');
  s.setNoDelay(true);
  s.on('error', () => {});
  s.on('data', (b) => { rx[peer] = (rx[peer] || 0) + b.length; });
  const t = pump(s);
  s.on('close', () => clearInterval(t));
}).listen(Number(process.argv[1]), '0.0.0.0', () => say({ listening: true }));
setInterval(() => say({ rx }), 100);
`;

const CLIENT = `${COMMON}
let rx = 0;
const s = net.connect(Number(process.argv[2]), process.argv[1], () => { say({ connected: true }); pump(s); });
s.setNoDelay(true);
s.on('data', (b) => { rx += b.length; });
s.on('error', (e) => say({ error: e.message }));
s.on('close', () => say({ closed: true }));
setInterval(() => say({ rx }), 100);
`;

/** One connection attempt every \`every\` ms until stdin closes; each reports ok (connected in time) or not. */
const PROBER = `${COMMON}
const [host, port, every, timeout] = [process.argv[1], ...process.argv.slice(2).map(Number)];
let inFlight = 0;
let stopping = false;
const probe = () => {
  const t = Date.now();
  inFlight += 1;
  const s = net.connect({ host, port });
  let done = false;
  const finish = (ok, why) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    s.destroy();
    say({ t, ok, ms: Date.now() - t, ...(why ? { why } : {}) });
    inFlight -= 1;
    if (stopping && inFlight === 0) process.exit(0);
  };
  const timer = setTimeout(() => finish(false, 'timeout'), timeout);
  s.on('connect', () => finish(true));
  s.on('error', (e) => finish(false, e.code || e.message));
};
const iv = setInterval(probe, every);
process.stdin.on('data', () => {});
process.stdin.on('end', () => {
  stopping = true;
  clearInterval(iv);
  if (inFlight === 0) process.exit(0);
});
`;

const UDP_ECHO = `${COMMON}
const s = require('node:dgram').createSocket('udp4');
s.on('message', (m, from) => s.send(m, from.port, from.address));
s.bind(Number(process.argv[1]), '0.0.0.0', () => say({ listening: true }));
`;

/** A datagram every 50 ms from one fixed source port; counts the echoes. */
const UDP_PINGER = `${COMMON}
const [host, port, sport] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
let rx = 0;
const s = require('node:dgram').createSocket('udp4');
s.on('message', () => { rx += 1; });
s.on('error', (e) => say({ error: e.message }));
s.bind(sport, () => setInterval(() => s.send('ping', port, host), 50));
setInterval(() => say({ rx }), 100);
`;

/**
 * The netns of a pod of the topology, or the node netns itself when `pod` is `t.node` (a loopback stream
 * there is what the agent's own etcd watch is).
 */
function netnsOf(t: Topology, pod: string): string {
  const netns = pod === t.node ? t.node : t.pods.get(pod)?.netns;
  if (netns === undefined) throw new Error(`no pod ${pod} in the topology`);
  return netns;
}

function child(
  t: Topology,
  pod: string,
  script: string,
  args: readonly (string | number)[],
  onLine: (o: Record<string, unknown>) => void,
): ChildProcess {
  const netns = netnsOf(t, pod);
  const c = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', script, ...args.map(String)], {
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  t.servers.push(c);
  createInterface({ input: c.stdout }).on('line', (line) => {
    try {
      onLine(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // not ours: ignore
    }
  });
  return c;
}

export interface StreamServer {
  /** Bytes received so far from connections of `ip`. */
  rxFrom(ip: string): number;
}

export async function startStreamServer(t: Topology, pod: string, port: number): Promise<StreamServer> {
  let listening = false;
  let rx: Record<string, number> = {};
  child(t, pod, SERVER, [port], (o) => {
    if (o['listening'] === true) listening = true;
    if (typeof o['rx'] === 'object' && o['rx'] !== null) rx = o['rx'] as Record<string, number>;
  });
  await waitFor(`stream server in ${pod} listening`, () => Promise.resolve(listening || undefined));
  return { rxFrom: (ip) => rx[ip] ?? 0 };
}

export interface StreamClient {
  /** Bytes received so far. */
  rx(): number;
  /** Socket errors and closes seen, in order. */
  readonly trouble: string[];
}

/** A client in `pod` streaming to ip:port; resolves once data has come back. */
export async function startStreamClient(
  t: Topology,
  pod: string,
  ip: string,
  port: number,
): Promise<StreamClient> {
  let rx = 0;
  const trouble: string[] = [];
  child(t, pod, CLIENT, [ip, port], (o) => {
    if (typeof o['rx'] === 'number') rx = o['rx'];
    if (typeof o['error'] === 'string') trouble.push(`error: ${o['error']}`);
    if (o['closed'] === true) trouble.push('closed');
  });
  await waitFor(`stream ${pod} → ${ip}:${port} flowing`, () => Promise.resolve(rx > 0 || undefined));
  return { rx: () => rx, trouble };
}

export interface ProbeResult {
  /** When the attempt started (ms since the epoch). */
  readonly t: number;
  readonly ok: boolean;
  readonly ms: number;
  readonly why?: string;
}

export interface Prober {
  readonly results: ProbeResult[];
  /** Stops starting probes and resolves once the ones in flight have reported. */
  stop(): Promise<void>;
}

/** New connections from `pod` to ip:port every `everyMs`; one counts as ok when it connects within `timeoutMs`. */
export function startProber(
  t: Topology,
  pod: string,
  ip: string,
  port: number,
  everyMs: number,
  timeoutMs: number,
): Prober {
  const results: ProbeResult[] = [];
  const c = child(t, pod, PROBER, [ip, port, everyMs, timeoutMs], (o) => {
    if (typeof o['t'] === 'number' && typeof o['ok'] === 'boolean') results.push(o as unknown as ProbeResult);
  });
  return {
    results,
    stop: async () => {
      if (c.exitCode !== null) return;
      const exited = new Promise((r) => c.once('exit', r));
      c.stdin?.end();
      await Promise.race([exited, new Promise((r) => setTimeout(r, timeoutMs + 5000))]);
    },
  };
}

/** A UDP echo server in `pod` on `port`. */
export async function startUdpEcho(t: Topology, pod: string, port: number): Promise<void> {
  let listening = false;
  child(t, pod, UDP_ECHO, [port], (o) => {
    if (o['listening'] === true) listening = true;
  });
  await waitFor(`udp echo in ${pod} listening`, () => Promise.resolve(listening || undefined));
}

export interface UdpFlow {
  /** Echoes received so far. */
  rx(): number;
  readonly trouble: string[];
}

/**
 * A UDP flow from `pod`, source port `sport`, to ip:port (a datagram every 50 ms, all on one 5-tuple, so
 * one conntrack entry that every datagram refreshes); resolves once echoes come back.
 */
export async function startUdpFlow(
  t: Topology,
  pod: string,
  ip: string,
  port: number,
  sport: number,
): Promise<UdpFlow> {
  let rx = 0;
  const trouble: string[] = [];
  child(t, pod, UDP_PINGER, [ip, port, sport], (o) => {
    if (typeof o['rx'] === 'number') rx = o['rx'];
    if (typeof o['error'] === 'string') trouble.push(`error: ${o['error']}`);
  });
  await waitFor(`udp ${pod}:${sport} → ${ip}:${port} echoed`, () => Promise.resolve(rx > 0 || undefined));
  return { rx: () => rx, trouble };
}
