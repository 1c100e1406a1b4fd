import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FlowReader, parseHelperLine, silentLogger } from '../../../src/agent/index.js';
import type { KernelFlow } from '../../../src/agent/index.js';

describe('parseHelperLine', () => {
  const good: [string, string, unknown][] = [
    [
      'a denial from nflog',
      '{"source":"nflog","group":101,"prefix":"pal deny I kubernetes NetworkPolicy/pal/x","family":4,"src":"10.0.1.2","dst":"10.0.2.3","proto":6,"sport":40000,"dport":81,"ts":1700000000123,"in":"veth1"}',
      {
        kind: 'flow',
        source: 'nflog',
        group: 101,
        prefix: 'pal deny I kubernetes NetworkPolicy/pal/x',
        family: 4,
        src: '10.0.1.2',
        dst: '10.0.2.3',
        proto: 6,
        sport: 40000,
        dport: 81,
        ts: 1700000000123,
        in: 'veth1',
      },
    ],
    [
      'a conntrack NEW over IPv6',
      '{"source":"ct-new","family":6,"src":"fd00::1","dst":"fd00::2","proto":17,"sport":5000,"dport":53,"ts":1,"id":7}',
      {
        kind: 'flow',
        source: 'ct-new',
        family: 6,
        src: 'fd00::1',
        dst: 'fd00::2',
        proto: 17,
        sport: 5000,
        dport: 53,
        ts: 1,
      },
    ],
    [
      'an ICMP echo',
      '{"source":"ct-new","family":4,"src":"10.0.0.1","dst":"10.0.0.2","proto":1,"icmpType":8,"icmpCode":0,"ts":5}',
      {
        kind: 'flow',
        source: 'ct-new',
        family: 4,
        src: '10.0.0.1',
        dst: '10.0.0.2',
        proto: 1,
        icmpType: 8,
        icmpCode: 0,
        ts: 5,
      },
    ],
    [
      'a connection the node itself opened',
      '{"source":"ct-new","family":4,"src":"10.0.0.1","dst":"10.0.0.2","proto":6,"sport":1,"dport":2,"ts":5,"fromHost":true}',
      {
        kind: 'flow',
        source: 'ct-new',
        family: 4,
        src: '10.0.0.1',
        dst: '10.0.0.2',
        proto: 6,
        sport: 1,
        dport: 2,
        ts: 5,
        fromHost: true,
      },
    ],
    ['a loss report', '{"lost":3,"source":"nflog"}', { kind: 'lost', source: 'nflog', count: 3 }],
    [
      'ready',
      '{"ready":true,"nflog":true,"ct":false,"groups":[100,101]}',
      { kind: 'ready', nflog: true, ct: false },
    ],
    [
      'a helper error',
      '{"error":"nflog group 101: bind: Device or resource busy"}',
      { kind: 'error', message: 'nflog group 101: bind: Device or resource busy' },
    ],
  ];
  for (const [name, line, want] of good)
    it(`reads ${name}`, () => {
      const r = parseHelperLine(line);
      assert.ok(r.ok, JSON.stringify(r));
      assert.deepEqual(r.line, want);
    });

  const bad: [string, string, RegExp][] = [
    ['empty', '', /not JSON/],
    ['truncated', '{"source":"nflog","group":1', /not JSON/],
    ['binary noise', '\u0000\u0001garbage', /not JSON/],
    ['an array', '[1,2]', /not a JSON object/],
    [
      'an unknown source',
      '{"source":"x","family":4,"src":"1.2.3.4","dst":"1.2.3.4","proto":6,"ts":1}',
      /field source/,
    ],
    [
      'a bad address',
      '{"source":"ct-new","family":4,"src":"1.2.3.999","dst":"1.2.3.4","proto":6,"ts":1}',
      /field src/,
    ],
    [
      'a v6 address as v4',
      '{"source":"ct-new","family":4,"src":"fd00::1","dst":"1.2.3.4","proto":6,"ts":1}',
      /field src/,
    ],
    [
      'a port out of range',
      '{"source":"ct-new","family":4,"src":"1.2.3.4","dst":"1.2.3.4","proto":6,"dport":70000,"ts":1}',
      /field dport/,
    ],
    [
      'nflog without group',
      '{"source":"nflog","family":4,"src":"1.2.3.4","dst":"1.2.3.4","proto":6,"ts":1}',
      /field group/,
    ],
    ['a negative loss', '{"lost":-1}', /field lost/],
    ['a huge line', `{"x":"${'a'.repeat(5000)}"}`, /longer than/],
  ];
  for (const [name, line, want] of bad)
    it(`rejects ${name} without throwing`, () => {
      const r = parseHelperLine(line);
      assert.equal(r.ok, false);
      if (!r.ok) assert.match(r.error, want);
    });
});

describe('FlowReader', () => {
  it('runs the helper, passes good lines on, skips garbage, and stops it by closing stdin', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pal-flowd-fake-'));
    try {
      const fake = join(dir, 'fake-flowd');
      // Prints what a helper would, garbage included, then waits for stdin to close as pal-flowd does.
      await writeFile(
        fake,
        [
          '#!/bin/sh',
          'echo \'{"ready":true,"nflog":true,"ct":true}\'',
          "echo 'garbage {'",
          'echo \'{"source":"ct-new","family":4,"src":"10.0.0.1","dst":"10.0.0.2","proto":6,"sport":1,"dport":80,"ts":1}\'',
          'echo \'{"lost":2,"source":"nflog"}\'',
          'echo "args $*" >&2',
          'cat > /dev/null',
          '',
        ].join('\n'),
      );
      await chmod(fake, 0o755);
      const flows: KernelFlow[] = [];
      const lost: number[] = [];
      let ready = false;
      const r = new FlowReader({
        binary: fake,
        groups: [100, 101],
        log: silentLogger,
        onFlow: (f) => flows.push(f),
        onLost: (n) => lost.push(n),
        onReady: () => (ready = true),
      });
      assert.equal(r.start(), true);
      for (let i = 0; i < 100 && lost.length === 0; i++) await new Promise((res) => setTimeout(res, 20));
      await r.stop();
      assert.equal(ready, true);
      assert.deepEqual(
        flows.map((f) => f.dport),
        [80],
      );
      assert.deepEqual(lost, [2]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a missing helper binary disables flows instead of failing', () => {
    const logged: string[] = [];
    const r = new FlowReader({
      binary: '/nonexistent/pal-flowd',
      log: (_level, msg) => logged.push(msg),
      onFlow: () => undefined,
    });
    assert.equal(r.start(), false);
    assert.match(logged.join(), /helper binary missing/);
  });
});
