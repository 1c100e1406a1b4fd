/** `palisade analyze explain --http`: the L7 decision on Kim et al. 2025 Fig. 7 (F), a Cilium GET "/" rule. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const ROOT = join(import.meta.dirname, '../../..');
const CLI = join(ROOT, 'dist/src/cli/main.js');
const FIG7 = join(ROOT, 'examples/kim-2025-fig7');

function explain(extra: string[]): { code: number | null; stdout: string; stderr: string } {
  const args = ['analyze', 'explain', '-f', join(FIG7, 'cluster.yaml'), '-f', join(FIG7, 'l7')];
  const flow = ['--from', 'scenario-d/busybox', '--to', 'scenario-d/nginx', '--port', '80'];
  const r = spawnSync(process.execPath, [CLI, ...args, ...flow, ...extra], { cwd: ROOT, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Json {
  verdict: { allowed: boolean; l4Allowed: boolean; response: string };
  http: { l7: { why: string; by: { policy: { name: string } } }[] };
}

describe('palisade analyze explain --http', () => {
  const cases: { name: string; args: string[]; response: string; allowed: boolean }[] = [
    {
      name: 'GET / matches the rule: forwarded',
      args: ['--http', 'GET /'],
      response: 'forwarded',
      allowed: true,
    },
    // cilium pkg/envoy/xds_server.go: the path regex full-matches :path, query included.
    {
      name: 'GET /?x=1 misses the full match: 403',
      args: ['--http', 'GET /?x=1'],
      response: 'http:403',
      allowed: false,
    },
    {
      name: 'POST / misses the method: 403',
      args: ['--http', 'POST /'],
      response: 'http:403',
      allowed: false,
    },
    {
      name: 'a gRPC call that misses: grpc-status 7',
      args: ['--http', 'POST /pkg.Svc/Get', '-H', 'content-type: application/grpc'],
      response: 'grpc:7',
      allowed: false,
    },
  ];
  for (const c of cases) {
    it(`${c.name} (-o json verdict.response)`, () => {
      const r = explain([...c.args, '-o', 'json']);
      assert.equal(r.code, 0, r.stderr);
      const e = JSON.parse(r.stdout) as Json;
      assert.deepEqual(
        [e.verdict.response, e.verdict.allowed, e.verdict.l4Allowed],
        [c.response, c.allowed, true],
      );
      assert.equal(e.http.l7[0]?.by.policy.name, 'allow-get-root');
    });
  }
  it('says in text which rule decided, and that the node proxy decides it per request', () => {
    const r = explain(['--http', 'POST /']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /DENIED \(allowed at L3\/L4, denied at L7\)/);
    assert.match(r.stdout, /HTTP POST \/ \(host 10\.244\.1\.40\): http:403/);
    assert.match(r.stdout, /allow-get-root .*no HTTP rule matched/);
    assert.match(r.stdout, /decided per request by the node proxy/);
  });
  it('refuses -H without --http', () => {
    const r = explain(['-H', 'X-A: 1']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /-H needs --http/);
  });
});

describe('palisade analyze matrix --http', () => {
  function matrix(extra: string[]) {
    const args = [
      'analyze',
      'matrix',
      '-f',
      join(FIG7, 'cluster.yaml'),
      '-f',
      join(FIG7, 'l7'),
      '-n',
      'scenario-d',
    ];
    return spawnSync(process.execPath, [CLI, ...args, ...extra], { cwd: ROOT, encoding: 'utf8' });
  }
  it('adds "response" to each cell of the JSON contract, allowed being the end result', () => {
    const r = matrix(['--http', 'POST /', '-o', 'json']);
    assert.equal(r.status, 0, r.stderr);
    const m = JSON.parse(r.stdout) as {
      results: { from: string; to: string; allowed: boolean; response: string }[];
    };
    const cell = m.results.find((c) => c.from === 'scenario-d/busybox' && c.to === 'scenario-d/nginx');
    assert.deepEqual([cell?.allowed, cell?.response], [false, 'http:403']);
    for (const c of m.results)
      assert.deepEqual(Object.keys(c), ['from', 'to', 'port', 'protocol', 'allowed', 'response']);
  });
  it('prints the response in the table where it is not forwarded', () => {
    const r = matrix(['--http', 'POST /']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /scenario-d\/busybox .*http:403/);
  });
  it('refuses a malformed request line', () => {
    const r = matrix(['--http', 'GET']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /expected 'METHOD \/path\?query'/);
  });
});
