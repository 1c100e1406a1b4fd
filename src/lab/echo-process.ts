/**
 * The lab's HTTP echo server (echo-server.ts) for every declared TCP port of every pod, in one process:
 * native/pal-listen creates the listening sockets inside the pods' netns and execs Node as `pal-echo`
 * (echo-main.ts), which serves them all. Memory stays that of one Node process at hundreds of pods.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { namedNode } from './cni-host.js';
import { forgetPid, recordPid } from './state.js';
import { awaitReadyLine } from '../util/ready-child.js';

/** Process name (comm): `pal-` so that labDown recognises it as a lab process. */
export const ECHO_NAME = 'pal-echo';

const READY_TIMEOUT_MS = 30_000;

export interface EchoListener {
  readonly netns: string;
  /** IPv4 address to listen on (the pod's). */
  readonly ip: string;
  readonly port: number;
  /** `namespace/name` of the pod the port belongs to. */
  readonly pod: string;
}

export interface EchoProcessOptions {
  readonly labId: string;
  readonly listeners: readonly EchoListener[];
  /** The pal-listen executable; default dist/native/pal-listen. */
  readonly listenBinary?: string;
}

/** dist/src/lab/echo-process.js -> dist/native/pal-listen */
export function defaultListenBinary(): string {
  return fileURLToPath(new URL('../../native/pal-listen', import.meta.url));
}

const NETNS = /^[A-Za-z0-9_.-]{1,63}$/;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** pal-listen's arguments and the echo server's, in the same order: listener i is fd 3+i. */
export function echoArgv(
  labId: string,
  listeners: readonly EchoListener[],
  node: string,
  entry: string,
): string[] {
  for (const l of listeners) {
    if (!NETNS.test(l.netns)) throw new Error(`pal-echo: bad netns name "${l.netns}"`);
    if (!IPV4.test(l.ip)) throw new Error(`pal-echo: ${l.pod}: "${l.ip}" is not an IPv4 address`);
    if (!Number.isInteger(l.port) || l.port < 1 || l.port > 65535)
      throw new Error(`pal-echo: ${l.pod}: bad port ${l.port}`);
    if (!/^[^/\s]+\/[^/\s]+$/.test(l.pod)) throw new Error(`pal-echo: "${l.pod}" is not NAMESPACE/NAME`);
  }
  return [
    `--lab=${labId}`,
    ...listeners.map((l) => `${l.netns}:${l.ip}:${l.port}`),
    '--',
    node,
    entry,
    `--lab=${labId}`,
    ...listeners.map((l) => l.pod),
  ];
}

export class EchoProcess {
  readonly pid: number;
  readonly #labId: string;
  readonly #close: () => Promise<void>;
  #closing: Promise<void> | undefined;

  private constructor(labId: string, pid: number, close: () => Promise<void>) {
    this.#labId = labId;
    this.pid = pid;
    this.#close = close;
  }

  /** Starts serving every listener; rejects (with pal-listen's reason, e.g. a port in use) if any fails. */
  static async start(opts: EchoProcessOptions): Promise<EchoProcess> {
    const entry = fileURLToPath(new URL('./echo-main.js', import.meta.url));
    const argv = echoArgv(opts.labId, opts.listeners, await namedNode(opts.labId, ECHO_NAME), entry);
    const child = spawn(opts.listenBinary ?? defaultListenBinary(), argv, {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const { exited } = await awaitReadyLine(child, {
      name: ECHO_NAME,
      ready: (line) => line === 'ready',
      expected: 'ready',
      timeoutMs: READY_TIMEOUT_MS,
    });
    const pid = child.pid ?? -1;
    // Recorded once it runs as `pal-echo`: labDown ignores a recorded pid under another name.
    if (pid > 0) await recordPid(opts.labId, pid, ECHO_NAME);
    return new EchoProcess(opts.labId, pid, async () => {
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 1000);
      await exited;
      clearTimeout(timer);
    });
  }

  /** Stops serving: EOF on stdin, SIGKILL if it has not gone within a second. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#close();
      if (this.pid > 0) await forgetPid(this.#labId, this.pid);
    })();
    return this.#closing;
  }
}
