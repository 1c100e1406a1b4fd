/**
 * Endpoint records: what the plugin attached, written before anything is created (state `pending`) and
 * completed when the attachment works (`ready`). They are the contract with enforcement: the agent (and,
 * until it exists, the lab and tests) lists them to know which pod IP sits behind which host interface in
 * which netns; and GC reads them to find what a crashed ADD left behind.
 *
 * Layout: `<stateDir>/endpoints/<network>/<containerID>.<hex(ifname)>.json`, written atomically (temp file
 * + rename), so a reader never sees half a record.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Mode } from './config.js';

export interface EndpointRecord {
  readonly version: 1;
  readonly network: string;
  readonly containerId: string;
  readonly ifname: string;
  /** CNI_NETNS as ADD got it. */
  readonly netns: string;
  readonly mode: Mode;
  readonly state: 'pending' | 'ready';
  /** The host end the enforcement hooks (routed: ours; policy-only: the previous plugin's). */
  readonly hostIfname?: string;
  /** Bare addresses, no prefix. */
  readonly ips: readonly string[];
  /** From CNI_ARGS K8S_POD_NAMESPACE / K8S_POD_NAME when the runtime passed them. */
  readonly pod?: { readonly namespace?: string; readonly name?: string };
  readonly createdAt: string;
}

function networkDir(stateDir: string, network: string): string {
  return join(stateDir, 'endpoints', network);
}

export function recordPath(stateDir: string, network: string, containerId: string, ifname: string): string {
  return join(networkDir(stateDir, network), `${containerId}.${Buffer.from(ifname).toString('hex')}.json`);
}

export async function writeRecord(stateDir: string, r: EndpointRecord): Promise<string> {
  const path = recordPath(stateDir, r.network, r.containerId, r.ifname);
  await mkdir(networkDir(stateDir, r.network), { recursive: true });
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, JSON.stringify(r, null, 2) + '\n');
  await rename(tmp, path);
  return path;
}

export async function readRecord(
  stateDir: string,
  network: string,
  containerId: string,
  ifname: string,
): Promise<EndpointRecord | undefined> {
  const text = await readFile(recordPath(stateDir, network, containerId, ifname), 'utf8').catch(
    () => undefined,
  );
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as EndpointRecord;
  } catch {
    return undefined;
  }
}

/** Removes a record; one already gone is success. */
export async function removeRecord(
  stateDir: string,
  network: string,
  containerId: string,
  ifname: string,
): Promise<void> {
  await unlink(recordPath(stateDir, network, containerId, ifname)).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

/** Every record of `network` (of every network when absent), sorted by container id then ifname. */
export async function listRecords(stateDir: string, network?: string): Promise<EndpointRecord[]> {
  const networks =
    network === undefined
      ? await readdir(join(stateDir, 'endpoints')).catch(() => [] as string[])
      : [network];
  const out: EndpointRecord[] = [];
  for (const n of networks) {
    const dir = networkDir(stateDir, n);
    for (const f of await readdir(dir).catch(() => [] as string[])) {
      if (!f.endsWith('.json')) {
        // A temp file whose rename never happened: its writer died.
        if (f.endsWith('.tmp')) await unlink(join(dir, f)).catch(() => undefined);
        continue;
      }
      const text = await readFile(join(dir, f), 'utf8').catch(() => undefined);
      if (text === undefined) continue;
      try {
        out.push(JSON.parse(text) as EndpointRecord);
      } catch {
        // unreadable: skipped, GC removes it by name
      }
    }
  }
  return out.sort((a, b) =>
    a.containerId === b.containerId ? (a.ifname < b.ifname ? -1 : 1) : a.containerId < b.containerId ? -1 : 1,
  );
}
