/** host-local semantics of the built-in IPAM, and its store under concurrency from several processes. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { candidates, ipText, parseIpamConfig } from '../../src/cni/ipam/config.js';
import { IpamStore } from '../../src/cni/ipam/store.js';

const texts = (it: Iterable<bigint>, family: 4 | 6 = 4): string[] => [...it].map((v) => ipText(family, v));

describe('IPAM config (host-local canonicalisation)', () => {
  it('a range defaults to the subnet minus network, gateway and broadcast', () => {
    const c = parseIpamConfig({ type: 'palisade', ranges: [[{ subnet: '10.1.0.0/29' }]] });
    assert.deepEqual(texts(candidates(c.rangeSets[0] ?? [], c.exclude)), [
      '10.1.0.2',
      '10.1.0.3',
      '10.1.0.4',
      '10.1.0.5',
      '10.1.0.6',
    ]);
  });
  it('the legacy top-level subnet form is one set of one range', () => {
    const c = parseIpamConfig({
      type: 'palisade',
      subnet: '10.1.0.0/29',
      gateway: '10.1.0.6',
      rangeStart: '10.1.0.3',
    });
    assert.deepEqual(texts(candidates(c.rangeSets[0] ?? [], c.exclude)), [
      '10.1.0.3',
      '10.1.0.4',
      '10.1.0.5',
    ]);
  });
  it('exclusions are never handed out', () => {
    const c = parseIpamConfig({
      type: 'palisade',
      subnet: '10.1.0.0/29',
      exclude: ['10.1.0.4/31', '10.1.0.2'],
    });
    assert.deepEqual(texts(candidates(c.rangeSets[0] ?? [], c.exclude)), ['10.1.0.3', '10.1.0.6']);
  });
  it('the search starts after the last reservation and wraps, across the ranges of a set', () => {
    const c = parseIpamConfig({
      type: 'palisade',
      ranges: [[{ subnet: '10.1.0.0/30' }, { subnet: '10.2.0.0/30' }]],
    });
    const set = c.rangeSets[0] ?? [];
    // Like host-local's iterator, the previous address itself comes last, after the wrap.
    assert.deepEqual(texts(candidates(set, [], 0x0a010002n)), ['10.2.0.2', '10.1.0.2']);
    assert.deepEqual(texts(candidates(set, [], 0x0a020002n)), ['10.1.0.2', '10.2.0.2']);
  });
  it('IPv6 ranges include the last address (no broadcast)', () => {
    const c = parseIpamConfig({ type: 'palisade', ranges: [[{ subnet: 'fd00::/126' }]] });
    assert.deepEqual(texts(candidates(c.rangeSets[0] ?? [], []), 6), ['fd00::2', 'fd00::3']);
  });
  const bad: [string, Record<string, unknown>, number][] = [
    ['a /31 is too small', { subnet: '10.0.0.0/31' }, 7],
    ['no ranges and no subnet', {}, 7],
    ['overlapping range sets', { ranges: [[{ subnet: '10.0.0.0/24' }], [{ subnet: '10.0.0.0/25' }]] }, 7],
    ['a gateway outside the subnet', { subnet: '10.0.0.0/24', gateway: '10.0.1.1' }, 7],
    ['a subnet that is not a CIDR', { subnet: 'ten' }, 2],
  ];
  for (const [name, raw, code] of bad) {
    it(`rejects: ${name} (code ${code})`, () => {
      assert.throws(
        () => parseIpamConfig({ type: 'palisade', ...raw }),
        (e: { code?: number }) => e.code === code,
      );
    });
  }
});

const STORE = fileURLToPath(new URL('../../src/cni/ipam/store.js', import.meta.url));
const CONFIG = fileURLToPath(new URL('../../src/cni/ipam/config.js', import.meta.url));

/** A child process reserving `n` addresses for owners `<tag>-<i>`; prints them as JSON. */
function reserveInChild(dir: string, tag: string, n: number): Promise<string[]> {
  const script = `
    const { IpamStore } = await import(${JSON.stringify(STORE)});
    const { candidates, ipText, parseIpamConfig } = await import(${JSON.stringify(CONFIG)});
    const c = parseIpamConfig({ type: 'palisade', subnet: '10.50.0.0/16' });
    const store = new IpamStore(${JSON.stringify(dir)});
    const got = await Promise.all(Array.from({ length: ${n} }, async (_, i) => {
      const last = await store.lastReserved(0);
      const from = last === undefined ? undefined : BigInt(last.split('.').reduce((a, o) => a * 256 + Number(o), 0));
      const it = (function* () { for (const v of candidates(c.rangeSets[0], [], from)) yield ipText(4, v); })();
      return store.reserve(it, { containerId: '${tag}-' + i, ifname: 'eth0' }, 0);
    }));
    process.stdout.write(JSON.stringify(got));`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(JSON.parse(out) as string[]) : reject(new Error(`child exit ${code}`)),
    );
  });
}

describe('IPAM store', () => {
  it('200 concurrent reservations from 4 processes get 200 distinct addresses, and release frees them all', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pal-ipam-'));
    try {
      const results = await Promise.all(['a', 'b', 'c', 'd'].map((t) => reserveInChild(dir, t, 50)));
      const all = results.flat();
      assert.equal(all.length, 200);
      assert.ok(
        all.every((ip) => typeof ip === 'string'),
        'every reservation succeeded',
      );
      assert.equal(new Set(all).size, 200, 'no address was handed out twice');
      const store = new IpamStore(dir);
      assert.equal((await store.list()).length, 200);
      const freed = await store.releaseAllBut([{ containerId: 'a-0', ifname: 'eth0' }]);
      assert.equal(freed.length, 199);
      assert.deepEqual((await store.release({ containerId: 'a-0', ifname: 'eth0' })).length, 1);
      assert.deepEqual(
        (await readdir(dir)).filter((f) => !f.startsWith('last_reserved_ip')),
        [],
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('200 concurrent reservations in one process (the server) take the first 200 free addresses', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pal-ipam-'));
    try {
      const candidates = Array.from({ length: 254 }, (_, i) => `10.0.0.${i + 1}`);
      await new IpamStore(dir).reserve(['10.0.0.5'], { containerId: 'other', ifname: 'eth0' }, 0);
      const got = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          new IpamStore(dir).reserve(candidates, { containerId: `c${i}`, ifname: 'eth0' }, 0),
        ),
      );
      assert.equal(new Set(got).size, 200, 'no address twice');
      assert.deepEqual(
        [...got].sort(),
        candidates
          .slice(0, 201)
          .filter((ip) => ip !== '10.0.0.5')
          .sort(),
        'an address skipped because another ADD was trying it is not lost',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a taken address is skipped, and release is idempotent', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pal-ipam-'));
    try {
      const store = new IpamStore(dir);
      assert.equal(
        await store.reserve(['10.0.0.2', '10.0.0.3'], { containerId: 'x', ifname: 'eth0' }, 0),
        '10.0.0.2',
      );
      assert.equal(
        await store.reserve(['10.0.0.2', '10.0.0.3'], { containerId: 'y', ifname: 'eth0' }, 0),
        '10.0.0.3',
      );
      assert.equal(
        await store.reserve(['10.0.0.2', '10.0.0.3'], { containerId: 'z', ifname: 'eth0' }, 0),
        undefined,
      );
      assert.deepEqual(await store.release({ containerId: 'x', ifname: 'eth0' }), ['10.0.0.2']);
      assert.deepEqual(await store.release({ containerId: 'x', ifname: 'eth0' }), []);
      assert.equal(await store.lastReserved(0), '10.0.0.3');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
