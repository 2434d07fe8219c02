/**
 * kprobes and kretprobes: a KPROBE program run at a kernel function's entry (or at an offset
 * into it), or at its return.
 *
 * Two ways to create the probe, tried in this order:
 *
 * 1. the `kprobe` PMU (Linux 4.17, commit e12f03d7031a "perf/core: Implement the 'perf_kprobe'
 *    PMU"): one perf_event_open whose `config1` points at the function name; the probe lives
 *    as long as the fd and nothing is left behind if the process dies;
 * 2. tracefs's `kprobe_events` (any kernel with CONFIG_KPROBE_EVENTS): a line
 *    `p:<group>/<event> <symbol>+<offset>` creates a trace event that a tracepoint perf event
 *    then opens (probe-events.ts removes it again). Used when the PMU is missing, for
 *    kretprobe `maxActive` (the PMU has no field for it), and for names with dots on kernels
 *    whose PMU refuses them.
 *
 * Before any of that, the symbol is looked up in /proc/kallsyms: a missing one becomes a
 * {@link SymbolNotFoundError} with suggestions instead of a bare ENOENT.
 *
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ArgumentError, BpfError, NotSupportedError, SymbolNotFoundError, SyscallError } from '../errors.js';
import { configEnabled } from '../internal/kconfig.js';
import type { Program } from '../prog.js';
import { cString } from '../sys/commands.js';
import { Errno } from '../sys/errno.js';
import { backend } from '../sys/select.js';
import { ProgramType, programTypeName } from '../types.js';
import {
  explainMissingSymbol,
  isTextSymbol,
  kallsyms,
  kprobeBlacklist,
  ksyscallName,
  matchKernelFunctions,
  nearSymbols,
} from '../internal/kallsyms.js';
import type { Link } from './link.js';
import { attachPerfEvent } from './perf-event.js';
import { openPerfEvent, PerfAttrSize } from '../internal/perf-event.js';
import { attachProbeEvent } from './probe-events.js';
import { readTracefsFile, TracefsNotMountedError, tracefsAvailable, tracefsPath, validateTracefsName } from '../internal/tracefs.js';
import { integerArgument } from './integer.js';

/** errno values specific to probe creation (not in the shared table). */
const EILSEQ = 84;
// The PMU's answer to a name several functions share (create_local_trace_kprobe()).
const EADDRNOTAVAIL = 99;

/** Options of {@link attachKprobe}. */
export interface KprobeOptions {
  /** Attach at the function's return (a kretprobe) instead of its entry. */
  retprobe?: boolean;
  /** Byte offset into the function (entry probes only; must be an instruction boundary). */
  offset?: number | bigint;
  /**
   * kretprobes: how many instances of the function may be in flight at once before returns
   * are missed (`r<N>:` in kprobe_events, Linux 4.12+). Forces the tracefs path.
   */
  maxActive?: number;
  /** A value `bpf_get_attach_cookie()` returns in the program (Linux 5.15+, perf link). */
  cookie?: bigint | number;
  /**
   * How to create the probe: `auto` (default: PMU, else tracefs), or force `pmu` or `tracefs`
   * (tests, and kernels where one of them misbehaves).
   */
  via?: 'auto' | 'pmu' | 'tracefs';
}

/** What this kernel offers for kprobes, as {@link kprobeSupport} finds it. */
export interface KprobeSupport {
  /** The kprobe PMU's type number, if `/sys/bus/event_source/devices/kprobe` exists (4.17+). */
  readonly pmuType: number | undefined;
  /** True if tracefs is mounted and has `kprobe_events`. */
  readonly tracefsEvents: boolean;
  /** True if tracefs is mounted at all. */
  readonly tracefsMounted: boolean;
  /** `CONFIG_KPROBES` from /proc/config.gz or /boot/config-*, if readable. */
  readonly configKprobes: boolean | undefined;
}

let pmuDir = '/sys/bus/event_source/devices/kprobe';

/** Points the kprobe PMU lookup at another directory (tests); no argument restores the default. */
export function setKprobePmuPath(path?: string): void {
  pmuDir = path ?? '/sys/bus/event_source/devices/kprobe';
}

function readPmuType(): number | undefined {
  try {
    const n = Number.parseInt(readFileSync(join(pmuDir, 'type'), 'utf8').trim(), 10);
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** The bit of `config` that makes a PMU probe a return probe: `format/retprobe` says `config:N`. */
function retprobeBit(): bigint {
  const text = readFileSync(join(pmuDir, 'format', 'retprobe'), 'utf8').trim();
  const m = /^config:(\d+)$/.exec(text);
  if (m === null) throw new BpfError(`${pmuDir}/format/retprobe holds ${JSON.stringify(text)}, expected "config:<bit>"`);
  return 1n << BigInt(m[1]!);
}


/**
 * What this kernel offers for kprobes: the PMU, tracefs's kprobe_events, and CONFIG_KPROBES.
 *
 * @example
 * ```ts
 * const s = kprobeSupport();
 * if (s.pmuType === undefined && !s.tracefsEvents) console.log('no kprobes here');
 * ```
 */
export function kprobeSupport(): KprobeSupport {
  const tracefsMounted = tracefsAvailable();
  return {
    pmuType: readPmuType(),
    tracefsMounted,
    tracefsEvents: tracefsMounted && existsSync(join(tracefsPath(), 'kprobe_events')),
    configKprobes: configEnabled('CONFIG_KPROBES'),
  };
}

/** The message every "no kprobes at all" error carries. */
export const KPROBES_UNAVAILABLE =
  'kprobes are not available in this kernel (CONFIG_KPROBES): it has no kprobe PMU and no tracefs kprobe_events; ' +
  'use tracepoints or raw tracepoints, or a kernel built with CONFIG_KPROBES=y and CONFIG_KPROBE_EVENTS=y';

function kprobesUnavailable(): NotSupportedError {
  const err = new NotSupportedError('kprobes (CONFIG_KPROBES)', undefined, { errno: Errno.ENOENT });
  err.message = KPROBES_UNAVAILABLE;
  return err;
}

/**
 * Throws unless this kernel can create kprobes one way or the other: a clear
 * {@link NotSupportedError} when it has none at all (CONFIG_KPROBES unset), a
 * {@link TracefsNotMountedError} when the only way left is an unmounted tracefs.
 */
function requireKprobes(support: KprobeSupport, via: KprobeOptions['via']): void {
  const pmu = support.pmuType !== undefined;
  if (via === 'pmu') {
    if (pmu) return;
    if (support.configKprobes === false || (support.tracefsMounted && !support.tracefsEvents)) throw kprobesUnavailable();
    throw new NotSupportedError('kprobe PMU (/sys/bus/event_source/devices/kprobe)', '4.17');
  }
  if (pmu && via !== 'tracefs') return;
  // From here on only tracefs kprobe_events can create the probe.
  if (support.tracefsEvents) return;
  if (!pmu && (support.configKprobes === false || support.tracefsMounted)) throw kprobesUnavailable();
  if (support.tracefsMounted) throw new NotSupportedError('tracefs kprobe_events (CONFIG_KPROBE_EVENTS)');
  throw new TracefsNotMountedError(
    pmu ? 'the tracefs kprobe path was asked for' : 'this kernel has no kprobe PMU (Linux 4.17+), so kprobes are created through tracefs kprobe_events',
  );
}

/**
 * `module:function` (the kernel's kprobe syntax for a module's function, which libbpf passes
 * through) split into its parts; a plain name has no module.
 */
function splitModuleSymbol(symbol: string): { module: string | undefined; name: string } {
  const colon = symbol.indexOf(':');
  return colon <= 0 ? { module: undefined, name: symbol } : { module: symbol.slice(0, colon), name: symbol.slice(colon + 1) };
}

/** A name tracefs can hold, or `module:name` of two such names. */
function validateSymbol(symbol: string): void {
  const { module, name } = splitModuleSymbol(symbol);
  if (module !== undefined) validateTracefsName('kprobe module', module);
  validateTracefsName('kprobe symbol', name);
}

function checkSymbol(symbol: string): void {
  const table = kallsyms();
  // An unreadable or empty kallsyms (no procfs in a sandbox) tells nothing: let the kernel decide.
  if (table.byName.size === 0) return;
  const { module, name } = splitModuleSymbol(symbol);
  if (module !== undefined) {
    const sym = table.get(name);
    if (sym?.module !== module) {
      const where = sym === undefined ? 'no such symbol is loaded' : `/proc/kallsyms has ${name} in ${sym.module === undefined ? 'vmlinux' : `module ${sym.module}`}`;
      throw new SymbolNotFoundError(symbol, [], `${where}; is module ${module} loaded?`);
    }
    symbol = name;
  }
  const sym = table.get(symbol);
  if (sym === undefined) {
    throw new SymbolNotFoundError(symbol, nearSymbols(symbol, table), explainMissingSymbol(symbol, table));
  }
  if (!isTextSymbol(sym)) {
    throw new ArgumentError(`kernel symbol ${symbol} is a ${sym.type} (data) symbol in /proc/kallsyms, not a function: kprobes attach to functions`);
  }
  const blacklist = kprobeBlacklist();
  if (blacklist?.has(symbol) === true) {
    throw new ArgumentError(
      `kernel function ${symbol} is on the kprobe blacklist (/sys/kernel/debug/kprobes/blacklist: NOKPROBE_SYMBOL or entry code); it cannot be probed`,
    );
  }
}

function missingAfterCheck(symbol: string, errno: number, how: string): BpfError {
  const table = kallsyms();
  return new SymbolNotFoundError(
    symbol,
    nearSymbols(symbol, table),
    `the kernel answered ${errno === Errno.ENOENT ? 'ENOENT' : 'EINVAL'} through ${how}; it may be a module symbol that was unloaded, or a function kprobes cannot see`,
  );
}

/** Explanation of perf_event_open errnos for a kprobe PMU event. */
function pmuHint(symbol: string, offset: bigint, errno: number): string | undefined {
  switch (errno) {
    case Errno.EINVAL:
      // trace_kprobe_create()/register_kprobe(): blacklisted and __kprobes functions, notrace
      // code without a fentry site, or an offset beyond the function.
      return `the kernel refused to probe ${symbol}${offset > 0n ? `+${offset}` : ''}: blacklisted (NOKPROBE_SYMBOL), __init code, or an offset outside the function`;
    case EILSEQ:
      // Since commit ab105a4fb894 an offset that is not on an instruction boundary is EILSEQ.
      return `offset ${offset} into ${symbol} is not on an instruction boundary`;
    case Errno.EBUSY:
      // ftrace already owns the site with IPMODIFY (livepatch) or another exclusive user.
      return `${symbol} is already patched by an exclusive ftrace user (e.g. livepatch)`;
    default:
      return undefined;
  }
}

/**
 * Creates a kprobe event in tracefs and attaches to it. The symbol was validated by the
 * caller; it is validated again here because this is the function that writes it.
 */
function attachViaTracefs(prog: Program, symbol: string, offset: bigint, options: KprobeOptions, what: string): Link {
  validateSymbol(symbol);
  return attachProbeEvent(prog, {
    file: 'kprobe_events',
    kind: options.retprobe === true ? `r${options.maxActive ?? ''}` : 'p',
    name: `${symbol}${offset > 0n ? `_${offset}` : ''}`,
    target: `${symbol}${offset > 0n ? `+${offset}` : ''}`,
    cookie: options.cookie,
    what,
    writeError: (err) => tracefsWriteError(err, symbol, offset, options, what),
  });
}

function tracefsWriteError(err: unknown, symbol: string, offset: bigint, options: KprobeOptions, what: string): BpfError {
  const code = (err as NodeJS.ErrnoException).code;
  const errno = -((err as NodeJS.ErrnoException).errno ?? 0);
  switch (code) {
    case 'ENOENT':
      // Since commit 97c753e62e6c a missing symbol is ENOENT (before, EINVAL).
      return missingAfterCheck(symbol, Errno.ENOENT, 'kprobe_events');
    case 'EILSEQ':
      return new SyscallError('write kprobe_events', EILSEQ, `offset ${offset} into ${symbol} is not on an instruction boundary`, what);
    case 'ERANGE':
      return new SyscallError('write kprobe_events', Errno.ERANGE, `offset ${offset} is beyond ${symbol}`, what);
    case 'EINVAL':
      if (options.maxActive !== undefined) {
        // maxactive in kprobe_events came with 4.12 (commit 696ced4fb1d7 "tracing/kprobes:
        // expose maxactive for kretprobe in kprobe_events").
        return new NotSupportedError('kretprobe maxActive in kprobe_events', '4.12', { errno: Errno.EINVAL, detail: `or ${symbol} cannot be probed` });
      }
      return new SyscallError('write kprobe_events', Errno.EINVAL, pmuHint(symbol, offset, Errno.EINVAL), what);
    default:
      return new SyscallError('write kprobe_events', errno > 0 ? errno : Errno.EINVAL, code, what);
  }
}

function attachViaPmu(prog: Program, symbol: string, offset: bigint, pmuType: number, options: KprobeOptions, what: string): Link {
  // The PMU looks the name up as it is (create_local_trace_kprobe() counts matches of the
  // whole string): a module's function goes by its own name, which checkSymbol() found in
  // that module.
  const name = cString(splitModuleSymbol(symbol).name);
  const fd = openPerfEvent(
    {
      type: pmuType,
      // config2 (probe_offset) needs PERF_ATTR_SIZE_VER1: perf_kprobe_init() reads it.
      size: PerfAttrSize.Ver1,
      config: options.retprobe === true ? retprobeBit() : 0n,
      config1: name,
      config2: offset,
    },
    {
      what,
      explain: (errno) => pmuHint(symbol, offset, errno),
    },
  );
  return attachPerfEvent(prog, fd, { what, cookie: options.cookie });
}

/**
 * Attaches a KPROBE program to kernel function `symbol`: at its entry (plus `offset`), or at
 * its return with `retprobe`. The symbol is checked against /proc/kallsyms first. A loaded
 * module's function can be named alone or as `module:function` (`veth:veth_open`), which
 * also checks that the function is that module's.
 *
 * Minimum kernel: 4.1 (BPF on kprobes); the kprobe PMU 4.17 (else tracefs kprobe_events);
 * bpf_link with `info()`/`pin()` and cookies 5.15.
 *
 * @example
 * ```ts
 * import { attachKprobe } from 'ebpf-ts';
 * using link = attachKprobe(coll.programs.on_open, 'do_sys_openat2');
 * using ret = attachKprobe(coll.programs.on_open_ret, 'do_sys_openat2', { retprobe: true });
 * ```
 * @throws {@link SymbolNotFoundError} when kallsyms has no such symbol (with close matches and
 * a reason: renamed, compiler clone, inlined); {@link ArgumentError} for a program that is not
 * KPROBE, a name with characters tracefs cannot hold, a data symbol, a blacklisted function or
 * inconsistent options; {@link NotSupportedError} when the kernel has no kprobes at all
 * ("kprobes are not available in this kernel (CONFIG_KPROBES)…") or lacks what an option
 * needs; {@link TracefsNotMountedError} when only the tracefs path is possible and tracefs is
 * not mounted; {@link SyscallError} when the kernel refuses the probe (with a hint).
 */
export function attachKprobe(prog: Program, symbol: string, options: KprobeOptions = {}): Link {
  if (prog.type !== ProgramType.Kprobe) {
    throw new ArgumentError(`attachKprobe needs a KPROBE program; ${prog.name} is ${programTypeName(prog.type)}`);
  }
  validateSymbol(symbol);
  const offset = integerArgument(options.offset ?? 0, 'kprobe offset');
  if (options.cookie !== undefined) integerArgument(options.cookie, 'cookie');
  if (offset < 0n) throw new ArgumentError(`kprobe offset must be >= 0, got ${offset}`);
  if (options.retprobe === true && offset > 0n) throw new ArgumentError('kretprobes attach at the return: an offset makes no sense with retprobe');
  if (options.maxActive !== undefined) {
    if (options.retprobe !== true) throw new ArgumentError('maxActive applies to kretprobes only (retprobe: true)');
    // KRETPROBE_MAXACTIVE_MAX in kernel/trace/trace_kprobe.c.
    if (!Number.isInteger(options.maxActive) || options.maxActive < 1 || options.maxActive > 4096) {
      throw new ArgumentError(`maxActive must be an integer from 1 to 4096, got ${options.maxActive}`);
    }
    if (options.via === 'pmu') throw new ArgumentError('maxActive needs the tracefs path: the kprobe PMU has no field for it');
  }
  checkSymbol(symbol);
  const via = options.via ?? 'auto';
  const support = kprobeSupport();
  requireKprobes(support, options.maxActive !== undefined ? 'tracefs' : via);
  const what = `${options.retprobe === true ? 'kretprobe' : 'kprobe'} ${symbol}${offset > 0n ? `+${offset}` : ''}`;
  const usePmu = support.pmuType !== undefined && via !== 'tracefs' && options.maxActive === undefined;
  if (!usePmu) return attachViaTracefs(prog, symbol, offset, options, what);
  try {
    return attachViaPmu(prog, symbol, offset, support.pmuType!, options, what);
  } catch (err) {
    if (!(err instanceof SyscallError) || err.command !== 'perf_event_open') throw err;
    // Before commit 97c753e62e6c a missing retprobe symbol was EINVAL; since, ENOENT.
    if (err.errno === Errno.ENOENT) throw missingAfterCheck(symbol, Errno.ENOENT, 'the kprobe PMU');
    // A module:function whose name other code shares (EADDRNOTAVAIL): only kprobe_events
    // takes the module part.
    if (err.errno === EADDRNOTAVAIL && symbol.includes(':') && via === 'auto' && support.tracefsEvents) {
      return attachViaTracefs(prog, symbol, offset, options, what);
    }
    // Older kernels' PMU refuses '.' in names: the PMU path derived the event name from the
    // symbol and checked it for a C identifier; tracefs takes an explicit event name.
    if (err.errno === Errno.EINVAL && symbol.includes('.') && via === 'auto' && support.tracefsEvents) {
      return attachViaTracefs(prog, symbol, offset, options, what);
    }
    throw err;
  }
}

/**
 * {@link attachKprobe} with `retprobe: true`.
 *
 * Minimum kernel: 4.1 (4.12 for `maxActive`).
 *
 * @example
 * ```ts
 * using link = attachKretprobe(prog, 'do_sys_openat2', { maxActive: 64 });
 * ```
 * @throws the errors of {@link attachKprobe}.
 */
export function attachKretprobe(prog: Program, symbol: string, options: Omit<KprobeOptions, 'retprobe'> = {}): Link {
  return attachKprobe(prog, symbol, { ...options, retprobe: true });
}

/**
 * Attaches a KPROBE program to system call `syscall` (`openat`, or `sys_openat`) through its
 * architecture's wrapper (`__x64_sys_openat`, `__arm64_sys_openat`; plain `sys_openat` before
 * 4.17), like libbpf's `ksyscall`. The program sees the wrapper's `struct pt_regs *` argument:
 * read the syscall's arguments from the inner pt_regs (PT_REGS_PARM1_CORE_SYSCALL).
 *
 * Minimum kernel: 4.1.
 *
 * @example
 * ```ts
 * using link = attachKsyscall(prog, 'openat');
 * ```
 * @throws the errors of {@link attachKprobe}.
 */
export function attachKsyscall(prog: Program, syscall: string, options: KprobeOptions = {}): Link {
  validateTracefsName('syscall name', syscall);
  return attachKprobe(prog, ksyscallName(syscall), options);
}

/**
 * Kernel functions matching `pattern` (a glob such as `vfs_*`, or a RegExp) that kprobes can
 * attach to, sorted: the text symbols of /proc/kallsyms minus the kprobe blacklist (when
 * debugfs makes it readable). tracefs's `available_filter_functions` is used only when
 * kallsyms cannot be read: it lists what ftrace can patch, a subset of what kprobes can probe
 * (the 6.1 kernel's syscall wrappers such as `__x64_sys_getppid` are probe-able but not listed
 * there).
 *
 * Minimum kernel: any.
 *
 * @example
 * ```ts
 * kprobeFunctions('do_sys_open*'); // ['do_sys_openat2']
 * ```
 */
export function kprobeFunctions(pattern: string | RegExp): string[] {
  if (kallsyms().byName.size === 0 && tracefsAvailable()) {
    try {
      return matchKernelFunctions(pattern, readTracefsFile('available_filter_functions'));
    } catch {
      // No function tracer in this kernel either.
    }
  }
  const blacklist = kprobeBlacklist();
  const names = matchKernelFunctions(pattern);
  return blacklist === undefined ? names : names.filter((n) => !blacklist.has(n));
}
