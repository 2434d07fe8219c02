/**
 * The per-CPU `PERF_COUNT_SW_BPF_OUTPUT` events a perf event array needs, opened through the
 * one perf_event_open of src/internal/perf-event.ts.
 *
 * Only the first 64 bytes of the attr (`PERF_ATTR_SIZE_VER0`) are sent: every field set here
 * lives there, and every kernel accepts that size (perf_copy_attr() zero-extends a short attr).
 *
 * @module
 */
import { Errno } from '../sys/errno.js';
import { encodePerfEventAttr, openPerfEvent, PERF_COUNT_SW_BPF_OUTPUT, PERF_SAMPLE_RAW, PerfAttrFlag, PerfType, type PerfEventAttr } from '../internal/perf-event.js';

/** When the kernel wakes the reader of a perf ring. */
export interface Wakeup {
  /** Wake once this many bytes are unread (`watermark = 1`, `wakeup_watermark`). */
  watermark?: number;
  /** Wake every this many samples (`wakeup_events`). */
  wakeupEvents?: number;
  /**
   * `write_backward` (4.7): the kernel writes each record below the previous one, for an
   * overwritable ring (mapped read-only; see src/perf/overwritable.ts).
   */
  backward?: boolean;
}

/**
 * The attr of a BPF output event. With neither option the reader is woken on every sample
 * (`wakeup_events = 1`), as libbpf's and cilium/ebpf's readers are by default.
 */
function bpfOutputAttr(wakeup: Wakeup): PerfEventAttr {
  const watermark = wakeup.watermark !== undefined && wakeup.watermark > 0;
  let flags = watermark ? PerfAttrFlag.Watermark : 0n;
  if (wakeup.backward === true) flags |= PerfAttrFlag.WriteBackward;
  return {
    type: PerfType.Software,
    config: PERF_COUNT_SW_BPF_OUTPUT,
    // sample_period 1: every bpf_perf_event_output() call is one sample.
    samplePeriod: 1n,
    sampleType: PERF_SAMPLE_RAW,
    flags: flags === 0n ? undefined : flags,
    wakeupEvents: watermark ? wakeup.watermark : (wakeup.wakeupEvents ?? 1),
  };
}

/** The encoded attr of a BPF output event (unit tests compare it byte for byte). */
export function encodeBpfOutputAttr(wakeup: Wakeup): Uint8Array {
  return encodePerfEventAttr(bpfOutputAttr(wakeup)).bytes;
}

/**
 * Opens a BPF output event on `cpu` for any process (`pid = -1`), close-on-exec, and returns
 * its fd (never 0–2).
 *
 * @throws {@link SyscallError} `perf_event_open` with a hint for the usual errnos.
 */
export function openBpfOutputEvent(cpu: number, wakeup: Wakeup): number {
  return openPerfEvent(bpfOutputAttr(wakeup), { cpu, what: `open BPF output event on CPU ${cpu}`, explain: (errno) => openHint(errno, cpu, wakeup.backward === true) });
}

function openHint(errno: number, cpu: number, backward: boolean): string | undefined {
  switch (errno) {
    case Errno.EACCES:
    case Errno.EPERM:
      // perf_event_paranoid > 1 refuses system-wide (pid -1) events without CAP_PERFMON
      // (perf_allow_cpu()).
      return 'system-wide perf events need CAP_PERFMON (5.8+) or CAP_SYS_ADMIN, or kernel.perf_event_paranoid <= 0';
    case Errno.ENODEV:
    case Errno.ENOENT:
      return `CPU ${cpu} is offline or the kernel has no software perf events (CONFIG_PERF_EVENTS)`;
    case Errno.EINVAL:
      return backward ? 'PERF_COUNT_SW_BPF_OUTPUT needs Linux 4.4, write_backward 4.7' : 'PERF_COUNT_SW_BPF_OUTPUT needs Linux 4.4';
    case Errno.EMFILE:
      return 'too many open files (one perf event per CPU): raise the fd limit (ulimit -n)';
    default:
      return undefined;
  }
}
