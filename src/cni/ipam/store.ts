/**
 * The on-disk reservations, in host-local's layout so that either can read the other's: one file per
 * address, `<dataDir>/<network>/<ip>`, holding `containerID\r\nifname`, plus `last_reserved_ip.<set>`.
 *
 * Concurrency without a lock file: a reservation is made by `link(2)`ing a fully written temporary file
 * to the address's name. link is atomic and fails with EEXIST when the name exists, so two ADDs (threads,
 * processes, or a server and a stray CLI) can never both get one address, and a reservation file is never
 * seen half-written. A crash leaves at most a `.pal-tmp.*` file (whose content names its owner) and
 * whole reservations: DEL (by owner) and GC (by the valid attachments) remove both. host-local's flock
 * serialises every ADD of a network instead, and a process killed holding it is fine there only because
 * flock dies with it; here nothing can be left locked at all.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, readdir, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface Owner {
  readonly containerId: string;
  readonly ifname: string;
}

export interface Reservation extends Owner {
  readonly ip: string;
}

const TMP_PREFIX = '.pal-tmp.';
const LAST_PREFIX = 'last_reserved_ip.';
const LINE_BREAK = '\r\n';

function ownerText(o: Owner): string {
  return `${o.containerId}${LINE_BREAK}${o.ifname}`;
}

function parseOwner(text: string): Owner {
  const [containerId = '', ifname = ''] = text.split(LINE_BREAK);
  return { containerId: containerId.trim(), ifname: ifname.trim() };
}

function sameOwner(a: Owner, b: Owner): boolean {
  // Files written by old host-local versions hold only the container id.
  return a.containerId === b.containerId && (a.ifname === '' || a.ifname === b.ifname);
}

function isReservationName(name: string): boolean {
  return !name.startsWith('.') && !name.startsWith(LAST_PREFIX) && name !== 'lock';
}

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * Addresses this process reserved, per store directory. Concurrent ADDs in one server all start their
 * search at the same `last_reserved_ip`; without this hint the k-th would try k taken names before its
 * own, O(n²) link calls for n parallel ADDs. Only an ordering hint: link() still decides, and an address
 * freed by another process is found again when the hinted ones run out.
 */
const reservedHere = new Map<string, Set<string>>();

/**
 * Addresses a reserve() of this process is trying right now, per store directory. Parallel ADDs start
 * together from the same snapshot, so without it they all link() the same first free address, then the
 * next, in lock step: n(n-1)/2 failed link calls for n ADDs (20 000 for 200, measured as the biggest cost
 * after forks). Skipping an address another ADD here is trying makes each take a different one; the
 * skipped addresses are tried again at the end in case that attempt fails.
 */
const claimingHere = new Map<string, Set<string>>();

function setFor(map: Map<string, Set<string>>, dir: string): Set<string> {
  let set = map.get(dir);
  if (set === undefined) {
    set = new Set<string>();
    map.set(dir, set);
  }
  return set;
}

export class IpamStore {
  constructor(
    /** `<dataDir>/<network>`. */
    readonly dir: string,
  ) {}

  private async entries(): Promise<string[]> {
    try {
      return await readdir(this.dir);
    } catch (err) {
      if (code(err) === 'ENOENT') return [];
      throw err;
    }
  }

  async list(): Promise<Reservation[]> {
    const out: Reservation[] = [];
    for (const name of await this.entries()) {
      if (!isReservationName(name)) continue;
      const text = await readFile(join(this.dir, name), 'utf8').catch(() => undefined);
      if (text !== undefined) out.push({ ip: name, ...parseOwner(text) });
    }
    return out;
  }

  async lastReserved(set: number): Promise<string | undefined> {
    const text = await readFile(join(this.dir, `${LAST_PREFIX}${set}`), 'utf8').catch(() => undefined);
    return text?.trim() || undefined;
  }

  /**
   * Reserves the first of `candidates` that nobody holds, for `owner`; undefined when all are taken.
   * `candidates` is consumed lazily, so a large range costs only what it must.
   */
  async reserve(candidates: Iterable<string>, owner: Owner, set: number): Promise<string | undefined> {
    await mkdir(this.dir, { recursive: true });
    const tmp = join(this.dir, `${TMP_PREFIX}${randomBytes(6).toString('hex')}`);
    await writeFile(tmp, ownerText(owner), { flag: 'wx' });
    try {
      const taken = new Set(await this.entries());
      const hinted = setFor(reservedHere, this.dir);
      const claiming = setFor(claimingHere, this.dir);
      const skipped: string[] = [];
      const attempt = async (ip: string): Promise<boolean> => {
        claiming.add(ip);
        try {
          await link(tmp, join(this.dir, ip));
        } catch (err) {
          if (code(err) === 'EEXIST') return false;
          throw err;
        } finally {
          claiming.delete(ip);
        }
        hinted.add(ip);
        await this.writeLast(set, ip);
        return true;
      };
      for (const ip of candidates) {
        if (taken.has(ip)) continue;
        if (hinted.has(ip) || claiming.has(ip)) {
          skipped.push(ip);
          continue;
        }
        if (await attempt(ip)) return ip;
      }
      for (const ip of skipped) if (await attempt(ip)) return ip;
      return undefined;
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
  }

  /** Reserves exactly `ip` for `owner`; false when someone holds it. */
  async reserveExact(ip: string, owner: Owner, set: number): Promise<boolean> {
    return (await this.reserve([ip], owner, set)) !== undefined;
  }

  private async writeLast(set: number, ip: string): Promise<void> {
    // Only a hint for where the next search starts: a lost race here costs nothing.
    const tmp = join(this.dir, `${TMP_PREFIX}last.${randomBytes(6).toString('hex')}`);
    try {
      await writeFile(tmp, ip);
      await rename(tmp, join(this.dir, `${LAST_PREFIX}${set}`));
    } catch {
      await unlink(tmp).catch(() => undefined);
    }
  }

  /**
   * Removes every reservation (and leftover temporary file) of `owner`; returns the addresses freed.
   * With `known` (the addresses a complete ADD recorded), only those files are read: a DEL then costs
   * O(1) rather than a read of every reservation of the network.
   */
  async release(owner: Owner, known?: readonly string[]): Promise<string[]> {
    if (known === undefined || known.length === 0) return this.removeWhere((o) => sameOwner(o, owner));
    const freed: string[] = [];
    for (const ip of known) {
      const path = join(this.dir, ip);
      const text = await readFile(path, 'utf8').catch(() => undefined);
      if (text === undefined || !sameOwner(parseOwner(text), owner)) continue;
      await unlink(path).catch((err: unknown) => {
        if (code(err) !== 'ENOENT') throw err;
      });
      reservedHere.get(this.dir)?.delete(ip);
      freed.push(ip);
    }
    return freed.sort();
  }

  /** Removes every reservation not held by one of `valid`; returns the addresses freed. */
  async releaseAllBut(valid: readonly Owner[]): Promise<string[]> {
    return this.removeWhere((o) => !valid.some((v) => sameOwner(o, v)));
  }

  private async removeWhere(pred: (o: Owner) => boolean): Promise<string[]> {
    const freed: string[] = [];
    for (const name of await this.entries()) {
      if (name.startsWith(LAST_PREFIX) || name === 'lock') continue;
      const path = join(this.dir, name);
      const text = await readFile(path, 'utf8').catch(() => undefined);
      if (text === undefined || !pred(parseOwner(text))) continue;
      await unlink(path).catch((err: unknown) => {
        if (code(err) !== 'ENOENT') throw err;
      });
      if (isReservationName(name)) freed.push(name);
      reservedHere.get(this.dir)?.delete(name);
    }
    return freed.sort();
  }
}
