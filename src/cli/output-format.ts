import { UsageError } from './exit-codes.js';

export type OutputFormat = 'table' | 'json';

export function parseOutputFormat(value: string, allowed: readonly string[]): string {
  if (!allowed.includes(value)) {
    throw new UsageError(`-o ${value}: unknown output format (one of: ${allowed.join(', ')})`);
  }
  return value;
}
