#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { registerAgent } from './agent.js';
import { registerAnalyzeExplain } from './analyze-explain.js';
import { registerAnalyzeMatrix } from './analyze-matrix.js';
import { registerBenchCni } from './bench-cni.js';
import { registerBenchDatapath } from './bench-datapath.js';
import { registerBenchL7 } from './bench-l7.js';
import { registerBenchSync } from './bench-sync.js';
import { registerApply } from './apply.js';
import { registerDelete } from './delete.js';
import { registerDemo } from './demo.js';
import { registerFlows } from './flows.js';
import { ChildExit, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, exitCodeOf } from './exit-codes.js';
import { registerLabApply } from './lab-apply.js';
import { registerLabDelete } from './lab-delete.js';
import { registerLabDown } from './lab-down.js';
import { registerLabExec } from './lab-exec.js';
import { registerLabLabel } from './lab-label.js';
import { registerLabProbe } from './lab-probe.js';
import { registerLabServe } from './lab-serve.js';
import { registerLabStatus } from './lab-status.js';
import { registerLabUp } from './lab-up.js';
import { registerLint } from './lint.js';
import { registerStatus } from './status.js';

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
  const bench = program
    .command('bench')
    .description('measure the datapaths on a lab of network namespaces (root)')
    .exitOverride();
  registerBenchDatapath(bench);
  registerBenchCni(bench);
  registerBenchSync(bench);
  registerBenchL7(bench);
  for (const c of bench.commands) c.exitOverride();
  const lab = program
    .command('lab')
    .description('a cluster of network namespaces on this machine, enforcing policies on real packets (root)')
    .exitOverride();
  registerLabUp(lab);
  registerLabProbe(lab);
  registerLabApply(lab);
  registerLabDelete(lab);
  registerLabLabel(lab);
  registerLabStatus(lab);
  registerLabExec(lab);
  registerLabDown(lab);
  registerLabServe(lab);
  for (const c of lab.commands) c.exitOverride();
  registerDemo(program);
  registerAgent(program);
  registerStatus(program);
  registerFlows(program);
  registerApply(program);
  registerDelete(program);
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
    const code = exitCodeOf(err);
    if (err instanceof ChildExit) return code;
    if (code !== EXIT_INTERNAL && err instanceof Error) process.stderr.write(`palisade: ${err.message}\n`);
    else
      process.stderr.write(
        `palisade: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
    return code;
  }
}

process.exitCode = await main(process.argv);
