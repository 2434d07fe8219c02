// lockdownMode() where securityfs is not mounted falls back to the mode the kernel entered at
// boot (bootLockdown). Wherever both can be read, they must agree: nothing on the test machines
// raises lockdown after boot, and the test:vm kernels boot without EFI secure boot.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { kernelConfig } from '../../src/internal/kconfig.js';
import { bootLockdown, securityfsLockdown } from '../../src/internal/privileges.js';
import { ensureSecurityfs } from './helpers/securityfs.js';

describe('lockdown mode without securityfs', () => {
  it('the boot command line and kernel config give the mode securityfs shows', (ctx) => {
    ensureSecurityfs();
    const shown = securityfsLockdown();
    if (shown === undefined) ctx.skip('securityfs shows no lockdown mode here (not mounted, or no lockdown LSM): nothing to compare with');
    expect(bootLockdown(readFileSync('/proc/cmdline', 'utf8'), kernelConfig()) ?? 'none').toBe(shown);
  });
});
