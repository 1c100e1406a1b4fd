/**
 * `--datapath <name>` of every verb that enforces. The names are the registry's (src/datapath/registry.ts),
 * so a new backend shows up in every help text and parser at once.
 */
import { Option } from 'commander';
import { BACKEND_NAMES, DEFAULT_BACKEND, isBackendName } from '../datapath/index.js';
import type { BackendName } from '../datapath/index.js';
import { UsageError } from './exit-codes.js';

export function parseDatapath(value: string): BackendName {
  if (!isBackendName(value)) throw new UsageError(`--datapath ${value}: one of ${BACKEND_NAMES.join(', ')}`);
  return value;
}

export function datapathOption(what = 'the datapath that enforces'): Option {
  return new Option('--datapath <name>', `${what}: ${BACKEND_NAMES.join(', ')}`)
    .argParser(parseDatapath)
    .default(DEFAULT_BACKEND);
}
