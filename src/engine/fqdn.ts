/**
 * DNS name matching, each dialect as its own source defines it (FqdnSemantics in src/ir/peer.ts). Pure:
 * the same pattern and name always give the same answer; nothing here knows which dialect wrote a rule.
 *
 * Names reach the matchers in one canonical form (`canonicalName`): lower case, without the trailing dot
 * of an absolute name. Each matcher then puts back what its implementation compares against (Cilium
 * compares fully-qualified names with the dot, Antrea and network-policy-api names without it).
 */
import type { FqdnSemantics } from '../ir/peer.js';

/**
 * A DNS name as the engine keeps it: trimmed, lower case (DNS compares names case-insensitively, RFC 4343
 * §3; Cilium's proxy lower-cases the qname, pkg/fqdn/dnsproxy CheckAllowed; Antrea's fqdn.go
 * parseDNSResponse too), without one trailing dot (`example.com.` and `example.com` name the same node);
 * the root is ''.
 */
export function canonicalName(name: string): string {
  const n = name.trim().toLowerCase();
  return n.endsWith('.') ? n.slice(0, -1) : n;
}

/** Characters a DNS label may hold in Cilium's patterns (matchpattern allowedDNSCharsREGroup). */
const CILIUM_LABEL_CHAR = '[-a-z0-9_]';

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/**
 * Cilium's matchPattern (and matchName, which may not hold a `*`: the literal case) as pkg/fqdn/matchpattern
 * builds it (Cilium 1.19, matchpattern.go ToAnchoredRegexp and escapeRegexpCharacters):
 * - a pattern of stars alone, with or without a trailing dot (`*`, `**`, `*.`), matches every name and the
 *   root (`(^([-a-zA-Z0-9_]+[.])+$)|(^[.]$)`; language.rst: "`*` alone matches all names");
 * - otherwise the pattern is made fully qualified (Sanitize adds the trailing dot) and lower-cased;
 * - a leading run of two or more stars followed by a dot spans one or more whole labels (`**.cilium.io`
 *   matches `app.cilium.io` and `test.app.cilium.io` but not `cilium.io`: language.rst "DNS based", new in
 *   1.19 per its upgrade notes; before 1.19 it spanned one label, like `*.`);
 * - any other run of stars spans zero or more label characters, never a dot (`*.cilium.io` matches
 *   `sub.cilium.io`, not `cilium.io` nor `sub.sub.cilium.io`; `part*ial.com` matches `partial.com`);
 * - the name is compared fully qualified and lower-cased (dnsproxy CheckAllowed: ToLower(dns.Fqdn(name))).
 */
export function ciliumPatternRegex(pattern: string): RegExp {
  const p = pattern.trim().toLowerCase();
  if (/^\*+\.?$/.test(p)) return new RegExp(`^(?:(?:${CILIUM_LABEL_CHAR}+\\.)+|\\.)$`);
  const fq = p.endsWith('.') ? p : `${p}.`;
  let out = '';
  let i = 0;
  const lead = /^\*{2,}\./.exec(fq);
  if (lead !== null) {
    out = `(?:${CILIUM_LABEL_CHAR}+(?:\\.${CILIUM_LABEL_CHAR}+)*)\\.`;
    i = lead[0].length;
  }
  while (i < fq.length) {
    const c = fq[i] ?? '';
    if (c === '*') {
      while (fq[i + 1] === '*') i++;
      out += `${CILIUM_LABEL_CHAR}*`;
    } else out += escapeRegex(c);
    i++;
  }
  return new RegExp(`^${out}$`);
}

/**
 * network-policy-api DomainName (apis/v1alpha2 clusternetworkpolicy_types.go): "an exact match, or use the
 * wildcard specifier '*' to match one or more labels"; "'*' matches one or more entire labels [...] may only
 * be specified as a prefix"; `*.kubernetes.io` matches `www.kubernetes.io` and `latest.blog.kubernetes.io`
 * but not `kubernetes.io`. The validation pattern allows a trailing dot (an absolute name: the same name).
 * Case: DNS names compare case-insensitively (RFC 4343), which the type does not contradict.
 */
function networkPolicyApiMatches(pattern: string, name: string): boolean {
  const p = canonicalName(pattern);
  if (!p.startsWith('*.')) return name === p;
  const parent = p.slice(2);
  return name.length > parent.length + 1 && name.endsWith(`.${parent}`) && !name.startsWith('.');
}

/**
 * Antrea's `fqdn` (pkg/agent/controller/networkpolicy/fqdn.go): the expression is lower-cased
 * (fqdnToSelectorItem); with a `*` it becomes `^…$` with `.` literal and `*` → `.*` (toRegex: any
 * characters, dots included, so `*foobar.com` matches `foobar.com`, `www.foobar.com` and
 * `test.uswest.foobar.com`, as docs/antrea-network-policy.md "FQDN based filtering" says); without one it
 * must equal the name. The name is the answer's question, lower-cased with its trailing dot trimmed
 * (parseDNSResponse), while the expression keeps any trailing dot it was written with: such an expression
 * never matches (the dialect warns).
 */
function antreaMatches(pattern: string, name: string): boolean {
  const p = pattern.toLowerCase();
  if (!p.includes('*')) return name === p;
  const body = p.trim().split('*').map(escapeRegex).join('.*');
  return new RegExp(`^${body}$`).test(name);
}

const ciliumCache = new Map<string, RegExp>();

function ciliumMatches(pattern: string, name: string): boolean {
  let re = ciliumCache.get(pattern);
  if (re === undefined) {
    re = ciliumPatternRegex(pattern);
    if (ciliumCache.size > 4096) ciliumCache.clear();
    ciliumCache.set(pattern, re);
  }
  return re.test(name === '' ? '.' : `${name}.`);
}

/** Whether `name` (any case, with or without its trailing dot) is one `pattern` selects under `semantics`. */
export function fqdnMatches(semantics: FqdnSemantics, pattern: string, name: string): boolean {
  const n = canonicalName(name);
  switch (semantics) {
    case 'cilium':
      return ciliumMatches(pattern, n);
    case 'network-policy-api':
      return networkPolicyApiMatches(pattern, n);
    case 'antrea':
      return antreaMatches(pattern, n);
  }
}
