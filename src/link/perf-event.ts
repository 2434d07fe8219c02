/**
 * perf events as attachment points: `struct perf_event_attr` encoded by hand (the layout of
 * include/uapi/linux/perf_event.h, checked byte for byte in test/unit/link-perf-event.test.ts),
 * perf_event_open for tracepoint and kprobe/uprobe PMU events, the PERF_EVENT_IOC_* requests,
 * and the choice between the two ways a BPF program is attached to such an event:
 *
 * - BPF_LINK_CREATE with attach type BPF_PERF_EVENT (Linux 5.15, commit b89fbfbb854c "bpf:
 *   Implement minimal BPF perf link"): a real bpf_link, with info, pinning and cookies;
 * - PERF_EVENT_IOC_SET_BPF then PERF_EVENT_IOC_ENABLE (Linux 4.1 for kprobes, 4.7 for
 *   tracepoints): the program stays attached while the perf event fd is open.
 *
 * Which one is used is decided by {@link perfLinkFeature}, a probe, never by the version
 * number: distributions backport.
 *
 * @module
 */
import { NotSupportedError } from '../errors.js';
import { Feature, unknown } from '../features/feature.js';
import { Program } from '../prog.js';
import { bpfCall } from '../sys/bpf.js';
import { Errno } from '../sys/errno.js';
import { LinkCreate } from '../sys/layouts.js';
import { backend } from '../sys/select.js';
import { AttachType, ProgramType } from '../types.js';
import { Link } from './link.js';
import { linkCreateProbe } from './link-create-probe.js';
import { integerArgument } from './integer.js';
import { openPerfEvent, PERF_EVENT_IOC_ENABLE, PERF_EVENT_IOC_SET_BPF, PERF_SAMPLE_RAW, perfEventIoctl, PerfType } from '../internal/perf-event.js';

/** A perf event for trace event `id` (tracepoint or tracefs-created probe event). */
export function openTracepointEvent(id: number, what: string, pid = -1): number {
  return openPerfEvent(
    { type: PerfType.Tracepoint, config: BigInt(id), samplePeriod: 1n, sampleType: PERF_SAMPLE_RAW, wakeupEvents: 1 },
    { pid, what },
  );
}

/**
 * BPF_LINK_CREATE with attach type BPF_PERF_EVENT (Linux 5.15, commit b89fbfbb854c "bpf:
 * Implement minimal BPF perf link"). Probed by creating such a link for a trivial tracepoint
 * program with an fd that is no perf event: kernels with perf links look the fd up and answer
 * EBADF; older ones do not know the attach type for tracing programs and answer EINVAL.
 *
 * @example
 * ```ts
 * if (perfLinkFeature.supported()) console.log('links for kprobes and tracepoints');
 * ```
 */
export const perfLinkFeature = new Feature('BPF perf link (BPF_LINK_CREATE with BPF_PERF_EVENT)', '5.15', () =>
  linkCreateProbe({
    name: 'probe_perf_link',
    programType: ProgramType.Tracepoint,
    attachType: AttachType.PerfEvent,
    loadAttachType: AttachType.None,
    attachName: 'BPF_PERF_EVENT',
    fields: { target_fd: 0xffffffff },
    proves: [Errno.EBADF],
    since: '5.15',
  }),
  { perBoot: 'kernel' },
);

/** Options of {@link attachPerfEvent}. */
export interface AttachPerfEventOptions {
  /** A value `bpf_get_attach_cookie()` returns in the program (needs the perf link, 5.15+). */
  cookie?: bigint | number;
  /** What was attached, for messages and `toString()` (e.g. `tracepoint syscalls/sys_enter_getppid`). */
  what: string;
  /** Run after the link and perf event are closed (e.g. remove a tracefs probe event). */
  cleanup?: () => void;
}

/**
 * Attaches `prog` to the perf event `perfFd` and returns the {@link Link}, which owns the perf
 * event fd from then on (also when this throws: the fd is closed and `cleanup` run).
 *
 * With the perf link (5.15+) the result is a bpf_link; else the program is set with
 * PERF_EVENT_IOC_SET_BPF and the event enabled, and closing the link closes the event.
 *
 * @throws {@link NotSupportedError} for a cookie on a kernel without perf links,
 * {@link SyscallError} when the kernel refuses the attachment.
 */
export function attachPerfEvent(prog: Program, perfFd: number, options: AttachPerfEventOptions): Link {
  const b = backend();
  const fail = (err: unknown): never => {
    b.close(perfFd);
    options.cleanup?.();
    throw err;
  };
  try {
    if (perfLinkFeature.supported()) {
      const cookie = options.cookie === undefined ? undefined : integerArgument(options.cookie, 'cookie');
      const fd = bpfCall(
        LinkCreate,
        {
          prog_fd: prog.fd,
          target_fd: perfFd,
          attach_type: AttachType.PerfEvent,
          flags: 0,
          perf_event_bpf_cookie: cookie === undefined || cookie === 0n ? undefined : cookie,
        },
        {
          context: `attach ${prog.name} to ${options.what}`,
          explain: (errno) =>
            errno === Errno.EINVAL ? 'the program type does not fit the event (kprobe events take KPROBE programs, tracepoints TRACEPOINT programs)' : undefined,
        },
      );
      return Link.adopt({ fd, perfFd, what: options.what, cleanup: options.cleanup, mode: 'perf-link' });
    }
    if (options.cookie !== undefined && integerArgument(options.cookie, 'cookie') !== 0n) {
      throw new NotSupportedError('bpf cookie on perf events (BPF perf link)', '5.15');
    }
    perfEventIoctl(perfFd, PERF_EVENT_IOC_SET_BPF, prog.fd, `attach ${prog.name} to ${options.what}`);
    perfEventIoctl(perfFd, PERF_EVENT_IOC_ENABLE, 0, `enable ${options.what}`);
    return Link.adopt({ fd: perfFd, what: options.what, cleanup: options.cleanup, mode: 'perf-ioctl' });
  } catch (err) {
    return fail(err);
  }
}
