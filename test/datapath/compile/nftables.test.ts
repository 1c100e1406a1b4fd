import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  BASE_CHAIN,
  INPUT_CHAIN,
  L7_CHAIN,
  L7_MARK,
  L7_PROXY_PORT,
  STRICT_CUT_MARK,
  compileNftables,
  createNftCompiler,
  renderTable,
  resolveNodeRules,
  ruleBody,
  steeredFamilies,
} from '../../../src/datapath/index.js';
import type { NftTable } from '../../../src/datapath/index.js';
import { parseSources } from '../../../src/dialects/index.js';
import { buildModel } from '../../../src/engine/index.js';
import type { Policy } from '../../../src/ir/index.js';
import { endpointKey, hasErrors } from '../../../src/ir/index.js';
import { loadCases } from '../../support/case-table.js';
import { cluster, netpol, node, pod, podPeer, rule, tcp } from '../support/builders.js';
import { ciliumHttpIngress } from '../support/l7.js';
import { connectionAllowed } from '../support/nft-interpreter.js';

const GOLDEN = join(import.meta.dirname, '../../../../test/datapath/golden');
const UPDATE = process.env['PAL_UPDATE_GOLDEN'] === '1';

function tablesOf(policies: readonly Policy[], c: ReturnType<typeof cluster>): Map<string, NftTable> {
  const model = buildModel(c, policies);
  // Pods may name nodes the cluster has no Node object for (cluster-v6.yaml).
  const names = new Set([
    ...c.nodes.map((n) => n.name),
    ...c.endpoints.flatMap((e) => (e.node ? [e.node] : [])),
  ]);
  return new Map([...names].sort().map((n) => [n, compileNftables(resolveNodeRules(model, n))]));
}

describe('nftables compiler on the semantic case table', () => {
  for (const c of loadCases()) {
    const { value, diagnostics } = parseSources(c.sources);
    const tables = tablesOf(value.policies, value.cluster);

    it(`${c.name}: the compiled tables give the expected matrix`, () => {
      assert.equal(hasErrors(diagnostics), false);
      const byKey = new Map(value.cluster.endpoints.map((e) => [endpointKey(e), e]));
      const wrong = c.expected.filter((cell) => {
        const src = byKey.get(cell.from);
        const dst = byKey.get(cell.to);
        assert.ok(src && dst, `${cell.from} -> ${cell.to}`);
        return connectionAllowed(tables, src, dst, cell.protocol, cell.port) !== cell.allowed;
      });
      assert.deepEqual(
        wrong.map(
          (w) => `${w.protocol}/${w.port} ${w.from} -> ${w.to} expected ${w.allowed ? 'allowed' : 'denied'}`,
        ),
        [],
      );
    });

    it(`${c.name}: golden nft script`, () => {
      const text = [...tables].map(([n, t]) => `# ${n}\n${renderTable(t)}`).join('\n');
      const file = join(GOLDEN, `${c.name}.nft`);
      if (UPDATE) {
        mkdirSync(GOLDEN, { recursive: true });
        writeFileSync(file, text);
      }
      assert.ok(existsSync(file), `${file} is missing: run the tests with PAL_UPDATE_GOLDEN=1 and review it`);
      assert.equal(text, readFileSync(file, 'utf8'));
    });
  }
});

describe('nftables compiler layout', () => {
  const a = pod('x', 'a', '10.0.1.1');
  const b = pod('x', 'b', '10.0.1.2');
  const c = pod('x', 'c', '10.0.1.3');
  const theCluster = cluster([a, b, c], [node('node-1', '10.255.0.1')]);
  const compile = (policies: Policy[]): NftTable => tablesOf(policies, theCluster).get('node-1') as NftTable;
  const chain = (t: NftTable, prefix: string): string[] =>
    t.chains.filter((ch) => ch.name.startsWith(prefix)).flatMap((ch) => ch.rules.map(ruleBody));

  it('merges all allows of the Kubernetes tier into one set: one lookup, then drop', () => {
    const t = compile([
      netpol('one', 'x', 'a', {
        ingress: [rule([podPeer('b')], [tcp(80)]), rule([podPeer('c')], [tcp(81)])],
      }),
      netpol('two', 'x', 'a', { ingress: [rule([podPeer('c')], [tcp(82)])] }),
    ]);
    const rules = chain(t, 'ing_');
    assert.equal(rules.length, 2);
    assert.match(rules[0] ?? '', /^ip saddr \. meta l4proto \. th dport @allow_[0-9a-f]{12} accept$/);
    assert.equal(rules[1], 'log prefix "pal isolated I kubernetes" group 101 drop');
    assert.deepEqual(t.sets[0]?.elements, ['10.0.1.2 . 6 . 80', '10.0.1.3 . 6 . 81-82']);
  });

  it('both base chains drop connections strict mode cut before accepting established ones', () => {
    const t = compile([]);
    for (const name of [BASE_CHAIN, INPUT_CHAIN]) {
      const rules = t.chains.find((ch) => ch.name === name)?.rules.map(ruleBody) ?? [];
      assert.deepEqual(rules.slice(0, 2), [
        'ct mark & 0x00100000 == 0x00100000 drop',
        'ct state established,related accept',
      ]);
    }
    // One bit: other software keeps its own state in the rest of the ct mark.
    assert.equal(STRICT_CUT_MARK & (STRICT_CUT_MARK - 1), 0);
  });

  it('shares one set between endpoints selected by the same policy', () => {
    const t = compile([netpol('all', 'x', undefined, { ingress: [rule([podPeer('a')], [tcp(80)])] })]);
    assert.equal(t.chains.filter((ch) => ch.name.startsWith('ing_')).length, 3);
    assert.equal(t.sets.length, 1);
  });

  it('egress allow returns (ingress must still run), isolated egress drops', () => {
    const t = compile([
      netpol('e', 'x', 'a', { isolates: ['Egress'], egress: [rule([podPeer('b')], 'any')] }),
    ]);
    assert.deepEqual(
      chain(t, 'egr_').map((r) => r.replace(/@\S+/, '@S')),
      [
        'ip daddr . meta l4proto . th dport @S return',
        'log prefix "pal isolated E kubernetes" group 101 drop',
      ],
    );
  });

  it('first-match tiers: one set per run of equal actions, then goto the next tier', () => {
    const admin: Policy = {
      ...netpol('adm', 'x', 'a', {
        ingress: [
          rule([podPeer('b')], [tcp(80)]),
          rule([podPeer('c')], [tcp(80)]),
          rule('any', [tcp(80)], { action: 'Deny' }),
          rule('any', [tcp(81)], { action: 'Pass' }),
        ],
      }),
      tier: 'admin',
      isolates: [],
    };
    const t = compile([admin, netpol('k', 'x', 'a', { ingress: [rule([podPeer('b')], 'any')] })]);
    const id = t.chains.find((ch) => ch.name.endsWith('_admin'))?.name.split('_')[1];
    assert.ok(id);
    const strip = (r: string): string => r.replace(/@\w+/, '@S');
    assert.deepEqual(
      chain(t, `ing_${id}_admin`)
        .filter((r) => !r.startsWith('ip6'))
        .map(strip),
      [
        'ip saddr . meta l4proto . th dport @S accept',
        'ip saddr . meta l4proto . th dport @S log prefix "pal deny I admin NetworkPolicy/x/adm" group 101 drop',
        `ip saddr . meta l4proto . th dport @S goto ing_${id}_kubernetes`,
        `goto ing_${id}_kubernetes`,
      ],
    );
    assert.deepEqual(t.maps.find((m) => m.name === 'ingress_dispatch')?.elements, [
      ['10.0.1.1', `jump ing_${id}_admin`],
    ]);
  });
});

describe('nftables L7 steering', () => {
  const a = pod('x', 'a', '10.0.1.1');
  const b = pod('x', 'b', '10.0.1.2');
  const c = pod('x', 'c', '10.0.1.3');
  const six = pod('x', 'v6', 'fd00::6', { labels: { pod: 'b' } });
  const theCluster = cluster([a, b, c, six], [node('node-1', '10.255.0.1')]);
  const compile = (policies: Policy[]): NftTable => tablesOf(policies, theCluster).get('node-1') as NftTable;
  const rulesOf = (t: NftTable, name: string): string[] =>
    t.chains.find((ch) => ch.name === name)?.rules.map(ruleBody) ?? [];
  const ingress = ciliumHttpIngress({ namespace: 'x', server: 'b', client: 'a', port: 80, plainPort: 81 });

  it('no HTTP rule: no steering chain, no steering set, input dispatches egress only', () => {
    const t = compile([netpol('p', 'x', 'b', { ingress: [rule([podPeer('a')], [tcp(80)])] })]);
    assert.equal(
      t.chains.some((ch) => ch.name === L7_CHAIN),
      false,
    );
    assert.equal(
      t.sets.some((s) => s.name.startsWith('l7_')),
      false,
    );
    assert.deepEqual(steeredFamilies(t), []);
    assert.equal(rulesOf(t, INPUT_CHAIN).filter((r) => r.includes('ingress_dispatch')).length, 0);
  });

  it('a Cilium HTTP rule steers its pods and port with TPROXY, and a dead proxy fails closed', () => {
    const t = compile(ingress);
    const mark = `0x${L7_MARK.toString(16).padStart(8, '0')}`;
    assert.deepEqual(rulesOf(t, L7_CHAIN), [
      `meta l4proto tcp socket transparent 1 meta mark set meta mark | ${mark} accept`,
      `meta l4proto tcp ip daddr . tcp dport @l7_ingress4 meta mark set meta mark | ${mark} tproxy ip to :${L7_PROXY_PORT} accept`,
      'meta l4proto tcp ip daddr . tcp dport @l7_ingress4 drop',
      `meta l4proto tcp ip6 daddr . tcp dport @l7_ingress6 meta mark set meta mark | ${mark} tproxy ip6 to :${L7_PROXY_PORT} accept`,
      'meta l4proto tcp ip6 daddr . tcp dport @l7_ingress6 drop',
    ]);
    assert.deepEqual(t.chains.find((ch) => ch.name === L7_CHAIN)?.hook, {
      type: 'filter',
      hook: 'prerouting',
      priority: -150,
      policy: 'accept',
    });
    assert.deepEqual(
      t.sets.filter((s) => s.name.startsWith('l7_')),
      [
        {
          name: 'l7_ingress4',
          type: ['ipv4_addr', 'inet_service'],
          flags: ['interval'],
          elements: ['10.0.1.2 . 80'],
        },
        {
          name: 'l7_ingress6',
          type: ['ipv6_addr', 'inet_service'],
          flags: ['interval'],
          elements: ['fd00::6 . 80'],
        },
      ],
    );
    assert.deepEqual(steeredFamilies(t), [4, 6]);
    // Steered packets are delivered locally: input runs the destination's ingress for them.
    assert.deepEqual(rulesOf(t, INPUT_CHAIN).slice(3), [
      'ip saddr vmap @egress_dispatch',
      'ip6 saddr vmap @egress_dispatch6',
      `meta mark & ${mark} == ${mark} ip daddr vmap @ingress_dispatch`,
      `meta mark & ${mark} == ${mark} ip6 daddr vmap @ingress_dispatch6`,
    ]);
    // One bit, apart from the strict-cut bit of the ct mark.
    assert.equal(L7_MARK & (L7_MARK - 1), 0);
    assert.notEqual(L7_MARK, STRICT_CUT_MARK);
  });

  it('steers egress by source address, merges port ranges and endpoints sharing an address', () => {
    const http = { l7: { kind: 'http' as const, rules: [{ method: 'GET' }] } };
    const t = compile([
      netpol('e', 'x', 'a', {
        isolates: ['Egress'],
        egress: [rule('any', [tcp(8000, 8080)], http), rule('any', [tcp(8081, 8090)], http)],
      }),
      netpol('f', 'x', 'c', { isolates: ['Egress'], egress: [rule('any', [tcp(8080)], http)] }),
    ]);
    assert.deepEqual(t.sets.find((s) => s.name === 'l7_egress4')?.elements, [
      '10.0.1.1 . 8000-8090',
      '10.0.1.3 . 8080',
    ]);
    assert.deepEqual(
      rulesOf(t, L7_CHAIN)
        .filter((r) => r.includes('@l7_egress4'))
        .map((r) => r.split(' @')[0]),
      ['meta l4proto tcp ip saddr . tcp dport', 'meta l4proto tcp ip saddr . tcp dport'],
    );
    assert.equal(
      t.sets.some((s) => s.name === 'l7_ingress4'),
      false,
    );
  });

  it('renders as one transaction nft accepts the shape of (a prerouting chain at priority -150)', () => {
    const text = renderTable(compile(ingress));
    assert.match(
      text,
      /add chain inet palisade l7_prerouting \{ type filter hook prerouting priority -150; policy accept; \}/,
    );
    assert.match(
      text,
      /add set inet palisade l7_ingress4 \{ type ipv4_addr \. inet_service; flags interval; \}/,
    );
  });

  it('incremental compile equals a from-scratch one as steering comes and goes', () => {
    const compiler = createNftCompiler();
    const model = (ps: Policy[]) => resolveNodeRules(buildModel(theCluster, ps), 'node-1');
    for (const ps of [[], ingress, [...ingress, netpol('q', 'x', 'c', {})], []]) {
      const rules = model(ps);
      assert.deepEqual(compiler.compile(rules), compileNftables(rules));
    }
  });
});
