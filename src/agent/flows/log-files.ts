/**
 * Reading a rotating flow log back (writer.ts writes it): the rotated files oldest first, then the live
 * one, line by line; and following the live file across rotations, as `tail -F` does.
 */
import { createReadStream } from 'node:fs';
import type { Stats } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { filesIn } from '../../util/files.js';

/** `path.N … path.1, path` for the rotated files that exist (any N), oldest first; the live file last. */
export async function flowLogFiles(path: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dirname(path));
  } catch {
    return [];
  }
  const base = basename(path);
  const rotated = names
    .map((n) => ({ n, m: n.startsWith(`${base}.`) ? /^(\d+)$/.exec(n.slice(base.length + 1)) : null }))
    .filter((x): x is { n: string; m: RegExpExecArray } => x.m !== null)
    .sort((a, b) => Number(b.m[1]) - Number(a.m[1]))
    .map((x) => join(dirname(path), x.n));
  return names.includes(base) ? [...rotated, path] : rotated;
}

/** The live flow logs of every agent under `stateDir` (`<stateDir>/flows/<node>.jsonl`), sorted. */
export async function flowLogsIn(stateDir: string): Promise<string[]> {
  return filesIn(join(stateDir, 'flows'), (n) => n.endsWith('.jsonl'));
}

/** Every line of `files` in order (empty ones too: callers count bytes), with the file it came from. */
export async function* readLines(files: readonly string[]): AsyncGenerator<{ file: string; line: string }> {
  for (const file of files) {
    let stream;
    try {
      stream = createReadStream(file, { encoding: 'utf8' });
      for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) yield { file, line };
    } catch (e) {
      // Rotated away between listing and opening: its lines are in the next file.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    } finally {
      stream?.destroy();
    }
  }
}

async function statOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch {
    return undefined;
  }
}

/**
 * Follows `path` the way `tail -F` does: when the writer rotates (the path names a new file), the rest of the old file is
 * read, then the new one from its start. Polls every `intervalMs`; `stop` ends it.
 */
export class FlowLogTail {
  private fh: FileHandle | undefined;
  private ino: number | undefined;
  private pos = 0;
  private partial = '';
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private stopped = false;

  constructor(
    private readonly path: string,
    private readonly onLine: (line: string) => void,
    private readonly intervalMs = 250,
  ) {}

  /**
   * Starts at byte `from` of the live file (what `readLines` already gave), or at its start when it is
   * shorter than that (rotated meanwhile).
   */
  async start(from: number): Promise<void> {
    const st = await statOrUndefined(this.path);
    if (st !== undefined) await this.openAt(st.size >= from ? from : 0);
    this.timer = setInterval(() => void this.poll(), this.intervalMs);
  }

  private async openAt(pos: number): Promise<void> {
    try {
      this.fh = await open(this.path, 'r');
    } catch {
      this.fh = undefined;
      return;
    }
    this.ino = (await this.fh.stat()).ino;
    this.pos = pos;
    this.partial = '';
  }

  private async drain(): Promise<void> {
    const fh = this.fh;
    if (fh === undefined) return;
    const buf = Buffer.alloc(64 * 1024);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, this.pos);
      if (bytesRead === 0) return;
      this.pos += bytesRead;
      const text = this.partial + buf.subarray(0, bytesRead).toString('utf8');
      const lines = text.split('\n');
      this.partial = lines.pop() ?? '';
      for (const l of lines) if (l !== '') this.onLine(l);
    }
  }

  private async poll(): Promise<void> {
    if (this.busy || this.stopped) return;
    this.busy = true;
    try {
      await this.drain();
      const st = await statOrUndefined(this.path);
      if (st === undefined) return;
      if (this.fh === undefined) await this.openAt(0);
      else if (st.ino !== this.ino || st.size < this.pos) {
        // Rotated (or truncated): finish the old file, then read the new one from its start.
        await this.drain();
        await this.fh.close();
        await this.openAt(0);
      }
      await this.drain();
    } catch {
      // The file went away mid-read (rotation, removal): the next poll starts over from the path.
      await this.fh?.close().catch(() => undefined);
      this.fh = undefined;
    } finally {
      this.busy = false;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    for (let i = 0; i < 50 && this.busy; i++) await new Promise((r) => setTimeout(r, 20));
    await this.fh?.close();
    this.fh = undefined;
  }
}
