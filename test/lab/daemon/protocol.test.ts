// The lab daemon's wire protocol (src/lab/daemon/protocol.ts): every request is checked against its schema,
// and a malformed one is refused with a typed error naming the field. Pure, no socket needed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TIMEOUTS } from '../../../src/cli/lab-common.js';
import {
  MAX_SYNC_TIMEOUT_MS,
  safeParseRequest,
  safeParseResponse,
  safeParseUpRequest,
} from '../../../src/lab/daemon/protocol.js';

const SOURCES = [{ file: 'p.yaml', text: 'kind: List\nitems: []\n' }];

describe('lab requests that fit the schema', () => {
  const cases: { name: string; request: object }[] = [
    { name: 'status', request: { op: 'status' } },
    { name: 'down', request: { op: 'down' } },
    { name: 'apply', request: { op: 'apply', sources: SOURCES } },
    { name: 'delete with no sources', request: { op: 'delete', sources: [] } },
    {
      name: 'probe with every option',
      request: {
        op: 'probe',
        ports: [80, 65535],
        protocols: ['TCP', 'UDP', 'SCTP'],
        from: ['x/a'],
        to: ['x/b'],
        timeoutMs: 500,
      },
    },
    { name: 'probe with only a timeout', request: { op: 'probe', timeoutMs: 60_000 } },
    {
      name: 'label set and remove',
      request: {
        op: 'label',
        kind: 'pod',
        name: 'x/a',
        changes: [{ key: 'example.com/role', value: 'db' }, { key: 'team' }, { key: 'empty', value: '' }],
      },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = safeParseRequest(JSON.stringify(c.request));
      assert.ok(r.ok, r.ok ? '' : r.error.message);
      assert.deepEqual(r.value, c.request);
    });
  }
});

describe('malformed lab requests are refused naming the field', () => {
  const cases: { name: string; text: string; code: string; says: RegExp; paths?: string[] }[] = [
    { name: 'not JSON', text: '{"op": ', code: 'not-json', says: /^bad request: not JSON/ },
    { name: 'not an object', text: '3', code: 'invalid', says: /expected object, received number/ },
    {
      name: 'unknown op',
      text: '{"op":"reboot"}',
      code: 'invalid',
      says: /op: unknown op "reboot": one of probe, probe-http, apply, delete, label, status, down/,
      paths: ['op'],
    },
    { name: 'no op', text: '{}', code: 'invalid', says: /op: unknown op \(none\)/, paths: ['op'] },
    {
      name: 'apply without sources',
      text: '{"op":"apply"}',
      code: 'invalid',
      says: /^bad request: sources: missing \(expected array\)$/,
      paths: ['sources'],
    },
    {
      name: 'a source whose text is not a string, and one without a file',
      text: '{"op":"delete","sources":[{"file":"a.yaml","text":1},{"text":"x"}]}',
      code: 'invalid',
      says: /sources\[0\]\.text: expected string, received number; sources\[1\]\.file: missing \(expected string\)$/,
      paths: ['sources[0].text', 'sources[1].file'],
    },
    {
      name: 'probe timeout as a string',
      text: '{"op":"probe","timeoutMs":"500"}',
      code: 'invalid',
      says: /timeoutMs: expected number, received string/,
      paths: ['timeoutMs'],
    },
    {
      name: 'probe timeout out of range',
      text: '{"op":"probe","timeoutMs":0}',
      code: 'invalid',
      says: /timeoutMs: between 1 and 60000/,
      paths: ['timeoutMs'],
    },
    {
      name: 'probe port out of range and an unknown protocol',
      text: '{"op":"probe","timeoutMs":5,"ports":[80,70000],"protocols":["ICMP"]}',
      code: 'invalid',
      says: /ports\[1\]: between 1 and 65535; protocols\[0\]: expected one of "TCP"\|"UDP"\|"SCTP"/,
      paths: ['ports[1]', 'protocols[0]'],
    },
    {
      name: 'a misspelt field',
      text: '{"op":"probe","timeout":500,"timeoutMs":500}',
      code: 'invalid',
      says: /Unrecognized key: "timeout"/,
    },
    {
      name: 'label of an unknown kind',
      text: '{"op":"label","kind":"node","name":"n1","changes":[]}',
      code: 'invalid',
      says: /kind: expected one of "ns"\|"pod"/,
      paths: ['kind'],
    },
    {
      name: 'label key and value the API server would refuse',
      text: '{"op":"label","kind":"pod","name":"x/a","changes":[{"key":"-bad"},{"key":"k","value":"bad value"}]}',
      code: 'invalid',
      says: /changes\[0\]\.key: .*; changes\[1\]\.value: /,
      paths: ['changes[0].key', 'changes[1].value'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = safeParseRequest(c.text);
      assert.ok(!r.ok, 'accepted');
      assert.equal(r.error.name, 'LabRequestError');
      assert.equal(r.error.code, c.code);
      assert.match(r.error.message, c.says);
      if (c.paths) assert.deepEqual([...new Set(r.error.issues.map((i) => i.path))], c.paths);
    });
  }
});

describe('the build request on the daemon stdin', () => {
  const up = { op: 'up', sources: SOURCES, routing: 'native', datapath: 'nftables' };
  it('takes a minimal and a full request', () => {
    assert.ok(safeParseUpRequest(JSON.stringify(up)).ok);
    const full = {
      ...up,
      nodes: 2,
      enforcer: 'agents',
      syncTimeoutMs: 5000,
      watch: { pid: 1, start: '42' },
    };
    const r = safeParseUpRequest(JSON.stringify(full));
    assert.ok(r.ok);
    assert.deepEqual(r.value, full);
  });
  it('names a bad routing and datapath', () => {
    const r = safeParseUpRequest(JSON.stringify({ ...up, routing: 'bgp', datapath: 'ebpf' }));
    assert.ok(!r.ok);
    assert.match(r.error.message, /^bad build request: routing: .*; datapath: /);
    assert.deepEqual(
      r.error.issues.map((i) => i.path),
      ['routing', 'datapath'],
    );
  });
  it('bounds how long a change waits for the agents below the CLI wait for its answer', () => {
    for (const syncTimeoutMs of [999, MAX_SYNC_TIMEOUT_MS + 1, 1.5e3 + 0.5]) {
      const r = safeParseUpRequest(JSON.stringify({ ...up, syncTimeoutMs }));
      assert.ok(!r.ok, String(syncTimeoutMs));
      assert.deepEqual(
        r.error.issues.map((i) => i.path),
        ['syncTimeoutMs'],
      );
    }
    assert.ok(MAX_SYNC_TIMEOUT_MS < TIMEOUTS.change);
  });
});

describe("the daemon's answers", () => {
  it('takes an answer and a failure with diagnostics', () => {
    const ok = safeParseResponse<number>('{"ok":true,"value":3}');
    assert.deepEqual(ok.ok && ok.value, { ok: true, value: 3 });
    const failed = safeParseResponse('{"ok":false,"kind":"usage","error":"no","diagnostics":[]}');
    assert.ok(failed.ok && !failed.value.ok && failed.value.kind === 'usage');
  });
  it('says what is wrong with an answer that is not one', () => {
    const empty = safeParseResponse('');
    assert.ok(!empty.ok);
    assert.match(empty.error.message, /closed the connection without an answer/);
    const bad = safeParseResponse('{"ok":false,"error":"x","kind":"fatal"}');
    assert.ok(!bad.ok);
    assert.match(bad.error.message, /malformed: kind: /);
  });
});
