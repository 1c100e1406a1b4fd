import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const ROOT = join(import.meta.dirname, '../../..');
const CLI = join(ROOT, 'dist/src/cli/main.js');
const FIG2 = join(ROOT, 'examples/kr-fig2-test-network-policy');

function palisade(args: string[], input?: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', input: input ?? '' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Cell {
  from: string;
  to: string;
  port: number;
  protocol: string;
  allowed: boolean;
}

describe('palisade analyze matrix', () => {
  it('prints exactly the JSON contract of ARCHITECTURE.md', () => {
    const r = palisade(['analyze', 'matrix', '-f', FIG2, '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const m = JSON.parse(r.stdout) as { pods: string[]; results: Cell[] };
    assert.deepEqual(Object.keys(m), ['pods', 'results']);
    assert.deepEqual(m.pods, [
      'default/backend',
      'default/cache',
      'default/db',
      'default/frontend',
      'myproject/client',
      'other/client',
      'other/metrics',
    ]);
    for (const c of m.results)
      assert.deepEqual(Object.keys(c), ['from', 'to', 'port', 'protocol', 'allowed']);
    // Targets: the declared containerPorts (TCP 5978 and 6379), every ordered pair each.
    assert.equal(m.results.length, 2 * 7 * 7);
    const cell = (from: string, to: string, port: number) =>
      m.results.find((c) => c.from === from && c.to === to && c.port === port && c.protocol === 'TCP')
        ?.allowed;
    const cases: [string, string, number, boolean, string][] = [
      ['default/frontend', 'default/db', 6379, true, 'podSelector role=frontend'],
      ['default/backend', 'default/db', 6379, true, 'ipBlock 172.17.0.0/16'],
      ['default/cache', 'default/db', 6379, false, 'except 172.17.1.0/24'],
      ['myproject/client', 'default/db', 6379, true, 'namespaceSelector project=myproject'],
      ['other/client', 'default/db', 6379, false, 'outside every peer'],
      ['default/frontend', 'default/db', 5978, false, 'only TCP 6379 is allowed in'],
      ['default/db', 'other/metrics', 5978, true, 'egress to 10.0.0.0/24:5978'],
      ['default/db', 'default/frontend', 6379, false, 'egress of db is isolated'],
      ['default/cache', 'default/frontend', 6379, true, 'frontend is selected by no policy'],
      ['default/db', 'default/db', 6379, true, 'loopback'],
    ];
    for (const [from, to, port, allowed, why] of cases)
      assert.equal(cell(from, to, port), allowed, `${from} -> ${to}:${port} (${why})`);
  });

  it('prints truth tables in the upstream e2e layout', () => {
    const r = palisade(['analyze', 'matrix', '-f', FIG2, '--ports', '6379']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.equal(lines[0], 'TCP/6379:');
    assert.match(lines[1] ?? '', /^-\s+default\/backend\s+default\/cache/);
    const dbRow = lines.find((l) => l.startsWith('default/db '));
    assert.ok(dbRow);
    // db may reach nobody on 6379 (egress only to 10.0.0.0/24:5978) but itself.
    assert.deepEqual(dbRow.split(/\s+/).slice(1), ['X', 'X', '.', 'X', 'X', 'X', 'X']);
  });

  it('reads manifests from stdin with -f -', () => {
    const input = [
      'apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x}\nspec: {containers: [{name: c, ports: [{containerPort: 80}]}]}',
      'apiVersion: v1\nkind: Pod\nmetadata: {name: b, namespace: x}\nspec: {containers: [{name: c}]}',
      'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: x}\nspec: {podSelector: {}}',
    ].join('\n---\n');
    const r = palisade(['analyze', 'matrix', '-f', '-', '-o', 'json'], input);
    assert.equal(r.code, 0, r.stderr);
    const m = JSON.parse(r.stdout) as { results: Cell[] };
    assert.deepEqual(
      m.results.map((c) => `${c.from}>${c.to}:${String(c.allowed)}`),
      ['x/a>x/a:true', 'x/a>x/b:false', 'x/b>x/a:false', 'x/b>x/b:true'],
    );
  });

  it('rejects invalid input with exit 1, naming file, document and field path', () => {
    const bad =
      'apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\nspec:\n  podSelector: {}\n  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/24, except: [10.1.0.0/24]}}]}]\n';
    const r = palisade(['analyze', 'matrix', '-f', '-'], bad);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /-.*doc 1.*spec\.ingress\[0\]\.from\[0\]\.ipBlock\.except\[0\]/);
    const j = palisade(['analyze', 'matrix', '-f', '-', '-o', 'json'], bad);
    assert.equal(j.code, 1);
    const body = JSON.parse(j.stdout) as { diagnostics: { path: string; doc: number; code: string }[] };
    assert.ok(
      body.diagnostics.some((d) => d.doc === 1 && d.path === 'spec.ingress[0].from[0].ipBlock.except[0]'),
    );
  });

  it('exits 1 on usage errors and 0 on --help', () => {
    assert.equal(palisade(['analyze', 'matrix', '-f', FIG2, '--ports', '70000']).code, 1);
    assert.equal(palisade(['analyze', 'matrix', '-f', FIG2, '-o', 'xml']).code, 1);
    assert.equal(palisade(['analyze', 'matrix', '--bogus']).code, 1);
    assert.equal(palisade(['analyze', 'matrix', '-f', '/nonexistent/path']).code, 1);
    for (const verb of [[], ['analyze'], ['analyze', 'matrix'], ['analyze', 'explain']]) {
      const r = palisade([...verb, '--help']);
      assert.equal(r.code, 0, verb.join(' '));
      assert.match(r.stdout, /Usage: palisade/);
    }
  });
});

describe('palisade analyze explain', () => {
  it('names the policy that isolates the destination and says why the flow is denied', () => {
    const r = palisade([
      'analyze',
      'explain',
      '-f',
      FIG2,
      '--from',
      'default/cache',
      '--to',
      'default/db',
      '--port',
      '6379',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /test-network-policy/);
    assert.match(r.stdout, /DENIED/);
  });

  it('names the rule that allowed, and accepts an IP as destination', () => {
    const r = palisade([
      'analyze',
      'explain',
      '-f',
      FIG2,
      '--from',
      'db',
      '--to',
      '10.0.0.99',
      '--port',
      '5978',
      '-o',
      'json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const e = JSON.parse(r.stdout) as {
      verdict: { allowed: boolean; egress: { decidedBy?: { policy: { name: string } } } };
    };
    assert.equal(e.verdict.allowed, true);
    assert.equal(e.verdict.egress.decidedBy?.policy.name, 'test-network-policy');
  });

  it('fails clearly on an unknown pod', () => {
    const r = palisade([
      'analyze',
      'explain',
      '-f',
      FIG2,
      '--from',
      'default/nope',
      '--to',
      'default/db',
      '--port',
      '6379',
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no pod default\/nope/);
  });
});
