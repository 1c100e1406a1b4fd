/**
 * What a node's filter table holds right now, read back from the kernel for `lab status`: the proof that
 * the datapath programmed something, independent of what the daemon believes it sent.
 */
import { readNftTable } from '../../datapath/index.js';
import { run } from '../netns.js';
import type { KernelCounts, LabDatapath } from './protocol.js';

export async function kernelCounts(netns: string, datapath: LabDatapath): Promise<KernelCounts> {
  if (datapath === 'iptables') {
    const out = await run('ip', ['netns', 'exec', netns, 'iptables-save', '-t', 'filter']);
    const lines = out.split('\n');
    return {
      chains: lines.filter((l) => l.startsWith(':')).length,
      sets: 0,
      maps: 0,
      elements: 0,
      rules: lines.filter((l) => l.startsWith('-A ')).length,
    };
  }
  const kernel = await readNftTable({ netns });
  if (!kernel) return { chains: 0, sets: 0, maps: 0, elements: 0, rules: 0 };
  const t = kernel.table;
  return {
    chains: t.chains.length,
    sets: t.sets.length,
    maps: t.maps.length,
    elements:
      t.sets.reduce((n, s) => n + s.elements.length, 0) + t.maps.reduce((n, m) => n + m.elements.length, 0),
    rules: t.chains.reduce((n, c) => n + c.ruleIds.length, 0),
  };
}
