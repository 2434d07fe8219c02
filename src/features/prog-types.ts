/**
 * Program-type probes, and the probes for BPF_PROG_LOAD's name field that `Program.load`
 * consults before it sends a name.
 *
 * A program type is probed by loading the smallest valid program of that type (`r0 = 0; exit`)
 * with whatever the kernel insists on for it (an expected attach type, a kern_version). The
 * kernel looks the type up (`find_prog_type()` in kernel/bpf/syscall.c) before the verifier runs,
 * and answers EINVAL with an empty verifier log for a type it does not know, so "EINVAL and no
 * log" means "not supported". Types that cannot load without a BTF attach target (TRACING,
 * LSM, EXT, STRUCT_OPS) are recognised by the error the verifier gives for the missing target,
 * which it can only give once it knows the type: see {@link programTypeFeature}.
 *
 * @module
 */
import { encode, type ByteOrder } from '../asm/encoding.js';
import { exit, mov64Imm } from '../asm/builder.js';
import type { Instruction } from '../asm/instruction.js';
import { Register } from '../asm/register.js';
import { encodeAttr, hostLittleEndian } from '../sys/attr.js';
import { backend } from '../sys/select.js';
import { bpfRaw } from '../sys/bpf.js';
import { cString } from '../sys/commands.js';
import { Errno } from '../sys/errno.js';
import { kernelVersion } from '../sys/kernel-version.js';
import { ProgLoad } from '../sys/layouts.js';
import { errnoName } from '../errors.js';
import { AttachType, ProgramType, programTypeName, programTypeSince } from '../types.js';
import { Feature, notSupported, notSupportedUnlessConfigured, permissionDenied, Supported, unknown, type FeatureResult } from './feature.js';

/** Host byte order for instructions handed to the kernel. */
export const hostByteOrder: ByteOrder = hostLittleEndian ? 'little' : 'big';

/** What a probe load sends beyond the type and the instructions. */
export interface ProbeLoadOptions {
  /** Program type. */
  type: ProgramType;
  /** Instructions; default `r0 = 0; exit`. */
  instructions?: readonly Instruction[];
  /** `expected_attach_type`; default: what {@link probeAttachType} says the type needs. */
  attachType?: AttachType;
  /** `attach_btf_id`. */
  attachBtfId?: number;
  /** `prog_name`, sent verbatim (for the name probes). */
  name?: string;
  /** Size of a verifier log buffer to ask for (log_level 1); 0 = no log. */
  logSize?: number;
}

/** The answer of a probe load: the raw result (an fd, already closed, or `-errno`) and the log. */
export interface ProbeLoadResult {
  /** `>= 0` if the program loaded (the fd is closed again), else `-errno`. */
  readonly result: number;
  /** The verifier log, empty if none was asked for or the kernel wrote none. */
  readonly log: string;
}

/**
 * The attach type each program type's trivial program must declare, or the kernel's
 * `bpf_prog_load_check_attach()` (kernel/bpf/syscall.c) refuses it with EINVAL before the type
 * is even looked at. CGROUP_SOCK is left at 0 on purpose: `bpf_prog_load_fixup_attach_type()`
 * turns 0 into BPF_CGROUP_INET_SOCK_CREATE, and kernels 4.10–4.16 predate the field (a non-zero
 * value there would be answered with E2BIG).
 */
const expectedAttachType: Partial<Record<ProgramType, AttachType>> = {
  [ProgramType.CgroupSockAddr]: AttachType.CgroupInet4Connect,
  [ProgramType.CgroupSockopt]: AttachType.CgroupGetsockopt,
  [ProgramType.SKLookup]: AttachType.SKLookup,
  [ProgramType.SKReuseport]: AttachType.SKReuseportSelect,
  [ProgramType.Netfilter]: AttachType.Netfilter,
  [ProgramType.Tracing]: AttachType.TraceFentry,
  [ProgramType.LSM]: AttachType.LSMMAC,
};

/** The expected attach type a trivial program of `type` needs (None for most types). */
export function probeAttachType(type: ProgramType): AttachType {
  return expectedAttachType[type] ?? AttachType.None;
}

/**
 * Loads a tiny program for a probe and closes it again. Goes through `bpfRaw`: for a probe
 * an errno is an answer, not a failure, so nothing is thrown.
 */
export function probeLoad(options: ProbeLoadOptions): ProbeLoadResult {
  const insns = options.instructions ?? [mov64Imm(Register.R0, 0), exit()];
  const bytes = encode(insns, hostByteOrder);
  const attachType = options.attachType ?? probeAttachType(options.type);
  const log = options.logSize !== undefined && options.logSize > 0 ? new Uint8Array(options.logSize) : undefined;
  const { attr, pointers } = encodeAttr(ProgLoad, {
    prog_type: options.type,
    insn_cnt: bytes.byteLength / 8,
    insns: bytes,
    // GPL, so that GPL-only helpers are judged on their own merits in helper probes.
    license: cString('GPL'),
    log_level: log === undefined ? undefined : 1,
    log_size: log === undefined ? undefined : log.byteLength,
    log_buf: log,
    // Before 5.0 the kernel compared kern_version with LINUX_VERSION_CODE for kprobe programs
    // (the check was removed by commit 6c4fc209fcf9 "bpf: remove useless version check for
    // prog load").
    kern_version: options.type === ProgramType.Kprobe ? kernelVersion().code : undefined,
    prog_name: options.name,
    expected_attach_type: attachType === AttachType.None ? undefined : attachType,
    attach_btf_id: options.attachBtfId === undefined || options.attachBtfId === 0 ? undefined : options.attachBtfId,
  });
  const result = bpfRaw(ProgLoad, attr, pointers);
  if (result >= 0) backend().close(result);
  return { result, log: log === undefined ? '' : logText(log) };
}

/** The NUL-terminated text the kernel wrote into a log buffer. */
export function logText(buf: Uint8Array): string {
  const nul = buf.indexOf(0);
  return new TextDecoder().decode(nul < 0 ? buf : buf.subarray(0, nul));
}

// The BTF-target types: their load fails without an attach target, in a way that tells
// whether the kernel knows the type.
const btfTargetTypes = new Set<ProgramType>([ProgramType.Tracing, ProgramType.LSM, ProgramType.Ext]);

/**
 * The kernel config option a program type is registered under in include/linux/bpf_types.h,
 * beyond CONFIG_BPF_SYSCALL. A type missing from a kernel new enough to have it was most
 * likely configured out; the probe names the option when the kernel's config says so.
 */
export const programTypeConfig: Readonly<Partial<Record<ProgramType, string>>> = {
  [ProgramType.SocketFilter]: 'CONFIG_NET',
  [ProgramType.SchedCls]: 'CONFIG_NET',
  [ProgramType.SchedAct]: 'CONFIG_NET',
  [ProgramType.XDP]: 'CONFIG_NET',
  [ProgramType.CgroupSKB]: 'CONFIG_NET and CONFIG_CGROUP_BPF',
  [ProgramType.CgroupSock]: 'CONFIG_NET and CONFIG_CGROUP_BPF',
  [ProgramType.CgroupSockAddr]: 'CONFIG_NET and CONFIG_CGROUP_BPF',
  [ProgramType.CgroupDevice]: 'CONFIG_CGROUP_BPF',
  [ProgramType.CgroupSysctl]: 'CONFIG_CGROUP_BPF',
  [ProgramType.CgroupSockopt]: 'CONFIG_CGROUP_BPF',
  [ProgramType.SockOps]: 'CONFIG_NET',
  [ProgramType.SKSKB]: 'CONFIG_NET',
  [ProgramType.SKMsg]: 'CONFIG_NET',
  [ProgramType.FlowDissector]: 'CONFIG_NET',
  [ProgramType.Kprobe]: 'CONFIG_BPF_EVENTS',
  [ProgramType.Tracepoint]: 'CONFIG_BPF_EVENTS',
  [ProgramType.PerfEvent]: 'CONFIG_BPF_EVENTS',
  [ProgramType.RawTracepoint]: 'CONFIG_BPF_EVENTS',
  [ProgramType.RawTracepointWritable]: 'CONFIG_BPF_EVENTS',
  [ProgramType.Tracing]: 'CONFIG_BPF_EVENTS',
  [ProgramType.LIRCMode2]: 'CONFIG_BPF_LIRC_MODE2',
  [ProgramType.SKReuseport]: 'CONFIG_INET',
  [ProgramType.SKLookup]: 'CONFIG_INET',
  [ProgramType.StructOps]: 'CONFIG_BPF_JIT',
  [ProgramType.Ext]: 'CONFIG_BPF_JIT',
  [ProgramType.LSM]: 'CONFIG_BPF_LSM',
  [ProgramType.Netfilter]: 'CONFIG_NETFILTER_BPF_LINK',
};

/** Probes one program type. Exported for tests; use {@link programTypeFeature}. */
export function probeProgramType(type: ProgramType): FeatureResult {
  const name = programTypeName(type);
  const since = programTypeSince[type];
  if (type === ProgramType.Unspec) return notSupported('BPF_PROG_TYPE_UNSPEC is not a loadable type', since);
  const needsLog = btfTargetTypes.has(type);
  const first = probeLoad({ type, logSize: needsLog ? 4096 : 0 });
  if (first.result >= 0) return Supported;
  const errno = -first.result;
  switch (errno) {
    case Errno.EPERM:
      // Capabilities (CAP_BPF, CAP_PERFMON for tracing types, CAP_NET_ADMIN for networking
      // types in some kernels), or lockdown/an LSM when those are held.
      return permissionDenied(`loading a ${name} program`);
    case Errno.E2BIG:
      // bpf_check_uarg_tail_zero() (kernel/bpf/syscall.c): the attr has a non-zero field the
      // kernel does not know (expected_attach_type, attach_btf_id), so it predates the type.
      return notSupported(`the kernel does not know the attr fields a ${name} program needs (E2BIG)`, since);
    case Errno.ENOTSUPP:
      // STRUCT_OPS: check_struct_ops_btf_id() (kernel/bpf/verifier.c, 5.6+) answers ENOTSUPP
      // for attach_btf_id 0, "not a supported struct". Only a kernel that knows the type gets
      // that far; one that does not answers EINVAL from find_prog_type().
      if (type === ProgramType.StructOps) return Supported;
      break;
    case Errno.EINVAL: {
      // TRACING, LSM and EXT without attach_btf_id: bpf_check_attach_target() (5.10+; in
      // check_attach_btf_id() on 5.5–5.9) logs "Tracing programs must provide btf_id" and
      // answers EINVAL. That message comes from the verifier, which runs only after
      // find_prog_type() accepted the type.
      if (needsLog) {
        if (/must provide btf_id/.test(first.log)) return Supported;
        if (first.log !== '') return Supported;
        return notSupportedUnlessConfigured(`${name} programs are unknown to this kernel (EINVAL before verification)`, since, programTypeConfig[type]);
      }
      // Other types: the trivial program is valid, so EINVAL means either find_prog_type()
      // did not know the type, or the verifier refused something; a log tells them apart.
      const second = probeLoad({ type, logSize: 4096 });
      if (second.result >= 0) return Supported;
      if (second.log !== '') return Supported;
      return notSupportedUnlessConfigured(`${name} programs are unknown to this kernel (EINVAL before verification)`, since, programTypeConfig[type]);
    }
  }
  return unknown(`loading a ${name} program failed with ${errnoName(errno)}`);
}

const typeFeatures = new Map<ProgramType, Feature>();

/**
 * Whether the running kernel can load programs of `type`.
 *
 * Minimum kernel: the type's own (see `programTypeSince`); the probe itself needs bpf() (3.18).
 * The answer comes from the kernel, the version only decorates a "not supported". Conclusive
 * answers are cached per process and kept for later processes of the boot
 * (`EBPF_TS_NO_PROBE_CACHE=1` turns that off); EPERM (no privileges, lockdown) gives "unknown",
 * not cached.
 *
 * @example
 * ```ts
 * import { programTypeFeature, ProgramType } from 'ebpf-ts';
 * programTypeFeature(ProgramType.XDP).require(); // throws NotSupportedError before 4.8
 * ```
 *
 * @throws nothing from `check()`; `require()` throws `NotSupportedError`.
 */
export function programTypeFeature(type: ProgramType): Feature {
  let f = typeFeatures.get(type);
  if (f === undefined) {
    f = new Feature(type in ProgramType ? `program type ${programTypeName(type)}` : `program type #${type}`, programTypeSince[type], () => probeProgramType(type), { perBoot: 'kernel' });
    typeFeatures.set(type, f);
  }
  return f;
}

/**
 * `prog_name` in BPF_PROG_LOAD (Linux 4.15). Older kernels see a non-zero tail past the attr
 * they know and answer E2BIG (`bpf_check_uarg_tail_zero()`), so a name must not be sent there.
 */
export const programNameFeature = new Feature('BPF_PROG_LOAD.prog_name', '4.15', () => {
  const r = probeLoad({ type: ProgramType.SocketFilter, name: 'ebpf_ts_probe' });
  if (r.result >= 0) return Supported;
  if (r.result === -Errno.E2BIG || r.result === -Errno.EINVAL) return notSupported('BPF_PROG_LOAD rejects prog_name', '4.15');
  return unknown(`name probe failed with ${errnoName(-r.result)}`);
}, { perBoot: 'kernel', versionSuffices: true });

/**
 * A `.` in object names (Linux 5.2, commit 3e0ddc4f3ff1 "bpf: allow . char as part of the object
 * name"): before, `bpf_obj_name_cpy()` accepted only `[A-Za-z0-9_]` and answered EINVAL.
 */
export const programNameDotFeature = new Feature('dots in BPF object names', '5.2', () => {
  if (!programNameFeature.supported()) return notSupported('object names are not supported at all', '4.15');
  const r = probeLoad({ type: ProgramType.SocketFilter, name: 'ebpf_ts.probe' });
  if (r.result >= 0) return Supported;
  if (r.result === -Errno.EINVAL) return notSupported('bpf_obj_name_cpy() rejects "."', '5.2');
  return unknown(`name probe failed with ${errnoName(-r.result)}`);
}, { perBoot: 'kernel', versionSuffices: true });
