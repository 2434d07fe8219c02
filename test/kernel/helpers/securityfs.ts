/**
 * securityfs holds the kernel's lockdown mode and active LSM list. A fresh machine may not
 * mount it (this project's host does not at boot): tests that read the LSM list, or compare
 * lockdownMode()'s boot fallback with the mode securityfs shows, mount it first.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Mounts securityfs at /sys/kernel/security if it is not mounted (the tests run as root). */
export function ensureSecurityfs(): void {
  if (existsSync('/sys/kernel/security/lsm')) return;
  try {
    execFileSync('mount', ['-t', 'securityfs', 'securityfs', '/sys/kernel/security'], { stdio: 'ignore' });
    console.warn('kernel tests: securityfs was not mounted; mounted it at /sys/kernel/security');
  } catch {
    // Not root or no securityfs: callers then see undefined for the lockdown mode and LSMs.
  }
}
