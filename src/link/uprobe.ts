/**
 * uprobes and uretprobes: a KPROBE program run when any process (or one process) executes a
 * given instruction of a user-space binary, or returns from a function of it.
 *
 * The kernel wants a file and an offset into it; {@link Executable} turns a function name into
 * that offset. Two ways to create the probe, tried in this order:
 *
 * 1. the `uprobe` PMU (Linux 4.17, the same commit as the kprobe PMU): one perf_event_open with
 *    the path in `config1` and the offset in `config2`; a USDT semaphore's offset goes in the
 *    `config` bits `format/ref_ctr_offset` names (5.5);
 * 2. tracefs's `uprobe_events` (CONFIG_UPROBE_EVENTS): a line `p:<group>/<event>
 *    <path>:0x<offset>[(0x<ref_ctr_offset>)]` creates a trace event, removed again as
 *    probe-events.ts describes.
 *
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ArgumentError, BpfError, NotSupportedError, SyscallError } from '../errors.js';
import type { Program } from '../prog.js';
import { cString } from '../sys/commands.js';
import { Errno } from '../sys/errno.js';
import { ProgramType, programTypeName } from '../types.js';
import { Executable } from './executable.js';
import type { Link } from './link.js';
import { attachPerfEvent } from './perf-event.js';
import { openPerfEvent, PerfAttrSize } from '../internal/perf-event.js';
import { attachProbeEvent } from './probe-events.js';
import { TracefsNotMountedError, tracefsAvailable, tracefsPath } from '../internal/tracefs.js';
import { integerArgument } from './integer.js';

/** Options of {@link attachUprobe}. */
export interface UprobeOptions {
  /** Run at the function's return (a uretprobe) instead of at the probed instruction. */
  retprobe?: boolean;
  /** Only this process (its thread group) triggers the probe; default: every process that maps the file. */
  pid?: number;
  /**
   * File offset of a USDT semaphore (a `unsigned short` the kernel increments while the probe
   * is attached, so the program knows someone listens): see {@link Executable.variableOffset}.
   * Linux 4.20 (tracefs) / 5.5 (PMU).
   */
  refCtrOffset?: bigint | number;
  /** A value `bpf_get_attach_cookie()` returns in the program (Linux 5.15+, perf link). */
  cookie?: bigint | number;
  /** How to create the probe: `auto` (default: PMU, else tracefs), or force `pmu` or `tracefs`. */
  via?: 'auto' | 'pmu' | 'tracefs';
}

/** What this kernel offers for uprobes. */
export interface UprobeSupport {
  /** The uprobe PMU's type number, if `/sys/bus/event_source/devices/uprobe` exists (4.17+). */
  readonly pmuType: number | undefined;
  /** True if the PMU takes a reference counter offset (`format/ref_ctr_offset`, 5.5+). */
  readonly pmuRefCtr: boolean;
  /** True if tracefs is mounted and has `uprobe_events`. */
  readonly tracefsEvents: boolean;
  /** True if tracefs is mounted at all. */
  readonly tracefsMounted: boolean;
}

let pmuDir = '/sys/bus/event_source/devices/uprobe';

/** Points the uprobe PMU lookup at another directory (tests); no argument restores the default. */
export function setUprobePmuPath(path?: string): void {
  pmuDir = path ?? '/sys/bus/event_source/devices/uprobe';
}

function readPmuFile(name: string): string | undefined {
  try {
    return readFileSync(join(pmuDir, name), 'utf8').trim();
  } catch {
    return undefined;
  }
}

/**
 * The shift of a PMU `format/<name>` field that lives in `config` (`config:0`,
 * `config:32-63`).
 */
function configShift(name: string): bigint {
  const text = readPmuFile(join('format', name));
  const m = text === undefined ? null : /^config:(\d+)(?:-\d+)?$/.exec(text);
  if (m === null) throw new BpfError(`${pmuDir}/format/${name} holds ${JSON.stringify(text)}, expected "config:<bit>[-<bit>]"`);
  return BigInt(m[1]!);
}

/**
 * What this kernel offers for uprobes: the PMU (and whether it takes a semaphore offset) and
 * tracefs's uprobe_events.
 *
 * @example
 * ```ts
 * if (uprobeSupport().pmuType === undefined) console.log('uprobes go through tracefs here');
 * ```
 */
export function uprobeSupport(): UprobeSupport {
  const type = Number.parseInt(readPmuFile('type') ?? '', 10);
  const tracefsMounted = tracefsAvailable();
  return {
    pmuType: Number.isFinite(type) ? type : undefined,
    pmuRefCtr: existsSync(join(pmuDir, 'format', 'ref_ctr_offset')),
    tracefsMounted,
    tracefsEvents: tracefsMounted && existsSync(join(tracefsPath(), 'uprobe_events')),
  };
}

/** Where a uprobe goes once names are resolved. */
interface ProbePoint {
  readonly path: string;
  readonly offset: bigint;
  /** For messages: `/usr/lib/…/libc.so.6:malloc+4 (0x9a0a4)`. */
  readonly what: string;
}

/**
 * Characters a path must not contain to be written to uprobe_events: the kernel splits the
 * line on whitespace and reads `:` `(` `)` as syntax after the path.
 */
function validateProbePath(path: string): void {
  const bad = [...path].find((c) => /[\s\0-\x1f\x7f()]/.test(c));
  if (bad !== undefined) {
    throw new ArgumentError(`uprobe path ${JSON.stringify(path)} contains ${JSON.stringify(bad)}, which uprobe_events cannot hold; use the PMU (via: 'pmu') or a path without it`);
  }
}

function pmuHint(point: ProbePoint, errno: number): string | undefined {
  switch (errno) {
    case Errno.ENOENT:
      return `${point.path} does not exist (anymore)`;
    case Errno.EINVAL:
      // uprobe_register(): offset beyond the file, or ref_ctr_offset out of range; prepare_uprobe()
      // also refuses instructions it cannot single-step (ENOTSUPP on x86, shown as EINVAL by some paths).
      return `the kernel refused the probe at ${point.what}: offset beyond the file, an instruction uprobes cannot handle, or a bad semaphore offset`;
    case Errno.ESRCH:
      return 'no such process (the pid option names a process that has exited)';
    case Errno.ENOTSUPP:
      return `uprobes cannot handle the instruction at ${point.what} (it is not at an instruction boundary, or cannot be single-stepped)`;
    default:
      return undefined;
  }
}

function requireUprobes(support: UprobeSupport, via: UprobeOptions['via']): void {
  const pmu = support.pmuType !== undefined;
  if (via === 'pmu') {
    if (!pmu) throw new NotSupportedError('uprobe PMU (/sys/bus/event_source/devices/uprobe)', '4.17');
    return;
  }
  if (pmu && via !== 'tracefs') return;
  if (support.tracefsEvents) return;
  if (support.tracefsMounted) {
    if (pmu) throw new NotSupportedError('tracefs uprobe_events (CONFIG_UPROBE_EVENTS)', undefined, { detail: "the uprobe PMU is there: leave `via` at 'auto'" });
    throw new NotSupportedError('uprobes (CONFIG_UPROBE_EVENTS)', undefined, {
      detail: 'this kernel has no uprobe PMU and tracefs has no uprobe_events',
    });
  }
  throw new TracefsNotMountedError(
    pmu ? 'the tracefs uprobe path was asked for' : 'this kernel has no uprobe PMU (Linux 4.17+), so uprobes are created through tracefs uprobe_events',
  );
}

function attachViaPmu(prog: Program, point: ProbePoint, pmuType: number, options: UprobeOptions, refCtr: bigint, what: string): Link {
  let config = options.retprobe === true ? 1n << configShift('retprobe') : 0n;
  if (refCtr > 0n) {
    if (!uprobeSupport().pmuRefCtr) throw new NotSupportedError('uprobe PMU reference counter (format/ref_ctr_offset)', '5.5');
    config |= refCtr << configShift('ref_ctr_offset');
  }
  const fd = openPerfEvent(
    { type: pmuType, size: PerfAttrSize.Ver1, config, config1: cString(point.path), config2: point.offset },
    { what, pid: options.pid ?? -1, explain: (errno) => pmuHint(point, errno) },
  );
  return attachPerfEvent(prog, fd, { what, cookie: options.cookie });
}

function attachViaTracefs(prog: Program, point: ProbePoint, options: UprobeOptions, refCtr: bigint, what: string): Link {
  validateProbePath(point.path);
  const base = point.path.slice(point.path.lastIndexOf('/') + 1);
  return attachProbeEvent(prog, {
    file: 'uprobe_events',
    kind: options.retprobe === true ? 'r' : 'p',
    name: `${base}_0x${point.offset.toString(16)}`,
    target: `${point.path}:0x${point.offset.toString(16)}${refCtr > 0n ? `(0x${refCtr.toString(16)})` : ''}`,
    pid: options.pid,
    cookie: options.cookie,
    what,
    writeError: (err) => {
      const code = (err as NodeJS.ErrnoException).code;
      const errno = -((err as NodeJS.ErrnoException).errno ?? 0);
      const hint =
        code === 'EINVAL' && refCtr > 0n
          ? 'the kernel may predate semaphore offsets in uprobe_events (4.20), or the offset is wrong'
          : pmuHint(point, errno > 0 ? errno : Errno.EINVAL);
      return new SyscallError('write uprobe_events', errno > 0 ? errno : Errno.EINVAL, hint, what);
    },
  });
}

/** Resolves the binary and `target` (symbol, `symbol+offset`, or file offset) to a probe point. */
function probePoint(binary: string | Executable, target: string | bigint | number, retprobe: boolean): ProbePoint {
  if (typeof target === 'number' || typeof target === 'bigint') {
    const offset = integerArgument(target, 'uprobe file offset');
    if (offset < 0n) throw new ArgumentError(`uprobe file offset must be >= 0, got ${offset}`);
    const path = binary instanceof Executable ? binary.path : Executable.open(binary).path;
    return { path, offset, what: `${path}:0x${offset.toString(16)}` };
  }
  const exe = binary instanceof Executable ? binary : Executable.open(binary);
  const m = /^(.+?)(?:\+(0x[0-9a-fA-F]+|\d+))?$/.exec(target);
  const name = m?.[1] ?? target;
  const extra = m?.[2] === undefined ? 0n : BigInt(m[2]);
  if (retprobe && extra > 0n) throw new ArgumentError('uretprobes attach at the function entry: an offset into the function makes no sense with retprobe');
  const offset = exe.symbolOffset(name, extra);
  return { path: exe.path, offset, what: `${exe.path}:${target} (0x${offset.toString(16)})` };
}

/**
 * Attaches a KPROBE program to user-space code: `target` in `binary`, in every process that
 * maps the file (or only in `options.pid`). `binary` is a path, a name searched like libbpf
 * does (`libc.so.6` in the library directories, `bash` in PATH), or an {@link Executable};
 * `target` is a function name (`malloc`, `memcpy@GLIBC_2.2.5`, `malloc+4`) or a file offset.
 *
 * Minimum kernel: 4.3 (BPF on uprobes); the uprobe PMU 4.17 (else tracefs uprobe_events);
 * `refCtrOffset` 4.20/5.5; bpf_link with `info()`/`pin()` and cookies 5.15.
 *
 * @example
 * ```ts
 * import { attachUprobe } from 'ebpf-ts';
 * using link = attachUprobe(coll.programs.on_malloc, 'libc.so.6', 'malloc', { pid: 1234 });
 * ```
 * @throws {@link ArgumentError} for a program that is not KPROBE, a binary that cannot be found
 * or is not ELF, an IFUNC or ambiguous symbol, inconsistent options;
 * {@link SymbolNotFoundError} (with similar names) when the binary has no such function;
 * {@link NotSupportedError} when the kernel has no uprobes or lacks what an option needs;
 * {@link TracefsNotMountedError} when only the tracefs path is possible and tracefs is not
 * mounted; {@link SyscallError} when the kernel refuses the probe (with a hint).
 */
export function attachUprobe(prog: Program, binary: string | Executable, target: string | bigint | number, options: UprobeOptions = {}): Link {
  if (prog.type !== ProgramType.Kprobe) {
    throw new ArgumentError(`attachUprobe needs a KPROBE program (uprobes run KPROBE programs); ${prog.name} is ${programTypeName(prog.type)}`);
  }
  if (options.pid !== undefined && (!Number.isInteger(options.pid) || options.pid < -1)) {
    throw new ArgumentError(`uprobe pid must be a process id or -1 for all processes, got ${options.pid}`);
  }
  const refCtr = integerArgument(options.refCtrOffset ?? 0, 'refCtrOffset');
  if (refCtr < 0n || refCtr >= 1n << 32n) throw new ArgumentError(`refCtrOffset must be a file offset below 4 GiB, got ${refCtr}`);
  if (options.cookie !== undefined) integerArgument(options.cookie, 'cookie');
  const retprobe = options.retprobe === true;
  const point = probePoint(binary, target, retprobe);
  const via = options.via ?? 'auto';
  const support = uprobeSupport();
  requireUprobes(support, via);
  const what = `${retprobe ? 'uretprobe' : 'uprobe'} ${point.what}${options.pid !== undefined && options.pid !== -1 ? ` in pid ${options.pid}` : ''}`;
  if (support.pmuType === undefined || via === 'tracefs') return attachViaTracefs(prog, point, options, refCtr, what);
  return attachViaPmu(prog, point, support.pmuType, options, refCtr, what);
}

/**
 * {@link attachUprobe} with `retprobe: true`: the program runs when the function returns (read
 * the return value with `PT_REGS_RC`).
 *
 * Minimum kernel: 4.3.
 *
 * @example
 * ```ts
 * using link = attachUretprobe(coll.programs.on_readline_ret, '/bin/bash', 'readline');
 * ```
 * @throws the errors of {@link attachUprobe}.
 */
export function attachUretprobe(prog: Program, binary: string | Executable, target: string | bigint | number, options: Omit<UprobeOptions, 'retprobe'> = {}): Link {
  return attachUprobe(prog, binary, target, { ...options, retprobe: true });
}
