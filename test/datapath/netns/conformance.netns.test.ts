/** The datapath conformance suite, once per registered backend (a new backend needs no new test file). */
import { allBackends } from '../../../src/datapath/index.js';
import { conformance } from '../support/conformance.js';

for (const backend of allBackends()) conformance(backend);
