/**
 * A `Runner` (util/process.ts) that never forks the server: commands go to one long-lived pal-spawn helper
 * (native/pal-spawn.c), which starts them with posix_spawn and sends back exit code, stdout and stderr.
 * child_process.spawn forks the whole Node process on the event loop's thread, a cost that grows with the
 * server's memory; with 200 parallel ADDs that fork was 40% of the server's CPU and serialised every ADD
 * behind it. Here a command costs a pipe write and a read. The helper is started on first use and again
 * after it dies (the requests in flight then fail; ADD rolls back as for any failed command).
 */
import type { ChildProcessByStdio } from 'node:child_process';
import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import type { RunResult, Runner } from '../../util/process.js';
import { CommandError, fullArgv } from '../../util/process.js';

interface Pending {
  readonly argv: readonly string[];
  readonly resolve: (r: RunResult) => void;
  readonly reject: (e: Error) => void;
}

export interface Spawner {
  readonly exec: Runner;
  /** Lets the helper finish what runs and exit; a later exec starts a new one. */
  close(): void;
}

/** One reply frame: `<id> <status> <outLen> <errLen>\n`, stdout, stderr; undefined until complete. */
export function takeReply(
  buf: Buffer,
): { id: number; status: number; stdout: string; stderr: string; rest: Buffer } | undefined {
  const nl = buf.indexOf(0x0a);
  if (nl < 0) return undefined;
  const m = /^(\d+) (-?\d+) (\d+) (\d+)$/.exec(buf.subarray(0, nl).toString());
  if (!m) throw new Error(`pal-spawn: malformed reply ${JSON.stringify(buf.subarray(0, nl).toString())}`);
  const outLen = Number(m[3]);
  const errLen = Number(m[4]);
  const end = nl + 1 + outLen + errLen;
  if (buf.length < end) return undefined;
  return {
    id: Number(m[1]),
    status: Number(m[2]),
    stdout: buf.subarray(nl + 1, nl + 1 + outLen).toString(),
    stderr: buf.subarray(nl + 1 + outLen, end).toString(),
    rest: buf.subarray(end),
  };
}

export function encodeRequest(id: number, argv: readonly string[], input: string): Buffer {
  const stdin = Buffer.from(input);
  return Buffer.concat([
    Buffer.from(`${id} ${argv.length} ${stdin.length}\n`),
    ...argv.map((a) => Buffer.from(`${a}\0`)),
    stdin,
  ]);
}

export function startSpawner(binary: string): Spawner {
  interface Helper {
    readonly child: ChildProcessByStdio<Writable, Readable, null>;
    /** Requests this helper owes a reply; a helper that dies fails its own, not its successor's. */
    readonly pending: Map<number, Pending>;
    /** The helper's stdout, a pipe socket: referenced only while replies are owed. */
    readonly out: Socket;
  }
  let helper: Helper | undefined;
  let nextId = 1;

  const start = (): Helper => {
    const child = spawn(binary, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    const pending = new Map<number, Pending>();
    const out = child.stdout as Socket;
    const self: Helper = { child, pending, out };
    const failAll = (why: string): void => {
      for (const p of pending.values()) p.reject(new CommandError(p.argv, `pal-spawn: ${why}`, ''));
      pending.clear();
    };
    let buf: Buffer = Buffer.alloc(0);
    child.stdout.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      for (;;) {
        let r: ReturnType<typeof takeReply>;
        try {
          r = takeReply(buf);
        } catch (e) {
          failAll(String(e));
          child.kill('SIGKILL');
          return;
        }
        if (!r) break;
        buf = r.rest;
        const p = pending.get(r.id);
        pending.delete(r.id);
        if (r.status < 0) p?.reject(new CommandError(p.argv, r.stderr.trim() || 'could not start', ''));
        else p?.resolve({ code: r.status, stdout: r.stdout, stderr: r.stderr });
      }
      // Idle: a waiting helper must not keep the process alive on its own.
      if (pending.size === 0) out.unref();
    });
    const gone = (why: string): void => {
      if (helper === self) helper = undefined;
      failAll(why);
    };
    child.on('error', (e) => gone(e.message));
    child.on('close', (code, signal) => gone(`helper exited (${signal ?? code ?? '?'})`));
    child.stdin.on('error', () => undefined);
    child.unref();
    out.unref();
    return self;
  };

  const exec: Runner = (argv, options = {}) =>
    new Promise((resolve, reject) => {
      const full = fullArgv(argv, options);
      if (full.length === 0) {
        reject(new CommandError(full, 'empty command', ''));
        return;
      }
      helper ??= start();
      const id = nextId++;
      helper.pending.set(id, { argv: full, resolve, reject });
      helper.out.ref();
      helper.child.stdin.write(encodeRequest(id, full, options.input ?? ''));
    });

  return {
    exec,
    close: () => {
      helper?.child.stdin.end();
      helper = undefined;
    },
  };
}
