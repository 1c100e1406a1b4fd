// `palisade lab status` as a table (src/cli/lab-status.ts): the AGENTS section shows each node agent's
// restarts and how its last process ended, from the daemon's JSON.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatStatus } from '../../src/cli/lab-status.js';
import type { AgentNodeStatus, LabStatus } from '../../src/lab/daemon/protocol.js';

const NOW = Date.parse('2026-12-07T10:00:30.000Z');

function status(agents: AgentNodeStatus[]): LabStatus {
  return {
    id: 't',
    pid: 10,
    startedAt: '2026-12-07T10:00:00.000Z',
    uptimeMs: 30_000,
    routing: 'native',
    datapath: 'nftables',
    sctpMode: 'kernel',
    revision: 3,
    socket: '/run/t/lab.sock',
    log: '/run/t/daemon.log',
    nodes: [],
    pods: [],
    policies: [],
    enforcer: 'agents',
    agents,
  };
}

/** The AGENTS section's rows, split into columns. */
function agentRows(text: string): string[][] {
  const lines = text.split('\n');
  const start = lines.indexOf('AGENTS');
  const end = lines.indexOf('', start);
  return lines.slice(start + 1, end).map((l) => l.split(/ {2,}/));
}

describe('lab status table', () => {
  it('shows restarts and the last exit (signal or code, time) per agent', () => {
    const rows = agentRows(
      formatStatus(
        status([
          {
            node: 'n1',
            pid: 101,
            state: 'ready',
            appliedRevision: '3',
            syncs: 4,
            failures: 0,
            endpoints: 1,
            restarts: 1,
            lastExit: { code: null, signal: 'SIGKILL', at: '2026-12-07T10:00:18.000Z' },
          },
          { node: 'n2', pid: 102, state: 'ready', appliedRevision: '3', syncs: 3, failures: 0, restarts: 0 },
          {
            node: 'n3',
            pid: 0,
            state: 'restarting',
            restarts: 4,
            lastExit: { code: 1, signal: null, at: '2026-12-07T10:00:29.000Z' },
            nextRestartAt: '2026-12-07T10:00:35.000Z',
          },
        ]),
        NOW,
      ),
    );
    assert.deepEqual(rows[0], [
      'NODE',
      'PID',
      'STATE',
      'REVISION',
      'SYNCS',
      'FAILURES',
      'ENDPOINTS',
      'RESTARTS',
      'LAST EXIT',
      'ERROR',
    ]);
    assert.deepEqual(rows[1], [
      'n1',
      '101',
      'ready',
      '3',
      '4',
      '0',
      '1',
      '1',
      'SIGKILL at 2026-12-07T10:00:18Z (12s ago)',
    ]);
    assert.deepEqual(rows[2], ['n2', '102', 'ready', '3', '3', '0', '-', '0', '-']);
    assert.deepEqual(rows[3], [
      'n3',
      '-',
      'restarting',
      '-',
      '-',
      '-',
      '-',
      '4',
      'code 1 at 2026-12-07T10:00:29Z (1s ago)',
      'restart due in 5s',
    ]);
  });
});
