import type { ClusterNode, ContainerPort, Endpoint, Namespace, Protocol } from '../ir/index.js';
import { NAMESPACE_NAME_LABEL, PROTOCOLS, canonicalIp, formatCidr, parseCidr } from '../ir/index.js';
import {
  objectItems,
  readArray,
  readBoolean,
  readInteger,
  readObject,
  readString,
  type Obj,
} from './fields.js';
import { readMetadata } from './k8s-meta.js';
import { portNameErrors, portNumberErrors } from './k8s-validation.js';
import { at, type Reporter } from './report.js';

/** v1 Namespace. The API server stamps the name label on every namespace; so do we. */
export function namespaceToIr(obj: Obj, r: Reporter): Namespace | undefined {
  const meta = readMetadata(obj, { namespaced: false, name: 'dns-label' }, r);
  if (meta === undefined) return undefined;
  return { name: meta.name, labels: { ...meta.labels, [NAMESPACE_NAME_LABEL]: meta.name } };
}

/** A namespace nobody declared but something lives in: it has only its automatic label. */
export function implicitNamespace(name: string): Namespace {
  return { name, labels: { [NAMESPACE_NAME_LABEL]: name } };
}

/**
 * v1 Pod. `namespaceLabels` is left empty: a pod's namespace may be declared in a later document, so
 * the loader fills it in once every document is read.
 */
export function podToIr(obj: Obj, r: Reporter): Endpoint | undefined {
  const before = r.errorCount;
  const meta = readMetadata(obj, { namespaced: true, name: 'dns-subdomain' }, r);
  const spec = readObject(obj, 'spec', '', r) ?? {};
  const status = readObject(obj, 'status', '', r) ?? {};
  const node = readString(spec, 'nodeName', 'spec', r);
  const hostNetwork = readBoolean(spec, 'hostNetwork', 'spec', r) ?? false;
  const serviceAccount = readString(spec, 'serviceAccountName', 'spec', r) || 'default';
  const ports = containerPorts(spec, r);
  const ips = podIps(status, r);
  if (meta === undefined || meta.namespace === undefined || r.errorCount !== before) return undefined;
  return {
    namespace: meta.namespace,
    name: meta.name,
    labels: meta.labels,
    namespaceLabels: {},
    serviceAccount,
    ...(node ? { node } : {}),
    ips,
    ports,
    hostNetwork,
  };
}

/** v1 Node: its own addresses (what "traffic from the node" means) and the pod ranges it hands out. */
export function nodeToIr(obj: Obj, r: Reporter): ClusterNode | undefined {
  const before = r.errorCount;
  const meta = readMetadata(obj, { namespaced: false, name: 'dns-subdomain' }, r);
  const spec = readObject(obj, 'spec', '', r) ?? {};
  const status = readObject(obj, 'status', '', r) ?? {};
  const ips: string[] = [];
  const addresses = readArray(status, 'addresses', 'status', r) ?? [];
  const byType = objectItems(addresses, 'status.addresses', r).map(({ item, path }) => ({
    type: readString(item, 'type', path, r),
    address: readString(item, 'address', path, r),
    path,
  }));
  // InternalIP first: it is the address node-originated pod traffic normally carries.
  for (const wanted of ['InternalIP', 'ExternalIP']) {
    for (const a of byType.filter((x) => x.type === wanted && x.address !== undefined)) {
      const ip = canonicalIp(a.address ?? '');
      if (ip === undefined)
        r.error('invalid-value', at(a.path, 'address'), `"${a.address}": must be a valid IP address`);
      else if (!ips.includes(ip)) ips.push(ip);
    }
  }
  const podCIDRs: string[] = [];
  const cidrTexts: { text: string; path: string }[] = [];
  const single = readString(spec, 'podCIDR', 'spec', r);
  if (single) cidrTexts.push({ text: single, path: 'spec.podCIDR' });
  const many = readArray(spec, 'podCIDRs', 'spec', r) ?? [];
  many.forEach((c, i) => {
    if (typeof c === 'string') cidrTexts.push({ text: c, path: `spec.podCIDRs[${i}]` });
    else r.error('invalid-type', `spec.podCIDRs[${i}]`, 'must be a string');
  });
  for (const { text, path } of cidrTexts) {
    const c = parseCidr(text);
    if (c === undefined)
      r.error('invalid-value', path, `"${text}": must be a valid CIDR value (e.g. 10.244.0.0/24)`);
    else if (!podCIDRs.includes(formatCidr(c))) podCIDRs.push(formatCidr(c));
  }
  if (meta === undefined || r.errorCount !== before) return undefined;
  return { name: meta.name, labels: meta.labels, ips, podCIDRs };
}

function containerPorts(spec: Obj, r: Reporter): ContainerPort[] {
  const out: ContainerPort[] = [];
  const containers = readArray(spec, 'containers', 'spec', r) ?? [];
  for (const { item: c, path: cPath } of objectItems(containers, 'spec.containers', r)) {
    const names = new Set<string>();
    const ports = readArray(c, 'ports', cPath, r) ?? [];
    for (const { item: p, path } of objectItems(ports, at(cPath, 'ports'), r)) {
      const port = readInteger(p, 'containerPort', path, r);
      if (p['containerPort'] == null)
        r.error('missing-field', at(path, 'containerPort'), 'containerPort is required');
      for (const m of port === undefined ? [] : portNumberErrors(port)) {
        r.error('invalid-value', at(path, 'containerPort'), `${port}: ${m}`);
      }
      const protocol = readProtocol(p, path, r);
      const name = readString(p, 'name', path, r);
      if (name) {
        const errs = portNameErrors(name);
        for (const m of errs) r.error('invalid-value', at(path, 'name'), `"${name}": ${m}`);
        if (errs.length === 0 && names.has(name))
          r.error('duplicate', at(path, 'name'), `Duplicate value: "${name}"`);
        names.add(name);
      }
      if (port !== undefined && protocol !== undefined)
        out.push({ ...(name ? { name } : {}), port, protocol });
    }
  }
  return out;
}

/** `protocol` of a port: TCP when absent, as the API server defaults it. */
export function readProtocol(o: Obj, path: string, r: Reporter): Protocol | undefined {
  const p = readString(o, 'protocol', path, r);
  if (p === undefined) return o['protocol'] == null ? 'TCP' : undefined;
  if ((PROTOCOLS as readonly string[]).includes(p)) return p as Protocol;
  r.error('unsupported-value', at(path, 'protocol'), `"${p}": supported values: "TCP", "UDP", "SCTP"`);
  return undefined;
}

function podIps(status: Obj, r: Reporter): string[] {
  const texts: { text: string; path: string }[] = [];
  const single = readString(status, 'podIP', 'status', r);
  if (single) texts.push({ text: single, path: 'status.podIP' });
  const many = readArray(status, 'podIPs', 'status', r) ?? [];
  for (const { item, path } of objectItems(many, 'status.podIPs', r)) {
    const ip = readString(item, 'ip', path, r);
    if (ip) texts.push({ text: ip, path: at(path, 'ip') });
  }
  const out: string[] = [];
  for (const { text, path } of texts) {
    const ip = canonicalIp(text);
    if (ip === undefined) r.error('invalid-value', path, `"${text}": must be a valid IP address`);
    else if (!out.includes(ip)) out.push(ip);
  }
  return out;
}
