/**
 * The endpoints the CNI plugin attached on this node, as it registered them (`endpoint-added`): which pod
 * sits behind which interface with which IPs. The agent merges them into the datastore's pods at every
 * sync (reconcile.ts), because a pod's IP reaches the datastore only after ADD has returned, and ADD must
 * not return before the pod's rules are in the kernel.
 *
 * Not persisted here: the plugin's endpoint records (src/cni/endpoints.ts) are the durable copy, and a
 * restarting agent reads them back with `load`. `version` grows with every change, so a waiter can tell
 * whether a sync saw its registration.
 */
import type { EndpointRecord } from '../cni/endpoints.js';
import { listRecords } from '../cni/endpoints.js';
import { canonicalIp } from '../ir/index.js';
import type { Outcome } from '../ir/outcome.js';
import { failure, success } from '../ir/outcome.js';

export interface RegisteredEndpoint {
  readonly network: string;
  readonly containerId: string;
  readonly ifname: string;
  /** `namespace/name`. */
  readonly pod: string;
  /** Canonical IPs. */
  readonly ips: readonly string[];
  readonly hostIfname?: string;
}

/** A CNI endpoint record the agent cannot register: `reason` says which part is missing or wrong. */
export class EndpointRecordError extends Error {
  override readonly name = 'EndpointRecordError';
  constructor(
    readonly reason: 'no-pod' | 'bad-ip' | 'no-ip',
    message: string,
  ) {
    super(message);
  }
}

/** The endpoint a record describes, or why it cannot be registered. */
export function endpointOf(record: EndpointRecord): Outcome<RegisteredEndpoint, EndpointRecordError> {
  const ns = record.pod?.namespace;
  const name = record.pod?.name;
  const at = `endpoint ${record.containerId}/${record.ifname}`;
  if (ns === undefined || name === undefined || ns === '' || name === '')
    return failure(
      new EndpointRecordError(
        'no-pod',
        `${at} names no pod: the runtime must pass ` +
          'K8S_POD_NAMESPACE and K8S_POD_NAME in CNI_ARGS, or no policy can be matched to it',
      ),
    );
  const ips: string[] = [];
  for (const text of record.ips) {
    const ip = canonicalIp(text);
    if (ip === undefined) return failure(new EndpointRecordError('bad-ip', `${at}: "${text}" is not an IP`));
    if (!ips.includes(ip)) ips.push(ip);
  }
  if (ips.length === 0) return failure(new EndpointRecordError('no-ip', `${at} has no IP`));
  return success({
    network: record.network,
    containerId: record.containerId,
    ifname: record.ifname,
    pod: `${ns}/${name}`,
    ips,
    ...(record.hostIfname === undefined ? {} : { hostIfname: record.hostIfname }),
  });
}

const attachmentKey = (network: string, containerId: string, ifname: string): string =>
  JSON.stringify([network, containerId, ifname]);

export class EndpointRegistry {
  readonly #byAttachment = new Map<string, RegisteredEndpoint>();
  #version = 0;
  #byPod: ReadonlyMap<string, readonly string[]> | undefined;

  get version(): number {
    return this.#version;
  }

  get size(): number {
    return this.#byAttachment.size;
  }

  add(e: RegisteredEndpoint): void {
    this.#byAttachment.set(attachmentKey(e.network, e.containerId, e.ifname), e);
    this.#changed();
  }

  /** Whether there was such an attachment. */
  remove(network: string, containerId: string, ifname: string): boolean {
    const had = this.#byAttachment.delete(attachmentKey(network, containerId, ifname));
    if (had) this.#changed();
    return had;
  }

  /** Pod key → IPs of all its attachments (a pod may have several interfaces). */
  ipsByPod(): ReadonlyMap<string, readonly string[]> {
    if (this.#byPod !== undefined) return this.#byPod;
    const out = new Map<string, string[]>();
    for (const e of this.#byAttachment.values()) {
      const ips = out.get(e.pod) ?? [];
      for (const ip of e.ips) if (!ips.includes(ip)) ips.push(ip);
      out.set(e.pod, ips);
    }
    this.#byPod = out;
    return out;
  }

  /**
   * Registers every `ready` record the plugin left in `stateDir` (a restarted agent must know the IPs of
   * the pods attached before it started). Returns the records that could not be used, with why.
   */
  async load(stateDir: string): Promise<{ loaded: number; skipped: string[] }> {
    let loaded = 0;
    const skipped: string[] = [];
    for (const r of await listRecords(stateDir)) {
      if (r.state !== 'ready') continue; // an ADD in flight (it registers itself) or one that died
      const e = endpointOf(r);
      if (!e.ok) skipped.push(e.error.message);
      else {
        this.add(e.value);
        loaded += 1;
      }
    }
    return { loaded, skipped };
  }

  #changed(): void {
    this.#version += 1;
    this.#byPod = undefined;
  }
}
