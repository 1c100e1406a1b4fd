import type { Command } from 'commander';
import { DEFAULT_STATE_DIR, agentSocketsIn, readStatus, socketPathFor } from '../agent/index.js';
import type { AgentStatus } from '../agent/index.js';
import { UsageError } from './exit-codes.js';
import { parseOutputFormat } from './output-format.js';

interface StatusOptions {
  node?: string;
  stateDir: string;
  socket?: string;
  output: string;
}

export function formatAgentStatus(s: AgentStatus): string {
  const ds = s.datastore;
  const lines = [
    `agent node=${s.node}${s.netns === undefined ? '' : ` netns=${s.netns}`} pid=${s.pid}: ${s.state}`,
    `datastore ${ds.source}: ${ds.connected ? 'connected' : `unreachable (${ds.error ?? '?'})`} since ${ds.since}` +
      (ds.revision === undefined ? '' : `, revision ${ds.revision}`),
    `objects ${s.objects.total}, rejected ${s.objects.rejected.length}; syncs ${s.syncs}, failures ${s.failures}`,
  ];
  const c = s.lastSync?.counts;
  if (c !== undefined)
    lines.push(
      `programmed: ${c.endpoints} endpoints, ${c.policiesOnNode} policies, ${c.rules} rules, ${c.chains} chains, ${c.sets} sets, ${c.setElements} elements`,
    );
  if (s.lastChange !== undefined) {
    const sum = Object.entries(s.lastChange.summary)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${k}=${n}`)
      .join(' ');
    lines.push(`last change ${s.lastChange.at} (${s.lastChange.ms}ms): ${sum || 'nothing'}`);
  }
  if (s.lastSync?.ok === false) lines.push(`last apply failed: ${s.lastSync.error ?? '?'}`);
  if (s.strict !== undefined)
    lines.push(
      s.strict.enabled
        ? `strict: ${s.strict.cutTotal} connections cut in ${s.strict.sweeps} sweeps${s.strict.error === undefined ? '' : `; last sweep failed: ${s.strict.error}`}`
        : 'strict: off (established connections outlive policy changes)',
    );
  for (const r of s.objects.rejected) {
    lines.push(`rejected ${r.id} (${r.kept === 'last-good' ? 'last good version enforced' : 'skipped'}):`);
    for (const d of r.diagnostics)
      lines.push(`  ${d.file} (doc ${d.doc})${d.path ? `: ${d.path}` : ''}: ${d.message}`);
  }
  if (s.metrics !== undefined) lines.push(`metrics http://${s.metrics}/metrics`);
  return `${lines.join('\n')}\n`;
}

async function sockets(opts: StatusOptions): Promise<string[]> {
  if (opts.socket !== undefined) return [opts.socket];
  if (opts.node !== undefined) return [socketPathFor(opts.stateDir, opts.node)];
  const found = await agentSocketsIn(opts.stateDir);
  if (found.length === 0)
    throw new UsageError(`no agent socket in ${opts.stateDir} (is an agent running? --state-dir, --node)`);
  return found;
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description("a running agent's state, read over its unix socket")
    .option('--node <name>', 'the agent of this node (default: every agent in --state-dir)')
    .option('--state-dir <dir>', 'where agents put their sockets', DEFAULT_STATE_DIR)
    .option('--socket <path>', 'talk to this socket directly')
    .option('-o, --output <format>', 'table or json', (v) => parseOutputFormat(v, ['table', 'json']), 'table')
    .exitOverride()
    .action(async (opts: StatusOptions) => {
      const all: AgentStatus[] = [];
      for (const path of await sockets(opts)) {
        try {
          all.push((await readStatus(path)) as AgentStatus);
        } catch (e) {
          throw new UsageError(`${path}: no agent answers (${e instanceof Error ? e.message : String(e)})`);
        }
      }
      if (opts.output === 'json')
        process.stdout.write(`${JSON.stringify(all.length === 1 ? all[0] : all, null, 2)}\n`);
      else process.stdout.write(all.map(formatAgentStatus).join('\n'));
    });
}
