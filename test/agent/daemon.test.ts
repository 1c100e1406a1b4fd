import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DaemonOptionsError, checkDaemonOptions } from '../../src/agent/daemon.js';
import type { DaemonOptions } from '../../src/agent/daemon.js';
import { parseDatastore } from '../../src/agent/index.js';
import { BACKEND_NAMES, DEFAULT_BACKEND, getBackend } from '../../src/datapath/index.js';

const OPTS: DaemonOptions = {
  node: 'pal-n1',
  datastore: parseDatastore('dir:/nonexistent/pal-manifests'),
  stateDir: '/nonexistent/pal-state',
  resyncMs: 30_000,
  strict: true,
  cniStateDir: '/nonexistent/pal-cni',
  registrationWaitMs: 1000,
};

describe('checkDaemonOptions: what the chosen backend cannot do is refused before anything starts', () => {
  it('the default backend runs strict mode', () => {
    assert.equal(getBackend(DEFAULT_BACKEND).capabilities.strictCut, true);
    assert.doesNotThrow(() => checkDaemonOptions(OPTS));
  });
  for (const name of BACKEND_NAMES) {
    const backend = getBackend(name);
    it(`${name}: strict ${backend.capabilities.strictCut ? 'accepted' : 'refused, naming strictCut'}; --no-strict accepted`, () => {
      assert.doesNotThrow(() => checkDaemonOptions({ ...OPTS, datapath: name, strict: false }));
      if (backend.capabilities.strictCut) {
        assert.doesNotThrow(() => checkDaemonOptions({ ...OPTS, datapath: name }));
        return;
      }
      assert.throws(
        () => checkDaemonOptions({ ...OPTS, datapath: name }),
        (e: unknown) =>
          e instanceof DaemonOptionsError && e.message.includes('strictCut') && e.message.includes(name),
      );
    });
  }
});
