import type { Command } from 'commander';
import { registerWriteVerb } from './apply.js';

export function registerDelete(program: Command): void {
  registerWriteVerb(program, 'delete');
}
