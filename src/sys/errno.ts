/**
 * errno → typed error, for bpf() and the other syscalls. The kernel answers many different
 * problems with the same few errnos; this module uses what it knows about the call (which
 * fields were set, the running kernel's version, the process's capabilities and limits) to say
 * which problem it most likely was.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { BpfError, NotSupportedError, SyscallError } from '../errors.js';
import type { PointerList } from './backend.js';
import { fieldsSet, type Field, type Layout } from './attr.js';
import { kernelVersion } from './kernel-version.js';
import { memlockState } from './memlock.js';
import { Capability, effectiveCapabilities, hasCapability, inInitialUserNamespace, lockdownMode } from '../internal/privileges.js';
import { tokenInScope } from './token-scope.js';

/** errno values used by the mapping (x86-64 and arm64 share them). */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  ENXIO: 6,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  ENOTDIR: 20,
  EINVAL: 22,
  EMFILE: 24,
  ENOSPC: 28,
  ERANGE: 34,
  ENOSYS: 38,
  ELOOP: 40,
  ENOLINK: 67,
  EPROTO: 71,
  ENOTSOCK: 88,
  ENOPROTOOPT: 92,
  EPROTONOSUPPORT: 93,
  ENOTSUP: 95,
  EOPNOTSUPP: 95,
  EAFNOSUPPORT: 97,
  ENETDOWN: 100,
  EINPROGRESS: 115,
  ESTALE: 116,
  E2BIG: 7,
  ENOTSUPP: 524,
} as const;

function readTrim(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/**
 * Why bpf() said EPERM, as far as this process can tell: a BPF token that does not delegate the
 * request, a user namespace without a token, missing capabilities, kernel lockdown,
 * the unprivileged-BPF sysctl, or RLIMIT_MEMLOCK on kernels that still charge BPF memory to it
 * (before 5.11, the kernel answers EPERM, not ENOMEM, when the limit is exceeded).
 */
export function permissionHint(): string {
  const reasons: string[] = [];
  const token = tokenInScope();
  if (token !== undefined) {
    reasons.push(`${token.describe()} may not allow this command, map type, program type or attach type (check the delegate_* options of its bpffs mount)`);
  } else if (!inInitialUserNamespace()) {
    reasons.push(
      'this process runs in a user namespace (a container), where bpf() ignores its capabilities without a BPF token: ' +
        'mount a bpffs with delegate_* options for it from outside (Linux 6.9+) and load with a token ' +
        '(found at /sys/fs/bpf, or given with the `token` option or EBPF_TS_BPF_TOKEN_PATH; see docs/loading.md, "BPF tokens")',
    );
    return reasons.join('; ');
  }
  const caps = effectiveCapabilities();
  const has = (cap: number): boolean => hasCapability(cap, caps);
  if (caps !== undefined && !has(Capability.CAP_SYS_ADMIN) && !has(Capability.CAP_BPF)) {
    reasons.push('the process has neither CAP_BPF (Linux 5.8+) nor CAP_SYS_ADMIN: run as root or grant CAP_BPF,CAP_PERFMON');
    const sysctl = readTrim('/proc/sys/kernel/unprivileged_bpf_disabled');
    if (sysctl !== undefined && sysctl !== '0') reasons.push(`kernel.unprivileged_bpf_disabled=${sysctl}`);
  } else if (caps !== undefined && !has(Capability.CAP_SYS_ADMIN) && !has(Capability.CAP_PERFMON)) {
    reasons.push('tracing programs and pointer-leaking loads also need CAP_PERFMON');
  }
  const mode = lockdownMode();
  if (mode !== undefined && mode !== 'none') {
    reasons.push(`kernel lockdown is "${mode}", which forbids some BPF features (e.g. bpf_probe_write_user, reading kernel memory)`);
  }
  const memlock = memlockState();
  if (memlock.chargesMemlock === true && memlock.raised !== true) {
    reasons.push(
      `this kernel charges BPF memory to RLIMIT_MEMLOCK (before Linux 5.11) and the limit is ${memlock.limit ?? 'low'}: ` +
        'raise it (ulimit -l unlimited, or run with CAP_SYS_RESOURCE so ebpf-ts raises it itself)',
    );
  }
  if (reasons.length === 0) reasons.push('check capabilities (CAP_BPF/CAP_SYS_ADMIN), LSM policy and kernel lockdown');
  return reasons.join('; ');
}

/**
 * Fields set in the attr that the running kernel is too old to know. A union member that
 * shares its bytes with a member the kernel knows (BPF_LINK_CREATE's map_fd, 6.4, is prog_fd's
 * slot) is not one: those bytes are the older member's.
 */
function fieldsNewerThanKernel(layout: Layout, attr: Uint8Array, pointers?: PointerList): Field[] {
  const running = kernelVersion();
  const set = fieldsSet(layout, attr, pointers);
  return set.filter((f) => !running.atLeast(f.since) && !set.some((g) => g !== f && g.offset === f.offset && g.size === f.size && running.atLeast(g.since)));
}

/** Options a caller passes to shape the error of a failed bpf() call. */
export interface ErrorContext {
  /** What was being done, e.g. `create map counts`. */
  readonly context?: string;
  /** Command-specific explanation of an errno, if the caller knows one. */
  readonly explain?: (errno: number) => string | undefined;
}

/**
 * The error for a failed bpf() call. Order matters: a command or field newer than the running
 * kernel explains EINVAL/E2BIG better than anything else, since old kernels reject unknown
 * commands with EINVAL and a non-zero attr tail beyond what they know with E2BIG
 * (`bpf_check_uarg_tail_zero()`).
 */
export function bpfError(
  layout: Layout,
  errno: number,
  attr: Uint8Array,
  pointers: PointerList | undefined,
  ctx: ErrorContext = {},
): BpfError {
  const running = kernelVersion();
  const prefix = ctx.context === undefined ? '' : `${ctx.context}: `;
  if (errno === Errno.EINVAL && !running.atLeast(layout.since)) {
    return new NotSupportedError(`${prefix}bpf command ${layout.name}`, layout.since, { errno });
  }
  if (errno === Errno.E2BIG || errno === Errno.EINVAL) {
    const newer = fieldsNewerThanKernel(layout, attr, pointers);
    if (newer.length > 0) {
      const f = newer.reduce((a, b) => (running.compare(a.since) < running.compare(b.since) ? a : b));
      return new NotSupportedError(`${prefix}attr field ${layout.name}.${f.name}`, f.since, {
        errno,
        detail: `running kernel is ${running.toString()}`,
      });
    }
  }
  const explained = ctx.explain?.(errno);
  if (explained !== undefined) return new SyscallError(layout.name, errno, explained, ctx.context);
  if (errno === Errno.EPERM) return new SyscallError(layout.name, errno, permissionHint(), ctx.context);
  return new SyscallError(layout.name, errno, genericHint(errno), ctx.context);
}

function genericHint(errno: number): string | undefined {
  switch (errno) {
    case Errno.ENOSYS:
      return 'the kernel was built without CONFIG_BPF_SYSCALL';
    case Errno.EBADF:
      return 'a file descriptor in the request is closed or not a BPF object';
    case Errno.ENOMEM:
      return 'the kernel could not allocate memory for the object (check memory cgroup limits)';
    case Errno.ENOTSUPP:
    case Errno.EOPNOTSUPP:
      return 'the kernel does not support this operation for this object type';
    case Errno.EACCES:
      return 'denied by policy or by the object itself (e.g. a read-only or frozen map)';
    default:
      return undefined;
  }
}
