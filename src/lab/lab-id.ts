/**
 * Lab ids and the names that carry them. Pure. Several labs may run on one machine at once (parallel
 * test runs, two engineers); each one's netns are `pal-<id>.<what>`, and an id never contains a dot, so
 * "which lab owns this netns" has exactly one answer (`pal-t-1.x` is lab `t-1`, never lab `t`).
 */

/** Every lab object carries this prefix so that `labDown({ all: true })` can find leftovers of any run. */
export const LAB_PREFIX = 'pal-';
export const DEFAULT_LAB_ID = 'default';

const ID = /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/;

export function isLabId(id: string): boolean {
  return ID.test(id);
}

/** `pal-<id>.`: the prefix of every netns of lab `id`. */
export function labNetnsPrefix(id: string): string {
  return `${LAB_PREFIX}${id}.`;
}

export function labNetnsName(id: string, what: string): string {
  return labNetnsPrefix(id) + what;
}

/** The lab a netns name belongs to; undefined for names not of the form `pal-<id>.<what>`. */
export function labIdOfNetns(name: string): string | undefined {
  if (!name.startsWith(LAB_PREFIX)) return undefined;
  const dot = name.indexOf('.', LAB_PREFIX.length);
  if (dot < 0 || dot === name.length - 1) return undefined;
  const id = name.slice(LAB_PREFIX.length, dot);
  return isLabId(id) ? id : undefined;
}

/**
 * What `labDown` removes: one lab; every `pal-` object on the machine (crash recovery, `lab down --all`);
 * or every lab whose owning process is gone (safe while other labs run).
 */
export type DownScope = { readonly id: string } | { readonly all: true } | { readonly stale: true };

/** Whether a netns name falls under an `id` or `all` scope. */
export function netnsInScope(name: string, scope: { readonly id: string } | { readonly all: true }): boolean {
  if ('all' in scope) return name.startsWith(LAB_PREFIX);
  return labIdOfNetns(name) === scope.id;
}
