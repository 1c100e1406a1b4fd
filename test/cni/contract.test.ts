/**
 * The spec contract without root: environment validation, version negotiation, error JSON, result
 * conversion, for every supported spec version. Kernel work is never reached: each case fails (or, for
 * VERSION, answers) before it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chainResult } from '../../src/cni/commands/add.js';
import { runPlugin } from '../../src/cni/plugin.js';
import { CURRENT_VERSION, SUPPORTED_VERSIONS, convertResult } from '../../src/cni/version.js';

const config = (cniVersion: string, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({
    cniVersion,
    name: 'pal-net',
    type: 'palisade',
    stateDir: '/nonexistent/pal-state',
    ipam: { type: 'palisade', subnet: '10.99.0.0/24', dataDir: '/nonexistent/pal-ipam' },
    ...extra,
  });

const ENV = {
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'c1',
  CNI_NETNS: '/nonexistent/netns',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/usr/lib/cni',
};

async function error(vars: Record<string, string | undefined>, stdin: string) {
  const out = await runPlugin(vars, stdin);
  assert.equal(out.exitCode, 1, `expected failure, got ${out.stdout}`);
  return JSON.parse(out.stdout) as { cniVersion: string; code: number; msg: string; details?: string };
}

describe('environment validation (codes as the reference skel)', () => {
  const cases: { name: string; env: Record<string, string | undefined>; code: number; msg: RegExp }[] = [
    {
      name: 'ADD without CNI_CONTAINERID',
      env: { ...ENV, CNI_CONTAINERID: undefined },
      code: 4,
      msg: /\[CNI_CONTAINERID\] missing/,
    },
    {
      name: 'ADD without CNI_NETNS and CNI_IFNAME',
      env: { ...ENV, CNI_NETNS: '', CNI_IFNAME: undefined },
      code: 4,
      msg: /\[CNI_NETNS,CNI_IFNAME\] missing/,
    },
    {
      name: 'container id with a slash',
      env: { ...ENV, CNI_CONTAINERID: 'a/b' },
      code: 4,
      msg: /invalid characters in containerID/,
    },
    {
      name: 'container id starting with a dot',
      env: { ...ENV, CNI_CONTAINERID: '.abc' },
      code: 4,
      msg: /invalid characters/,
    },
    {
      name: 'interface name of 16 bytes',
      env: { ...ENV, CNI_IFNAME: 'a'.repeat(16) },
      code: 4,
      msg: /too long/,
    },
    { name: 'interface name ..', env: { ...ENV, CNI_IFNAME: '..' }, code: 4, msg: /is \. or \.\./ },
    {
      name: 'interface name with a colon',
      env: { ...ENV, CNI_IFNAME: 'eth:0' },
      code: 4,
      msg: /contains \/ or :/,
    },
    {
      name: 'unknown command',
      env: { ...ENV, CNI_COMMAND: 'FROB' },
      code: 4,
      msg: /unknown CNI_COMMAND: FROB/,
    },
    { name: 'malformed CNI_ARGS', env: { ...ENV, CNI_ARGS: 'novalue' }, code: 4, msg: /CNI_ARGS/ },
    { name: 'ADD into a netns that does not exist', env: ENV, code: 3, msg: /does not exist/ },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const e = await error(c.env, config(CURRENT_VERSION));
      assert.equal(e.code, c.code, e.msg);
      assert.match(`${e.msg} ${e.details ?? ''}`, c.msg);
    });
  }

  it('DEL does not need CNI_NETNS', async () => {
    // A bad mode fails on the config (code 2): after the environment passed, before any kernel work.
    const e = await error(
      { ...ENV, CNI_COMMAND: 'DEL', CNI_NETNS: undefined },
      config(CURRENT_VERSION, { mode: 'bogus' }),
    );
    assert.equal(e.code, 2);
  });

  // SPEC.md section 2: CNI_PATH is among the "Optional environment parameters" of ADD, DEL, CHECK and
  // STATUS, and among the required ones of GC. A bad mode (code 2) is found after the environment passed.
  for (const command of ['ADD', 'DEL', 'CHECK', 'STATUS']) {
    it(`${command} without CNI_PATH passes the environment checks (SPEC.md section 2: optional)`, async () => {
      const e = await error(
        { ...ENV, CNI_COMMAND: command, CNI_PATH: undefined },
        config(CURRENT_VERSION, { mode: 'bogus' }),
      );
      assert.equal(e.code, 2, e.msg);
    });
  }

  it('GC without CNI_PATH is code 4 naming it (SPEC.md section 2, GC: required)', async () => {
    const e = await error({ ...ENV, CNI_COMMAND: 'GC', CNI_PATH: undefined }, config(CURRENT_VERSION));
    assert.equal(e.code, 4);
    assert.match(e.msg, /\[CNI_PATH\] missing/);
  });

  it('a delegated IPAM plugin without CNI_PATH is code 4 naming CNI_PATH (SPEC.md section 4)', async () => {
    const e = await error(
      { ...ENV, CNI_COMMAND: 'STATUS', CNI_PATH: undefined },
      config(CURRENT_VERSION, { ipam: { type: 'host-local', subnet: '10.99.0.0/24' } }),
    );
    assert.equal(e.code, 4);
    assert.match(
      `${e.msg} ${e.details ?? ''}`,
      /CNI_PATH is empty .*IPAM plugin "host-local" is found through CNI_PATH/,
    );
  });

  it('no CNI_COMMAND prints the about text on stderr and exits 0', async () => {
    const out = await runPlugin({}, '');
    assert.equal(out.exitCode, 0);
    assert.equal(out.stdout, '');
    assert.match(out.stderr, /CNI protocol versions supported: 0\.3\.0, 0\.3\.1, 0\.4\.0, 1\.0\.0, 1\.1\.0/);
  });
});

describe('config decoding', () => {
  it('unparsable JSON is code 6', async () => {
    assert.equal((await error(ENV, '{nope')).code, 6);
  });
  it('a missing network name is code 7', async () => {
    assert.equal((await error(ENV, JSON.stringify({ cniVersion: '1.1.0', type: 'palisade' }))).code, 7);
  });
  it('a network name with a slash is code 7', async () => {
    assert.equal((await error(ENV, JSON.stringify({ cniVersion: '1.1.0', name: 'a/b' }))).code, 7);
  });
  it('a known field with a bad value is code 2 naming field and value', async () => {
    const e = await error(ENV, config('1.1.0', { mtu: 'big' }));
    assert.equal(e.code, 2);
    assert.match(e.msg, /mtu="big"/);
  });
  it('failClosed without agentSocket is code 7', async () => {
    assert.equal((await error(ENV, config('1.1.0', { failClosed: true }))).code, 7);
  });
});

describe('version negotiation', () => {
  // SPEC.md section 5, "VERSION Success": `cniVersion` is "the value of `cniVersion` specified on input".
  for (const v of [...SUPPORTED_VERSIONS, '2.0.0']) {
    it(`VERSION asked in ${v} answers in ${v} (SPEC.md "VERSION Success")`, async () => {
      const out = await runPlugin({ CNI_COMMAND: 'VERSION' }, JSON.stringify({ cniVersion: v }));
      assert.equal(out.exitCode, 0);
      assert.deepEqual(JSON.parse(out.stdout), { cniVersion: v, supportedVersions: SUPPORTED_VERSIONS });
    });
  }
  it('VERSION without a well-formed cniVersion on stdin answers in the current version', async () => {
    for (const stdin of ['', '{}', '{"cniVersion":"one"}', 'not json']) {
      const out = await runPlugin({ CNI_COMMAND: 'VERSION' }, stdin);
      assert.equal(out.exitCode, 0, stdin);
      assert.equal((JSON.parse(out.stdout) as { cniVersion: string }).cniVersion, CURRENT_VERSION, stdin);
    }
  });
  for (const v of ['0.1.0', '0.2.0', '2.0.0', '1.2.0']) {
    it(`config version ${v} is refused with code 1`, async () => {
      const e = await error(ENV, config(v));
      assert.equal(e.code, 1);
      assert.equal(e.cniVersion, v);
      assert.match(e.details ?? '', /plugin supports/);
    });
  }
  it('a config without cniVersion is 0.1.0, refused with code 1', async () => {
    assert.equal((await error(ENV, JSON.stringify({ name: 'pal-net' }))).code, 1);
  });
  for (const v of SUPPORTED_VERSIONS) {
    const gc = v === '1.1.0';
    const check = v === '0.4.0' || v.startsWith('1.');
    it(`${v}: CHECK ${check ? 'allowed' : 'refused'}, GC and STATUS ${gc ? 'allowed' : 'refused'}`, async () => {
      for (const [cmd, allowed] of [
        ['CHECK', check],
        ['GC', gc],
        ['STATUS', gc],
      ] as const) {
        const out = await runPlugin({ ...ENV, CNI_COMMAND: cmd }, config(v));
        const code = out.exitCode === 0 ? 0 : (JSON.parse(out.stdout) as { code: number }).code;
        if (allowed) assert.notEqual(code, 1, `${cmd} at ${v}: ${out.stdout}`);
        else assert.equal(code, 1, `${cmd} at ${v} should be refused`);
      }
    });
    it(`${v}: the error JSON carries the config's version, code, msg and details`, async () => {
      const e = await error(ENV, config(v));
      assert.deepEqual(Object.keys(e).sort(), ['cniVersion', 'code', 'details', 'msg']);
      assert.equal(e.cniVersion, v);
    });
    it(`${v}: results are printed in that version's shape`, () => {
      const r = convertResult(
        {
          interfaces: [{ name: 'eth0', mac: '02:00:00:00:00:01', mtu: 1500, sandbox: '/run/netns/x' }],
          ips: [
            { address: '10.0.0.2/32', gateway: '169.254.1.1', interface: 0 },
            { address: 'fd00::2/128', interface: 0 },
          ],
        },
        v,
      );
      assert.equal(r.cniVersion, v);
      const legacy = v.startsWith('0.');
      assert.deepEqual(
        r.ips?.map((ip) => ip.version),
        legacy ? ['4', '6'] : [undefined, undefined],
      );
      assert.equal(r.interfaces?.[0]?.mtu, legacy ? undefined : 1500);
    });
  }
});

// SPEC.md section 2, ADD: "If the plugin was supplied a `prevResult` …, it MUST handle `prevResult` by
// either passing it through, or modifying it appropriately"; section 5, "ADD Success": output it "with
// any possible modifications made by that plugin included".
describe('ADD after another plugin: the prevResult is passed on with our changes', () => {
  const own = {
    interfaces: [
      { name: 'palabc', mac: '02:00:00:00:00:01', mtu: 1500 },
      { name: 'eth1', mac: '02:00:00:00:00:02', mtu: 1500, sandbox: '/run/netns/p' },
    ],
    ips: [{ address: '10.98.0.5/32', gateway: '169.254.1.1', interface: 1 }],
    routes: [{ dst: '0.0.0.0/0', gw: '169.254.1.1' }],
  };
  const prev = {
    cniVersion: '1.1.0',
    interfaces: [
      { name: 'br0', mac: '02:00:00:00:01:00' },
      { name: 'eth0', mac: '02:00:00:00:01:01', sandbox: '/run/netns/p' },
    ],
    ips: [{ address: '10.1.0.7/24', gateway: '10.1.0.1', interface: 1 }],
    routes: [{ dst: '10.2.0.0/16', gw: '10.1.0.1' }],
    dns: { nameservers: ['10.1.0.10'] },
  };

  it('keeps every earlier interface, address, route and DNS, then adds ours with indexes shifted', () => {
    assert.deepEqual(chainResult(prev, own), {
      interfaces: [...prev.interfaces, ...own.interfaces],
      ips: [prev.ips[0], { address: '10.98.0.5/32', gateway: '169.254.1.1', interface: 3 }],
      routes: [...prev.routes, ...own.routes],
      dns: prev.dns,
    });
  });

  it('our DNS, when IPAM gave one, replaces the earlier one', () => {
    assert.deepEqual(chainResult(prev, { ...own, dns: { nameservers: ['10.98.0.1'] } }).dns, {
      nameservers: ['10.98.0.1'],
    });
  });

  it('without a prevResult the result is ours alone', () => {
    assert.deepEqual(chainResult(undefined, own), own);
  });
});
