/**
 * Decision tables whose entries are all literals, looked up by exact keys instead of a regex scan (pure).
 *
 * HAProxy's `map_reg` tries its patterns one by one, so a table of N regex entries costs N regex runs per
 * request: 1000 rules cost the proxy most of its throughput (bench l7). Most HTTP rules name a literal
 * method and a literal path, though (Cilium `GET /api/v1/items/7`, Calico `exact`), and for those the
 * first entry that matches depends only on which of the table's methods the request's method is, if any,
 * and which of its paths its path is. So such a direction is stored as one `map_str` key per (method
 * class, path class) — ⊥ (written as the empty string) standing for "none of the table's" — each holding
 * the outcome of the first entry that matches that cell, and the proxy looks up at most four keys:
 *
 *   (M, P), (⊥, P), (M, ⊥), then (⊥, ⊥) in the fallbacks map.
 *
 * Every cell is stored, so (M, P) is present exactly when both are the table's, (⊥, P) when only P is,
 * (M, ⊥) when only M is: the first key found is the request's own cell. A map lookup is a tree search, so
 * the cost no longer grows with the rule count.
 */
import type { HttpRule, HttpSemantics } from '../ir/index.js';

/** The request field a literal path is compared with: `:path` with its query, or the path alone. */
export type ExactField = 'pathq' | 'path';

/** An entry as literals: an absent member matches any value. */
export interface ExactEntry {
  readonly method?: string;
  readonly value?: string;
  /** Absent when the entry has no path condition. */
  readonly field?: ExactField;
}

/** More cells than this and a direction keeps its regex entries (the map would outgrow the win). */
export const EXACT_CELLS_LIMIT = 20_000;

const META = new Set('\\^$.|?*+()[]{}');

/** The string a regex matches in full when it is a plain literal (escaped punctuation allowed), else undefined. */
export function regexLiteral(re: string): string | undefined {
  let out = '';
  for (let i = 0; i < re.length; i++) {
    const c = re[i] as string;
    if (c === '\\') {
      const n = re[i + 1];
      // `\d`, `\w`, `\x41`…: classes and escapes by letter or digit are not literals.
      if (n === undefined || /[0-9A-Za-z]/.test(n)) return undefined;
      out += n;
      i++;
      continue;
    }
    if (META.has(c)) return undefined;
    out += c;
  }
  return out;
}

/**
 * A literal fit for a key: not empty (the empty string is ⊥) and without white space or control
 * characters, which end a map key (no request line holds them either); else absent.
 */
const nonEmpty = (s: string | undefined): string | undefined =>
  s === undefined || s === '' || [...s].some((c) => c <= ' ' || c === '\x7f') ? undefined : s;

/** A method fit for a key: also without `/`, which separates the key's fields (no HTTP token holds one). */
const methodKey = (s: string | undefined): string | undefined => (s?.includes('/') ? undefined : nonEmpty(s));

/**
 * The entry as literals, when each condition is an equality (src/l7/request-key.ts fieldsOf gives each
 * semantics' fields; these must mean the same): undefined when any condition is a pattern.
 */
export function exactEntry(semantics: HttpSemantics, rule: HttpRule): ExactEntry | undefined {
  switch (semantics) {
    case 'envoy-regex': {
      // Empty fields match anything; only headers without a mismatch action take part in matching.
      if (rule.host) return undefined;
      if ((rule.headers ?? []).some((h) => h.mismatch === undefined)) return undefined;
      const method = rule.method ? methodKey(regexLiteral(rule.method)) : undefined;
      if (rule.method && method === undefined) return undefined;
      if (!rule.path) return method === undefined ? {} : { method };
      const value = nonEmpty(regexLiteral(rule.path));
      if (value === undefined) return undefined;
      return { ...(method === undefined ? {} : { method }), value, field: 'pathq' };
    }
    case 'calico-alp': {
      const method = rule.method === undefined || rule.method === '*' ? undefined : methodKey(rule.method);
      if (rule.method !== undefined && rule.method !== '*' && method === undefined) return undefined;
      if (rule.path === undefined) return method === undefined ? {} : { method };
      // Only `^literal$` is an equality; Calico's regex is searched, so anything else is a pattern.
      const m = /^\^(.*)\$$/s.exec(rule.path);
      const inner = m?.[1];
      if (inner === undefined) return undefined;
      const value = nonEmpty(regexLiteral(inner));
      if (value === undefined) return undefined;
      return { ...(method === undefined ? {} : { method }), value, field: 'path' };
    }
    case 'antrea-suricata': {
      // Suricata's method and host are content matches (substrings), so only a path-only entry is literal.
      if (rule.method !== undefined || rule.host !== undefined) return undefined;
      if (rule.path === undefined) return {};
      const value = rule.path.includes('*') ? undefined : nonEmpty(rule.path);
      return value === undefined ? undefined : { value, field: 'pathq' };
    }
  }
}

/** One cell: the method and path classes ('' is ⊥) and the index of the first entry matching it (-1: none). */
export interface ExactCell {
  readonly method: string;
  readonly value: string;
  readonly entry: number;
}

export interface ExactDirection {
  readonly field: ExactField;
  readonly cells: readonly ExactCell[];
}

/** The cells of a direction whose entries are all literals on one field, else undefined. */
export function exactDirection(
  entries: readonly { readonly semantics: HttpSemantics; readonly rule: HttpRule }[],
): ExactDirection | undefined {
  const literal: ExactEntry[] = [];
  for (const e of entries) {
    const x = exactEntry(e.semantics, e.rule);
    if (x === undefined) return undefined;
    literal.push(x);
  }
  const fields = new Set(literal.flatMap((x) => (x.field === undefined ? [] : [x.field])));
  if (fields.size > 1) return undefined;
  const field = [...fields][0] ?? 'pathq';
  const methods = ['', ...new Set(literal.flatMap((x) => (x.method === undefined ? [] : [x.method])))];
  const values = ['', ...new Set(literal.flatMap((x) => (x.value === undefined ? [] : [x.value])))];
  if (methods.length * values.length > EXACT_CELLS_LIMIT) return undefined;
  const cells: ExactCell[] = [];
  for (const method of methods) {
    for (const value of values) {
      const entry = literal.findIndex(
        (x) =>
          (x.method === undefined || x.method === method) && (x.value === undefined || x.value === value),
      );
      cells.push({ method, value, entry });
    }
  }
  return { field, cells };
}

/** The `exact.map` key of a cell; HAProxy builds the same from the request (haproxy-config.ts). */
export function exactKey(table: string, tag: 'E' | 'I', method: string, value: string): string {
  // A method is an HTTP token, which never holds `/`, so the key splits unambiguously.
  return `${table}/${tag}/${method}/${value}`;
}
