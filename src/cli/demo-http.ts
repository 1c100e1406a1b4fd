/**
 * The demo's L7 step: real HTTP requests sent with curl from client pods to the server, each answer
 * classified in the response vocabulary and compared with what `analyze explain --http` computes, then
 * the L7 flow-log lines of the server's node that say which rule decided.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseSources } from '../dialects/index.js';
import type { Source } from '../dialects/index.js';
import { buildModel, evaluateHttp } from '../engine/index.js';
import { endpointKey } from '../ir/index.js';
import { agentsStateDir } from '../lab/daemon/agents.js';
import type { LabStatus } from '../lab/daemon/protocol.js';
import { probeHttpOnce } from '../lab/http-probe.js';
import { parseFlowRecord } from '../agent/flows/index.js';
import { TABLE_HEADER, formatTable, tableRow } from './flows.js';
import { httpRequestOf } from './http-request.js';

export interface HttpStepSpec {
  readonly to: string;
  readonly port: number;
  readonly from: readonly string[];
  readonly requests: readonly string[];
}

export async function httpStep(
  id: string,
  spec: HttpStepSpec,
  applied: readonly Source[],
  status: LabStatus,
): Promise<{ lines: string[]; mismatches: string[] }> {
  // Only this step's requests: the matrix before it probed the port through the proxy too.
  const since = new Date();
  const { value } = parseSources(applied);
  const model = buildModel(value.cluster, value.policies, value.tiers, { semantics: 'kubernetes' });
  const endpoint = (key: string) => model.cluster.endpoints.find((e) => endpointKey(e) === key);
  const pod = (key: string) => status.pods.find((p) => p.pod === key);
  const dst = endpoint(spec.to);
  const dstPod = pod(spec.to);
  if (dst === undefined || dstPod === undefined) throw new Error(`demo: no pod ${spec.to}`);
  const lines = ['', `HTTP requests (curl in the client pod; analyze: palisade analyze explain --http):`];
  const mismatches: string[] = [];
  for (const from of spec.from) {
    const src = endpoint(from);
    const srcPod = pod(from);
    if (src === undefined || srcPod === undefined) throw new Error(`demo: no pod ${from}`);
    for (const line of spec.requests) {
      const req = httpRequestOf(line, [], { kind: 'endpoint', endpoint: dst });
      const want = evaluateHttp(
        model,
        {
          src: { kind: 'endpoint', endpoint: src },
          dst: { kind: 'endpoint', endpoint: dst },
          protocol: 'TCP',
          port: spec.port,
        },
        req,
      ).response;
      const c = await probeHttpOnce(
        srcPod.netns,
        req,
        { key: spec.to, ip: dstPod.ip, port: spec.port },
        { timeoutMs: 3000 },
      );
      const got = 'error' in c ? `error: ${c.error}` : c.response;
      const same = got === want;
      lines.push(
        `  ${from} -> ${spec.to}:${spec.port}  ${line.padEnd(14)} ${got.padEnd(9)} analyze: ${want}${same ? '' : '  MISMATCH'}`,
      );
      if (!same) mismatches.push(`${from} -> ${spec.to}:${spec.port} ${line}: lab ${got}, analyze ${want}`);
    }
  }
  // The server's node logged every request its proxy decided (flow log, palisade flows --l7).
  const node = dstPod.node;
  const dir = join(agentsStateDir(id), node);
  const log = join(dir, 'flows', `${node}.jsonl`);
  const records = await readL7Records(log, since, spec.from.length * spec.requests.length);
  lines.push('', `flow log (palisade flows --state-dir ${dir} --l7):`);
  lines.push(
    ...formatTable([TABLE_HEADER, ...records.map(tableRow)])
      .trimEnd()
      .split('\n')
      .map((l) => `  ${l}`),
  );
  return { lines, mismatches };
}

/** The L7 lines written since `since`; waits up to 3 s for `want` of them (the proxy logs after answering). */
async function readL7Records(path: string, since: Date, want: number) {
  for (let i = 0; ; i++) {
    const text = await readFile(path, 'utf8').catch(() => '');
    const records = text
      .split('\n')
      .map(parseFlowRecord)
      .filter((r) => r !== undefined && r.type === 'l7' && Date.parse(r.time) >= since.getTime())
      .map((r) => r!);
    if (records.length >= want || i >= 30) return records;
    await new Promise((r) => setTimeout(r, 100));
  }
}
