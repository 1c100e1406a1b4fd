/**
 * JSONL append with a size bound: `flows.jsonl` is the live file; when the next line would take it past
 * `maxBytes` it becomes `flows.jsonl.1`, `.1` becomes `.2` … and the oldest beyond `files` is removed, so
 * the log never holds more than maxBytes × files. Synchronous writes: the rate limiter bounds lines to a
 * few hundred a second, and a line is then on disk, in order, before the next event is read, with no
 * buffer to lose or to grow.
 */
import { closeSync, fstatSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export interface RotationOptions {
  readonly maxBytes: number;
  /** Files kept in all, the live one included (≥ 1). */
  readonly files: number;
}

export const DEFAULT_ROTATION: RotationOptions = { maxBytes: 10 * 1024 * 1024, files: 5 };

/** The files of a log, oldest first: `path.(files-1)` … `path.1`, `path`. */
export function rotatedFiles(path: string, files: number): string[] {
  const out: string[] = [];
  for (let i = files - 1; i >= 1; i--) out.push(`${path}.${i}`);
  out.push(path);
  return out;
}

export class RotatingWriter {
  private fd: number | undefined;
  private size = 0;
  rotations = 0;

  constructor(
    readonly path: string,
    private readonly opts: RotationOptions = DEFAULT_ROTATION,
  ) {
    if (!Number.isInteger(opts.files) || opts.files < 1) throw new RangeError('files must be an integer ≥ 1');
    if (!(opts.maxBytes >= 1)) throw new RangeError('maxBytes must be ≥ 1');
  }

  private open(): number {
    if (this.fd === undefined) {
      mkdirSync(dirname(this.path), { recursive: true });
      this.fd = openSync(this.path, 'a', 0o640);
      this.size = fstatSync(this.fd).size;
    }
    return this.fd;
  }

  /** Creates the live file (and its directory) now, so readers can follow it before the first line. */
  ensure(): void {
    this.open();
  }

  /** Appends one line (a newline is added); rotates first when it would not fit. */
  write(line: string): void {
    const bytes = Buffer.from(`${line}\n`);
    this.open();
    if (this.size > 0 && this.size + bytes.length > this.opts.maxBytes) this.rotate();
    const fd = this.open();
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off);
    this.size += bytes.length;
  }

  private rotate(): void {
    this.close();
    const files = rotatedFiles(this.path, this.opts.files);
    // Oldest first: drop it, then shift each one down (path.1 → path.2 …, path → path.1).
    const oldest = files[0] as string;
    if (this.opts.files === 1) rmSync(this.path, { force: true });
    else {
      rmSync(oldest, { force: true });
      for (let i = 1; i < files.length; i++) {
        try {
          renameSync(files[i] as string, files[i - 1] as string);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        }
      }
    }
    this.rotations += 1;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.size = 0;
  }
}
