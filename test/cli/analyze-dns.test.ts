/**
 * `palisade analyze explain --dns NAME=IP / --dns-query NAME` and `analyze matrix --dns` on
 * examples/dns-fqdn: one client per dialect (Cilium toFQDNs + rules.dns, ClusterNetworkPolicy domainNames,
 * Antrea fqdn), each reading its names as its own source says.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const ROOT = join(import.meta.dirname, '../../..');
const CLI = join(ROOT, 'dist/src/cli/main.js');
const EXAMPLE = join(ROOT, 'examples/dns-fqdn');

function run(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const explain = (extra: string[]) => run(['analyze', 'explain', '-f', EXAMPLE, ...extra]);

interface Json {
  verdict: { allowed: boolean; l4Allowed?: boolean; response?: string };
  dns?: { query: string; decision?: { why: string; pattern?: string }; answers: string[] };
  resolved?: { name: string; ip: string };
}

function json(extra: string[]): Json {
  const r = explain([...extra, '-o', 'json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Json;
}

describe('palisade analyze explain --dns (connections to a resolved name)', () => {
  const cases: { name: string; from: string; to: string; dns: string; response: string }[] = [
    // language.rst "DNS based": `*.example.com` matches sub.example.com but not example.com.
    {
      name: 'Cilium *.example.com admits api.example.com',
      from: 'cilium-demo/client',
      to: 'api.example.com',
      dns: 'api.example.com=192.0.2.10',
      response: 'forwarded',
    },
    {
      name: 'Cilium *.example.com does not admit the apex',
      from: 'cilium-demo/client',
      to: 'example.com',
      dns: 'example.com=192.0.2.20',
      response: 'dropped',
    },
    {
      name: 'Cilium *.example.com does not span two labels',
      from: 'cilium-demo/client',
      to: 'a.b.example.com',
      dns: 'a.b.example.com=192.0.2.30',
      response: 'dropped',
    },
    // DomainName: `*.example.com` spans one or more labels, never the apex.
    {
      name: 'domainNames *.example.com spans two labels',
      from: 'npa-demo/client',
      to: 'a.b.example.com',
      dns: 'a.b.example.com=192.0.2.30',
      response: 'forwarded',
    },
    {
      name: 'domainNames *.example.com does not admit the apex',
      from: 'npa-demo/client',
      to: 'example.com',
      dns: 'example.com=192.0.2.20',
      response: 'dropped',
    },
    // docs/antrea-network-policy.md: `*foobar.com` matches foobar.com itself.
    {
      name: 'Antrea *example.com admits the apex',
      from: 'antrea-demo/client',
      to: 'example.com',
      dns: 'example.com=192.0.2.20',
      response: 'forwarded',
    },
    {
      name: 'Antrea *example.com does not admit example.org',
      from: 'antrea-demo/client',
      to: 'example.org',
      dns: 'example.org=192.0.2.40',
      response: 'dropped',
    },
  ];
  for (const c of cases) {
    it(`${c.name}: ${c.response}`, () => {
      const e = json(['--from', c.from, '--to', c.to, '--port', '443', '--dns', c.dns]);
      assert.equal(e.verdict.response, c.response);
      assert.equal(e.verdict.allowed, c.response === 'forwarded');
      assert.equal(e.resolved?.name, c.to);
    });
  }

  it('without --dns, the FQDN peer matches nothing, and the note says how to model a resolution', () => {
    const r = explain(['--from', 'cilium-demo/client', '--to', '192.0.2.10', '--port', '443']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /DENIED/);
    assert.match(r.stdout, /model resolutions with --dns NAME=IP/);
  });

  it('names the name that admitted the address', () => {
    const r = explain([
      '--from',
      'cilium-demo/client',
      '--to',
      '192.0.2.10',
      '--port',
      '443',
      '--dns',
      'Api.Example.com.=192.0.2.10',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /fqdn \*\.example\.com admits 192\.0\.2\.10: learnt for api\.example\.com/);
  });

  it('the dialects warn that names are modelled offline and enforced offline only', () => {
    const r = explain(['--from', 'cilium-demo/client', '--to', '192.0.2.10', '--port', '443']);
    for (const what of ['toFQDNs', 'rules.dns', 'domainNames', 'fqdn'])
      assert.match(
        r.stderr,
        new RegExp(`DNS: ${what.replace('.', '\\.')} is (modelled|decided) offline.*enforced offline only`),
      );
  });

  it('refuses malformed --dns entries', () => {
    for (const bad of [
      'api.example.com',
      'api.example.com=',
      'api.example.com=not-an-ip',
      'bad name=192.0.2.1',
    ]) {
      const r = explain(['--from', 'cilium-demo/client', '--to', '192.0.2.1', '--port', '443', '--dns', bad]);
      assert.notEqual(r.code, 0, bad);
      assert.match(r.stderr, /--dns/);
    }
  });
});

describe('palisade analyze explain --dns-query', () => {
  it('Cilium rules.dns: a selected name is forwarded, to the cluster DNS on UDP/53 by default', () => {
    const r = explain([
      '--from',
      'cilium-demo/client',
      '--dns-query',
      'www.example.com',
      '--dns',
      'www.example.com=192.0.2.7',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^UDP\/53 cilium-demo\/client → kube-system\/coredns: ALLOWED/);
    const e = json([
      '--from',
      'cilium-demo/client',
      '--dns-query',
      'www.example.com',
      '--dns',
      'www.example.com=192.0.2.7',
    ]);
    assert.deepEqual(
      [e.verdict.response, e.dns?.decision?.why, e.dns?.decision?.pattern, e.dns?.answers],
      ['forwarded', 'matched', '*.example.com', ['192.0.2.7']],
    );
  });

  it('Cilium rules.dns: matchName example.com selects the apex, which the pattern does not', () => {
    assert.equal(
      json(['--from', 'cilium-demo/client', '--dns-query', 'example.com']).verdict.response,
      'forwarded',
    );
  });

  it('Cilium rules.dns: any other name gets REFUSED, or NXDOMAIN with --dns-reject nxdomain', () => {
    const e = json(['--from', 'cilium-demo/client', '--dns-query', 'evil.org']);
    assert.deepEqual(
      [e.verdict.response, e.verdict.allowed, e.verdict.l4Allowed],
      ['dns:REFUSED', false, true],
    );
    const n = json(['--from', 'cilium-demo/client', '--dns-query', 'evil.org', '--dns-reject', 'nxdomain']);
    assert.equal(n.verdict.response, 'dns:NXDOMAIN');
    const r = explain(['--from', 'cilium-demo/client', '--dns-query', 'evil.org']);
    assert.match(r.stdout, /DENIED \(allowed at L3\/L4, denied at L7\)/);
    assert.match(r.stdout, /DNS query evil\.org: dns:REFUSED/);
  });

  it('domainNames and Antrea fqdn do no DNS filtering: every name is forwarded', () => {
    for (const from of ['npa-demo/client', 'antrea-demo/client']) {
      const e = json(['--from', from, '--dns-query', 'evil.org']);
      assert.deepEqual([e.verdict.response, e.dns?.decision], ['forwarded', undefined], from);
    }
  });

  it('a query to a DNS server L3/L4 denies is dropped', () => {
    const e = json(['--from', 'npa-demo/client', '--dns-query', 'evil.org', '--to', '198.51.100.53']);
    assert.deepEqual([e.verdict.response, e.verdict.l4Allowed], ['dropped', false]);
  });

  it('usage errors: --dns-query with --http, --dns-reject without --dns-query, no --port without it', () => {
    const both = explain(['--from', 'cilium-demo/client', '--dns-query', 'a.example.com', '--http', 'GET /']);
    assert.match(both.stderr, /--dns-query and --http/);
    const reject = explain([
      '--from',
      'cilium-demo/client',
      '--to',
      '192.0.2.1',
      '--port',
      '443',
      '--dns-reject',
      'nxdomain',
    ]);
    assert.match(reject.stderr, /--dns-reject needs --dns-query/);
    const noPort = explain(['--from', 'cilium-demo/client', '--to', '192.0.2.1']);
    assert.match(noPort.stderr, /--port is required/);
    const badName = explain(['--from', 'cilium-demo/client', '--dns-query', 'not a name']);
    assert.match(badName.stderr, /--dns-query "not a name": not a DNS name/);
  });
});

describe('palisade analyze matrix --dns', () => {
  it('takes resolutions; FQDN peers then cover pods where a name resolves to one (domainNames match pods)', () => {
    const args = ['analyze', 'matrix', '-f', EXAMPLE, '--ports', '53', '--protocols', 'udp', '-o', 'json'];
    const without = run(args);
    assert.equal(without.code, 0, without.stderr);
    const cell = (out: string, from: string, to: string) =>
      (JSON.parse(out) as { results: { from: string; to: string; allowed: boolean }[] }).results.find(
        (c) => c.from === from && c.to === to,
      )?.allowed;
    assert.equal(cell(without.stdout, 'npa-demo/client', 'cilium-demo/client'), false);
    const withDns = run([...args, '--dns', 'peer.example.com=10.244.1.10']);
    assert.equal(withDns.code, 0, withDns.stderr);
    // The allowlist rule is on TCP/443 only: UDP/53 to the pod stays denied; the DNS server stays allowed.
    assert.equal(cell(withDns.stdout, 'npa-demo/client', 'cilium-demo/client'), false);
    assert.equal(cell(withDns.stdout, 'npa-demo/client', 'kube-system/coredns'), true);
    const tcp = [...args.slice(0, 4), '--ports', '443', '--protocols', 'tcp', '-o', 'json'];
    const on443 = run([...tcp, '--dns', 'peer.example.com=10.244.1.10']);
    assert.equal(cell(on443.stdout, 'npa-demo/client', 'cilium-demo/client'), true);
    assert.equal(cell(run(tcp).stdout, 'npa-demo/client', 'cilium-demo/client'), false);
  });
});
