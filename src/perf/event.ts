/**
 * Opening the per-CPU `PERF_COUNT_SW_BPF_OUTPUT` events a perf event array needs: the
 * `struct perf_event_attr` encoding, `perf_event_open(2)` and its errno explanations.
 *
 * Only the first 64 bytes of the attr (`PERF_ATTR_SIZE_VER0`) are sent: every field this file
 * sets lives there, and every kernel accepts that size (perf_copy_attr() zero-extends a short
 * attr), so nothing newer than the running kernel is ever claimed.
 *
 * @module
 */
import { SyscallError } from '../errors.js';
import { hostLittleEndian } from '../sys/attr.js';
import type { Backend } from '../sys/backend.js';

/** `PERF_ATTR_SIZE_VER0`: type through config1. */
const PERF_ATTR_SIZE_VER0 = 64;
/** `PERF_TYPE_SOFTWARE`. */
const PERF_TYPE_SOFTWARE = 1;
/** `PERF_COUNT_SW_BPF_OUTPUT` (4.4): the event `bpf_perf_event_output()` writes into. */
const PERF_COUNT_SW_BPF_OUTPUT = 10;
/** `PERF_SAMPLE_RAW`: samples carry a u32 size and the raw bytes. */
const PERF_SAMPLE_RAW = 1 << 10;
/** Bit of the attr's flag word: `wakeup_watermark` (bytes) instead of `wakeup_events`. */
const FLAG_WATERMARK = 1 << 14;
/** `PERF_FLAG_FD_CLOEXEC` (3.14). */
const PERF_FLAG_FD_CLOEXEC = 1 << 3;
/** `PERF_EVENT_IOC_ENABLE` = `_IO('$', 0)`. */
export const PERF_EVENT_IOC_ENABLE = 0x2400;

const ENOENT = 2;
const EACCES = 13;
const EMFILE = 24;
const ENODEV = 19;
const EINVAL = 22;
const EPERM = 1;

/** When the kernel wakes the reader of a perf ring. */
export interface Wakeup {
  /** Wake once this many bytes are unread (`watermark = 1`, `wakeup_watermark`). */
  watermark?: number;
  /** Wake every this many samples (`wakeup_events`). */
  wakeupEvents?: number;
}

/**
 * Encodes the attr of a BPF output event. With neither option the reader is woken on every
 * sample (`wakeup_events = 1`), as libbpf's and cilium/ebpf's readers are by default.
 */
export function bpfOutputAttr(wakeup: Wakeup): Uint8Array {
  const attr = new Uint8Array(PERF_ATTR_SIZE_VER0);
  const v = new DataView(attr.buffer);
  const le = hostLittleEndian;
  v.setUint32(0, PERF_TYPE_SOFTWARE, le);
  v.setUint32(4, PERF_ATTR_SIZE_VER0, le);
  v.setBigUint64(8, BigInt(PERF_COUNT_SW_BPF_OUTPUT), le);
  // sample_period 1: every bpf_perf_event_output() call is one sample.
  v.setBigUint64(16, 1n, le);
  v.setBigUint64(24, BigInt(PERF_SAMPLE_RAW), le);
  if (wakeup.watermark !== undefined && wakeup.watermark > 0) {
    v.setBigUint64(40, BigInt(FLAG_WATERMARK), le);
    v.setUint32(48, wakeup.watermark, le);
  } else {
    v.setUint32(48, wakeup.wakeupEvents ?? 1, le);
  }
  return attr;
}

/**
 * Opens a BPF output event on `cpu` for any process (`pid = -1`), close-on-exec, and returns
 * its fd (never 0–2: those are re-duplicated above stdio).
 *
 * @throws {@link SyscallError} `perf_event_open` with a hint for the usual errnos.
 */
export function openBpfOutputEvent(b: Backend, cpu: number, wakeup: Wakeup): number {
  const fd = b.perfEventOpen(bpfOutputAttr(wakeup), -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
  if (fd < 0) throw new SyscallError('perf_event_open', -fd, openHint(-fd, cpu), `open BPF output event on CPU ${cpu}`);
  if (fd > 2) return fd;
  const dup = b.dupAbove(fd, 3);
  b.close(fd);
  if (dup < 0) throw new SyscallError('fcntl(F_DUPFD_CLOEXEC)', -dup, undefined, `move perf fd of CPU ${cpu} above stdio`);
  return dup;
}

function openHint(errno: number, cpu: number): string | undefined {
  switch (errno) {
    case EACCES:
    case EPERM:
      // perf_event_paranoid > 1 refuses system-wide (pid -1) events without CAP_PERFMON
      // (perf_allow_cpu()).
      return 'system-wide perf events need CAP_PERFMON (5.8+) or CAP_SYS_ADMIN, or kernel.perf_event_paranoid <= 0';
    case ENODEV:
    case ENOENT:
      return `CPU ${cpu} is offline or the kernel has no software perf events (CONFIG_PERF_EVENTS)`;
    case EINVAL:
      return 'PERF_COUNT_SW_BPF_OUTPUT needs Linux 4.4';
    case EMFILE:
      return 'too many open files (one perf event per CPU): raise the fd limit (ulimit -n)';
    default:
      return undefined;
  }
}
