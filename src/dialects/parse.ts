import { LineCounter, parseAllDocuments, type Document } from 'yaml';
import type {
  Cluster,
  ClusterNode,
  Diagnostic,
  Endpoint,
  Namespace,
  Policy,
  Result,
  Tier,
} from '../ir/index.js';
import { policyId } from '../ir/index.js';
import { isObj, typeName, type Obj } from './fields.js';
import { implicitNamespace } from './k8s-core.js';
import { BUILTIN_TIERS, KIND_HANDLERS, kindKey, type Contribution, type KindHandler } from './kinds.js';
import { fieldLines } from './positions.js';
import { collectingReporter, type Origin, type Reporter } from './report.js';

/** Text of one input; `file` is its path, or '-' for stdin. */
export interface Source {
  readonly file: string;
  readonly text: string;
}

/** Everything read from the inputs: the cluster model and the policies, in input order. */
export interface Loaded {
  readonly cluster: Cluster;
  readonly policies: readonly Policy[];
  /** Tiers declared by the input (Calico/Antrea Tier objects), besides the engine's built-in ones. */
  readonly tiers: readonly Tier[];
}

/** One object of a document, with where it sits (`items[3]` inside a List, '' otherwise). */
interface Located {
  readonly obj: Obj;
  readonly base: string;
  /** Its index in the List's `items`; undefined for a document that is the object. */
  readonly item?: number;
}

/** One IR object a source contributes, with where it was written. */
export interface Placed {
  readonly contribution: Contribution;
  readonly origin: Origin;
  readonly base: string;
}

/** What one source yields on its own; `assembleSources` merges several (duplicates, namespaces). */
export interface ParsedSource {
  readonly placed: readonly Placed[];
  readonly diagnostics: readonly Diagnostic[];
}

/**
 * Parses every document of every source and converts the objects Palisade knows. Pure. A document with
 * any error contributes nothing; every diagnostic is returned. Later duplicates replace earlier ones.
 */
export function parseSources(
  sources: readonly Source[],
  handlers: Readonly<Record<string, KindHandler>> = KIND_HANDLERS,
  builtinTiers: readonly Tier[] = BUILTIN_TIERS,
): Result<Loaded> {
  return assembleSources(
    sources.map((s) => parseSource(s, handlers)),
    builtinTiers,
  );
}

/**
 * One source's documents, converted without looking at any other source: the part of `parseSources`
 * that can be cached per source (the agent keeps it per datastore object).
 */
export function parseSource(
  source: Source,
  handlers: Readonly<Record<string, KindHandler>> = KIND_HANDLERS,
): ParsedSource {
  const diagnostics: Diagnostic[] = [];
  const placed: Placed[] = [];
  const lineCounter = new LineCounter();
  parseAllDocuments(source.text, { lineCounter }).forEach((doc, i) => {
    const origin: Origin = { file: source.file, doc: i };
    if (doc.errors.length > 0) {
      diagnostics.push(...doc.errors.map((e) => yamlError(origin, e.message, e.linePos?.[0])));
      return;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 1000 });
    } catch (e) {
      diagnostics.push(yamlError(origin, e instanceof Error ? e.message : String(e), undefined));
      return;
    }
    if (value === null || value === undefined) return;
    const result = convertDocument(value, origin, handlers);
    diagnostics.push(...result.diagnostics);
    // Pieces of one object share its table of lines.
    const tables = new Map<number | undefined, Readonly<Record<string, number>>>();
    const linesOf = (item: number | undefined): Readonly<Record<string, number>> => {
      let table = tables.get(item);
      if (table === undefined) {
        table = fieldLines(objectNode(doc, item), lineCounter);
        tables.set(item, table);
      }
      return table;
    };
    for (const { contribution, base, item } of result.value) {
      const placedContribution: Contribution =
        contribution.kind === 'policy'
          ? { kind: 'policy', policy: { ...contribution.policy, lines: linesOf(item) } }
          : contribution;
      placed.push({ contribution: placedContribution, base, origin });
    }
  });
  return { placed, diagnostics };
}

/** The YAML node of a document's object: the document itself, or item `item` of its List. */
function objectNode(doc: Document.Parsed, item: number | undefined): unknown {
  return item === undefined ? doc.contents : doc.getIn(['items', item], true);
}

/** `parseSources` from sources parsed one by one, in input order: the same value and diagnostics. */
export function assembleSources(
  parsed: readonly ParsedSource[],
  builtinTiers: readonly Tier[] = BUILTIN_TIERS,
): Result<Loaded> {
  const diagnostics: Diagnostic[] = [];
  const placed: Placed[] = [];
  for (const p of parsed) {
    diagnostics.push(...p.diagnostics);
    placed.push(...p.placed);
  }
  return assemble(placed, diagnostics, builtinTiers);
}

function yamlError(
  origin: Origin,
  message: string,
  pos: { line: number; col: number } | undefined,
): Diagnostic {
  const text = (message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
  const where = pos === undefined ? '' : `line ${pos.line}, column ${pos.col}: `;
  return { code: 'yaml-syntax', severity: 'error', ...origin, path: '', message: `${where}${text}` };
}

function isList(c: Contribution | readonly Contribution[]): c is readonly Contribution[] {
  return Array.isArray(c);
}

/** All objects of one document, or none of them if any has an error. */
function convertDocument(
  value: unknown,
  origin: Origin,
  handlers: Readonly<Record<string, KindHandler>>,
): Result<{ contribution: Contribution; base: string; item?: number }[]> {
  const top = collectingReporter(origin);
  const located = unwrapList(value, top);
  const diagnostics: Diagnostic[] = [];
  const out: { contribution: Contribution; base: string; item?: number }[] = [];
  let errors = top.errorCount;
  for (const { obj, base, item } of located) {
    const r = collectingReporter(origin, base);
    const apiVersion = obj['apiVersion'];
    const kind = obj['kind'];
    if (typeof apiVersion !== 'string' || apiVersion === '') {
      r.error('missing-field', 'apiVersion', 'apiVersion is required');
    }
    if (typeof kind !== 'string' || kind === '') r.error('missing-field', 'kind', 'kind is required');
    if (typeof apiVersion === 'string' && typeof kind === 'string' && r.errorCount === 0) {
      const handler = handlers[kindKey(apiVersion, kind)];
      if (handler === undefined) {
        r.warn('unknown-kind', 'kind', `${apiVersion} ${kind} is not a kind Palisade reads; skipped`);
      } else {
        // One object may stand for several IR objects (Cilium `specs`, Antrea per-appliedTo pieces).
        const made = handler(obj, r, origin);
        const contributions: readonly Contribution[] = made === undefined ? [] : isList(made) ? made : [made];
        for (const contribution of contributions)
          out.push({ contribution, base, ...(item === undefined ? {} : { item }) });
      }
    }
    errors += r.errorCount;
    diagnostics.push(...r.diagnostics);
  }
  return { value: errors > 0 ? [] : out, diagnostics: [...top.diagnostics, ...diagnostics] };
}

/**
 * `kind: List` and typed lists (`NetworkPolicyList`) hold their objects in `items`. Items of a typed
 * list may omit apiVersion/kind, as the API server returns them; they inherit them from the list.
 */
function unwrapList(value: unknown, r: Reporter): Located[] {
  if (!isObj(value)) {
    r.error(
      'not-an-object',
      '',
      `a document must be an object with apiVersion and kind, got ${typeName(value)}`,
    );
    return [];
  }
  const kind = value['kind'];
  const items = value['items'];
  const isList =
    typeof kind === 'string' && (kind === 'List' || (kind.endsWith('List') && Array.isArray(items)));
  if (!isList) return [{ obj: value, base: '' }];
  if (!Array.isArray(items)) {
    if (items !== undefined && items !== null)
      r.error('invalid-type', 'items', `must be a list, got ${typeName(items)}`);
    return [];
  }
  const itemKind = kind === 'List' ? undefined : kind.slice(0, -'List'.length);
  const located: Located[] = [];
  (items as readonly unknown[]).forEach((item, i) => {
    const base = `items[${i}]`;
    if (!isObj(item)) {
      r.error('not-an-object', base, `must be an object with apiVersion and kind, got ${typeName(item)}`);
      return;
    }
    const inherited =
      itemKind === undefined || item['kind'] !== undefined
        ? item
        : { apiVersion: value['apiVersion'], kind: itemKind, ...item };
    located.push({ obj: inherited, base, item: i });
  });
  return located;
}

function identity(c: Contribution): { key: string; label: string } {
  switch (c.kind) {
    case 'namespace':
      return { key: `Namespace//${c.namespace.name}`, label: `Namespace ${c.namespace.name}` };
    case 'endpoint':
      return {
        key: `Pod/${c.endpoint.namespace}/${c.endpoint.name}`,
        label: `Pod ${c.endpoint.namespace}/${c.endpoint.name}`,
      };
    case 'node':
      return { key: `Node//${c.node.name}`, label: `Node ${c.node.name}` };
    case 'tier':
      return { key: `Tier//${c.tier.name}`, label: `Tier ${c.tier.name}` };
    case 'policy': {
      const { ref } = c.policy;
      const name = ref.namespace === undefined ? ref.name : `${ref.namespace}/${ref.name}`;
      return { key: `${ref.dialect}:${policyId(ref)}`, label: `${ref.kind} ${name}` };
    }
  }
}

/** Builds the cluster: last duplicate wins, implicit namespaces added, namespace labels resolved. */
function assemble(
  placed: readonly Placed[],
  diagnostics: Diagnostic[],
  builtinTiers: readonly Tier[],
): Result<Loaded> {
  const byKey = new Map<string, Placed>();
  for (const p of placed) {
    const { key, label } = identity(p.contribution);
    const earlier = byKey.get(key);
    if (earlier !== undefined) {
      diagnostics.push({
        code: 'duplicate',
        severity: 'warning',
        ...p.origin,
        path: p.base === '' ? 'metadata.name' : `${p.base}.metadata.name`,
        message: `${label} is also defined in ${earlier.origin.file} (doc ${earlier.origin.doc}); the last one wins`,
      });
      // Re-insert so the survivor sits where it was last written.
      byKey.delete(key);
    }
    byKey.set(key, p);
  }
  const namespaces = new Map<string, Namespace>();
  const endpoints: Endpoint[] = [];
  const nodes: ClusterNode[] = [];
  const policies: Policy[] = [];
  const tiers: Tier[] = [];
  for (const { contribution: c } of byKey.values()) {
    if (c.kind === 'namespace') namespaces.set(c.namespace.name, c.namespace);
    else if (c.kind === 'endpoint') endpoints.push(c.endpoint);
    else if (c.kind === 'node') nodes.push(c.node);
    else if (c.kind === 'tier') tiers.push(c.tier);
    else policies.push(c.policy);
  }
  const declared = new Set(tiers.map((t) => t.name));
  const used = new Set(policies.map((p) => p.tier));
  for (const t of builtinTiers) if (used.has(t.name) && !declared.has(t.name)) tiers.push(t);
  const referenced = [
    ...endpoints.map((e) => e.namespace),
    ...policies.flatMap((p) => (p.ref.namespace === undefined ? [] : [p.ref.namespace])),
  ];
  for (const name of referenced) if (!namespaces.has(name)) namespaces.set(name, implicitNamespace(name));
  const resolved = endpoints.map((e) => ({
    ...e,
    namespaceLabels: namespaces.get(e.namespace)?.labels ?? implicitNamespace(e.namespace).labels,
  }));
  return {
    value: { cluster: { namespaces: [...namespaces.values()], endpoints: resolved, nodes }, policies, tiers },
    diagnostics,
  };
}
