/**
 * The TypeScript side of native/pal-probe: one child process that serves every pod and sends every probe,
 * driven by a line protocol (see the header of native/pal-probe.c).
 */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { Protocol } from '../ir/endpoint.js';
import { forgetPid, recordPid } from './state.js';

export type ProbeResult = 'ok' | 'timeout' | 'refused';

export interface ProbeOutcome {
  readonly result: ProbeResult;
  /** What the server wrote back (TCP/UDP payload, SCTP state cookie); only with `ok`. */
  readonly reply?: string;
}

export interface ServeRequest {
  readonly netns: string;
  readonly ip: string;
  readonly port: number;
  readonly protocol: Protocol;
  /** Text the server answers with; one token of printable ASCII, at most 255 characters. */
  readonly reply: string;
}

export interface ProbeRequest {
  /** Netns the probe is sent from. */
  readonly netns: string;
  readonly ip: string;
  readonly port: number;
  readonly protocol: Protocol;
  readonly timeoutMs: number;
}

/** How SCTP is served: real kernel sockets, or INIT/INIT-ACK/ABORT on raw sockets when the kernel lacks SCTP. */
export type SctpMode = 'kernel' | 'raw';

export interface ProbeProcessOptions {
  /** The lab this process serves: on its command line (`--lab=<id>`) and in the lab's state dir. */
  readonly labId: string;
  readonly binary?: string;
  /** Use raw-socket SCTP even if the kernel has SCTP (tests both paths on kernels that have it). */
  readonly forceRawSctp?: boolean;
}

/** dist/src/lab/probe-process.js -> dist/native/pal-probe */
export function defaultProbeBinary(): string {
  return fileURLToPath(new URL('../../native/pal-probe', import.meta.url));
}

const TOKEN = /^[\x21-\x7e]{1,255}$/;

function checkToken(what: string, value: string): void {
  if (!TOKEN.test(value))
    throw new Error(`${what} "${value}" must be 1-255 printable characters without spaces`);
}

interface Pending {
  resolve(line: readonly string[]): void;
  reject(err: Error): void;
}

export class ProbeProcess {
  readonly sctpMode: SctpMode;
  readonly pid: number;
  readonly labId: string;
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #pending = new Map<string, Pending>();
  #nextId = 0;
  #exited: Error | undefined;
  readonly #exit: Promise<void>;

  private constructor(
    labId: string,
    child: ChildProcessWithoutNullStreams,
    sctpMode: SctpMode,
    exit: Promise<void>,
  ) {
    this.labId = labId;
    this.#child = child;
    this.sctpMode = sctpMode;
    this.pid = child.pid ?? -1;
    this.#exit = exit;
  }

  static async start(opts: ProbeProcessOptions): Promise<ProbeProcess> {
    const env = opts.forceRawSctp ? { ...process.env, PAL_PROBE_SCTP: 'raw' } : process.env;
    // pal-probe ignores its arguments; `--lab=<id>` is there so that labDown can tell whose it is.
    const child = spawn(opts.binary ?? defaultProbeBinary(), [`--lab=${opts.labId}`], {
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      stderr = (stderr + d).slice(-4000);
    });
    const exit = new Promise<void>((resolve) => child.once('close', () => resolve()));
    const lines = createInterface({ input: child.stdout });
    const ready = await new Promise<string>((resolve, reject) => {
      child.once('error', reject);
      lines.once('line', resolve);
      void exit.then(() => reject(new Error(`pal-probe exited before it was ready: ${stderr.trim()}`)));
    });
    const mode = /^ready sctp=(kernel|raw)$/.exec(ready)?.[1];
    if (mode !== 'kernel' && mode !== 'raw') {
      child.kill('SIGKILL');
      throw new Error(`pal-probe said "${ready}" instead of ready`);
    }
    const proc = new ProbeProcess(opts.labId, child, mode, exit);
    if (child.pid !== undefined) await recordPid(opts.labId, child.pid, 'pal-probe');
    lines.on('line', (line) => proc.#onLine(line));
    void exit.then(() => proc.#onExit(new Error(`pal-probe exited: ${stderr.trim() || 'no message'}`)));
    return proc;
  }

  #onLine(line: string): void {
    const f = line.split(' ');
    const id = f[1];
    const p = id === undefined ? undefined : this.#pending.get(id);
    if (!p || id === undefined) return;
    this.#pending.delete(id);
    if (f[0] === 'error') p.reject(new Error(`pal-probe: ${f.slice(2).join(' ')}`));
    else p.resolve(f);
  }

  #onExit(err: Error): void {
    this.#exited = err;
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
  }

  #send(build: (id: string) => string): Promise<readonly string[]> {
    if (this.#exited) return Promise.reject(this.#exited);
    const id = (this.#nextId++).toString(36);
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#child.stdin.write(build(id) + '\n');
    });
  }

  /** Starts a server in `netns` on ip:port; it answers every connection or datagram with `reply`. */
  async serve(req: ServeRequest): Promise<void> {
    checkToken('netns', req.netns);
    checkToken('reply', req.reply);
    const proto = req.protocol.toLowerCase();
    await this.#send((id) => `serve ${id} ${req.netns} ${req.ip} ${req.port} ${proto} ${req.reply}`);
  }

  /** Connects (TCP/SCTP) or sends a datagram (UDP) from `netns` and reports what came back. */
  async probe(req: ProbeRequest): Promise<ProbeOutcome> {
    checkToken('netns', req.netns);
    const proto = req.protocol.toLowerCase();
    const ms = Math.max(1, Math.round(req.timeoutMs));
    const f = await this.#send((id) => `probe ${id} ${req.netns} ${req.ip} ${req.port} ${proto} ${ms}`);
    const result = f[2];
    if (result !== 'ok' && result !== 'refused' && result !== 'timeout') {
      throw new Error(`pal-probe: unexpected answer "${f.join(' ')}"`);
    }
    const reply = f[3];
    return result === 'ok' && reply !== undefined ? { result, reply } : { result };
  }

  /** Ends the process: EOF on stdin, SIGKILL if it has not gone within a second. */
  async close(): Promise<void> {
    if (!this.#exited) {
      this.#child.stdin.end();
      const timer = setTimeout(() => this.#child.kill('SIGKILL'), 1000);
      await this.#exit;
      clearTimeout(timer);
    }
    if (this.pid > 0) await forgetPid(this.labId, this.pid);
  }
}
