/**
 * perf events: `struct perf_event_attr` encoded by hand (the layout of
 * include/uapi/linux/perf_event.h, checked byte for byte in test/unit/link-perf-event.test.ts),
 * perf_event_open(2) with its errno explanations, and the PERF_EVENT_IOC_* requests. The one
 * copy both users share: link/ (tracepoint, kprobe and uprobe events a program attaches to)
 * and perf/ (the BPF output events a perf event array reader maps).
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { ArgumentError, SyscallError } from '../errors.js';
import { hostLittleEndian } from '../sys/attr.js';
import type { PointerList } from '../sys/backend.js';
import { Errno, permissionHint } from '../sys/errno.js';
import { backend } from '../sys/select.js';
import { moveAboveStdio } from './fd.js';
import { dataView } from './bytes.js';

/** `PERF_TYPE_*` (`enum perf_type_id`): the kind of event, which says how `config` is read. */
export const PerfType = {
  /** `PERF_TYPE_HARDWARE`: `config` is a `PERF_COUNT_HW_*` id; needs the CPU's PMU (often absent in VMs). */
  Hardware: 0,
  /** `PERF_TYPE_SOFTWARE`: `config` is a `PERF_COUNT_SW_*` id, counted by the kernel itself. */
  Software: 1,
  /** `PERF_TYPE_TRACEPOINT`: `config` is a trace event id from tracefs. */
  Tracepoint: 2,
  /** `PERF_TYPE_HW_CACHE`: `config` is `cache id | (op << 8) | (result << 16)`. */
  HWCache: 3,
  /** `PERF_TYPE_RAW`: `config` is a model-specific PMU event code. */
  Raw: 4,
  /** `PERF_TYPE_BREAKPOINT`: a hardware breakpoint (`bp_type`, `bp_addr`, `bp_len`). */
  Breakpoint: 5,
} as const;

// `enum perf_hw_id`: the generalised hardware events (PERF_TYPE_HARDWARE configs).
/** `PERF_COUNT_HW_CPU_CYCLES`: CPU cycles (`perf -e cycles`). */
export const PERF_COUNT_HW_CPU_CYCLES = 0n;
/** `PERF_COUNT_HW_INSTRUCTIONS`: retired instructions. */
export const PERF_COUNT_HW_INSTRUCTIONS = 1n;
/** `PERF_COUNT_HW_CACHE_REFERENCES`: last-level cache accesses. */
export const PERF_COUNT_HW_CACHE_REFERENCES = 2n;
/** `PERF_COUNT_HW_CACHE_MISSES`: last-level cache misses. */
export const PERF_COUNT_HW_CACHE_MISSES = 3n;
/** `PERF_COUNT_HW_BRANCH_INSTRUCTIONS`: retired branches. */
export const PERF_COUNT_HW_BRANCH_INSTRUCTIONS = 4n;
/** `PERF_COUNT_HW_BRANCH_MISSES`: mispredicted branches. */
export const PERF_COUNT_HW_BRANCH_MISSES = 5n;
/** `PERF_COUNT_HW_BUS_CYCLES`: bus cycles. */
export const PERF_COUNT_HW_BUS_CYCLES = 6n;
/** `PERF_COUNT_HW_STALLED_CYCLES_FRONTEND` (3.0). */
export const PERF_COUNT_HW_STALLED_CYCLES_FRONTEND = 7n;
/** `PERF_COUNT_HW_STALLED_CYCLES_BACKEND` (3.0). */
export const PERF_COUNT_HW_STALLED_CYCLES_BACKEND = 8n;
/** `PERF_COUNT_HW_REF_CPU_CYCLES` (3.3): cycles at the reference clock, unaffected by frequency scaling. */
export const PERF_COUNT_HW_REF_CPU_CYCLES = 9n;

// `enum perf_sw_ids`: events the kernel counts in software (PERF_TYPE_SOFTWARE configs).
/** `PERF_COUNT_SW_CPU_CLOCK`: a per-CPU high-resolution timer; samples wall time on a CPU, works without a PMU. */
export const PERF_COUNT_SW_CPU_CLOCK = 0n;
/** `PERF_COUNT_SW_TASK_CLOCK`: time the watched task runs (for per-task events). */
export const PERF_COUNT_SW_TASK_CLOCK = 1n;
/** `PERF_COUNT_SW_PAGE_FAULTS`. */
export const PERF_COUNT_SW_PAGE_FAULTS = 2n;
/** `PERF_COUNT_SW_CONTEXT_SWITCHES`. */
export const PERF_COUNT_SW_CONTEXT_SWITCHES = 3n;
/** `PERF_COUNT_SW_CPU_MIGRATIONS`. */
export const PERF_COUNT_SW_CPU_MIGRATIONS = 4n;
/** `PERF_COUNT_SW_PAGE_FAULTS_MIN`: minor faults. */
export const PERF_COUNT_SW_PAGE_FAULTS_MIN = 5n;
/** `PERF_COUNT_SW_PAGE_FAULTS_MAJ`: major faults. */
export const PERF_COUNT_SW_PAGE_FAULTS_MAJ = 6n;
/** `PERF_COUNT_SW_ALIGNMENT_FAULTS` (2.6.33). */
export const PERF_COUNT_SW_ALIGNMENT_FAULTS = 7n;
/** `PERF_COUNT_SW_EMULATION_FAULTS` (2.6.33). */
export const PERF_COUNT_SW_EMULATION_FAULTS = 8n;
/** `PERF_COUNT_SW_DUMMY` (3.12): counts nothing. */
export const PERF_COUNT_SW_DUMMY = 9n;
/** `PERF_COUNT_SW_BPF_OUTPUT` (4.4): the software event `bpf_perf_event_output()` writes into. */
export const PERF_COUNT_SW_BPF_OUTPUT = 10n;
/** `PERF_COUNT_SW_CGROUP_SWITCHES` (5.13): context switches to a task of another cgroup. */
export const PERF_COUNT_SW_CGROUP_SWITCHES = 11n;

// The names perf(1) lists for the generalised events, for messages and results.
const hardwareNames = ['cycles', 'instructions', 'cache-references', 'cache-misses', 'branch-instructions', 'branch-misses', 'bus-cycles', 'stalled-cycles-frontend', 'stalled-cycles-backend', 'ref-cycles'];
const softwareNames = ['cpu-clock', 'task-clock', 'page-faults', 'context-switches', 'cpu-migrations', 'minor-faults', 'major-faults', 'alignment-faults', 'emulation-faults', 'dummy', 'bpf-output', 'cgroup-switches'];
const typeNames = ['hardware', 'software', 'tracepoint', 'hw-cache', 'raw', 'breakpoint'];

/**
 * A readable name for event `config` of `type`: perf(1)'s name for the generalised hardware
 * and software events (`cycles`, `cpu-clock`), else `type N config 0x…`.
 *
 * @example
 * ```ts
 * perfEventName(PerfType.Software, PERF_COUNT_SW_CPU_CLOCK); // 'cpu-clock'
 * perfEventName(PerfType.Raw, 0x1c2n); // 'raw config 0x1c2'
 * ```
 */
export function perfEventName(type: number, config: bigint): string {
  const list = type === PerfType.Hardware ? hardwareNames : type === PerfType.Software ? softwareNames : undefined;
  const known = list !== undefined && config >= 0n && config < BigInt(list.length) ? list[Number(config)] : undefined;
  return known ?? `${typeNames[type] ?? `type ${type}`} config 0x${config.toString(16)}`;
}

/** `PERF_SAMPLE_RAW`: samples carry the raw trace record. */
export const PERF_SAMPLE_RAW = 1n << 10n;

/** `PERF_FLAG_FD_CLOEXEC` (Linux 3.14): the new fd is close-on-exec. */
export const PERF_FLAG_FD_CLOEXEC = 1 << 3;

/** `PERF_EVENT_IOC_ENABLE` = `_IO('$', 0)`. */
export const PERF_EVENT_IOC_ENABLE = 0x2400;
/** `PERF_EVENT_IOC_DISABLE` = `_IO('$', 1)`. */
export const PERF_EVENT_IOC_DISABLE = 0x2401;
/** `PERF_EVENT_IOC_SET_BPF` = `_IOW('$', 8, __u32)` (Linux 4.1). */
export const PERF_EVENT_IOC_SET_BPF = 0x40042408;
/**
 * `PERF_EVENT_IOC_PAUSE_OUTPUT` = `_IOW('$', 9, __u32)` (Linux 4.7): 1 stops writes to the
 * event's ring (they are dropped and counted as lost), 0 lets them in again.
 */
export const PERF_EVENT_IOC_PAUSE_OUTPUT = 0x40042409;

/** Published sizes of `struct perf_event_attr` (`PERF_ATTR_SIZE_VER0` … `VER8`). */
export const PerfAttrSize = {
  /** First published struct (Linux 2.6.31). */
  Ver0: 64,
  /** Adds `config2` (2.6.39): kprobe/uprobe PMU offsets need it. */
  Ver1: 72,
  /** Adds `branch_sample_type` (3.4). */
  Ver2: 80,
  /** Adds `sample_regs_user`, `sample_stack_user` (3.7). */
  Ver3: 96,
  /** Adds `sample_regs_intr` (3.19). */
  Ver4: 104,
  /** Adds `aux_watermark` (4.1). */
  Ver5: 112,
  /** Adds `aux_sample_size` (5.5). */
  Ver6: 120,
  /** Adds `sig_data` (5.13). */
  Ver7: 128,
  /** Adds `config3` (6.3). */
  Ver8: 136,
} as const;

/** Bits of the `perf_event_attr` flag word at offset 40 (a C bitfield, LSB first). */
export const PerfAttrFlag = {
  /** `disabled`: the event starts off; PERF_EVENT_IOC_ENABLE turns it on. */
  Disabled: 1n << 0n,
  /** `inherit`: children inherit the event. */
  Inherit: 1n << 1n,
  /** `exclude_user`. */
  ExcludeUser: 1n << 4n,
  /** `exclude_kernel`. */
  ExcludeKernel: 1n << 5n,
  /** `freq`: `samplePeriod` is a frequency. */
  Freq: 1n << 10n,
  /** `watermark`: `wakeupEvents` counts bytes (`wakeup_watermark`). */
  Watermark: 1n << 14n,
  /** `sample_id_all`. */
  SampleIdAll: 1n << 18n,
  /** `write_backward` (4.7). */
  WriteBackward: 1n << 27n,
} as const;

/**
 * The fields of `struct perf_event_attr` this library sets. Unset fields are zero. Pointer
 * fields (`config1` as `kprobe_func`/`uprobe_path`) take a NUL-terminated buffer whose address
 * the backend writes in.
 */
export interface PerfEventAttr {
  /** `type`: a `PERF_TYPE_*` value or a dynamic PMU's type (kprobe, uprobe). */
  type: number;
  /** `size`; default: the smallest published size that holds every field set. */
  size?: number;
  /** `config`: the event id (tracepoints) or PMU-specific bits (the retprobe bit). */
  config?: bigint;
  /** `sample_period` (or `sample_freq` with {@link PerfAttrFlag.Freq}). */
  samplePeriod?: bigint;
  /** `sample_type`: `PERF_SAMPLE_*` bits. */
  sampleType?: bigint;
  /** `read_format`. */
  readFormat?: bigint;
  /** The bitfield word: {@link PerfAttrFlag} bits. */
  flags?: bigint;
  /** `wakeup_events` (or `wakeup_watermark` with {@link PerfAttrFlag.Watermark}). */
  wakeupEvents?: number;
  /** `bp_type`. */
  bpType?: number;
  /** `config1` as a number (`bp_addr`), or a C string the kernel reads (`kprobe_func`, `uprobe_path`). */
  config1?: bigint | Uint8Array;
  /** `config2`: `bp_len`, `kprobe_addr` or `probe_offset`. */
  config2?: bigint;
  /** `branch_sample_type`. */
  branchSampleType?: bigint;
  /** `sample_regs_user`. */
  sampleRegsUser?: bigint;
  /** `sample_stack_user`. */
  sampleStackUser?: number;
  /** `clockid` (with `use_clockid`). */
  clockid?: number;
  /** `sample_regs_intr`. */
  sampleRegsIntr?: bigint;
  /** `aux_watermark`. */
  auxWatermark?: number;
  /** `sample_max_stack`. */
  sampleMaxStack?: number;
  /** `aux_sample_size`. */
  auxSampleSize?: number;
  /** `sig_data`. */
  sigData?: bigint;
  /** `config3` (6.3). */
  config3?: bigint;
}

/** Offsets of `struct perf_event_attr` fields (include/uapi/linux/perf_event.h). */
export const PerfAttrOffset = {
  type: 0,
  size: 4,
  config: 8,
  samplePeriod: 16,
  sampleType: 24,
  readFormat: 32,
  flags: 40,
  wakeupEvents: 48,
  bpType: 52,
  config1: 56,
  config2: 64,
  branchSampleType: 72,
  sampleRegsUser: 80,
  sampleStackUser: 88,
  clockid: 92,
  sampleRegsIntr: 96,
  auxWatermark: 104,
  sampleMaxStack: 108,
  auxSampleSize: 112,
  sigData: 120,
  config3: 128,
} as const;

/** An encoded attr and the pointer fields for the backend to patch. */
export interface EncodedPerfEventAttr {
  /** The struct bytes, `size` long. */
  readonly bytes: Uint8Array;
  /** `[offset, buffer]` pairs for pointer-valued fields. */
  readonly pointers: PointerList;
}

/**
 * Encodes `attr` as a native-endian `struct perf_event_attr` of `attr.size` bytes (default:
 * the smallest published size holding every field set, so old kernels never see a tail they
 * do not know: perf_copy_attr() answers E2BIG to non-zero bytes beyond its own struct).
 *
 * @example
 * ```ts
 * const { bytes } = encodePerfEventAttr({ type: PerfType.Tracepoint, config: 321n, samplePeriod: 1n, sampleType: PERF_SAMPLE_RAW, wakeupEvents: 1 });
 * bytes.length; // 64
 * ```
 * @throws {@link ArgumentError} when `size` is smaller than the fields set.
 */
export function encodePerfEventAttr(attr: PerfEventAttr): EncodedPerfEventAttr {
  const o = PerfAttrOffset;
  let end: number = PerfAttrSize.Ver0;
  const need = (offset: number, width: number, value: unknown): void => {
    if (value !== undefined && value !== 0 && value !== 0n) end = Math.max(end, offset + width);
  };
  need(o.config2, 8, attr.config2);
  need(o.branchSampleType, 8, attr.branchSampleType);
  need(o.sampleRegsUser, 8, attr.sampleRegsUser);
  need(o.sampleStackUser, 4, attr.sampleStackUser);
  need(o.clockid, 4, attr.clockid);
  need(o.sampleRegsIntr, 8, attr.sampleRegsIntr);
  need(o.auxWatermark, 4, attr.auxWatermark);
  need(o.sampleMaxStack, 2, attr.sampleMaxStack);
  need(o.auxSampleSize, 4, attr.auxSampleSize);
  need(o.sigData, 8, attr.sigData);
  need(o.config3, 8, attr.config3);
  // Round up to a published size: the kernel documents only those.
  const published = Object.values(PerfAttrSize).find((s) => s >= end) ?? PerfAttrSize.Ver8;
  const size = attr.size ?? published;
  if (size < end) throw new ArgumentError(`perf_event_attr size ${size} cannot hold the fields set (needs ${end})`);
  const bytes = new Uint8Array(size);
  const view = dataView(bytes);
  const le = hostLittleEndian;
  const u64 = (offset: number, v: bigint | undefined): void => {
    if (v !== undefined && offset + 8 <= size) view.setBigUint64(offset, BigInt.asUintN(64, v), le);
  };
  const u32 = (offset: number, v: number | undefined): void => {
    if (v !== undefined && offset + 4 <= size) view.setUint32(offset, v >>> 0, le);
  };
  u32(o.type, attr.type);
  u32(o.size, size);
  u64(o.config, attr.config);
  u64(o.samplePeriod, attr.samplePeriod);
  u64(o.sampleType, attr.sampleType);
  u64(o.readFormat, attr.readFormat);
  u64(o.flags, attr.flags);
  u32(o.wakeupEvents, attr.wakeupEvents);
  u32(o.bpType, attr.bpType);
  const pointers: Array<number | Uint8Array | null> = [];
  if (attr.config1 instanceof Uint8Array) pointers.push(o.config1, attr.config1);
  else u64(o.config1, attr.config1);
  u64(o.config2, attr.config2);
  u64(o.branchSampleType, attr.branchSampleType);
  u64(o.sampleRegsUser, attr.sampleRegsUser);
  u32(o.sampleStackUser, attr.sampleStackUser);
  if (attr.clockid !== undefined && o.clockid + 4 <= size) view.setInt32(o.clockid, attr.clockid, le);
  u64(o.sampleRegsIntr, attr.sampleRegsIntr);
  u32(o.auxWatermark, attr.auxWatermark);
  if (attr.sampleMaxStack !== undefined && o.sampleMaxStack + 2 <= size) view.setUint16(o.sampleMaxStack, attr.sampleMaxStack, le);
  u32(o.auxSampleSize, attr.auxSampleSize);
  u64(o.sigData, attr.sigData);
  u64(o.config3, attr.config3);
  return { bytes, pointers };
}

/** Where and how a perf event is opened (the other arguments of perf_event_open(2)). */
export interface PerfEventOpenOptions {
  /** Thread to watch; -1 (default) for all. */
  pid?: number;
  /** CPU; default 0 with `pid` -1 (a BPF program on a trace event runs on every CPU anyway). */
  cpu?: number;
  /** Group leader fd; -1 (default) for none. */
  groupFd?: number;
  /** `PERF_FLAG_*`; default {@link PERF_FLAG_FD_CLOEXEC}. */
  flags?: number;
  /** What the event is, for error messages (e.g. `kprobe do_sys_openat2`). */
  what?: string;
  /** Explains an errno specific to the caller's event kind; undefined falls back to the generic hints. */
  explain?: (errno: number) => string | undefined;
}

function perfErrnoHint(errno: number): string | undefined {
  switch (errno) {
    case Errno.EACCES:
    case Errno.EPERM:
      // perf_event_open() checks perf_event_paranoid and CAP_PERFMON (5.8+) / CAP_SYS_ADMIN
      // before the PMU sees the event (perf_allow_kernel()).
      return `needs CAP_PERFMON or CAP_SYS_ADMIN (kernel.perf_event_paranoid=${readParanoid()}); ${permissionHint()}`;
    case Errno.ENOENT:
      return 'the event type or id does not exist in this kernel';
    case Errno.E2BIG:
      return 'the kernel does not know a perf_event_attr field that was set';
    case Errno.EMFILE:
      return 'too many open files (raise the fd limit)';
    default:
      return undefined;
  }
}

function readParanoid(): string {
  try {
    return readFileSync('/proc/sys/kernel/perf_event_paranoid', 'utf8').trim();
  } catch {
    return '?';
  }
}

/**
 * perf_event_open(2) for `attr`; returns the fd (moved above stdio if it landed on 0–2).
 *
 * Minimum kernel: 2.6.31; `PERF_FLAG_FD_CLOEXEC` 3.14.
 *
 * @example
 * ```ts
 * const fd = openPerfEvent({ type: PerfType.Tracepoint, config: BigInt(tracepointId('syscalls', 'sys_enter_getppid')), samplePeriod: 1n, sampleType: PERF_SAMPLE_RAW, wakeupEvents: 1 });
 * ```
 * @throws {@link SyscallError} with the errno and a hint (EACCES/EPERM: privileges and
 * perf_event_paranoid).
 */
export function openPerfEvent(attr: PerfEventAttr, options: PerfEventOpenOptions = {}): number {
  const { bytes, pointers } = encodePerfEventAttr(attr);
  const b = backend();
  const pid = options.pid ?? -1;
  const cpu = options.cpu ?? (pid === -1 ? 0 : -1);
  let fd = b.perfEventOpen(bytes, pid, cpu, options.groupFd ?? -1, options.flags ?? PERF_FLAG_FD_CLOEXEC, pointers);
  if (fd < 0) {
    const errno = -fd;
    throw new SyscallError('perf_event_open', errno, options.explain?.(errno) ?? perfErrnoHint(errno), options.what);
  }
  // fd 0 means "none" in several UAPI fields (target_fd of a link is checked with fdget()).
  fd = moveAboveStdio(fd);
  if (fd < 0) throw new SyscallError('fcntl(F_DUPFD_CLOEXEC)', -fd, undefined, `move the perf event fd of ${options.what ?? 'an event'} above stdio`);
  return fd;
}

/**
 * `ioctl(fd, request, arg)` on a perf event; throws {@link SyscallError} with `what` as context.
 */
export function perfEventIoctl(fd: number, request: number, arg: number, what: string): void {
  const r = backend().ioctl(fd, request, arg);
  if (r < 0) {
    const name =
      request === PERF_EVENT_IOC_SET_BPF
        ? 'PERF_EVENT_IOC_SET_BPF'
        : request === PERF_EVENT_IOC_ENABLE
          ? 'PERF_EVENT_IOC_ENABLE'
          : request === PERF_EVENT_IOC_PAUSE_OUTPUT
            ? 'PERF_EVENT_IOC_PAUSE_OUTPUT'
            : 'PERF_EVENT_IOC_DISABLE';
    throw new SyscallError(name, -r, setBpfHint(request, -r), what);
  }
}

function setBpfHint(request: number, errno: number): string | undefined {
  if (request !== PERF_EVENT_IOC_SET_BPF) return undefined;
  // perf_event_set_bpf_prog(): EEXIST when a program is already set on this event (before 4.15
  // only one program per event; since 4.15 the ioctl adds to a prog_array per trace event),
  // EINVAL when the program type does not match the event kind (KPROBE for kprobe events,
  // TRACEPOINT for tracepoints, PERF_EVENT for hardware/software events).
  if (errno === Errno.EEXIST) return 'a program is already attached to this perf event';
  if (errno === Errno.EINVAL) return 'the program type does not fit the event (kprobe events take KPROBE programs, tracepoints TRACEPOINT programs)';
  return undefined;
}
