// bootLockdown: the lockdown mode a kernel entered at boot, for machines without securityfs.
import { describe, expect, it } from 'vitest';
import { parseKernelConfig } from '../../src/internal/kconfig.js';
import { bootLockdown } from '../../src/internal/privileges.js';

const config = (...lines: string[]): Map<string, string> =>
  parseKernelConfig(['CONFIG_SECURITY=y', 'CONFIG_SECURITY_LOCKDOWN_LSM=y', ...lines].join('\n'));
const early = 'CONFIG_SECURITY_LOCKDOWN_LSM_EARLY=y';
const lsm = 'CONFIG_LSM="landlock,lockdown,yama,bpf"';

describe('bootLockdown', () => {
  it("reads the forced mode of this project's host kernel (FORCE_INTEGRITY, an early LSM)", () => {
    const cmdline = 'console=ttyS0 pti=on rdinit=/process_api -- --firecracker-init --addr 0.0.0.0:2024';
    const c = config(early, '# CONFIG_LOCK_DOWN_KERNEL_FORCE_NONE is not set', 'CONFIG_LOCK_DOWN_KERNEL_FORCE_INTEGRITY=y', '# CONFIG_LOCK_DOWN_KERNEL_FORCE_CONFIDENTIALITY is not set');
    expect(bootLockdown(cmdline, c)).toBe('integrity');
  });

  it('takes the stricter of lockdown= and the forced mode', () => {
    const forced = config(early, 'CONFIG_LOCK_DOWN_KERNEL_FORCE_INTEGRITY=y');
    expect(bootLockdown('quiet lockdown=confidentiality', forced)).toBe('confidentiality');
    expect(bootLockdown('quiet lockdown=none', forced)).toBe('integrity');
    expect(bootLockdown('lockdown=integrity', config(early, 'CONFIG_LOCK_DOWN_KERNEL_FORCE_NONE=y'))).toBe('integrity');
    // The last of a repeated parameter counts, as the kernel parses it.
    expect(bootLockdown('lockdown=confidentiality lockdown=integrity', config(early))).toBe('integrity');
  });

  it("ignores words after `--` (init's arguments)", () => {
    expect(bootLockdown('quiet -- lockdown=integrity', config(early))).toBeUndefined();
  });

  it('needs the lockdown LSM to run: built in, and early or in the LSM order', () => {
    const forced = 'CONFIG_LOCK_DOWN_KERNEL_FORCE_INTEGRITY=y';
    expect(bootLockdown('', config(lsm, forced))).toBe('integrity');
    expect(bootLockdown('', config('CONFIG_LSM="yama,apparmor"', forced))).toBeUndefined();
    // lsm= on the command line replaces CONFIG_LSM.
    expect(bootLockdown('lsm=yama,apparmor', config(lsm, forced))).toBeUndefined();
    expect(bootLockdown('lsm=lockdown,yama', config('CONFIG_LSM="yama"', forced))).toBe('integrity');
    expect(bootLockdown('lockdown=integrity', parseKernelConfig('# CONFIG_SECURITY_LOCKDOWN_LSM is not set'))).toBeUndefined();
  });

  it('is undefined, not none, when nothing raised it at boot (root or EFI secure boot may have since)', () => {
    expect(bootLockdown('quiet', config(early, 'CONFIG_LOCK_DOWN_KERNEL_FORCE_NONE=y'))).toBeUndefined();
    expect(bootLockdown('lockdown=bogus', config(early))).toBeUndefined();
  });

  it('takes lockdown= at its word when the kernel config cannot be read', () => {
    expect(bootLockdown('lockdown=integrity', null)).toBe('integrity');
    expect(bootLockdown('quiet', null)).toBeUndefined();
  });
});
