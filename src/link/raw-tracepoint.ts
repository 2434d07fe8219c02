/**
 * Raw tracepoints and BTF-typed tracing attachments:
 *
 * - `attachRawTracepoint`: BPF_RAW_TRACEPOINT_OPEN with a tracepoint name (Linux 4.17, commit
 *   c4f6699dfcb8 "bpf: introduce BPF_RAW_TRACEPOINT"): the program gets the tracepoint's raw
 *   arguments, without the perf event and record formatting of classic tracepoints;
 * - `attachTracing`: fentry / fexit / fmod_ret / tp_btf / lsm programs, whose target was fixed
 *   at load time by `attach_btf_id`. BPF_RAW_TRACEPOINT_OPEN without a name attaches them
 *   (5.5; LSM 5.7); BPF_LINK_CREATE does too and is needed for a cookie (5.19, "bpf, x86: Attach a cookie to
 *   fentry/fexit/fmod_ret/lsm").
 *
 * Both give a bpf_link fd (since 5.7 BPF_RAW_TRACEPOINT_OPEN returns a link).
 *
 * @module
 */
import { ArgumentError } from '../errors.js';
import { loadKernelSpec } from '../btf/kernel.js';
import type { Program } from '../prog.js';
import { bpfCall } from '../sys/bpf.js';
import { cString } from '../sys/commands.js';
import { Errno } from '../sys/errno.js';
import { LinkCreate, RawTracepointOpen } from '../sys/layouts.js';
import { AttachType, ProgramType, programTypeName } from '../types.js';
import { Link } from './link.js';
import { findTracingTarget, tracingTargetNotFound, type TracingKind, type TracingTargetNotFoundError } from './tracing-target.js';

/** Options of {@link attachRawTracepoint}. */
export interface RawTracepointOptions {
  /** A value `bpf_get_attach_cookie()` returns in the program (Linux 6.10+). */
  cookie?: bigint | number;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Attaches a RAW_TRACEPOINT (or RAW_TRACEPOINT_WRITABLE) program to the tracepoint `name`,
 * e.g. `sys_enter` or `sched_switch` (the event name, without the tracefs group).
 *
 * Minimum kernel: 4.17; `info()` and `pin()` 5.8; cookies 6.10.
 *
 * @example
 * ```ts
 * import { attachRawTracepoint } from 'ebpf-ts';
 * using link = attachRawTracepoint(coll.programs.on_sys_enter, 'sys_enter');
 * ```
 * @throws {@link ArgumentError} for a program of another type or a name that is not an
 * identifier; {@link SyscallError} (ENOENT: no such tracepoint) or {@link NotSupportedError}
 * from the kernel.
 */
export function attachRawTracepoint(prog: Program, name: string, options: RawTracepointOptions = {}): Link {
  if (prog.type !== ProgramType.RawTracepoint && prog.type !== ProgramType.RawTracepointWritable) {
    throw new ArgumentError(`attachRawTracepoint needs a RAW_TRACEPOINT program; ${prog.name} is ${programTypeName(prog.type)}`);
  }
  if (!IDENTIFIER.test(name)) throw new ArgumentError(`raw tracepoint name ${JSON.stringify(name)} is not an identifier`);
  const cookie = options.cookie === undefined || BigInt(options.cookie) === 0n ? undefined : BigInt(options.cookie);
  const fd = bpfCall(
    RawTracepointOpen,
    { name: cString(name), prog_fd: prog.fd, cookie },
    {
      context: `attach ${prog.name} to raw tracepoint ${name}`,
      explain: (errno) =>
        // bpf_raw_tp_open(): bpf_get_raw_tracepoint() finds no tracepoint of that name.
        errno === Errno.ENOENT
          ? `no tracepoint named ${name}: raw tracepoints use the event name alone (sched_switch, sys_enter), see available_events in tracefs`
          : alreadyAttached(errno, prog, `raw tracepoint ${name}`),
    },
  );
  return Link.adopt({ fd, mode: 'bpf-link', what: `raw tracepoint ${name}` });
}

/**
 * The errnos that mean "this program is attached there already". A raw tracepoint registers
 * (function, data) once: on kernels whose data is the program rather than the link,
 * tracepoint_probe_register_may_exist() answers EEXIST to a second attachment of the same
 * program. A trampoline keeps each program once: bpf_trampoline_link_prog() answers EBUSY.
 */
function alreadyAttached(errno: number, prog: Program, where: string): string | undefined {
  if (errno !== Errno.EEXIST && errno !== Errno.EBUSY) return undefined;
  return `program ${prog.name} is already attached to ${where} (this kernel attaches a program there once): close the link that holds it, or load the program again (Program.load / loadCollection) to attach a second copy`;
}

/** Options of {@link attachTracing}. */
export interface TracingOptions {
  /**
   * The program's `expected_attach_type` (TraceFentry, TraceFexit, ModifyReturn, TraceRawTP,
   * LSMMAC). Needed with a cookie: BPF_LINK_CREATE checks it against the program's.
   */
  attachType?: AttachType;
  /** A value `bpf_get_attach_cookie()` returns in the program (Linux 5.19+). */
  cookie?: bigint | number;
}

/**
 * Attaches a TRACING (fentry, fexit, fmod_ret, tp_btf) or LSM program to the target it was
 * loaded for (`attachBtfId` in its spec, see {@link tracingTargetBtfId}).
 *
 * Minimum kernel: 5.5 (fentry/fexit), 5.7 (LSM, fmod_ret); cookies 5.19. Needs a kernel with
 * BTF and a BPF trampoline for the architecture; kernels in lockdown refuse the load (EPERM).
 *
 * @example
 * ```ts
 * const spec = { ...fentrySpec, attachBtfId: tracingTargetBtfId('fentry', 'do_unlinkat') };
 * using prog = Program.load(spec);
 * using link = attachTracing(prog);
 * ```
 * @throws {@link ArgumentError} for a program of another type or a cookie without
 * `attachType`; {@link SyscallError}/{@link NotSupportedError} from the kernel.
 */
export function attachTracing(prog: Program, options: TracingOptions = {}): Link {
  if (prog.type !== ProgramType.Tracing && prog.type !== ProgramType.LSM) {
    throw new ArgumentError(`attachTracing needs a TRACING or LSM program; ${prog.name} is ${programTypeName(prog.type)}`);
  }
  const context = `attach ${prog.name} (${programTypeName(prog.type)})`;
  const cookie = options.cookie === undefined ? 0n : BigInt(options.cookie);
  if (cookie !== 0n) {
    if (options.attachType === undefined) throw new ArgumentError('a cookie needs attachType: BPF_LINK_CREATE checks it against the program');
    const fd = bpfCall(
      LinkCreate,
      { prog_fd: prog.fd, target_fd: 0, attach_type: options.attachType, flags: 0, tracing_target_btf_id: 0, tracing_cookie: cookie },
      { context, explain: (errno) => alreadyAttached(errno, prog, 'its target') },
    );
    return Link.adopt({ fd, mode: 'bpf-link', what: `${AttachType[options.attachType] ?? 'tracing'} program ${prog.name}` });
  }
  // A NULL name makes bpf_raw_tp_open() hand TRACING/LSM programs to bpf_tracing_prog_attach().
  const fd = bpfCall(RawTracepointOpen, { name: null, prog_fd: prog.fd }, { context, explain: (errno) => alreadyAttached(errno, prog, 'its target') });
  return Link.adopt({ fd, mode: 'bpf-link', what: `tracing program ${prog.name}` });
}

export type { TracingKind } from './tracing-target.js';

/**
 * The kernel BTF id a TRACING/LSM program must be loaded with (`attachBtfId`) to attach to
 * `target`: the `func` `target` for fentry/fexit/fmod_ret, the typedef `btf_trace_<target>`
 * for tp_btf, the `func` `bpf_lsm_<target>` for lsm, `bpf_iter_<target>` for iter (as the
 * kernel's bpf_check_attach_target() and libbpf resolve them).
 *
 * Minimum kernel: 5.5 (needs /sys/kernel/btf/vmlinux or a vmlinux with .BTF).
 *
 * @example
 * ```ts
 * tracingTargetBtfId('fentry', 'do_unlinkat'); // e.g. 48213
 * ```
 * @throws the errors of `loadKernelSpec()` (no kernel BTF) and
 * {@link TracingTargetNotFoundError} (a `TypeNotFoundError`) when the target does not exist,
 * with the closest names the kernel has.
 */
export function tracingTargetBtfId(kind: TracingKind, target: string): number {
  const spec = loadKernelSpec();
  const id = findTracingTarget(spec, kind, target);
  if (id === undefined) throw tracingTargetNotFound(spec, kind, target);
  return id;
}
