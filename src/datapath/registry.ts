/**
 * Every datapath backend, by name: the agent, the lab and `palisade bench datapath` pick one here, and the
 * conformance suites run once per entry. A new backend is its folder plus one line in BACKENDS. The order
 * is the order the benchmark measures them in (the baseline first).
 */
import type { DatapathBackend } from './backend.js';
import { iptablesBackend } from './iptables.js';
import { nftablesBackend } from './nftables.js';

const BACKENDS = {
  iptables: iptablesBackend,
  nftables: nftablesBackend,
} as const satisfies Readonly<Record<string, DatapathBackend>>;

export type BackendName = keyof typeof BACKENDS;

/** Never empty (a schema's enum needs at least one name). */
export const BACKEND_NAMES = Object.keys(BACKENDS) as unknown as readonly [BackendName, ...BackendName[]];

/** What the agent, the lab and the demo enforce with unless told otherwise. */
export const DEFAULT_BACKEND: BackendName = 'nftables';

export function isBackendName(name: string): name is BackendName {
  return Object.hasOwn(BACKENDS, name);
}

export function getBackend(name: BackendName): DatapathBackend {
  return BACKENDS[name];
}

/** Every backend, in registry order. */
export function allBackends(): readonly DatapathBackend[] {
  return BACKEND_NAMES.map(getBackend);
}
