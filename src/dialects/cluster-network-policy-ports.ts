/**
 * Port matches of AdminNetworkPolicy / BaselineAdminNetworkPolicy (v1alpha1 `ports`) and
 * ClusterNetworkPolicy (v1alpha2 `protocols`) → IR PortMatch.
 */
import type { PortMatch, Protocol } from '../ir/index.js';
import { PROTOCOLS } from '../ir/index.js';
import {
  isAbsent,
  objectItems,
  readInteger,
  readObject,
  readString,
  warnUnknownFields,
  type Obj,
} from './fields.js';
import { oneOf } from './cluster-network-policy-fields.js';
import { readProtocol } from './k8s-core.js';
import { portNameErrors, portNumberErrors } from './k8s-validation.js';
import { at, type Reporter } from './report.js';

export interface PortList {
  readonly matches: readonly PortMatch[];
  /** Whether an entry names a port: the CRDs forbid that beside networks/nodes/domainNames peers. */
  readonly named: boolean;
}

/**
 * Neither API gives a named port a protocol: it "selects a port on a pod based on name", so it matches the
 * container port of that name whatever protocol the container declares. The IR's named match carries a
 * protocol, so the name is matched once per protocol.
 */
function namedAnyProtocol(name: string, path: string, r: Reporter): PortMatch[] {
  const errs = portNameErrors(name);
  if (errs.length > 0) {
    r.warn(
      'invalid-value',
      path,
      `"${name}": can never match a container port (container port names must be IANA service names: ${errs.join('; ')})`,
    );
  }
  return PROTOCOLS.map((protocol) => ({ kind: 'named', protocol, name }));
}

/** A required integer port field in 1..65535 (the CRDs' Minimum=1, Maximum=65535). */
function readPort(o: Obj, key: string, path: string, r: Reporter): number | undefined {
  if (isAbsent(o, key)) {
    r.error('missing-field', at(path, key), `${key} is required`);
    return undefined;
  }
  const n = readInteger(o, key, path, r);
  if (n === undefined) return undefined;
  const errs = portNumberErrors(n);
  for (const m of errs) r.error('invalid-value', at(path, key), `${n}: ${m}`);
  return errs.length === 0 ? n : undefined;
}

function namedPort(o: Obj, key: string, path: string, r: Reporter): PortMatch[] {
  const name = readString(o, key, path, r);
  return name === undefined ? [] : namedAnyProtocol(name, at(path, key), r);
}

const V1ALPHA1_PORT_FIELDS = ['portNumber', 'namedPort', 'portRange'];

/**
 * v1alpha1 AdminNetworkPolicyPort list (network-policy-api v0.1.8 apis/v1alpha1/shared_types.go): exactly
 * one of `portNumber` {protocol, port}, `portRange` {protocol, start, end} or `namedPort`; protocol
 * defaults to TCP (+kubebuilder:default=TCP).
 */
export function adminPortsToIr(items: readonly unknown[], path: string, r: Reporter): PortList {
  const matches: PortMatch[] = [];
  let named = false;
  for (const { item, path: p } of objectItems(items, path, r)) {
    warnUnknownFields(item, V1ALPHA1_PORT_FIELDS, p, r);
    const field = oneOf(item, V1ALPHA1_PORT_FIELDS, p, r);
    if (field === 'namedPort') {
      named = true;
      matches.push(...namedPort(item, field, p, r));
    } else if (field !== undefined) {
      const o = readObject(item, field, p, r);
      const fp = at(p, field);
      if (o !== undefined) {
        const match = field === 'portNumber' ? v1alpha1Number(o, fp, r) : v1alpha1Range(o, fp, r);
        if (match !== undefined) matches.push(match);
      }
    }
  }
  return { matches, named };
}

function v1alpha1Number(o: Obj, path: string, r: Reporter): PortMatch | undefined {
  warnUnknownFields(o, ['protocol', 'port'], path, r);
  const protocol = readProtocol(o, path, r);
  const port = readPort(o, 'port', path, r);
  return protocol === undefined || port === undefined
    ? undefined
    : { kind: 'range', protocol, from: port, to: port };
}

function v1alpha1Range(o: Obj, path: string, r: Reporter): PortMatch | undefined {
  warnUnknownFields(o, ['protocol', 'start', 'end'], path, r);
  const protocol = readProtocol(o, path, r);
  const start = readPort(o, 'start', path, r);
  const end = readPort(o, 'end', path, r);
  if (protocol === undefined || start === undefined || end === undefined) return undefined;
  // The v1alpha1 CRD has no CEL rule here, but the field doc says "the Start value must be less than
  // End". An inverted range would match nothing, silently emptying a Deny, so it is refused; start == end
  // is one port and unambiguous, so it is accepted as the API server accepts it.
  if (start > end) {
    r.error('invalid-value', at(path, 'end'), `${end}: must not be less than \`start\` (${start})`);
    return undefined;
  }
  return { kind: 'range', protocol, from: start, to: end };
}

const V1ALPHA2_PROTOCOL_FIELDS = ['tcp', 'udp', 'sctp', 'destinationNamedPort'];
const PROTOCOL_OF: Readonly<Record<string, Protocol>> = { tcp: 'TCP', udp: 'UDP', sctp: 'SCTP' };

/**
 * v1alpha2 ClusterNetworkPolicyProtocol list (apis/v1alpha2/clusternetworkpolicy_types.go): exactly one
 * of `tcp` / `udp` / `sctp` {destinationPort: {number} | {range: {start, end}}} or
 * `destinationNamedPort`.
 */
export function protocolsToIr(items: readonly unknown[], path: string, r: Reporter): PortList {
  const matches: PortMatch[] = [];
  let named = false;
  for (const { item, path: p } of objectItems(items, path, r)) {
    warnUnknownFields(item, V1ALPHA2_PROTOCOL_FIELDS, p, r);
    const field = oneOf(item, V1ALPHA2_PROTOCOL_FIELDS, p, r);
    if (field === 'destinationNamedPort') {
      named = true;
      matches.push(...namedPort(item, field, p, r));
    } else if (field !== undefined) {
      const protocol = PROTOCOL_OF[field];
      const o = readObject(item, field, p, r);
      if (protocol !== undefined && o !== undefined) {
        const match = protocolPort(o, protocol, at(p, field), r);
        if (match !== undefined) matches.push(match);
      }
    }
  }
  return { matches, named };
}

function protocolPort(o: Obj, protocol: Protocol, path: string, r: Reporter): PortMatch | undefined {
  warnUnknownFields(o, ['destinationPort'], path, r);
  // api-overview.md says an omitted destinationPort matches every port of the protocol, but the CRD gives
  // tcp/udp/sctp MinProperties=1, so the API server rejects `tcp: {}`; Palisade follows the schema.
  if (isAbsent(o, 'destinationPort')) {
    r.error(
      'missing-field',
      at(path, 'destinationPort'),
      'destinationPort is required (the CRD requires at least 1 property here)',
    );
    return undefined;
  }
  const dp = readObject(o, 'destinationPort', path, r);
  if (dp === undefined) return undefined;
  const dpPath = at(path, 'destinationPort');
  warnUnknownFields(dp, ['number', 'range'], dpPath, r);
  const field = oneOf(dp, ['number', 'range'], dpPath, r);
  if (field === 'number') {
    const port = readPort(dp, 'number', dpPath, r);
    return port === undefined ? undefined : { kind: 'range', protocol, from: port, to: port };
  }
  if (field !== 'range') return undefined;
  const range = readObject(dp, 'range', dpPath, r);
  if (range === undefined) return undefined;
  const rangePath = at(dpPath, 'range');
  warnUnknownFields(range, ['start', 'end'], rangePath, r);
  const start = readPort(range, 'start', rangePath, r);
  const end = readPort(range, 'end', rangePath, r);
  if (start === undefined || end === undefined) return undefined;
  // CEL on PortRange: self.start < self.end.
  if (start >= end) {
    r.error('invalid-value', rangePath, `Start port must be less than End port (${start} >= ${end})`);
    return undefined;
  }
  return { kind: 'range', protocol, from: start, to: end };
}
