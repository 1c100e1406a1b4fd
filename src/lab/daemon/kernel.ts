/**
 * What a node's datapath holds right now, read back from the kernel for `lab status`: the proof that the
 * datapath programmed something, independent of what the daemon believes it sent.
 */
import { getBackend } from '../../datapath/index.js';
import type { KernelCounts, LabDatapath } from './protocol.js';

export async function kernelCounts(netns: string, datapath: LabDatapath): Promise<KernelCounts> {
  const kernel = await getBackend(datapath).create({ netns }).readBack();
  return kernel?.size ?? { chains: 0, sets: 0, maps: 0, elements: 0, rules: 0 };
}
