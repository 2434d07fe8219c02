/**
 * Sampling with perf events: one hardware or software event per CPU, each running a
 * `perf_event` program when it overflows — how profilers sample stacks at a fixed rate.
 *
 * A perf event counts on one CPU (or follows one task); to see the whole machine a profiler
 * opens one per online CPU. Each is attached like any perf event (perf link on 5.15+, else
 * PERF_EVENT_IOC_SET_BPF), and the links are owned together by one {@link PerfEventMultiLink}.
 *
 * Hardware events need the CPU's PMU, which virtual machines often do not expose (qemu TCG,
 * many clouds): perf_event_open() then fails with ENOENT because no PMU claims the event
 * (perf_init_event()). A profiler wants samples anyway, so a hardware event falls back to
 * the `cpu-clock` software event (a per-CPU hrtimer) unless told otherwise, and the result
 * says which event runs.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { ArgumentError, NotSupportedError, SyscallError } from '../errors.js';
import { onlineCPUs } from '../sys/cpus.js';
import { Errno } from '../sys/errno.js';
import { ProgramType } from '../types.js';
import type { Program } from '../prog.js';
import {
  openPerfEvent,
  PERF_COUNT_SW_CPU_CLOCK,
  PerfAttrFlag,
  perfEventName,
  PerfType,
  type PerfEventAttr,
} from '../internal/perf-event.js';
import { integerArgument } from './integer.js';
import type { Link } from './link.js';
import { MultiLink } from './multi-link.js';
import { attachPerfEvent, perfLinkFeature } from './perf-event.js';

/** An event: a `PERF_TYPE_*` and its `config`. */
export interface PerfEventSpec {
  /** A {@link PerfType} value (or a dynamic PMU's type from `/sys/bus/event_source/devices/<pmu>/type`). */
  readonly type: number;
  /** The event id of that type: `PERF_COUNT_HW_*`, `PERF_COUNT_SW_*`, a cache or raw code. */
  readonly config: bigint | number;
}

/** Options of {@link attachPerfEventAllCPUs}: the event, its rate (`frequency` or `period`) and what it watches. */
export interface PerfEventAllCPUsOptions extends PerfEventSpec {
  /**
   * Samples per second on each CPU (`sample_freq` with the `freq` bit): the kernel adjusts the
   * period to reach it. At most `kernel.perf_event_max_sample_rate`. Give this or `period`.
   */
  readonly frequency?: number;
  /** Events between two samples (`sample_period`), e.g. 1000000 cycles. Give this or `frequency`. */
  readonly period?: bigint | number;
  /** Only this process (its threads on each CPU); default -1: every process. */
  readonly pid?: number;
  /** With `pid`: also threads and children it creates after attaching (`inherit`). */
  readonly inherit?: boolean;
  /** The CPUs to sample; default every online CPU (/sys/devices/system/cpu/online). */
  readonly cpus?: readonly number[];
  /**
   * The event used when a hardware event cannot be opened because the machine has no PMU for
   * it (ENOENT, EOPNOTSUPP, ENODEV); default `cpu-clock` (`PERF_TYPE_SOFTWARE`,
   * `PERF_COUNT_SW_CPU_CLOCK`). `false` fails with {@link NotSupportedError} instead.
   */
  readonly fallback?: PerfEventSpec | false;
  /** `bpf_get_attach_cookie()`'s value in the program (perf links, 5.15+). */
  readonly cookie?: bigint | number;
}

/** The event a {@link PerfEventMultiLink} samples. */
export interface SampledEvent {
  /** `PERF_TYPE_*` of the event opened. */
  readonly type: number;
  /** Its config. */
  readonly config: bigint;
  /** perf(1)'s name of it (`cycles`, `cpu-clock`) or `type N config 0x…`. */
  readonly name: string;
  /** The name of the event asked for; differs from `name` after a fallback. */
  readonly requested: string;
  /** True when the event asked for could not be opened and `fallback` runs instead. */
  readonly fallback: boolean;
  /** Samples per second per CPU, if sampling by frequency. */
  readonly frequency: number | undefined;
  /** Events per sample, if sampling by period. */
  readonly period: bigint | undefined;
  /** The CPUs with an event, in the order of {@link MultiLink.links}. */
  readonly cpus: readonly number[];
  /** The process watched, -1 for all. */
  readonly pid: number;
}

/**
 * The perf events of {@link attachPerfEventAllCPUs}: a {@link MultiLink} with one link per
 * CPU, and which event they sample.
 *
 * Minimum kernel: 4.9 (perf_event programs); links 5.15.
 *
 * @example
 * ```ts
 * using sampling = attachPerfEventAllCPUs(prog, { type: PerfType.Hardware, config: PERF_COUNT_HW_CPU_CYCLES, frequency: 99 });
 * if (sampling.event.fallback) console.log(`no PMU: sampling ${sampling.event.name}`);
 * ```
 */
export class PerfEventMultiLink extends MultiLink {
  /** The event sampled on every CPU. */
  readonly event: SampledEvent;

  private constructor(links: readonly Link[], event: SampledEvent) {
    super(links, `perf event ${event.name} ${rateText(event)} on ${event.cpus.length} CPUs${event.pid === -1 ? '' : ` for pid ${event.pid}`}`);
    this.event = event;
  }

  /** @internal Used by {@link attachPerfEventAllCPUs}. */
  static adoptAll(links: readonly Link[], event: SampledEvent): PerfEventMultiLink {
    return new PerfEventMultiLink(links, event);
  }
}

function rateText(e: { frequency: number | undefined; period: bigint | undefined }): string {
  return e.frequency !== undefined ? `at ${e.frequency} Hz` : `every ${e.period} events`;
}

// perf_init_event() answers ENOENT when no PMU takes the event (no PMU of that type at all);
// a PMU that exists but cannot interrupt (PERF_PMU_CAP_NO_INTERRUPT) refuses sampling with
// EOPNOTSUPP; some drivers answer ENODEV for an event their CPU model lacks.
const noPMU: ReadonlySet<number> = new Set([Errno.ENOENT, Errno.EOPNOTSUPP, Errno.ENODEV]);

function readSysctl(name: string): string | undefined {
  try {
    return readFileSync(`/proc/sys/kernel/${name}`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/**
 * What perf_event_open()'s errnos mean for a sampling event. EACCES/EPERM come from
 * perf_event_paranoid (kernel/events/core.c: perf_allow_cpu(), perf_allow_kernel()), which
 * CAP_PERFMON (5.8+) or CAP_SYS_ADMIN override.
 */
function explainOpen(errno: number, pid: number, frequency: number | undefined): string | undefined {
  switch (errno) {
    case Errno.EACCES:
    case Errno.EPERM: {
      const paranoid = readSysctl('perf_event_paranoid') ?? '?';
      const need =
        pid === -1
          ? 'a CPU-wide event (every process) needs perf_event_paranoid <= 0'
          : 'a per-process event that samples kernel stacks needs perf_event_paranoid <= 1';
      return `kernel.perf_event_paranoid=${paranoid}: ${need}, or CAP_PERFMON (Linux 5.8+) / CAP_SYS_ADMIN; values above 2 (Debian, Android) forbid unprivileged perf events altogether`;
    }
    case Errno.EINVAL:
      if (frequency !== undefined) {
        const max = readSysctl('perf_event_max_sample_rate');
        return `the kernel refused the event: a frequency above kernel.perf_event_max_sample_rate${max === undefined ? '' : ` (${max}; the kernel lowers it when sampling interrupts take too long)`} is one reason`;
      }
      return 'the kernel refused the event (period beyond 2^63, or a config this PMU does not know)';
    case Errno.ESRCH:
      return `there is no process ${pid}`;
    case Errno.ENODEV:
      return 'that CPU is offline';
    case Errno.EMFILE:
      return 'too many open files: one perf event per CPU needs one fd each (raise the fd limit)';
    default:
      return undefined;
  }
}

/** The attr of a sampling event: no sample_type (the BPF program is the consumer, no ring). */
function samplingAttr(spec: { type: number; config: bigint }, frequency: number | undefined, period: bigint | undefined, inherit: boolean): PerfEventAttr {
  let flags = frequency !== undefined ? PerfAttrFlag.Freq : 0n;
  if (inherit) flags |= PerfAttrFlag.Inherit;
  return { type: spec.type, config: spec.config, samplePeriod: frequency !== undefined ? BigInt(frequency) : period, flags };
}

function checkOptions(prog: Program, options: PerfEventAllCPUsOptions): { frequency: number | undefined; period: bigint | undefined; pid: number } {
  if (prog.type !== ProgramType.PerfEvent) {
    throw new ArgumentError(`${prog.name} is not a perf_event program (SEC("perf_event")): only BPF_PROG_TYPE_PERF_EVENT programs run on a sampling event`);
  }
  const { frequency } = options;
  if (frequency !== undefined && options.period !== undefined) {
    throw new ArgumentError('give frequency (samples per second) or period (events per sample), not both');
  }
  if (frequency === undefined && options.period === undefined) {
    throw new ArgumentError('a sampling event needs frequency (samples per second, e.g. 99) or period (events per sample)');
  }
  if (frequency !== undefined && (!Number.isSafeInteger(frequency) || frequency <= 0)) {
    throw new ArgumentError(`frequency must be a positive integer (samples per second), got ${String(frequency)}`);
  }
  const period = options.period === undefined ? undefined : integerArgument(options.period, 'period');
  // perf_event_open() refuses periods with bit 63 set (they would read as negative).
  if (period !== undefined && (period <= 0n || period >= 1n << 63n)) {
    throw new ArgumentError(`period must be between 1 and 2^63-1 events, got ${period}`);
  }
  const pid = options.pid ?? -1;
  if (!Number.isSafeInteger(pid) || pid < -1) throw new ArgumentError(`pid must be a process id or -1 (every process), got ${String(pid)}`);
  if (options.inherit === true && pid === -1) {
    throw new ArgumentError('inherit follows the children of one process: give pid too (events on every process see children anyway)');
  }
  return { frequency, period, pid };
}

/**
 * Opens a sampling perf event on every online CPU (or `options.cpus`) and attaches `prog` to
 * each, so that `prog` runs `frequency` times per second on each CPU (or every `period`
 * events). Returns one {@link PerfEventMultiLink} owning every event: `close()` or `using`
 * detaches them all; if any CPU fails, the events made so far are closed before the error
 * is thrown.
 *
 * A hardware event on a machine without a PMU for it falls back to `options.fallback`
 * (default `cpu-clock`); `result.event` says which event runs.
 *
 * Minimum kernel: 4.9 (BPF_PROG_TYPE_PERF_EVENT); perf links and cookies 5.15.
 *
 * @example
 * ```ts
 * const coll = await loadCollection('profile.bpfel.o');
 * using sampling = attachPerfEventAllCPUs(coll.programs.profile, {
 *   type: PerfType.Hardware,
 *   config: PERF_COUNT_HW_CPU_CYCLES,
 *   frequency: 99,
 * });
 * console.log(sampling.event.name); // 'cycles', or 'cpu-clock' in a VM without a PMU
 * ```
 * @throws {@link ArgumentError} for a program that is not `perf_event`, both or neither of
 * `frequency` and `period`, a bad pid, `inherit` without a pid, or no CPUs;
 * {@link NotSupportedError} when the machine has no PMU for the event (and no fallback
 * applies) or the kernel has no perf events; {@link SyscallError} from perf_event_open()
 * (EACCES/EPERM explained with kernel.perf_event_paranoid) or from the attachment.
 */
export function attachPerfEventAllCPUs(prog: Program, options: PerfEventAllCPUsOptions): PerfEventMultiLink {
  const { frequency, period, pid } = checkOptions(prog, options);
  const requested = { type: options.type, config: integerArgument(options.config, 'config') };
  if (!Number.isSafeInteger(requested.type) || requested.type < 0) throw new ArgumentError(`type must be a PERF_TYPE_* value, got ${String(options.type)}`);
  const fallbackSpec = options.fallback === undefined ? { type: PerfType.Software, config: PERF_COUNT_SW_CPU_CLOCK } : options.fallback;
  const fallback = fallbackSpec === false ? undefined : { type: fallbackSpec.type, config: integerArgument(fallbackSpec.config, 'fallback config') };
  const cpus = options.cpus ?? onlineCPUs();
  if (cpus.length === 0) throw new ArgumentError('no CPUs to sample on');
  for (const cpu of cpus) if (!Number.isSafeInteger(cpu) || cpu < 0) throw new ArgumentError(`not a CPU number: ${String(cpu)}`);
  const inherit = options.inherit === true;
  const cookie = options.cookie;
  // Checked before any event exists, so that a refusal does not need undoing.
  if (cookie !== undefined && integerArgument(cookie, 'cookie') !== 0n && !perfLinkFeature.supported()) {
    throw new NotSupportedError('bpf cookie on perf events (BPF perf link)', '5.15');
  }

  const open = (spec: { type: number; config: bigint }, cpu: number): number =>
    openPerfEvent(samplingAttr(spec, frequency, period, inherit), {
      pid,
      cpu,
      what: `perf event ${perfEventName(spec.type, spec.config)} on CPU ${cpu}`,
      explain: (errno) => explainOpen(errno, pid, frequency),
    });

  // The first CPU decides which event the machine can count; the others open the same one.
  let event = requested;
  let firstFd: number;
  try {
    firstFd = open(event, cpus[0]!);
  } catch (err) {
    const errno = err instanceof SyscallError ? err.errno : undefined;
    if (errno === Errno.ENOSYS) throw new NotSupportedError('perf events (perf_event_open)', '2.6.31', { errno, cause: err, detail: 'the kernel was built without CONFIG_PERF_EVENTS' });
    if (errno === undefined || !noPMU.has(errno)) throw err;
    const missing = `${perfEventName(requested.type, requested.config)} (${requested.type === PerfType.Hardware ? 'no hardware PMU for it: a VM or container without PMU access' : 'no PMU takes this event type'})`;
    if (requested.type !== PerfType.Hardware || fallback === undefined) {
      throw new NotSupportedError(`perf event ${missing}`, undefined, { errno, cause: err, detail: requested.type === PerfType.Hardware ? 'use a software event such as PERF_COUNT_SW_CPU_CLOCK, or leave fallback unset' : undefined });
    }
    event = fallback;
    try {
      firstFd = open(event, cpus[0]!);
    } catch (err2) {
      const errno2 = err2 instanceof SyscallError ? err2.errno : undefined;
      if (errno2 !== undefined && noPMU.has(errno2)) {
        throw new NotSupportedError(`perf event ${missing}, and its fallback ${perfEventName(event.type, event.config)}`, undefined, { errno: errno2, cause: err2 });
      }
      throw err2;
    }
  }

  const name = perfEventName(event.type, event.config);
  const links = MultiLink.build(cpus, (cpu, index) =>
    attachPerfEvent(prog, index === 0 ? firstFd : open(event, cpu), { what: `perf event ${name} on CPU ${cpu}`, cookie }),
  );
  return PerfEventMultiLink.adoptAll(links, {
    type: event.type,
    config: event.config,
    name,
    requested: perfEventName(requested.type, requested.config),
    fallback: event !== requested,
    frequency,
    period,
    cpus: Object.freeze([...cpus]),
    pid,
  });
}
