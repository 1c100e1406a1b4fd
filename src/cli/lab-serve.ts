import type { Command } from 'commander';
import { runLabDaemon } from '../lab/daemon/main.js';
import { UsageError } from './exit-codes.js';
import { addIdOption } from './lab-common.js';

/**
 * The lab daemon, started by `lab up` (hidden: it reads its build request on stdin and reports on fd 3,
 * which only `lab up` provides).
 */
export function registerLabServe(lab: Command): void {
  addIdOption(
    lab.command('serve', { hidden: true }).description('run the daemon of a lab (started by lab up)'),
  ).action(async (opts: { id: string }) => {
    const code = await runLabDaemon(opts.id);
    if (code !== 0) throw new UsageError(`lab ${opts.id}: the daemon did not start`);
  });
}
