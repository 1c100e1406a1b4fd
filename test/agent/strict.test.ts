import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { describe, it } from 'node:test';
import { parseConntrackLine, planCuts, reconcile } from '../../src/agent/index.js';
import type { ConntrackEntry } from '../../src/agent/index.js';
import { groupMarkArgs, listConntrack, markConntrack, tupleText } from '../../src/agent/conntrack.js';
import { STRICT_CUT_MARK } from '../../src/datapath/index.js';
import { DENY_ALL, NAMESPACE, NODE, allowBToA, json, pod } from './support.js';

const A = '10.77.0.10';
const B = '10.77.0.11';
/** A pod on another node: its ingress is that node's agent's business. */
const R = '10.77.1.20';
const NODE_IP = '10.77.0.1';

const remotePod = {
  ...pod('r', R),
  spec: { nodeName: 'n2', containers: [{ name: 'c', ports: [{ containerPort: 80 }] }] },
};

const applied = reconcile(
  new Map([
    ['ns', json(NAMESPACE)],
    ['a', json(pod('a', A))],
    ['b', json(pod('b', B))],
    ['r', json(remotePod)],
    ['deny', json(DENY_ALL)],
    ['allow', json(allowBToA(80))],
  ]),
  new Map(),
  { node: NODE },
);

function tcp(
  src: string,
  sport: number,
  dst: string,
  dport: number,
  state = 'ESTABLISHED',
  mark = 0,
): string {
  return (
    `ipv4     2 tcp      6 431999 ${state} src=${src} dst=${dst} sport=${sport} dport=${dport} ` +
    `src=${dst} dst=${src} sport=${dport} dport=${sport} [ASSURED] mark=${mark} use=1`
  );
}

describe('parseConntrackLine', () => {
  const cases: { name: string; line: string; want: ConntrackEntry | undefined }[] = [
    {
      name: 'established TCP: original and reply tuples',
      line: tcp(A, 40000, B, 80),
      want: {
        family: 'ipv4',
        proto: 'tcp',
        state: 'ESTABLISHED',
        src: A,
        dst: B,
        sport: 40000,
        dport: 80,
        replySrc: B,
        replySport: 80,
        mark: 0,
      },
    },
    {
      name: "other software's bits and ours in the mark, as conntrack prints it (decimal)",
      line: tcp(A, 40000, B, 80, 'ESTABLISHED', 0x00100007),
      want: {
        family: 'ipv4',
        proto: 'tcp',
        state: 'ESTABLISHED',
        src: A,
        dst: B,
        sport: 40000,
        dport: 80,
        replySrc: B,
        replySport: 80,
        mark: 0x00100007,
      },
    },
    {
      name: 'unreplied UDP over IPv6, addresses made canonical',
      line: 'ipv6     10 udp      17 29 src=fd00:0::1 dst=fd00::2 sport=5353 dport=53 [UNREPLIED] src=fd00::2 dst=fd00::1 sport=53 dport=5353 mark=0 use=1',
      want: {
        family: 'ipv6',
        proto: 'udp',
        src: 'fd00::1',
        dst: 'fd00::2',
        sport: 5353,
        dport: 53,
        replySrc: 'fd00::2',
        replySport: 53,
        mark: 0,
      },
    },
    {
      name: 'ICMP has no ports',
      line: `ipv4     2 icmp     1 29 src=${A} dst=${B} type=8 code=0 id=5 src=${B} dst=${A} type=0 code=0 id=5 mark=0 use=1`,
      want: { family: 'ipv4', proto: 'icmp', src: A, dst: B, replySrc: B, mark: 0 },
    },
    {
      name: 'DNAT: the reply source is the real destination',
      line: `ipv4     2 tcp      6 100 ESTABLISHED src=${A} dst=10.96.0.10 sport=41000 dport=8080 src=${B} dst=${A} sport=80 dport=41000 [ASSURED] mark=0 use=1`,
      want: {
        family: 'ipv4',
        proto: 'tcp',
        state: 'ESTABLISHED',
        src: A,
        dst: '10.96.0.10',
        sport: 41000,
        dport: 8080,
        replySrc: B,
        replySport: 80,
        mark: 0,
      },
    },
    {
      name: 'a kernel without ct marks prints none',
      line: `ipv4     2 udp      17 29 src=${A} dst=${B} sport=5353 dport=53 src=${B} dst=${A} sport=53 dport=5353 use=1`,
      want: {
        family: 'ipv4',
        proto: 'udp',
        src: A,
        dst: B,
        sport: 5353,
        dport: 53,
        replySrc: B,
        replySport: 53,
      },
    },
    {
      name: 'the summary line conntrack prints',
      line: 'conntrack v1.4.7 (conntrack-tools): 4 flow entries have been shown.',
      want: undefined,
    },
    { name: 'a truncated line', line: `ipv4     2 tcp      6 10 ESTABLISHED src=${A}`, want: undefined },
    { name: 'an unreadable address', line: tcp('10.0.0.300', 1, B, 80), want: undefined },
    { name: 'empty', line: '', want: undefined },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(parseConntrackLine(c.line), c.want));

  it('groups mark updates by everything but the source port, setting only our bit', () => {
    const e = parseConntrackLine(tcp(A, 40000, B, 80));
    assert.ok(e);
    assert.equal(
      groupMarkArgs(e, STRICT_CUT_MARK).join(' '),
      `-U -s ${A} -d ${B} -r ${B} -p tcp --dport 80 --reply-port-src 80 --mark 0x00100000/0x00100000`,
    );
    assert.equal(tupleText(e), `tcp ${A}:40000 -> ${B}:80`);
  });

  it('clears only our bit when a cut connection is allowed again', () => {
    const e = parseConntrackLine(tcp(A, 40000, B, 80));
    assert.ok(e);
    assert.deepEqual(groupMarkArgs(e, STRICT_CUT_MARK, true).slice(-2), ['--mark', '0x00000000/0x00100000']);
  });
});

describe('planCuts', () => {
  const cases: {
    name: string;
    line: string;
    cut: RegExp | false;
    evaluated: number;
    /** Cut by an earlier sweep and allowed again: the plan clears its mark. */
    restore?: boolean;
  }[] = [
    { name: 'still allowed (b → a:80)', line: tcp(B, 40000, A, 80), cut: false, evaluated: 1 },
    {
      name: 'ingress of a local pod now isolated (a → b:80)',
      line: tcp(A, 40001, B, 80),
      cut: /ingress of pal\/b: isolated by NetworkPolicy\/pal\/default-deny/,
      evaluated: 1,
    },
    {
      name: 'port no longer allowed (b → a:81)',
      line: tcp(B, 40002, A, 81),
      cut: /ingress of pal\/a/,
      evaluated: 1,
    },
    {
      name: 'from a pod on another node into a local pod',
      line: tcp(R, 40003, A, 81),
      cut: /ingress of pal\/a/,
      evaluated: 1,
    },
    {
      name: "into a pod on another node: that node's ingress, not ours",
      line: tcp(A, 40004, R, 81),
      cut: false,
      evaluated: 1,
    },
    {
      name: 'opened by the node itself (never filtered)',
      line: tcp(NODE_IP, 40005, A, 81),
      cut: false,
      evaluated: 0,
    },
    {
      name: 'no pod of this node',
      line: tcp('192.0.2.1', 40006, '198.51.100.1', 80),
      cut: false,
      evaluated: 0,
    },
    { name: 'finished (TIME_WAIT)', line: tcp(A, 40007, B, 80, 'TIME_WAIT'), cut: false, evaluated: 0 },
    {
      name: 'denied but cut by an earlier sweep (our mark bit set): stays cut',
      line: tcp(A, 40008, B, 80, 'ESTABLISHED', STRICT_CUT_MARK | 0x4000),
      cut: false,
      evaluated: 1,
    },
    {
      name: 'cut by an earlier sweep and allowed again (b → a:80): its mark is cleared',
      line: tcp(B, 40010, A, 80, 'ESTABLISHED', STRICT_CUT_MARK | 0x4000),
      cut: false,
      evaluated: 1,
      restore: true,
    },
    {
      name: 'a cut UDP flow still denied (only TCP/80 is allowed into a): stays cut',
      line: `ipv4     2 udp      17 119 src=${B} dst=${A} sport=5000 dport=80 src=${A} dst=${B} sport=80 dport=5000 [ASSURED] mark=${STRICT_CUT_MARK} use=1`,
      cut: false,
      evaluated: 1,
    },
    {
      name: 'cut earlier, finished since (TIME_WAIT): left to the kernel',
      line: tcp(B, 40011, A, 80, 'TIME_WAIT', STRICT_CUT_MARK),
      cut: false,
      evaluated: 0,
    },
    {
      name: "allowed, other software's mark bits only: nothing to clear",
      line: tcp(B, 40012, A, 80, 'ESTABLISHED', 0x4000),
      cut: false,
      evaluated: 1,
    },
    {
      name: "denied, other software's mark bits only: still cut",
      line: tcp(A, 40009, B, 80, 'ESTABLISHED', 0x4000 | 0x8000),
      cut: /ingress of pal\/b/,
      evaluated: 1,
    },
    {
      name: 'through DNAT, judged by the real destination',
      line: `ipv4     2 tcp      6 100 ESTABLISHED src=${A} dst=10.96.0.10 sport=41000 dport=8080 src=${B} dst=${A} sport=80 dport=41000 [ASSURED] mark=0 use=1`,
      cut: /ingress of pal\/b/,
      evaluated: 1,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const e = parseConntrackLine(c.line);
      assert.ok(e, c.line);
      const plan = planCuts([e], {
        model: applied.model,
        rules: applied.rules,
        localAddresses: new Set([NODE_IP, '127.0.0.1']),
      });
      assert.equal(plan.evaluated, c.evaluated);
      assert.deepEqual(plan.restore, c.restore === true ? [e] : []);
      if (c.cut === false) assert.deepEqual(plan.cut, []);
      else {
        assert.equal(plan.cut.length, 1);
        assert.match(plan.cut[0]?.reason ?? '', c.cut);
      }
    });
  }

  it('counts ICMP of local pods as not evaluated and leaves it', () => {
    const e = parseConntrackLine(
      `ipv4     2 icmp     1 29 src=${B} dst=${A} type=8 code=0 id=5 src=${A} dst=${B} type=0 code=0 id=5 mark=0 use=1`,
    );
    assert.ok(e);
    const plan = planCuts([e], { model: applied.model, rules: applied.rules, localAddresses: new Set() });
    assert.deepEqual([plan.cut.length, plan.evaluated, plan.unevaluated], [0, 0, 1]);
  });
});

/**
 * Strict mode runs inside the agent's sync loop: a conntrack, ip or pal-ct-mark that never returns must
 * not stop it. Stand-ins that hang, found first on PATH or given as the helper.
 */
describe('strict mode tools are bounded', () => {
  const hanging = async (dir: string, name: string): Promise<string> => {
    const path = join(dir, name);
    await writeFile(path, '#!/bin/sh\nexec sleep 30\n');
    await chmod(path, 0o755);
    return path;
  };

  it('a conntrack listing that hangs is killed and fails the sweep', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pal-strict-tools-'));
    const path = process.env['PATH'];
    try {
      await hanging(dir, 'conntrack');
      process.env['PATH'] = `${dir}${delimiter}${path ?? ''}`;
      const t0 = Date.now();
      await assert.rejects(
        listConntrack(undefined, 10, 200),
        /conntrack -L -f ipv4 -o extended: killed after 200 ms/,
      );
      assert.ok(Date.now() - t0 < 5000);
    } finally {
      process.env['PATH'] = path;
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a mark helper that hangs is killed and fails the sweep', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pal-strict-tools-'));
    try {
      const helper = await hanging(dir, 'pal-ct-mark');
      const e = parseConntrackLine(tcp(A, 40000, B, 80));
      assert.ok(e);
      const t0 = Date.now();
      await assert.rejects(
        markConntrack(undefined, [e], STRICT_CUT_MARK, { helper, timeoutMs: 200 }),
        /killed after 200 ms/,
      );
      assert.ok(Date.now() - t0 < 5000);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
