/**
 * The parts of Kubernetes NetworkPolicy that other dialects reuse with the same shape and rules: an ipBlock
 * (Antrea's ipBlock is the same object) and a NetworkPolicyPort (Antrea's port entries add only source
 * ports, which the caller refuses before calling). Messages are the API server's.
 */
import type { Peer, PortMatch } from '../ir/index.js';
import { cidrWithin, formatCidr, parseCidr } from '../ir/index.js';
import {
  isAbsent,
  isObj,
  readArray,
  readInteger,
  readString,
  stringItems,
  typeName,
  warnUnknownFields,
  type Obj,
} from './fields.js';
import { readProtocol } from './k8s-core.js';
import { portNameErrors, portNumberErrors } from './k8s-validation.js';
import { at, type Reporter } from './report.js';

const PORT_FIELDS = ['protocol', 'port', 'endPort'];
const IPBLOCK_FIELDS = ['cidr', 'except'];

export function ipBlockToIr(value: unknown, path: string, r: Reporter): Peer | undefined {
  if (!isObj(value)) {
    r.error('invalid-type', path, `must be an object, got ${typeName(value)}`);
    return undefined;
  }
  const o = value;
  warnUnknownFields(o, IPBLOCK_FIELDS, path, r);
  const text = readString(o, 'cidr', path, r);
  const rawExcept = readArray(o, 'except', path, r) ?? [];
  if (text === undefined || text === '') {
    if (text === '' || isAbsent(o, 'cidr')) r.error('missing-field', at(path, 'cidr'), 'cidr is required');
    return undefined;
  }
  const cidr = parseCidr(text);
  if (cidr === undefined) {
    r.error('invalid-value', at(path, 'cidr'), `"${text}": ${CIDR_FORMAT}`);
    return undefined;
  }
  const except: string[] = [];
  stringItems(rawExcept, at(path, 'except'), r).forEach((e, i) => {
    const p = `${at(path, 'except')}[${i}]`;
    const hole = parseCidr(e);
    if (hole === undefined) r.error('invalid-value', p, `"${e}": ${CIDR_FORMAT}`);
    else if (!cidrWithin(hole, cidr) || hole.prefix <= cidr.prefix) {
      r.error('invalid-value', p, `"${e}": must be a strict subset of \`cidr\``);
    } else except.push(formatCidr(hole));
  });
  return { kind: 'cidr', cidr: formatCidr(cidr), except, matchesPods: true };
}

const CIDR_FORMAT = 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)';

export function portToIr(
  o: Obj,
  path: string,
  r: Reporter,
  extraFields: readonly string[] = [],
): PortMatch | undefined {
  const before = r.errorCount;
  warnUnknownFields(o, [...PORT_FIELDS, ...extraFields], path, r);
  const protocol = readProtocol(o, path, r);
  const endPort = readInteger(o, 'endPort', path, r);
  const port = o['port'];
  const portPath = at(path, 'port');
  const endPath = at(path, 'endPort');
  let match: PortMatch | undefined;
  if (typeof port === 'number' && Number.isInteger(port)) {
    for (const m of portNumberErrors(port)) r.error('invalid-value', portPath, `${port}: ${m}`);
    if (endPort !== undefined) {
      if (endPort < port)
        r.error('invalid-value', endPath, `${endPort}: must be greater than or equal to \`port\``);
      for (const m of portNumberErrors(endPort)) r.error('invalid-value', endPath, `${endPort}: ${m}`);
    }
    if (protocol) match = { kind: 'range', protocol, from: port, to: endPort ?? port };
  } else if (typeof port === 'string') {
    if (endPort !== undefined) {
      r.error('invalid-value', endPath, `${endPort}: may not be specified when \`port\` is non-numeric`);
    }
    for (const m of portNameErrors(port)) r.error('invalid-value', portPath, `"${port}": ${m}`);
    if (protocol) match = { kind: 'named', protocol, name: port };
  } else if (port === undefined || port === null) {
    if (endPort !== undefined) {
      r.error('invalid-value', endPath, `${endPort}: may not be specified when \`port\` is not specified`);
    }
    if (protocol) match = { kind: 'protocol', protocol };
  } else {
    r.error('invalid-type', portPath, `must be an integer or a string, got ${typeName(port)}`);
  }
  return r.errorCount === before ? match : undefined;
}
