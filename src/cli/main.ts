#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { registerAnalyzeExplain } from './analyze-explain.js';
import { registerAnalyzeMatrix } from './analyze-matrix.js';
import { EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, UsageError } from './exit-codes.js';
import { registerLint } from './lint.js';

/** The verb table: each verb lives in its own file and registers itself on its parent command. */
function buildProgram(): Command {
  const program = new Command('palisade')
    .description('Kubernetes network policy: analyze, explain and enforce every dialect in one model')
    .version('0.1.0')
    .exitOverride()
    .showHelpAfterError();
  const analyze = program
    .command('analyze')
    .description('compute what policies allow, without a cluster')
    .exitOverride();
  registerAnalyzeMatrix(analyze);
  registerAnalyzeExplain(analyze);
  for (const c of analyze.commands) c.exitOverride();
  registerLint(program);
  return program;
}

async function main(argv: readonly string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return EXIT_OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version land here too, with exit code 0.
      return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`palisade: ${err.message}\n`);
      return EXIT_USAGE;
    }
    process.stderr.write(
      `palisade: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    return EXIT_INTERNAL;
  }
}

process.exitCode = await main(process.argv);
