import type { Command } from 'commander';
import { describeDatastore, extractObjects, writeObjects } from '../agent/index.js';
import type { DatastoreSpec, WriteResult } from '../agent/index.js';
import { readSources } from '../dialects/index.js';
import { DEFAULT_DATASTORE, parseDatastoreOption } from './agent.js';
import { collect } from './collect.js';
import { UsageError } from './exit-codes.js';
import { formatDiagnostics } from './format-diagnostics.js';

interface WriteOptions {
  filename: string[];
  datastore: DatastoreSpec;
}

/** Shared by apply and delete: read, validate (nothing is written if any object is invalid), write. */
export function registerWriteVerb(program: Command, op: 'apply' | 'delete'): void {
  program
    .command(op)
    .description(
      op === 'apply'
        ? 'store objects in the datastore the agents watch'
        : 'remove objects from the datastore',
    )
    .requiredOption(
      '-f, --filename <path...>',
      'manifest files or directories (recursive), - for stdin',
      collect,
      [],
    )
    .option(
      '--datastore <ds>',
      'dir:PATH or etcd:URL[,URL…]',
      parseDatastoreOption,
      parseDatastoreOption(DEFAULT_DATASTORE),
    )
    .exitOverride()
    .action(async (opts: WriteOptions) => {
      const read = await readSources(opts.filename);
      const extracted = extractObjects(read.value, op === 'apply');
      const diagnostics = [
        ...read.diagnostics,
        ...(extracted.ok ? extracted.warnings : extracted.diagnostics),
      ];
      if (diagnostics.length > 0) process.stderr.write(`${formatDiagnostics(diagnostics)}\n`);
      if (!extracted.ok || read.diagnostics.length > 0)
        throw new UsageError(
          `errors in the input; nothing was written to ${describeDatastore(opts.datastore)}`,
        );
      let r: WriteResult;
      try {
        r = await writeObjects(opts.datastore, extracted.objects, op);
      } catch (e) {
        // An unreachable datastore is the user's to fix, not a bug: no stack trace.
        throw new UsageError(
          `${describeDatastore(opts.datastore)}: ${e instanceof Error ? e.message : String(e)}`,
        );
      }
      const verb = op === 'apply' ? 'stored' : 'deleted';
      for (const k of r.done) process.stdout.write(`${verb} ${k}\n`);
      for (const k of r.missing) process.stdout.write(`not found ${k}\n`);
    });
}

export function registerApply(program: Command): void {
  registerWriteVerb(program, 'apply');
}
