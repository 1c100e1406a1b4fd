import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { sarifViolations } from '../engine/lint/sarif-shape.js';

const ROOT = join(import.meta.dirname, '../../..');
const CLI = join(ROOT, 'dist/src/cli/main.js');
const FIXTURES = 'test/fixtures/lint';
const CLUSTER = `${FIXTURES}/cluster.yaml`;

function palisade(args: string[], input?: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', input: input ?? '' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Finding {
  code: string;
  severity: string;
  target: string;
  file: string;
  doc: number;
  path: string;
  policy: string;
  rule?: number;
  message: string;
  consequence: string;
  source: string;
}

interface SarifResult {
  ruleId: string;
  level: string;
  message: { text: string };
  locations: {
    physicalLocation: { artifactLocation: { uri: string }; region?: { startLine: number } };
    logicalLocations: { fullyQualifiedName: string }[];
  }[];
}

/** Each fixture with a target it is meant to trip, and the error codes expected there. */
const FIXTURE_CASES = [
  { file: 'calico-gnp-pass-tier.yaml', target: 'cilium', errors: ['kind-not-read'] },
  { file: 'cilium-l7.yaml', target: 'calico', errors: ['kind-not-read'] },
  { file: 'antrea-reject.yaml', target: 'kube-router', errors: ['kind-not-read'] },
  { file: 'k8s-np-egress-endport-sctp.yaml', target: 'weave', errors: ['end-port', 'named-port'] },
  { file: 'anp.yaml', target: 'kubernetes', errors: ['kind-not-read', 'kind-not-read'] },
] as const;

describe('palisade lint', () => {
  for (const c of FIXTURE_CASES) {
    const file = `${FIXTURES}/${c.file}`;

    it(`${c.file} --target ${c.target} -o json: the findings array, exit 1`, () => {
      const r = palisade(['lint', '-f', file, CLUSTER, '--target', c.target, '-o', 'json']);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /palisade: lint: \d+ errors?: /);
      const findings = JSON.parse(r.stdout) as Finding[];
      assert.ok(Array.isArray(findings));
      assert.deepEqual(
        findings.filter((f) => f.severity === 'error').map((f) => f.code),
        [...c.errors],
      );
      for (const f of findings) {
        assert.equal(f.target, c.target);
        assert.equal(f.file, file);
        assert.ok(f.consequence.length > 0 && f.source.length > 0);
        const keys = Object.keys(f).filter((k) => k !== 'rule');
        assert.deepEqual(keys, [
          'code',
          'severity',
          'target',
          'file',
          'doc',
          'path',
          'policy',
          'message',
          'consequence',
          'source',
        ]);
      }
    });

    it(`${c.file} --target ${c.target} -o table: grouped by file with lines`, () => {
      const r = palisade(['lint', '-f', file, CLUSTER, '--target', c.target]);
      assert.equal(r.code, 1, r.stderr);
      const lines = r.stdout.split('\n');
      assert.equal(lines[0], file);
      assert.match(r.stdout, /^ {2}error {4}\S+ {2}.+ {2}line \d+ {2}\S+$/m);
      assert.match(r.stdout, /^ {11}→ /m);
      assert.match(r.stdout, /^\d+ errors?, \d+ warnings?, \d+ notes? for .+$/m);
    });

    it(`${c.file} --target ${c.target} -o sarif: a valid SARIF 2.1.0 log pointing at the YAML lines`, () => {
      const r = palisade(['lint', '-f', file, CLUSTER, '--target', c.target, '-o', 'sarif']);
      assert.equal(r.code, 1, r.stderr);
      const log = JSON.parse(r.stdout) as {
        runs: { tool: { driver: { name: string } }; results: SarifResult[] }[];
      };
      assert.deepEqual(sarifViolations(log), []);
      const run = log.runs[0];
      assert.ok(run);
      assert.equal(run.tool.driver.name, 'palisade');
      const text = readFileSync(join(ROOT, file), 'utf8').split('\n');
      for (const res of run.results) {
        const loc = res.locations[0];
        assert.ok(loc);
        assert.equal(loc.physicalLocation.artifactLocation.uri, file);
        const line = loc.physicalLocation.region?.startLine;
        assert.ok(line !== undefined && line >= 1 && line <= text.length, JSON.stringify(res));
        // The line holds the last field of the path (or, for a list entry, is that entry).
        const last =
          /([A-Za-z]+)(?:\[\d+\])?$/.exec(loc.logicalLocations[0]?.fullyQualifiedName ?? '')?.[1] ?? '';
        const written = text[line - 1] ?? '';
        assert.ok(written.includes(last) || /^\s*- /.test(written), `${last} @${line}: ${written}`);
      }
    });
  }

  it('exit 0 and "No findings" when the target enforces everything as written', () => {
    const r = palisade(['lint', '-f', `${FIXTURES}/k8s-np-egress-endport-sctp.yaml`, '--target', 'calico']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'No findings: Calico (open source) enforces every policy as written.\n');
    const json = palisade([
      'lint',
      '-f',
      `${FIXTURES}/k8s-np-egress-endport-sctp.yaml`,
      '--target',
      'antrea',
      '-o',
      'json',
    ]);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), []);
  });

  it('exit 0 with warnings only (kube-router: egress, endPort, SCTP and named ports need versions)', () => {
    const r = palisade([
      'lint',
      '-f',
      `${FIXTURES}/k8s-np-egress-endport-sctp.yaml`,
      '--target',
      'kube-router',
      '-o',
      'json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const codes = (JSON.parse(r.stdout) as Finding[]).map((f) => `${f.code}/${f.severity}`).sort();
    assert.deepEqual(codes, [
      'egress-conditional/warning',
      'end-port/warning',
      'named-port/warning',
      'sctp/warning',
    ]);
  });

  it('flannel: every policy is a finding', () => {
    const r = palisade(['lint', '-f', FIXTURES, '--target', 'flannel', '-o', 'json']);
    assert.equal(r.code, 1);
    const findings = JSON.parse(r.stdout) as Finding[];
    assert.ok(findings.length >= 6);
    assert.ok(findings.every((f) => f.code === 'no-policy-enforcement' && f.severity === 'error'));
  });

  it('Kim et al. 2025 ordering: the Calico admin-tier Allow is flagged next to the NetworkPolicy default deny', () => {
    const r = palisade([
      'lint',
      '-f',
      `${FIXTURES}/calico-gnp-pass-tier.yaml`,
      CLUSTER,
      '--target',
      'calico',
      '-o',
      'json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const first = (JSON.parse(r.stdout) as Finding[]).find((f) => f.code === 'kubernetes-first');
    assert.ok(first);
    assert.equal(first.path, 'spec.ingress[2]');
    assert.match(first.consequence, /the allow is silently ignored: traffic stays denied by isolation/);
  });

  it('reads stdin (no line numbers there)', () => {
    const text = readFileSync(join(ROOT, FIXTURES, 'k8s-np-egress-endport-sctp.yaml'), 'utf8');
    const r = palisade(['lint', '-f', '-', '--target', 'weave', '-o', 'sarif'], text);
    assert.equal(r.code, 1, r.stderr);
    const log = JSON.parse(r.stdout) as { runs: { results: SarifResult[] }[] };
    assert.deepEqual(sarifViolations(log), []);
    assert.equal(log.runs[0]?.results[0]?.locations[0]?.physicalLocation.artifactLocation.uri, 'stdin');
  });

  it('rejects an unknown target or format (exit 1)', () => {
    const bad = palisade(['lint', '-f', FIXTURES, '--target', 'ovn']);
    assert.equal(bad.code, 1);
    assert.match(
      bad.stderr,
      /--target ovn: unknown target \(one of: calico, cilium, antrea, kube-router, weave, flannel, kubernetes\)/,
    );
    const fmt = palisade(['lint', '-f', FIXTURES, '--target', 'calico', '-o', 'xml']);
    assert.equal(fmt.code, 1);
    assert.match(fmt.stderr, /-o xml: unknown output format/);
  });
});
