/**
 * The semantic case table (test/fixtures/cases): each case file starts with a `kind: Case` document naming
 * its cluster and the expected truth tables; the rest of the file is ordinary manifests. The engine tests
 * and the lab proof both read it, so one table drives both routes.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { Source } from '../../src/dialects/index.js';
import type { Protocol } from '../../src/ir/index.js';

export const CASES_DIR = join(import.meta.dirname, '../../../test/fixtures/cases');

export interface ExpectedCell {
  readonly from: string;
  readonly to: string;
  readonly port: number;
  readonly protocol: Protocol;
  readonly allowed: boolean;
}

export interface Case {
  readonly name: string;
  readonly description: string;
  readonly sources: readonly Source[];
  readonly targets: readonly { port: number; protocol: Protocol }[];
  readonly pods: readonly string[];
  readonly expected: readonly ExpectedCell[];
}

/** Parses one truth table: header `- a b c`, then one row per source with `.` or `X` per destination. */
export function parseTruthTable(
  text: string,
  port: number,
  protocol: Protocol,
): { pods: string[]; cells: ExpectedCell[] } {
  const rows = text
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/));
  const [header, ...body] = rows;
  if (!header || header[0] !== '-') throw new Error(`truth table must start with "-": ${text}`);
  const pods = header.slice(1);
  const cells: ExpectedCell[] = [];
  for (const row of body) {
    const [from, ...marks] = row;
    if (!from || marks.length !== pods.length) throw new Error(`bad truth table row: ${row.join(' ')}`);
    marks.forEach((m, i) => {
      if (m !== '.' && m !== 'X') throw new Error(`bad cell "${m}" in row ${from}`);
      cells.push({ from, to: pods[i] as string, port, protocol, allowed: m === '.' });
    });
  }
  return { pods, cells };
}

export function loadCase(file: string): Case {
  const text = readFileSync(join(CASES_DIR, file), 'utf8');
  const docs = parseAllDocuments(text);
  const first = docs[0];
  if (!first || Array.isArray(first)) throw new Error(`${file}: no case document`);
  const meta = first.toJS() as { kind?: string; cluster?: string; expect?: Record<string, string> };
  if (meta.kind !== 'Case' || !meta.cluster || !meta.expect)
    throw new Error(`${file}: first document must be a Case`);
  const description = (text.split('\n')[0] ?? '').replace(/^#\s*/, '');
  // Everything after the first document separator is ordinary manifests.
  const sep = text.indexOf('\n---\n');
  const manifests = sep < 0 ? '' : text.slice(sep + 5);
  const clusterText = readFileSync(join(CASES_DIR, meta.cluster), 'utf8');
  const targets: { port: number; protocol: Protocol }[] = [];
  const expected: ExpectedCell[] = [];
  let pods: string[] = [];
  for (const [key, table] of Object.entries(meta.expect)) {
    const [protocol, port] = key.split('/') as [Protocol, string];
    targets.push({ port: Number(port), protocol });
    const parsed = parseTruthTable(table, Number(port), protocol);
    pods = parsed.pods;
    expected.push(...parsed.cells);
  }
  return {
    name: file.replace(/\.yaml$/, ''),
    description,
    sources: [
      { file: meta.cluster, text: clusterText },
      { file, text: manifests },
    ],
    targets,
    pods,
    expected,
  };
}

export function loadCases(): Case[] {
  return readdirSync(CASES_DIR)
    .filter((f) => f.endsWith('.yaml') && !f.startsWith('cluster-'))
    .sort()
    .map(loadCase);
}
