/**
 * One HTTP request as the node proxy sees it, flattened into one string, and each IR HTTP entry as one
 * PCRE (HAProxy's regex engine) over that string — so that a single `map_reg` lookup finds the first entry
 * of a decision table a request matches (src/engine/l7-table.ts), and policy changes are map edits, never
 * configuration edits.
 *
 * The key, fields separated by `\n` (which no field but the header block can hold, and which `.` in a
 * user's pattern does not match):
 *
 *   <table> \n <E|I> \n <method> \n <path?query> \n <path> \n <Host as sent> \n <host, no port, lower case> \n <header block>
 *
 * The header block is HAProxy's `req.hdrs`: `name: value\r\n` lines with lower-case names. A field is matched
 * by a lookahead at its start, `(?=(?:P)\n)`, so a pattern sees exactly its field; each semantics matches the
 * field its source says (src/engine/l7.ts httpRuleMatches, which these must equal).
 */
import type { HttpHeaderMatch, HttpRule, HttpSemantics } from '../ir/index.js';
import type { Direction } from '../ir/index.js';

/** HAProxy `set-var-fmt` expression of the key (the table id is in `txn.t`). */
export function keyFormat(direction: Direction): string {
  const d = direction === 'Egress' ? 'E' : 'I';
  return `%[var(txn.t)]\\n${d}\\n%[method]\\n%[pathq]\\n%[path]\\n%[var(txn.host)]\\n%[var(txn.hostonly)]\\n%[req.hdrs]`;
}

/** The same key built here, for tests: what HAProxy builds for this request. */
export function requestKey(
  table: string,
  direction: Direction,
  req: { method: string; path: string; headers: Readonly<Record<string, string>> },
): string {
  const host = Object.entries(req.headers).find(([k]) => k.toLowerCase() === 'host')?.[1] ?? '';
  const hdrs = Object.entries(req.headers)
    .map(([k, v]) => `${k.toLowerCase()}: ${v}\r\n`)
    .join('');
  const pathOnly = req.path.split('?')[0] ?? '';
  return [
    table,
    direction === 'Egress' ? 'E' : 'I',
    req.method,
    req.path,
    pathOnly,
    host,
    hostOnly(host),
    hdrs + '\r\n',
  ].join('\n');
}

function hostOnly(host: string): string {
  const h = host.toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  return h.replace(/:\d*$/, '');
}

/** A literal as a PCRE. */
export function literal(s: string): string {
  return s.replace(/[\\^$.|?*+()[\]{}/#-]/g, '\\$&');
}

/**
 * A pattern fit for a map file key and the runtime API: no raw space, tab or line break (each ends a key),
 * written as escapes PCRE reads back as the same characters.
 */
export function mapSafe(re: string): string {
  return re.replace(/ /g, '\\x20').replace(/\t/g, '\\t').replace(/\r/g, '\\r').replace(/\n/g, '\\n');
}

const ANY = '[^\\n]*';

/** The field matches `re` in full. */
function full(re: string): string {
  return `(?=(?:${re})\\n)${ANY}`;
}

/** Antrea's glob (src/engine/l7.ts antreaGlobMatch): `*` only at either end. */
function glob(pattern: string): string {
  const anyStart = pattern.startsWith('*');
  const body = pattern.slice(anyStart ? 1 : 0);
  const anyEnd = body.endsWith('*');
  const c = literal(anyEnd ? body.slice(0, -1) : body);
  if (anyStart && anyEnd) return `(?=${ANY}${c})${ANY}`;
  if (anyStart) return `(?=${ANY}${c}\\n)${ANY}`;
  if (anyEnd) return `(?=${c})${ANY}`;
  return full(c);
}

/**
 * Calico's path regex is searched, not fully matched (new RegExp(p).test): the dialect writes `^x$` (exact)
 * and `^x` (prefix); a leading `^` is the field start, a trailing unescaped `$` the field end.
 */
function searched(re: string): string {
  const anchored = re.startsWith('^');
  let body = anchored ? re.slice(1) : re;
  const ends = /(^|[^\\])(\\\\)*\$$/.test(body);
  if (ends) body = body.slice(0, -1);
  const lead = anchored ? '' : `${ANY}?`;
  return `(?=${lead}(?:${body})${ends ? '\\n' : ''})${ANY}`;
}

function headerLookahead(h: HttpHeaderMatch): string {
  // HAProxy hands header names over in lower case (HTX), whatever the client sent.
  const name = literal(h.name.toLowerCase());
  const value = h.value === undefined ? '' : `[ \\t]*${literal(h.value)}[ \\t]*\\r\\n`;
  return `(?=[\\s\\S]*\\n${name}:${value})`;
}

interface Fields {
  method?: string;
  pathq?: string;
  path?: string;
  host?: string;
  hostOnly?: string;
  headers?: readonly HttpHeaderMatch[];
}

function fieldsOf(semantics: HttpSemantics, rule: HttpRule): Fields {
  switch (semantics) {
    case 'envoy-regex':
      // Empty fields match anything ("If omitted or empty, all … are allowed", pkg/policy/api/http.go);
      // headers with a mismatch action keep the rule matching, so only the others take part.
      return {
        ...(rule.method ? { method: full(rule.method) } : {}),
        ...(rule.path ? { pathq: full(rule.path) } : {}),
        ...(rule.host ? { host: full(rule.host) } : {}),
        headers: (rule.headers ?? []).filter((h) => h.mismatch === undefined),
      };
    case 'calico-alp':
      return {
        ...(rule.method !== undefined && rule.method !== '*' ? { method: full(literal(rule.method)) } : {}),
        ...(rule.path !== undefined ? { path: searched(rule.path) } : {}),
      };
    case 'antrea-suricata':
      return {
        ...(rule.method !== undefined ? { method: `(?=${ANY}${literal(rule.method)})${ANY}` } : {}),
        ...(rule.path !== undefined ? { pathq: glob(rule.path) } : {}),
        ...(rule.host !== undefined ? { hostOnly: glob(rule.host) } : {}),
      };
  }
}

/** The PCRE (map-safe) that matches the key of every request of `table`/`direction` the entry matches. */
export function entryPattern(
  table: string,
  direction: Direction,
  semantics: HttpSemantics,
  rule: HttpRule,
): string {
  const f = fieldsOf(semantics, rule);
  const d = direction === 'Egress' ? 'E' : 'I';
  const parts = [f.method, f.pathq, f.path, f.host, f.hostOnly].map((p) => p ?? ANY);
  const headers = (f.headers ?? []).map(headerLookahead).join('');
  // The header lookaheads sit before the last field's line break, which they need to find the first line.
  return mapSafe(`^${literal(table)}\\n${d}\\n${parts.join('\\n')}${headers}\\n`);
}
