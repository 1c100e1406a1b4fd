/**
 * The nftables datapath is exact (STYLE.md 14: two routes to one answer): for random clusters and random
 * multi-dialect policy sets, the verdict the compiled per-node tables give a new connection (run by the
 * nft interpreter) equals `evaluate(model, flow)` for every pod pair on a few ports and protocols —
 * allow, deny and reject alike — and the nflog copies match the engine's trail: a Log rule is copied to
 * the log group exactly when the engine records it, and every denial leaves a copy in the deny group.
 * PAL_DP_PROPERTY_RUNS sets the number of runs (default 1000; 30k were run clean while writing it).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  DENY_NFLOG_GROUP,
  NFLOG_GROUP,
  compileNftables,
  resolveNodeRules,
} from '../../../src/datapath/index.js';
import type { NftTable } from '../../../src/datapath/index.js';
import { evaluateDetailed } from '../../../src/engine/evaluate.js';
import { buildModel } from '../../../src/engine/index.js';
import type { PolicyModel } from '../../../src/engine/index.js';
import type { Endpoint, Protocol, RuleRef } from '../../../src/ir/index.js';
import { endpointKey, policyId } from '../../../src/ir/index.js';
import { cluster, flow } from '../../engine/builders.js';
import { DECLARED, NODES, endpoints, policy } from '../../support/arbitrary-ir.js';
import { icmpVerdict } from '../support/icmp-oracle.js';
import { withHttp } from '../support/l7.js';
import { connectionVerdict } from '../support/nft-interpreter.js';

const TARGETS: readonly { port: number; protocol: Protocol }[] = [
  { port: 80, protocol: 'TCP' },
  { port: 8080, protocol: 'TCP' },
  { port: 53, protocol: 'UDP' },
  { port: 7777, protocol: 'SCTP' },
];
const RUNS = Number(process.env['PAL_DP_PROPERTY_RUNS'] ?? 1000);

function tablesOf(model: PolicyModel): Map<string, NftTable> {
  return new Map(NODES.map((n) => [n.name, compileNftables(resolveNodeRules(model, n.name))]));
}

const logKey = (r: RuleRef): string =>
  `pal log ${r.direction === 'Ingress' ? 'I' : 'E'} ${r.tier} ${policyId(r.policy)}`;

/** Connections some node steered to its L7 proxy, over a property's runs. */
const seen = { steered: 0 };

/** Every mismatch between the engine and the compiled tables for one pair and target. */
function mismatches(
  model: PolicyModel,
  tables: ReadonlyMap<string, NftTable>,
  src: Endpoint,
  dst: Endpoint,
  port: number,
  protocol: Protocol,
): string[] {
  const detail = evaluateDetailed(model, flow(src, dst, port, protocol));
  const v = detail.verdict;
  const want = v.allowed ? 'accept' : v.action === 'Reject' ? 'reject' : 'drop';
  const got = connectionVerdict(tables, src, dst, protocol, port);
  if (got.steered !== undefined) seen.steered += got.steered;
  const what = `${protocol}/${port} ${endpointKey(src)} -> ${endpointKey(dst)}`;
  const out: string[] = [];
  if (got.verdict !== want) out.push(`${what}: engine ${want}, datapath ${got.verdict}`);
  // The kernel never reaches the destination's ingress chain once egress refused.
  const trail = [...v.egress.trail, ...(v.egress.allowed ? v.ingress.trail : [])];
  const wantLogs = [...new Set(trail.filter((r) => r.action === 'Log').map(logKey))].sort();
  const gotLogs = [...new Set(got.logs.filter((l) => l.group === NFLOG_GROUP).map((l) => l.prefix))].sort();
  if (wantLogs.join('\n') !== gotLogs.join('\n'))
    out.push(`${what}: engine logs [${wantLogs.join('; ')}], datapath [${gotLogs.join('; ')}]`);
  const denials = got.logs.filter((l) => l.group === DENY_NFLOG_GROUP).length;
  if ((got.verdict === 'accept') !== (denials === 0))
    out.push(`${what}: ${got.verdict} with ${denials} copies to the deny group`);
  return out;
}

describe('nftables datapath ≡ engine (kubernetes profile)', () => {
  it(`on random clusters and multi-dialect policy sets (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(endpoints, fc.array(policy, { maxLength: 7 }), (eps, policies) => {
        const model = buildModel(cluster(eps, NODES), policies, DECLARED);
        const tables = tablesOf(model);
        const wrong: string[] = [];
        for (const src of eps)
          for (const dst of eps)
            for (const t of TARGETS) wrong.push(...mismatches(model, tables, src, dst, t.port, t.protocol));
        if (wrong.length > 0) assert.fail(wrong.slice(0, 8).join('\n'));
      }),
      { numRuns: RUNS },
    );
  });
});

describe('nftables datapath ≡ engine with L7 steering', () => {
  it(`steered connections meet the same L3/L4 verdict, in input instead of forward (${Math.ceil(RUNS / 2)} runs)`, () => {
    seen.steered = 0;
    fc.assert(
      fc.property(endpoints, fc.array(policy, { maxLength: 7 }), (eps, policies) => {
        const model = buildModel(cluster(eps, NODES), policies.map(withHttp), DECLARED);
        const tables = tablesOf(model);
        const wrong: string[] = [];
        for (const src of eps)
          for (const dst of eps)
            for (const t of TARGETS) wrong.push(...mismatches(model, tables, src, dst, t.port, t.protocol));
        if (wrong.length > 0) assert.fail(wrong.slice(0, 8).join('\n'));
      }),
      { numRuns: Math.ceil(RUNS / 2) },
    );
    assert.ok(seen.steered > 0, 'some connection was steered');
  });
});

/** ICMP echo and a few other type/code pairs, against the engine's pipeline with an ICMP-aware matcher. */
const ICMP_PACKETS = [
  { type: 8, code: 0 },
  { type: 8, code: 1 },
  { type: 0, code: 0 },
  { type: 3, code: 1 },
];

describe('nftables datapath ≡ engine pipeline for ICMP', () => {
  it(`on random clusters and policy sets with ICMP types, codes and negations (${Math.ceil(RUNS / 2)} runs)`, () => {
    fc.assert(
      fc.property(endpoints, fc.array(policy, { maxLength: 7 }), (eps, policies) => {
        const model = buildModel(cluster(eps, NODES), policies, DECLARED);
        const tables = tablesOf(model);
        const wrong: string[] = [];
        for (const src of eps)
          for (const dst of eps)
            for (const icmp of ICMP_PACKETS) {
              const want = icmpVerdict(model, src, dst, { family: 4, ...icmp });
              const got = connectionVerdict(tables, src, dst, 'ICMP', 0, icmp).verdict;
              if (got !== want)
                wrong.push(
                  `icmp ${icmp.type}/${icmp.code} ${endpointKey(src)} -> ${endpointKey(dst)}: engine ${want}, datapath ${got}`,
                );
            }
        if (wrong.length > 0) assert.fail(wrong.slice(0, 8).join('\n'));
      }),
      { numRuns: Math.ceil(RUNS / 2) },
    );
  });
});
