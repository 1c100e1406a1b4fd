// The lab daemon's transport (src/lab/daemon/transport.ts) on a real unix socket, no root needed: framing,
// schema errors, the size bound, and the queue that runs changes one at a time while status answers at once.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LabInputError } from '../../../src/lab/daemon/desired.js';
import { MAX_MESSAGE_BYTES } from '../../../src/lab/daemon/protocol.js';
import type { LabRequest, LabResponse } from '../../../src/lab/daemon/protocol.js';
import { RequestFailed, Transport } from '../../../src/lab/daemon/transport.js';

/** Sends raw bytes and returns the one-line answer. */
function send(socket: string, bytes: string | Buffer): Promise<LabResponse<unknown>> {
  return new Promise((resolve, reject) => {
    const sock = connect(socket);
    const chunks: Buffer[] = [];
    sock.on('error', reject);
    sock.on('connect', () => sock.write(bytes));
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as LabResponse<unknown>);
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  });
}

const line = (request: object): string => `${JSON.stringify(request)}\n`;

describe('lab daemon transport', () => {
  let dir = '';
  let socket = '';
  let transport: Transport | undefined;
  const order: string[] = [];
  const answered: string[] = [];
  let release: (() => void) | undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pal-transport-'));
    socket = join(dir, 'lab.sock');
    transport = new Transport({
      socket,
      run: async (request: LabRequest) => {
        order.push(`${request.op} start`);
        if (request.op === 'apply' && request.sources[0]?.file === 'slow.yaml')
          await new Promise<void>((r) => (release = r));
        order.push(`${request.op} end`);
        if (request.op === 'label')
          throw new LabInputError('unknown-pod', `no pod ${request.name} in the lab`);
        if (request.op === 'delete')
          throw new RequestFailed({ ok: false, kind: 'usage', error: 'bad input', diagnostics: [] });
        if (request.op === 'down') throw new Error('kernel said no');
        return { op: request.op };
      },
      answered: (request, response) => answered.push(`${request.op}:${String(response.ok)}`),
      log: () => undefined,
    });
    await transport.listen();
  });
  after(async () => {
    transport?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers a request with its value', async () => {
    assert.deepEqual(await send(socket, line({ op: 'status' })), { ok: true, value: { op: 'status' } });
  });

  it('refuses a malformed request as a usage error naming the field, without running it', async () => {
    const before = order.length;
    const r = await send(socket, line({ op: 'probe', timeoutMs: 'soon' }));
    assert.deepEqual(r, {
      ok: false,
      kind: 'usage',
      error: 'bad request: timeoutMs: expected number, received string',
    });
    assert.equal(order.length, before);
  });

  it('refuses a request larger than the bound', async () => {
    const r = await send(socket, Buffer.alloc(MAX_MESSAGE_BYTES + 1, 0x20));
    assert.ok(!r.ok);
    assert.equal(r.kind, 'usage');
    assert.match(r.error, /request larger than/);
  });

  it('answers typed input errors as usage, a RequestFailed as it is, anything else as internal', async () => {
    const label = await send(socket, line({ op: 'label', kind: 'pod', name: 'x/none', changes: [] }));
    assert.deepEqual(label, { ok: false, kind: 'usage', error: 'no pod x/none in the lab' });
    const del = await send(socket, line({ op: 'delete', sources: [] }));
    assert.deepEqual(del, { ok: false, kind: 'usage', error: 'bad input', diagnostics: [] });
    const down = await send(socket, line({ op: 'down' }));
    assert.deepEqual(down, { ok: false, kind: 'internal', error: 'kernel said no' });
    assert.deepEqual(answered.slice(-3), ['label:false', 'delete:false', 'down:false']);
  });

  it('runs changes one at a time while status answers at once', async () => {
    order.length = 0;
    const slow = send(socket, line({ op: 'apply', sources: [{ file: 'slow.yaml', text: '' }] }));
    while (release === undefined) await new Promise((r) => setTimeout(r, 5));
    const queued = send(socket, line({ op: 'apply', sources: [{ file: 'next.yaml', text: '' }] }));
    assert.deepEqual((await send(socket, line({ op: 'status' }))).ok, true);
    assert.deepEqual(order, ['apply start', 'status start', 'status end']);
    release();
    await Promise.all([slow, queued]);
    assert.deepEqual(order, [
      'apply start',
      'status start',
      'status end',
      'apply end',
      'apply start',
      'apply end',
    ]);
  });
});
