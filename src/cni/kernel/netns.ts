/** Checks on CNI_NETNS without entering it: it exists, and it is not the plugin's own namespace. */
import { stat } from 'node:fs/promises';
import { InvalidEnvironmentError, UnknownContainerError } from '../errors.js';

export async function netnsExists(path: string): Promise<boolean> {
  if (path === '') return false;
  return (await stat(path).catch(() => undefined)) !== undefined;
}

/**
 * Code 3 when the namespace does not exist (the container is gone), code 4 when it is the plugin's own:
 * configuring "the container" there would reconfigure the host.
 */
export async function requireContainerNetns(path: string): Promise<void> {
  const target = await stat(path).catch(() => undefined);
  if (!target) throw new UnknownContainerError(`netns ${path} does not exist`, 'CNI_NETNS');
  const own = await stat('/proc/self/ns/net');
  if (target.ino === own.ino && target.dev === own.dev) {
    throw new InvalidEnvironmentError(
      "plugin's netns and netns from CNI_NETNS should not be the same",
      `CNI_NETNS=${path}`,
    );
  }
}
