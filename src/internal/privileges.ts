/**
 * What this process may do, as far as it can tell from the outside: its effective
 * capabilities (/proc/self/status) and the kernel's lockdown mode (securityfs, else the boot
 * command line and kernel config). Used to tell an EPERM that means "not privileged" from one
 * that means "a security policy said no".
 *
 * @module
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { kernelConfig } from './kconfig.js';

/** Linux capability numbers (include/uapi/linux/capability.h) that BPF checks. */
export const Capability = {
  CAP_NET_ADMIN: 12,
  CAP_SYS_ADMIN: 21,
  CAP_SYS_RESOURCE: 24,
  CAP_PERFMON: 38,
  CAP_BPF: 39,
} as const;

let pretend: { caps: bigint | undefined } | undefined;

/**
 * Pretends the effective set is `caps` instead of reading /proc (unit tests, which
 * must not depend on who runs them); no argument reads /proc again.
 */
export function overrideCapabilities(...caps: [] | [bigint | undefined]): void {
  pretend = caps.length === 0 ? undefined : { caps: caps[0] };
}

/** The effective capability set (`CapEff` in /proc/self/status), or undefined if unreadable. */
export function effectiveCapabilities(): bigint | undefined {
  if (pretend !== undefined) return pretend.caps;
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m === null ? undefined : BigInt(`0x${m[1]}`);
  } catch {
    return undefined;
  }
}

/** True if `caps` (default: this process's effective set) holds `cap`; false when unknown. */
export function hasCapability(cap: number, caps = effectiveCapabilities()): boolean {
  return caps !== undefined && (caps & (1n << BigInt(cap))) !== 0n;
}

/**
 * The kernel's lockdown mode (`none`, `integrity`, `confidentiality`), read from
 * /sys/kernel/security/lockdown. Where securityfs is not mounted (many containers and small
 * VMs), the mode the kernel set at boot ({@link bootLockdown}); undefined when neither tells.
 */
export function lockdownMode(): string | undefined {
  const shown = securityfsLockdown();
  if (shown !== undefined) return shown;
  let cmdline = '';
  try {
    cmdline = readFileSync('/proc/cmdline', 'utf8');
  } catch {
    // no procfs: the kernel config alone
  }
  return bootLockdown(cmdline, kernelConfig());
}

/** The mode securityfs shows (/sys/kernel/security/lockdown), or undefined where it shows none. */
export function securityfsLockdown(): string | undefined {
  try {
    return /\[(\w+)\]/.exec(readFileSync('/sys/kernel/security/lockdown', 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

const lockdownLevels = ['none', 'integrity', 'confidentiality'];

/**
 * The lockdown the kernel entered at boot, from its command line (`lockdown=`) and its config
 * (`CONFIG_LOCK_DOWN_KERNEL_FORCE_*`), whichever is stricter, when the lockdown LSM runs
 * (`CONFIG_SECURITY_LOCKDOWN_LSM_EARLY`, or `lockdown` in `lsm=` or else `CONFIG_LSM`); the
 * command line alone when the config cannot be read (`config` null).
 * Undefined when that says `none`: root may raise the mode later, and EFI secure boot raises
 * it too, which only securityfs shows.
 */
export function bootLockdown(cmdline: string, config: ReadonlyMap<string, string> | null): string | undefined {
  // Words after `--` are init's, not the kernel's; of a repeated parameter the last counts.
  const words = cmdline.split(/\s+/);
  const end = words.indexOf('--');
  const param = (name: string): string | undefined => {
    for (let i = (end < 0 ? words.length : end) - 1; i >= 0; i--) if (words[i]!.startsWith(`${name}=`)) return words[i]!.slice(name.length + 1);
    return undefined;
  };
  const asked = lockdownLevels.indexOf(param('lockdown') ?? 'none');
  // Without a readable config, lockdown= is taken at its word.
  if (config === null) return asked > 0 ? lockdownLevels[asked] : undefined;
  if (config.get('CONFIG_SECURITY_LOCKDOWN_LSM') !== 'y') return undefined;
  const lsms = param('lsm') ?? config.get('CONFIG_LSM')?.replace(/^"|"$/g, '') ?? '';
  if (config.get('CONFIG_SECURITY_LOCKDOWN_LSM_EARLY') !== 'y' && !lsms.split(',').includes('lockdown')) return undefined;
  const forced = lockdownLevels.findIndex((l) => config.get(`CONFIG_LOCK_DOWN_KERNEL_FORCE_${l.toUpperCase()}`) === 'y');
  const level = Math.max(forced, asked);
  return level > 0 ? lockdownLevels[level] : undefined;
}

/**
 * Why the kernel answered EPERM to a process holding CAP_SYS_ADMIN (which passes every
 * capability check bpf() makes: `bpf_capable()`, `perfmon_capable()`, `bpf_net_capable()`):
 * a security policy refused it. Returns undefined when the process lacks CAP_SYS_ADMIN, or
 * holds it only in a user namespace of its own, where a missing capability (or token) explains
 * EPERM just as well.
 */
export function policyRefusal(): string | undefined {
  // A user namespace's CAP_SYS_ADMIN is not the kernel's: EPERM there says nothing of policy.
  if (!hasCapability(Capability.CAP_SYS_ADMIN) || !inInitialUserNamespace()) return undefined;
  const mode = lockdownMode();
  const lockdown = mode !== undefined && mode !== 'none' ? `; kernel lockdown is "${mode}"` : '';
  return `refused by the kernel's security policy (lockdown or an LSM) although this process holds CAP_SYS_ADMIN${lockdown}`;
}

// PROC_USER_INIT_INO (include/linux/proc_ns.h): the inode of the initial user namespace, the
// same on every boot and machine.
const INIT_USER_NS = 'user:[4026531837]';
let initialUserNs: boolean | undefined;

/**
 * True if this process runs in the initial user namespace, where bpf()'s capability checks
 * look. In any other (a container's), capabilities count only through a BPF token (6.9). Asked
 * once: a process with threads, as Node is, cannot change its user namespace.
 */
export function inInitialUserNamespace(): boolean {
  if (initialUserNs === undefined) {
    try {
      initialUserNs = readlinkSync('/proc/self/ns/user') === INIT_USER_NS;
    } catch {
      initialUserNs = true; // no /proc: assume the host, as before user namespaces
    }
  }
  return initialUserNs;
}
