/**
 * Flow visibility end to end, as root: a real `palisade agent` enforcing in the node netns of a tiny
 * topology (test/datapath/support/netns.ts: pods reach each other through the node's forward hook), real
 * TCP connections and a bounded UDP flood, then the flow log, `palisade flows` and the metrics.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { defaultFlowdBinary, flowLogFiles, parseFlowRecord } from '../../src/agent/index.js';
import type { FlowRecord } from '../../src/agent/index.js';
import { canConnect, createTopology, netnsUnavailable, startServers } from '../datapath/support/netns.js';
import { cli, startAgent, waitFor } from './agent-support.js';
import { DENY_81 } from './flows/support.js';
import { NAMESPACE, NODE, allowBToA, json, pod } from './support.js';

const A_IP = '10.77.0.10';
const B_IP = '10.77.0.11';
const FLOOD_PORT = 9000;
const FLOOD_PACKETS = 3000;

const skip =
  netnsUnavailable() ??
  (existsSync(defaultFlowdBinary())
    ? undefined
    : 'dist/native/pal-flowd is not built (npm run build:native)');

async function records(path: string): Promise<FlowRecord[]> {
  const out: FlowRecord[] = [];
  for (const f of await flowLogFiles(path)) {
    for (const l of (await readFile(f, 'utf8')).split('\n')) {
      const r = l === '' ? undefined : parseFlowRecord(l);
      if (r) out.push(r);
    }
  }
  return out;
}

/** UDP datagrams from one source port inside `netns`: one flow key, bounded in count and time. */
function udpFlood(netns: string, ip: string, port: number, count: number): Promise<number> {
  const script = `const s = require('node:dgram').createSocket('udp4');
const [ip, port, count] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
s.bind(45000, () => {
  let sent = 0;
  const end = Date.now() + 4000;
  const next = () => {
    if (sent >= count || Date.now() > end) { console.log(sent); s.close(); return; }
    sent++;
    s.send('x', port, ip, next);
  };
  next();
});`;
  return new Promise((resolve, reject) => {
    const c = spawn(
      'ip',
      ['netns', 'exec', netns, process.execPath, '-e', script, ip, String(port), String(count)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    c.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
    c.on('close', () => {
      clearTimeout(t);
      const n = Number(out.trim());
      if (Number.isInteger(n)) resolve(n);
      else reject(new Error(`flood sender failed: ${out}`));
    });
  });
}

describe('flow log with a real agent', { skip }, () => {
  it('logs allowed and denied connections with the deciding rule, rate limits a flood, counts verdicts', async () => {
    const tmp = await mkdtemp(join(tmpdir(), 'pal-flows-'));
    const topo = await createTopology([
      { name: 'a', ip: A_IP },
      { name: 'b', ip: B_IP },
    ]);
    const store = join(tmp, 'store');
    const run = join(tmp, 'run');
    const flowLog = join(run, 'flows', `${NODE}.jsonl`);
    let agent: ReturnType<typeof startAgent> | undefined;
    try {
      await mkdir(join(tmp, 'in'), { recursive: true });
      const input = join(tmp, 'in', 'all.yaml');
      // a: ingress from b on 80 only (so 81 is denied by the ANP's named rule, 9000 by isolation).
      await writeFile(
        input,
        [NAMESPACE, pod('a', A_IP), pod('b', B_IP), allowBToA(80), DENY_81].map(json).join('\n---\n'),
      );
      const ds = `dir:${store}`;
      assert.equal((await cli(['apply', '-f', input, '--datastore', ds])).code, 0);
      agent = startAgent(NODE, run, [
        '--datastore',
        ds,
        '--netns',
        topo.node,
        '--metrics-addr',
        '127.0.0.1:0',
      ]);
      const ready = await agent.until(
        'ready',
        (s) => s.state === 'ready' && s.lastSync?.counts.endpoints === 2,
      );
      // The helper reports its sockets once they are bound: connections before that would go unseen.
      await waitFor('the flow helper', () =>
        Promise.resolve(agent?.log().includes('"flow helper ready"') === true ? true : undefined),
      );
      assert.doesNotMatch(agent.log(), /flow helper.*error|bind: /);
      await startServers(topo, [80, 81]);
      const b = topo.pods.get('b')?.netns as string;
      assert.equal(await canConnect(b, A_IP, 80), true, 'b → a:80 is allowed');
      assert.equal(await canConnect(b, A_IP, 81), false, 'b → a:81 is denied');

      const allowed80 = (r: FlowRecord): boolean =>
        r.verdict === 'allowed' && r.destination.port === 80 && r.source.pod === 'b';
      const denied81 = (r: FlowRecord): boolean =>
        r.verdict === 'denied' && r.destination.port === 81 && r.source.pod === 'b';
      const seen = await waitFor('both lines in the flow log', async () => {
        const rs = await records(flowLog);
        return rs.some(allowed80) && rs.some(denied81) ? rs : undefined;
      });
      const allow = seen.find(allowed80) as FlowRecord;
      assert.equal(allow.kernel.source, 'ct-new');
      assert.equal(allow.attribution, 'engine');
      assert.equal(allow.direction, 'ingress');
      assert.deepEqual(
        [
          allow.policy?.kind,
          allow.policy?.namespace,
          allow.policy?.name,
          allow.policy?.rule,
          allow.policy?.action,
        ],
        ['NetworkPolicy', 'pal', 'allow-b-to-a', 0, 'Allow'],
      );
      assert.equal(allow.destination.pod, 'a');
      assert.deepEqual(allow.source.labels, { app: 'b' });
      const deny = seen.find(denied81) as FlowRecord;
      assert.equal(deny.kernel.source, 'nflog');
      assert.equal(deny.kernel.group, 101);
      assert.match(deny.kernel.prefix ?? '', /^pal deny I admin AdminNetworkPolicy\/\/no-81/);
      assert.equal(deny.attribution, 'engine');
      assert.equal(deny.policy?.name, 'no-81');
      assert.equal(deny.policy?.ruleName, 'block-81');
      assert.match(
        deny.reason,
        /rule 0 "block-81" \(Deny\) of AdminNetworkPolicy no-81 .*TCP\/81 from pal\/b → denied/,
      );

      const onlyDenied = await cli(['flows', '--flow-log', flowLog, '--verdict', 'denied', '-o', 'json']);
      assert.equal(onlyDenied.code, 0, onlyDenied.stderr);
      const denials = onlyDenied.stdout
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as FlowRecord);
      assert.ok(denials.length > 0 && denials.every((r) => r.verdict === 'denied'));
      assert.ok(denials.some(denied81));

      // The flood: one flow key, denied by isolation, far more packets than lines.
      const sent = await udpFlood(b, A_IP, FLOOD_PORT, FLOOD_PACKETS);
      assert.ok(sent >= 2000, `sent ${sent}`);
      const isFlood = (r: FlowRecord): boolean => r.destination.port === FLOOD_PORT && r.protocol === 'UDP';
      // The last line of a flood comes from the limiter's flush once the key has a token again.
      const flood = await waitFor(
        'the flood to be accounted for',
        async () => {
          const rs = (await records(flowLog)).filter(isFlood);
          const accounted = rs.length + rs.reduce((n, r) => n + (r.suppressed ?? 0), 0);
          return accounted >= sent * 0.9 ? rs : undefined;
        },
        20_000,
      );
      const accounted = flood.length + flood.reduce((n, r) => n + (r.suppressed ?? 0), 0);
      console.log(
        `flood: ${sent} UDP packets sent, ${flood.length} lines written, ${accounted} events accounted (lines + suppressed)`,
      );
      assert.ok(flood.length <= 40, `${flood.length} lines for one flooded key`);
      assert.ok(
        flood.some((r) => (r.suppressed ?? 0) > 100),
        'lines carry suppressed counts',
      );
      const f0 = flood[0] as FlowRecord;
      assert.equal(f0.verdict, 'denied');
      assert.equal(f0.policy?.name, 'allow-b-to-a', 'isolated by the policy selecting a');
      assert.match(
        f0.reason,
        /isolated by NetworkPolicy pal\/allow-b-to-a .*no rule allows UDP\/9000 from pal\/b/,
      );
      const st = await cli(['status', '--state-dir', run, '--node', NODE]);
      assert.equal(st.code, 0, 'the agent still answers after the flood');
      assert.match(st.stdout, /: ready/);

      const text = await (await fetch(`http://${ready.metrics ?? ''}/metrics`)).text();
      const value = (re: RegExp): number => Number(re.exec(text)?.[1] ?? NaN);
      assert.ok(value(/palisade_flows_total\{[^}]*verdict="allowed"[^}]*\} (\d+)/) >= 1, text);
      const deniedTotal = value(/palisade_flows_total\{[^}]*verdict="denied"[^}]*\} (\d+)/);
      assert.ok(deniedTotal >= accounted, `denied counter ${deniedTotal}`);
      assert.ok(value(/palisade_policy_drops_total\{[^}]*name="no-81"[^}]*\} (\d+)/) >= 1, text);
      assert.ok(value(/palisade_policy_drops_total\{[^}]*name="allow-b-to-a"[^}]*\} (\d+)/) >= accounted - 1);
      assert.ok(value(/palisade_flow_records_suppressed_total\{[^}]*\} (\d+)/) > 100);
      assert.match(text, /palisade_flow_events_lost_total/);
    } finally {
      await agent?.stop();
      await topo.destroy();
      await rm(tmp, { recursive: true, force: true });
    }
  });
});
