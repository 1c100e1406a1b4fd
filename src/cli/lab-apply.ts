import type { Command } from 'commander';
import { registerManifestChange } from './lab-manifest-change.js';

export function registerLabApply(lab: Command): void {
  registerManifestChange(
    lab,
    'apply',
    'add or replace policies (and pod/namespace labels) in a running lab and re-enforce; says what changed',
  );
}
