import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  compileNftables,
  diffTables,
  isEmptyChangeset,
  parseNftJson,
  resolveNodeRules,
  steeredFamilies,
} from '../../../src/datapath/index.js';
import { parseSources } from '../../../src/dialects/index.js';
import { buildModel } from '../../../src/engine/index.js';
import { loadCase } from '../../support/case-table.js';
import { cluster, netpol, node, pod, rule, tcp } from '../support/builders.js';
import { ciliumHttpIngress } from '../support/l7.js';

const GOLDEN = join(import.meta.dirname, '../../../../test/datapath/golden');

/** Wraps one JSON item the way `nft -j list` does. */
const listing = (...items: unknown[]): string => JSON.stringify({ nftables: [{ metainfo: {} }, ...items] });
const set4 = (elem: unknown[]): unknown => ({
  set: { name: 's', type: ['ipv4_addr', 'inet_proto', 'inet_service'], flags: ['interval'], elem },
});

describe('parseNftJson', () => {
  it('reads back what the kernel holds for a compiled table as "nothing to change"', () => {
    // Recorded with `nft -j -n list table inet palisade` after applying this very case on node-2.
    const text = readFileSync(join(GOLDEN, 'kernel-ipblock-except-node-2.json'), 'utf8');
    const c = loadCase('ipblock-except.yaml');
    const { value } = parseSources(c.sources);
    const desired = compileNftables(resolveNodeRules(buildModel(value.cluster, value.policies), 'node-2'));
    const parsed = parseNftJson(text);
    assert.deepEqual(parsed.unreadable, []);
    assert.equal(isEmptyChangeset(diffTables(parsed.table, desired)), true);
  });

  it('reads back the L7 steering sets and the prerouting chain as "nothing to change"', () => {
    // Recorded with `nft -j -n list table inet palisade` after applying this very table in a pal- netns.
    const text = readFileSync(join(GOLDEN, 'kernel-l7-steering.json'), 'utf8');
    const eps = [
      pod('x', 'a', '10.0.1.1'),
      pod('x', 'b', '10.0.1.2'),
      pod('x', 'c', '10.0.1.3'),
      pod('x', 'v6', 'fd00::6', { labels: { pod: 'b' } }),
    ];
    const http = { l7: { kind: 'http' as const, rules: [{ method: 'GET' }] } };
    const policies = [
      ...ciliumHttpIngress({ namespace: 'x', server: 'b', client: 'a', port: 80, plainPort: 81 }),
      netpol('e', 'x', 'a', { isolates: ['Egress'], egress: [rule('any', [tcp(8000, 8090)], http)] }),
    ];
    const model = buildModel(cluster(eps, [node('node-1', '10.255.0.1')]), policies);
    const desired = compileNftables(resolveNodeRules(model, 'node-1'));
    assert.deepEqual(steeredFamilies(desired), [4, 6]);
    const parsed = parseNftJson(text);
    assert.deepEqual(parsed.unreadable, []);
    assert.deepEqual(parsed.table.chains.find((c) => c.name === 'l7_prerouting')?.hook, {
      type: 'filter',
      hook: 'prerouting',
      priority: -150,
      policy: 'accept',
    });
    assert.equal(isEmptyChangeset(diffTables(parsed.table, desired)), true);
  });

  const cases: { name: string; elem: unknown; want: string }[] = [
    { name: 'single values', elem: { concat: ['10.0.0.1', 6, 80] }, want: '10.0.0.1 . 6 . 80' },
    {
      name: 'a prefix and ranges',
      elem: { concat: [{ prefix: { addr: '10.0.0.0', len: 8 } }, { range: [0, 255] }, { range: [80, 81] }] },
      want: '10.0.0.0/8 . 0-255 . 80-81',
    },
    {
      name: 'an address range that is a prefix is printed as one',
      elem: { concat: [{ range: ['10.0.0.0', '10.0.0.255'] }, 'tcp', 80] },
      want: '10.0.0.0/24 . 6 . 80',
    },
    {
      name: 'a /32 prefix is a single address',
      elem: { concat: [{ prefix: { addr: '10.0.0.1', len: 32 } }, 17, 53] },
      want: '10.0.0.1 . 17 . 53',
    },
    {
      name: 'wrapped element with a comment',
      elem: { elem: { val: { concat: ['10.0.0.1', 6, 80] }, comment: 'x' } },
      want: '10.0.0.1 . 6 . 80',
    },
  ];
  for (const c of cases) {
    it(`canonical element text: ${c.name}`, () => {
      assert.deepEqual(parseNftJson(listing(set4([c.elem]))).table.sets[0]?.elements, [c.want]);
    });
  }

  it('a rule without an id comment is reported and forces its chain to be replaced', () => {
    const parsed = parseNftJson(
      listing(
        { chain: { name: 'c' } },
        { rule: { chain: 'c', expr: [] } },
        { rule: { chain: 'c', comment: 'abc', expr: [] } },
      ),
    );
    assert.deepEqual(parsed.table.chains, [{ name: 'c', ruleIds: ['?', 'abc'] }]);
    assert.equal(parsed.unreadable.length, 1);
  });

  it('reads verdict maps and base chain hooks', () => {
    const parsed = parseNftJson(
      listing(
        {
          map: {
            name: 'm',
            type: 'ipv4_addr',
            map: 'verdict',
            elem: [['10.0.0.1', { jump: { target: 'x' } }]],
          },
        },
        { chain: { name: 'forward', type: 'filter', hook: 'forward', prio: 0, policy: 'accept' } },
      ),
    );
    assert.deepEqual(parsed.table.maps, [
      { name: 'm', type: ['ipv4_addr'], elements: [['10.0.0.1', 'jump x']] },
    ]);
    assert.deepEqual(parsed.table.chains[0]?.hook, {
      type: 'filter',
      hook: 'forward',
      priority: 0,
      policy: 'accept',
    });
  });
});
