/**
 * Calico's selector expression language (projectcalico.org/v3 "Selectors" reference): a tokenizer and a
 * recursive-descent parser into a small AST that still names Calico's own labels, a printer from IR
 * selectors back to expression text, and the split of Calico's endpoint label space (pod labels plus
 * namespace labels under `pcns.`) into the namespace × pod shape of IR subjects and peers.
 */
import type { Requirement, Selector } from '../ir/index.js';
import { NAMESPACE_NAME_LABEL, requirementHolds } from '../ir/index.js';

/** The AST. `all()` matches everything in scope; `global()` only non-namespaced resources. */
export type CalicoExpr =
  | { readonly kind: 'all' }
  | { readonly kind: 'global' }
  | { readonly kind: 'has'; readonly key: string }
  | { readonly kind: 'eq' | 'ne'; readonly key: string; readonly value: string }
  | { readonly kind: 'in' | 'notin'; readonly key: string; readonly values: readonly string[] }
  | {
      readonly kind: 'contains' | 'startswith' | 'endswith';
      readonly key: string;
      readonly value: string;
    }
  | { readonly kind: 'not'; readonly of: CalicoExpr }
  | { readonly kind: 'and' | 'or'; readonly of: readonly CalicoExpr[] };

export interface SelectorSyntaxError {
  /** 1-based character column in the expression. */
  readonly column: number;
  readonly message: string;
}

export type ParseResult =
  | { readonly ok: true; readonly expr: CalicoExpr }
  | { readonly ok: false; readonly error: SelectorSyntaxError };

type TokenKind =
  | 'label'
  | 'string'
  | '{'
  | '}'
  | ','
  | '=='
  | '!='
  | '!'
  | '&&'
  | '||'
  | '('
  | ')'
  | 'in'
  | 'notin'
  | 'contains'
  | 'startswith'
  | 'endswith'
  | 'has'
  | 'all'
  | 'global'
  | 'eof';

interface Token {
  readonly kind: TokenKind;
  readonly value: string;
  readonly column: number;
}

/** Calico's label-name alphabet; longer names are rejected as Calico rejects them. */
const IDENT = /^[A-Za-z0-9_./-]+/;
const MAX_LABEL_LENGTH = 512;

class SyntaxFailure extends Error {
  constructor(
    readonly column: number,
    message: string,
  ) {
    super(message);
  }
}

/** Only space and tab separate tokens, as in Calico's tokenizer; a newline is a syntax error there too. */
function skipBlanks(s: string, i: number): number {
  while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
  return i;
}

function isIdentChar(c: string | undefined): boolean {
  return c !== undefined && /[A-Za-z0-9_./-]/.test(c);
}

/** `words` separated by blanks, ending at a word boundary ("not in" and "notin" are both accepted). */
function keyword(s: string, i: number, words: readonly string[]): number | undefined {
  let j = i;
  for (const [k, w] of words.entries()) {
    if (k > 0) j = skipBlanks(s, j);
    if (!s.startsWith(w, j)) return undefined;
    j += w.length;
  }
  return isIdentChar(s[j]) ? undefined : j;
}

function identifier(s: string, i: number): { value: string; end: number } {
  const m = IDENT.exec(s.slice(i));
  if (m === null) throw new SyntaxFailure(i + 1, `expected a label name, found ${describe(s, i)}`);
  if (m[0].length > MAX_LABEL_LENGTH)
    throw new SyntaxFailure(i + 1, `label name longer than ${MAX_LABEL_LENGTH} characters`);
  return { value: m[0], end: i + m[0].length };
}

function describe(s: string, i: number): string {
  const c = s[i];
  if (c === undefined) return 'end of selector';
  if (c === '\n' || c === '\r') return 'a line break';
  return `"${c}"`;
}

const FUNCTIONS: readonly { name: string; kind: 'has' | 'all' | 'global' }[] = [
  { name: 'has(', kind: 'has' },
  { name: 'all(', kind: 'all' },
  { name: 'global(', kind: 'global' },
];

const OPERATORS: readonly { words: readonly string[]; kind: TokenKind }[] = [
  { words: ['contains'], kind: 'contains' },
  { words: ['starts', 'with'], kind: 'startswith' },
  { words: ['ends', 'with'], kind: 'endswith' },
  { words: ['not', 'in'], kind: 'notin' },
  { words: ['in'], kind: 'in' },
];

const SIMPLE: Readonly<Record<string, TokenKind>> = { '(': '(', ')': ')', '{': '{', '}': '}', ',': ',' };

function tokenize(s: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  for (;;) {
    i = skipBlanks(s, i);
    const column = i + 1;
    const push = (kind: TokenKind, end: number, value = '') => {
      tokens.push({ kind, value, column });
      i = end;
    };
    const c = s[i];
    if (c === undefined) {
      tokens.push({ kind: 'eof', value: '', column });
      return tokens;
    }
    const simple = SIMPLE[c];
    if (simple !== undefined) push(simple, i + 1);
    else if (c === '"' || c === "'") {
      // No escapes: a literal runs to the next quote of the same kind.
      const close = s.indexOf(c, i + 1);
      if (close < 0) throw new SyntaxFailure(column, 'unterminated string');
      push('string', close + 1, s.slice(i + 1, close));
    } else if (s.startsWith('==', i)) push('==', i + 2);
    else if (s.startsWith('!=', i)) push('!=', i + 2);
    else if (c === '!') push('!', i + 1);
    else if (s.startsWith('&&', i)) push('&&', i + 2);
    else if (s.startsWith('||', i)) push('||', i + 2);
    else if (c === '=' || c === '&' || c === '|') {
      throw new SyntaxFailure(column, `expected "${c}${c}"`);
    } else if (tokens.at(-1)?.kind === 'label') {
      // After a label only an operator word may follow (== and != were handled above).
      const op = OPERATORS.map((o) => ({ o, end: keyword(s, i, o.words) })).find((x) => x.end !== undefined);
      if (op === undefined || op.end === undefined) {
        throw new SyntaxFailure(
          column,
          `expected an operator (==, !=, in, not in, contains, starts with, ends with) after label "${tokens.at(-1)?.value ?? ''}"`,
        );
      }
      push(op.o.kind, op.end);
    } else {
      const fn = FUNCTIONS.find((f) => s.startsWith(f.name, i));
      if (fn !== undefined) {
        let j = skipBlanks(s, i + fn.name.length);
        let value = '';
        if (fn.kind === 'has') {
          const id = identifier(s, j);
          value = id.value;
          j = skipBlanks(s, id.end);
        }
        if (s[j] !== ')')
          throw new SyntaxFailure(j + 1, `expected ")" to close ${fn.name}, found ${describe(s, j)}`);
        push(fn.kind, j + 1, value);
      } else {
        const id = identifier(s, i);
        push('label', id.end, id.value);
      }
    }
  }
}

/** Recursive descent over the token list: `||` binds loosest, then `&&`, then `!`, then the operations. */
class Parser {
  private pos = 0;
  constructor(private readonly tokens: readonly Token[]) {}

  private peek(): Token {
    return this.tokens[this.pos] ?? { kind: 'eof', value: '', column: 0 };
  }

  private next(): Token {
    const t = this.peek();
    if (t.kind !== 'eof') this.pos++;
    return t;
  }

  private fail(t: Token, want: string): never {
    const found = t.kind === 'eof' ? 'end of selector' : t.value !== '' ? `"${t.value}"` : `"${t.kind}"`;
    throw new SyntaxFailure(t.column, `expected ${want}, found ${found}`);
  }

  root(): CalicoExpr {
    if (this.peek().kind === 'eof') return { kind: 'all' };
    const e = this.or();
    const t = this.peek();
    if (t.kind !== 'eof') this.fail(t, '"&&", "||" or the end of the selector');
    return e;
  }

  private or(): CalicoExpr {
    const of = [this.and()];
    while (this.peek().kind === '||') {
      this.next();
      of.push(this.and());
    }
    return of.length === 1 && of[0] !== undefined ? of[0] : { kind: 'or', of };
  }

  private and(): CalicoExpr {
    const of = [this.operation()];
    while (this.peek().kind === '&&') {
      this.next();
      of.push(this.operation());
    }
    return of.length === 1 && of[0] !== undefined ? of[0] : { kind: 'and', of };
  }

  private operation(): CalicoExpr {
    let negated = false;
    while (this.peek().kind === '!') {
      this.next();
      negated = !negated;
    }
    const e = this.positive();
    return negated ? { kind: 'not', of: e } : e;
  }

  private positive(): CalicoExpr {
    const t = this.next();
    switch (t.kind) {
      case 'has':
        return { kind: 'has', key: t.value };
      case 'all':
        return { kind: 'all' };
      case 'global':
        return { kind: 'global' };
      case '(': {
        const e = this.or();
        const close = this.next();
        if (close.kind !== ')') this.fail(close, '")"');
        return e;
      }
      case 'label':
        return this.comparison(t.value);
      default:
        return this.fail(t, 'a label, has(), all(), global(), "!" or "("');
    }
  }

  private comparison(key: string): CalicoExpr {
    const op = this.next();
    switch (op.kind) {
      case '==':
      case '!=':
        return { kind: op.kind === '==' ? 'eq' : 'ne', key, value: this.string() };
      case 'contains':
      case 'startswith':
      case 'endswith':
        return { kind: op.kind, key, value: this.string() };
      case 'in':
      case 'notin':
        return { kind: op.kind, key, values: this.set() };
      default:
        return this.fail(op, 'an operator');
    }
  }

  private string(): string {
    const t = this.next();
    if (t.kind !== 'string') this.fail(t, 'a quoted string');
    return t.value;
  }

  /** `{ 'a', 'b' }`; empty and trailing-comma sets are accepted, as Calico accepts them. */
  private set(): string[] {
    const open = this.next();
    if (open.kind !== '{') this.fail(open, '"{" to open a set');
    const values: string[] = [];
    while (this.peek().kind === 'string') {
      values.push(this.next().value);
      if (this.peek().kind !== ',') break;
      this.next();
    }
    const close = this.next();
    if (close.kind !== '}') this.fail(close, values.length === 0 ? 'a quoted string or "}"' : '"," or "}"');
    return values;
  }
}

export function parseCalicoSelector(text: string): ParseResult {
  try {
    return { ok: true, expr: new Parser(tokenize(text)).root() };
  } catch (e) {
    if (e instanceof SyntaxFailure) return { ok: false, error: { column: e.column, message: e.message } };
    throw e;
  }
}

/** A leaf's IR requirement over the label map it is evaluated against (`!=`/`not in` hold when absent). */
export function leafRequirement(e: Extract<CalicoExpr, { key: string }>, key = e.key): Requirement {
  switch (e.kind) {
    case 'has':
      return { key, op: 'Exists' };
    case 'eq':
      return { key, op: 'In', values: [e.value] };
    case 'ne':
      return { key, op: 'NotIn', values: [e.value] };
    case 'in':
      return { key, op: 'In', values: e.values };
    case 'notin':
      return { key, op: 'NotIn', values: e.values };
    case 'contains':
      return { key, op: 'Contains', value: e.value };
    case 'startswith':
      return { key, op: 'StartsWith', value: e.value };
    case 'endswith':
      return { key, op: 'EndsWith', value: e.value };
  }
}

/** IR selector constructors that keep trees small (no one-child and/or, no nested trivial matches). */
export function andOf(parts: readonly Selector[]): Selector {
  const flat = parts.flatMap((p) => (p.kind === 'and' ? p.of : [p]));
  if (flat.some((p) => p.kind === 'nothing')) return { kind: 'nothing' };
  const matches = flat.filter((p) => p.kind === 'match');
  const others = flat.filter((p) => p.kind !== 'match');
  const requirements = matches.flatMap((m) => m.requirements);
  const merged: Selector[] =
    requirements.length > 0 || others.length === 0 ? [{ kind: 'match', requirements }] : [];
  const all = [...merged, ...others];
  return all.length === 1 && all[0] !== undefined ? all[0] : { kind: 'and', of: all };
}

export function orOf(parts: readonly Selector[]): Selector {
  const flat = parts.flatMap((p) => (p.kind === 'or' ? p.of : [p])).filter((p) => p.kind !== 'nothing');
  if (flat.length === 0) return { kind: 'nothing' };
  if (flat.some((p) => p.kind === 'match' && p.requirements.length === 0))
    return { kind: 'match', requirements: [] };
  return flat.length === 1 && flat[0] !== undefined ? flat[0] : { kind: 'or', of: flat };
}

export function notOf(s: Selector): Selector {
  if (s.kind === 'not') return s.of;
  if (s.kind === 'nothing') return { kind: 'match', requirements: [] };
  if (s.kind === 'match' && s.requirements.length === 0) return { kind: 'nothing' };
  return { kind: 'not', of: s };
}

/**
 * The AST over a single label map (every key, after `mapKey`, is a label of the object selected), with
 * `global()` meaning `onGlobal`. Contexts that give keys other meanings (namespace, service account) map the AST themselves.
 */
export function calicoExprToSelector(
  e: CalicoExpr,
  onGlobal: Selector,
  mapKey: (key: string) => string = (k) => k,
): Selector {
  const walk = (x: CalicoExpr): Selector => {
    switch (x.kind) {
      case 'all':
        return { kind: 'match', requirements: [] };
      case 'global':
        return onGlobal;
      case 'not':
        return notOf(walk(x.of));
      case 'and':
        return andOf(x.of.map(walk));
      case 'or':
        return orOf(x.of.map(walk));
      default:
        return { kind: 'match', requirements: [leafRequirement(x, mapKey(x.key))] };
    }
  };
  return walk(e);
}

function quote(v: string): string {
  if (!v.includes("'")) return `'${v}'`;
  if (!v.includes('"')) return `"${v}"`;
  throw new Error(`a Calico string literal cannot hold both quote characters: ${v}`);
}

function printRequirement(r: Requirement): string {
  switch (r.op) {
    case 'Exists':
      return `has(${r.key})`;
    case 'DoesNotExist':
      return `!has(${r.key})`;
    case 'In':
      return r.values.length === 1
        ? `${r.key} == ${quote(r.values[0] ?? '')}`
        : `${r.key} in {${r.values.map(quote).join(', ')}}`;
    case 'NotIn':
      return r.values.length === 1
        ? `${r.key} != ${quote(r.values[0] ?? '')}`
        : `${r.key} not in {${r.values.map(quote).join(', ')}}`;
    case 'Contains':
      return `${r.key} contains ${quote(r.value)}`;
    case 'StartsWith':
      return `${r.key} starts with ${quote(r.value)}`;
    case 'EndsWith':
      return `${r.key} ends with ${quote(r.value)}`;
  }
}

/**
 * Calico expression text for an IR selector (for explanations and for translating other dialects to
 * Calico). Throws on a value holding both quote characters, which Calico cannot write.
 */
export function printCalicoSelector(s: Selector): string {
  switch (s.kind) {
    case 'nothing':
      return '!all()';
    case 'match':
      return s.requirements.length === 0 ? 'all()' : s.requirements.map(printRequirement).join(' && ');
    case 'and':
      return s.of.length === 0 ? 'all()' : s.of.map((x) => `(${printCalicoSelector(x)})`).join(' && ');
    case 'or':
      return s.of.length === 0 ? '!all()' : s.of.map((x) => `(${printCalicoSelector(x)})`).join(' || ');
    case 'not':
      return `!(${printCalicoSelector(s.of)})`;
  }
}

/**
 * Calico's endpoint label space (libcalico-go k8s conversion): a workload endpoint carries its pod's labels
 * plus `projectcalico.org/namespace`, `projectcalico.org/orchestrator` (always `k8s` for pods),
 * `projectcalico.org/serviceaccount`, and its namespace's labels and service account's labels under the
 * `pcns.` and `pcsa.` prefixes (the namespace name as `pcns.projectcalico.org/name`).
 */
export const CALICO_LABEL = {
  namespace: 'projectcalico.org/namespace',
  orchestrator: 'projectcalico.org/orchestrator',
  serviceAccount: 'projectcalico.org/serviceaccount',
  /** On namespaces and service accounts: their name. */
  name: 'projectcalico.org/name',
  namespacePrefix: 'pcns.',
  serviceAccountPrefix: 'pcsa.',
} as const;

/** One alternative of an endpoint selector: the endpoint's namespace must match `namespaces`, and it `pods`. */
export interface ScopedSelector {
  readonly namespaces: Selector;
  readonly pods: Selector;
}

export type SplitResult =
  | { readonly ok: true; readonly alternatives: readonly ScopedSelector[] }
  | { readonly ok: false; readonly message: string };

/** Alternatives beyond this are reported rather than multiplied out. */
const MAX_ALTERNATIVES = 16;

type Side = 'pod' | 'namespace';
type Typed =
  | { readonly kind: 'leaf'; readonly side: Side; readonly selector: Selector }
  | { readonly kind: 'const'; readonly value: boolean }
  | { readonly kind: 'not'; readonly of: Typed }
  | { readonly kind: 'and' | 'or'; readonly of: readonly Typed[] };

const ALL: Selector = { kind: 'match', requirements: [] };
const NOTHING: Selector = { kind: 'nothing' };

/** Classifies every leaf by the label map it reads; a message when a key names something Palisade lacks. */
function typeExpr(e: CalicoExpr): Typed | string {
  switch (e.kind) {
    case 'all':
      return { kind: 'const', value: true };
    case 'global':
      return 'global() can only be used in an EntityRule namespaceSelector';
    case 'not': {
      const of = typeExpr(e.of);
      return typeof of === 'string' ? of : { kind: 'not', of };
    }
    case 'and':
    case 'or': {
      const of = e.of.map(typeExpr);
      const bad = of.find((x) => typeof x === 'string');
      return bad ?? { kind: e.kind, of: of as Typed[] };
    }
    default: {
      const { key } = e;
      const leaf = (side: Side, mapped: string): Typed => ({
        kind: 'leaf',
        side,
        selector: { kind: 'match', requirements: [leafRequirement(e, mapped)] },
      });
      if (key === CALICO_LABEL.namespace) return leaf('namespace', NAMESPACE_NAME_LABEL);
      if (key.startsWith(CALICO_LABEL.namespacePrefix)) {
        const nsKey = key.slice(CALICO_LABEL.namespacePrefix.length);
        return leaf('namespace', nsKey === CALICO_LABEL.name ? NAMESPACE_NAME_LABEL : nsKey);
      }
      if (key === CALICO_LABEL.orchestrator)
        return { kind: 'const', value: requirementHolds(leafRequirement(e), 'k8s') };
      if (key === CALICO_LABEL.serviceAccount || key.startsWith(CALICO_LABEL.serviceAccountPrefix)) {
        return `"${key}" selects by service account, which Palisade's selectors cannot express`;
      }
      return leaf('pod', key);
    }
  }
}

function sideOf(t: Typed): Side | 'none' | 'mixed' {
  switch (t.kind) {
    case 'leaf':
      return t.side;
    case 'const':
      return 'none';
    case 'not':
      return sideOf(t.of);
    default: {
      const sides = new Set(t.of.map(sideOf).filter((s) => s !== 'none'));
      if (sides.has('mixed') || sides.size > 1) return 'mixed';
      const [only] = sides;
      return only ?? 'none';
    }
  }
}

function build(t: Typed): Selector {
  switch (t.kind) {
    case 'leaf':
      return t.selector;
    case 'const':
      return t.value ? ALL : NOTHING;
    case 'not':
      return notOf(build(t.of));
    case 'and':
      return andOf(t.of.map(build));
    case 'or':
      return orOf(t.of.map(build));
  }
}

/** Disjunctive alternatives of `t` (negated when `negated`), pushing negation down only through mixed nodes. */
function alternatives(t: Typed, negated: boolean): ScopedSelector[] {
  const side = sideOf(t);
  if (side !== 'mixed') {
    const s = negated ? notOf(build(t)) : build(t);
    if (s.kind === 'nothing') return [];
    if (side === 'namespace') return [{ namespaces: s, pods: ALL }];
    return [{ namespaces: ALL, pods: s }];
  }
  if (t.kind === 'not') return alternatives(t.of, !negated);
  if (t.kind !== 'and' && t.kind !== 'or') return [];
  const conjunction = (t.kind === 'and') !== negated;
  if (!conjunction) return t.of.flatMap((x) => alternatives(x, negated));
  let acc: ScopedSelector[] = [{ namespaces: ALL, pods: ALL }];
  for (const child of t.of) {
    const next: ScopedSelector[] = [];
    for (const a of acc) {
      for (const b of alternatives(child, negated)) {
        const namespaces = andOf([a.namespaces, b.namespaces]);
        const pods = andOf([a.pods, b.pods]);
        if (namespaces.kind !== 'nothing' && pods.kind !== 'nothing') next.push({ namespaces, pods });
      }
    }
    if (next.length > MAX_ALTERNATIVES) throw new TooMany();
    acc = next;
  }
  return acc;
}

class TooMany extends Error {}

/**
 * An endpoint selector (policy `selector`, rule `selector`/`notSelector`) as alternatives of namespace ×
 * pod selectors, the shape IR subjects and peers have. Namespace keys become namespace-label requirements
 * (the namespace name as kubernetes.io/metadata.name, which every namespace carries); `orchestrator` is
 * constant for pods; service-account keys and `global()` are refused. No alternative: selects nothing.
 */
export function splitEndpointSelector(e: CalicoExpr): SplitResult {
  const typed = typeExpr(e);
  if (typeof typed === 'string') return { ok: false, message: typed };
  try {
    return { ok: true, alternatives: alternatives(typed, false) };
  } catch (err) {
    if (!(err instanceof TooMany)) throw err;
    return {
      ok: false,
      message: `mixing namespace and pod labels under "||" or "!" expands to more than ${MAX_ALTERNATIVES} alternatives`,
    };
  }
}
