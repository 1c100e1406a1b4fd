/**
 * How the shared conformance suites run once per registered datapath backend (STYLE.md 12; hono's
 * `src/router/common.case.test.ts` is the model: one suite function, every implementation runs it). A
 * case that needs a capability a backend lacks is skipped with the capability's name, taken from the
 * backend's capability record (src/datapath/backend.ts), never from a list of test names: either the case
 * says what it needs (`skipUnless`), or the backend's own compile reports the rules it left out
 * (`skipIfUnsupported`), and then each must name a capability the record says is missing, or the case
 * fails.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { TestContext } from 'node:test';
import { formatUnsupported, lackReason } from '../../src/datapath/index.js';
import type {
  ApplyResult,
  Capability,
  DatapathBackend,
  NodeDatapath,
  NodeRules,
  Unsupported,
} from '../../src/datapath/index.js';

const present = new Map<string, boolean>();
const hasTool = (cmd: string): boolean => {
  let ok = present.get(cmd);
  if (ok === undefined) present.set(cmd, (ok = spawnSync(cmd, ['--version']).status === 0));
  return ok;
};

/** Why the backend cannot run on this host at all (a command it runs is missing), or false. */
export function backendUnavailable(backend: DatapathBackend): string | false {
  const missing = backend.tools.filter((t) => !hasTool(t));
  return missing.length === 0 ? false : `${backend.name} needs ${missing.join(', ')}, not installed`;
}

/** node:test `skip` for a case that needs `needs`: the capabilities the backend lacks, or false. */
export function skipUnless(backend: DatapathBackend, needs: readonly Capability[]): string | false {
  return backendUnavailable(backend) || (lackReason(backend, needs) ?? false);
}

/**
 * When the backend left part of a case's rules out, the case cannot hold on it: skips the test, naming
 * the capabilities, and returns true. A left-out rule under a capability the backend claims is a bug in
 * the backend: that fails.
 */
export function skipIfUnsupported(
  t: TestContext,
  backend: DatapathBackend,
  unsupported: readonly Unsupported[],
): boolean {
  if (unsupported.length === 0) return false;
  const claimed = unsupported.filter((u) => backend.capabilities[u.capability]);
  assert.deepEqual(
    claimed.map(formatUnsupported),
    [],
    `${backend.name} left out rules under capabilities its record claims`,
  );
  t.skip(
    lackReason(
      backend,
      unsupported.map((u) => u.capability),
    ),
  );
  return true;
}

/** Compiles and applies; undefined (and the test skipped) when the backend left part of the rules out. */
export async function compileAndApply(
  t: TestContext,
  dp: NodeDatapath,
  rules: NodeRules,
): Promise<ApplyResult | undefined> {
  const compiled = dp.compile(rules);
  if (skipIfUnsupported(t, dp.backend, compiled.unsupported)) return undefined;
  return dp.apply(compiled.desired);
}
