/**
 * A tiny privileged topology for datapath tests, independent of src/lab: one "node" netns that forwards,
 * and one netns per pod joined to it by a veth pair, L3-routed with a /32 host route per pod (the node
 * side answers ARP for the gateway because it owns the gateway address). Everything is named
 * `pal-dp-<random>-…` and removed by `destroy`, which never throws.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { runChecked } from '../../../src/util/process.js';

export const NODE_IP = '10.77.0.1';

export interface PodSpec {
  readonly name: string;
  readonly ip: string;
}

export interface Topology {
  readonly node: string;
  readonly pods: ReadonlyMap<string, { readonly netns: string; readonly ip: string }>;
  readonly servers: ChildProcess[];
  destroy(): Promise<void>;
}

/** Why privileged tests cannot run here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  const ip = spawnSync('ip', ['netns', 'list']);
  if (ip.status !== 0) return '`ip netns` is not available';
  const nft = spawnSync('nft', ['--version']);
  if (nft.status !== 0) return 'nft is not installed';
  return undefined;
}

const sh = (argv: string[]): Promise<unknown> => runChecked(argv);

export async function createTopology(specs: readonly PodSpec[]): Promise<Topology> {
  const tag = `pal-dp-${randomBytes(3).toString('hex')}`;
  const node = `${tag}-n`;
  const created: string[] = [];
  const servers: ChildProcess[] = [];
  const destroy = async (): Promise<void> => {
    for (const s of servers) s.kill('SIGKILL');
    for (const ns of created.reverse()) spawnSync('ip', ['netns', 'delete', ns]);
    await Promise.resolve();
  };
  const pods = new Map<string, { netns: string; ip: string }>();
  try {
    await sh(['ip', 'netns', 'add', node]);
    created.push(node);
    await sh(['ip', '-n', node, 'link', 'set', 'lo', 'up']);
    await sh(['ip', 'netns', 'exec', node, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    for (const [i, p] of specs.entries()) {
      const netns = `${tag}-${p.name}`;
      const hostSide = `pal-${tag.slice(7)}${i}`;
      await sh(['ip', 'netns', 'add', netns]);
      created.push(netns);
      await sh([
        'ip',
        '-n',
        node,
        'link',
        'add',
        hostSide,
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        netns,
      ]);
      await sh(['ip', '-n', node, 'addr', 'add', `${NODE_IP}/32`, 'dev', hostSide]);
      await sh(['ip', '-n', node, 'link', 'set', hostSide, 'up']);
      await sh(['ip', '-n', node, 'route', 'add', `${p.ip}/32`, 'dev', hostSide]);
      await sh(['ip', '-n', netns, 'link', 'set', 'lo', 'up']);
      await sh(['ip', '-n', netns, 'addr', 'add', `${p.ip}/32`, 'dev', 'eth0']);
      await sh(['ip', '-n', netns, 'link', 'set', 'eth0', 'up']);
      await sh(['ip', '-n', netns, 'route', 'add', `${NODE_IP}/32`, 'dev', 'eth0']);
      await sh(['ip', '-n', netns, 'route', 'add', 'default', 'via', NODE_IP, 'dev', 'eth0']);
      pods.set(p.name, { netns, ip: p.ip });
    }
  } catch (e) {
    await destroy();
    throw e;
  }
  return { node, pods, servers, destroy };
}

const SERVER = `const net = require('node:net');
for (const p of process.argv.slice(1)) net.createServer((s) => s.end()).listen(Number(p), '0.0.0.0');`;

/** TCP servers on `ports` in every pod; resolves once each accepts a connection from the node. */
export async function startServers(t: Topology, ports: readonly number[]): Promise<void> {
  for (const pod of t.pods.values()) {
    const child = spawn(
      'ip',
      ['netns', 'exec', pod.netns, process.execPath, '-e', SERVER, ...ports.map(String)],
      {
        stdio: 'ignore',
      },
    );
    t.servers.push(child);
  }
  for (const pod of t.pods.values()) {
    for (const port of ports) {
      let up = false;
      for (let i = 0; i < 50 && !up; i++) {
        up = await canConnect(t.node, pod.ip, port, 200);
        if (!up) await new Promise((r) => setTimeout(r, 50));
      }
      if (!up) throw new Error(`server ${pod.ip}:${port} did not come up`);
    }
  }
}

/** Whether a TCP connection from inside `netns` to ip:port completes within `timeoutMs`. */
export function canConnect(netns: string, ip: string, port: number, timeoutMs = 700): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        netns,
        'timeout',
        String(timeoutMs / 1000),
        'bash',
        '-c',
        `exec 3<>/dev/tcp/${ip}/${port}`,
      ],
      { stdio: 'ignore' },
    );
    child.on('close', (code) => resolve(code === 0));
    child.on('error', () => resolve(false));
  });
}

export type ConnectOutcome = 'open' | 'refused' | 'timeout';

/**
 * How a TCP connection from inside `netns` to ip:port ends: completed, refused (a RST came back: the
 * client knows at once) or timed out (the SYN was dropped), with how long it took to know.
 */
export function connectOutcome(
  netns: string,
  ip: string,
  port: number,
  timeoutMs = 1500,
): Promise<{ outcome: ConnectOutcome; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        netns,
        'timeout',
        String(timeoutMs / 1000),
        'bash',
        '-c',
        `exec 3<>/dev/tcp/${ip}/${port}`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('close', (code) => {
      const ms = Date.now() - started;
      const outcome: ConnectOutcome = code === 0 ? 'open' : /refused/i.test(stderr) ? 'refused' : 'timeout';
      resolve({ outcome, ms });
    });
    child.on('error', () => resolve({ outcome: 'timeout', ms: Date.now() - started }));
  });
}

/** One ICMP echo over a raw socket (no `ping` binary needed): exit 0 when the matching reply comes. */
const ECHO = `import os, socket, struct, sys, time
ip = sys.argv[1]
def checksum(b):
    t = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    t = (t >> 16) + (t & 0xffff)
    return ~(t + (t >> 16)) & 0xffff
ident = os.getpid() & 0xffff
body = struct.pack('!BBHHH', 8, 0, 0, ident, 1) + b'palisade'
packet = struct.pack('!BBHHH', 8, 0, checksum(body), ident, 1) + b'palisade'
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.settimeout(0.2)
s.sendto(packet, (ip, 0))
end = time.time() + 1
while time.time() < end:
    try:
        data, addr = s.recvfrom(1024)
    except socket.timeout:
        continue
    if addr[0] == ip and data[20] == 0 and struct.unpack('!H', data[24:26])[0] == ident:
        sys.exit(0)
sys.exit(1)`;

/** Why ICMP probes cannot run here, or undefined when they can. */
export function icmpUnavailable(): string | undefined {
  return spawnSync('python3', ['--version']).status === 0
    ? undefined
    : 'python3 (raw-socket echo) is not installed';
}

/** Whether one ICMP echo from inside `netns` to `ip` is answered within a second. */
export function pings(netns: string, ip: string): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn('ip', ['netns', 'exec', netns, 'python3', '-c', ECHO, ip], { stdio: 'ignore' });
    child.on('close', (code) => resolve(code === 0));
    child.on('error', () => resolve(false));
  });
}
