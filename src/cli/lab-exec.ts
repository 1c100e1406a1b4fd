import type { Command } from 'commander';
import type { PodStatus } from '../lab/daemon/protocol.js';
import { execInNetns } from '../lab/exec.js';
import { ChildExit, UsageError } from './exit-codes.js';
import { TIMEOUTS, addIdOption, request } from './lab-common.js';

interface ExecOptions {
  id: string;
}

const USAGE = 'palisade lab exec NS/POD -- CMD [ARG...]';

/** The pod key and the argv to run, checked before the lab is asked anything. */
export function parseExecArgs(pod: string, command: readonly string[]): { pod: string; argv: string[] } {
  if (!/^[^/\s]+\/[^/\s]+$/.test(pod)) throw new UsageError(`exec ${pod}: expected NAMESPACE/POD (${USAGE})`);
  if (command.length === 0 || command[0] === '') throw new UsageError(`exec ${pod}: missing CMD (${USAGE})`);
  return { pod, argv: [...command] };
}

/** The pod `key` of lab `id`; an unknown one is a usage error that lists the pods there are. */
export function findPod(id: string, pods: readonly PodStatus[], key: string): PodStatus {
  const pod = pods.find((p) => p.pod === key);
  if (pod !== undefined) return pod;
  const known = pods.map((p) => p.pod).join(', ');
  throw new UsageError(
    `lab ${id} has no pod ${key}; ${known === '' ? 'it has no pods' : `its pods: ${known}`}`,
  );
}

export function registerLabExec(lab: Command): void {
  addIdOption(
    lab
      .command('exec')
      .description(
        "run CMD in a pod's network namespace, with this terminal's stdin, stdout and stderr; " +
          "exits with CMD's exit code (128+N after signal N)",
      )
      .usage('[--id ID] NS/POD -- CMD [ARG...]')
      .argument('<pod>', 'the pod, as NAMESPACE/POD')
      .argument('[command...]', 'the command and its arguments, after --; run as given, without a shell'),
  ).action(async (podArg: string, command: string[], opts: ExecOptions) => {
    const { pod: key, argv } = parseExecArgs(podArg, command);
    const status = await request(opts.id, { op: 'status' }, TIMEOUTS.status);
    const pod = findPod(opts.id, status.pods, key);
    const code = await execInNetns(pod.netns, argv);
    if (code !== 0) throw new ChildExit(code);
  });
}
