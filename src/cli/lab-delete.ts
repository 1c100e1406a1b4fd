import type { Command } from 'commander';
import { registerManifestChange } from './lab-manifest-change.js';

export function registerLabDelete(lab: Command): void {
  registerManifestChange(
    lab,
    'delete',
    'remove the policies named in the files from a running lab and re-enforce',
  );
}
