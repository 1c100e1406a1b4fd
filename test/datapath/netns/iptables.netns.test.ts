import {
  applyIptables,
  compileIptables,
  formatUnsupported,
  teardownIptables,
} from '../../../src/datapath/index.js';
import { conformance } from '../support/conformance.js';

conformance({
  name: 'iptables baseline (iptables-restore)',
  async apply(rules, netns) {
    const scripts = compileIptables(rules);
    if (scripts.unsupported.length > 0)
      throw new Error(scripts.unsupported.map(formatUnsupported).join('; '));
    await applyIptables(scripts, { netns });
    return {};
  },
  async teardown(netns) {
    await teardownIptables({ netns });
  },
});
