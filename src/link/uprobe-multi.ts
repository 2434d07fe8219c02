/**
 * uprobe_multi links: one KPROBE program on many places of one user-space binary, with one
 * BPF_LINK_CREATE of attach type BPF_TRACE_UPROBE_MULTI (Linux 6.6, "bpf: Add multi uprobe
 * link"). The kernel gets the path once and an array of file offsets (with optional USDT
 * semaphore offsets and cookies, one per offset); no perf event and no tracefs entry is made.
 *
 * Names become offsets through {@link Executable}, as for {@link attachUprobe}. The program
 * must have been loaded with expected attach type BPF_TRACE_UPROBE_MULTI (sections
 * `uprobe.multi/…` and `uretprobe.multi/…` get it).
 *
 * With attach type BPF_TRACE_UPROBE_SESSION (Linux 6.13) the link is a session: one program at
 * entry and return, the return run only when the entry run returned 0.
 *
 * @module
 */
import { ArgumentError, NotSupportedError, SymbolNotFoundError } from '../errors.js';
import { Feature } from '../features/feature.js';
import { Program } from '../prog.js';
import { bpfCall } from '../sys/bpf.js';
import { cString } from '../sys/commands.js';
import { Errno } from '../sys/errno.js';
import { LinkCreate } from '../sys/layouts.js';
import { u64Array } from '../sys/string-array.js';
import { AttachType, ProgramType } from '../types.js';
import { Executable } from './executable.js';
import { Link } from './link.js';
import { linkCreateProbe } from './link-create-probe.js';
import { checkListLength, checkMultiProgram, exactlyOne, summarize, u64List } from './multi-args.js';
import type { attachUprobe } from './uprobe.js';
import { BPF_F_UPROBE_MULTI_RETURN } from '../internal/flags.js';
export { BPF_F_UPROBE_MULTI_RETURN } from '../internal/flags.js';

/** Options of {@link attachUprobeMulti}: one of `symbols`, `pattern` or `offsets`. */
export interface UprobeMultiOptions {
  /**
   * Function names in the binary, as {@link attachUprobe} takes them: `malloc`,
   * `memcpy@GLIBC_2.2.5`, `malloc+4`.
   */
  symbols?: readonly string[];
  /**
   * A glob (`*`, `?`) over the binary's function names, e.g. `pthread_mutex_*`: see
   * {@link Executable.functionsMatching}. Cannot be combined with per-target lists (cookies,
   * `refCtrOffsets`).
   */
  pattern?: string;
  /** File offsets into the binary (what the kernel attaches at). */
  offsets?: readonly (bigint | number)[];
  /**
   * One USDT semaphore file offset per target (0 for none), in the targets' order: the kernel
   * increments each `unsigned short` while the link exists. See {@link Executable.variableOffset}.
   */
  refCtrOffsets?: readonly (bigint | number)[];
  /** One value per target, in the targets' order, that `bpf_get_attach_cookie()` returns. */
  cookies?: readonly (bigint | number)[];
  /** Only this process (its thread group) triggers the probes; default: every process that maps the file. */
  pid?: number;
  /** Run at the functions' return instead of at the probed instruction (`BPF_F_UPROBE_MULTI_RETURN`). */
  retprobe?: boolean;
  /**
   * A session link (BPF_TRACE_UPROBE_SESSION, Linux 6.13): the program runs at each function's
   * entry, and again at its return when the entry run returned 0 (any other value skips the
   * return). In the program, the kfunc `bpf_session_is_return()` tells the two runs apart and
   * `bpf_session_cookie()` points at 8 bytes the entry run can leave for the return run. The
   * program must be loaded with that attach type (a `uprobe.session/…` section); the default
   * is true for such a program and false otherwise. Not with `retprobe`.
   */
  session?: boolean;
}

/**
 * uprobe_multi links: BPF_LINK_CREATE with BPF_TRACE_UPROBE_MULTI (Linux 6.6). Probed with the
 * path `/`: a kernel with the feature looks the path up and refuses a directory with EBADF
 * (bpf_uprobe_multi_link_attach(): `!d_is_reg()`); older kernels answer EINVAL; one built
 * without CONFIG_UPROBES answers EOPNOTSUPP.
 *
 * @example
 * ```ts
 * if (uprobeMultiFeature.supported()) console.log('one link for many uprobes');
 * ```
 */
export const uprobeMultiFeature = new Feature('uprobe_multi link (BPF_LINK_CREATE with BPF_TRACE_UPROBE_MULTI)', '6.6', () =>
  linkCreateProbe({
    name: 'probe_upm',
    programType: ProgramType.Kprobe,
    attachType: AttachType.TraceUprobeMulti,
    attachName: 'BPF_TRACE_UPROBE_MULTI',
    fields: { uprobe_multi_path: cString('/'), uprobe_multi_offsets: u64Array([0n]), uprobe_multi_cnt: 1 },
    proves: [Errno.EBADF],
    since: '6.6',
    config: 'CONFIG_UPROBES',
  }),
  { perBoot: 'kernel' },
);

/**
 * uprobe session links: BPF_LINK_CREATE with BPF_TRACE_UPROBE_SESSION (Linux 6.13, "bpf: Add
 * support for uprobe multi session attach"), the same probe as {@link uprobeMultiFeature} with
 * the session attach type: 6.6 to 6.12 answer EINVAL to it. Older kernels without CONFIG_FPROBE
 * send every kprobe_multi-like attach type to a stub that answers EOPNOTSUPP: below 6.13 that
 * is reported as the version.
 *
 * @example
 * ```ts
 * if (uprobeSessionFeature.supported()) console.log('entry and return in one program');
 * ```
 */
export const uprobeSessionFeature = new Feature('uprobe session link (BPF_LINK_CREATE with BPF_TRACE_UPROBE_SESSION)', '6.13', () =>
  linkCreateProbe({
    name: 'probe_ups',
    programType: ProgramType.Kprobe,
    attachType: AttachType.TraceUprobeSession,
    attachName: 'BPF_TRACE_UPROBE_SESSION',
    fields: { uprobe_multi_path: cString('/'), uprobe_multi_offsets: u64Array([0n]), uprobe_multi_cnt: 1 },
    proves: [Errno.EBADF],
    since: '6.13',
    config: 'CONFIG_UPROBES',
  }),
  { perBoot: 'kernel' },
);

function requireUprobeMulti(session: boolean): void {
  const feature = session ? uprobeSessionFeature : uprobeMultiFeature;
  const r = feature.check();
  if (r.supported !== false) return;
  if (r.minimumVersion !== undefined) {
    const detail = session ? 'use a uprobe.multi and a uretprobe.multi program (or attachUprobe with and without retprobe) instead' : 'attach each place with attachUprobe instead';
    throw new NotSupportedError(feature.name, r.minimumVersion, { errno: Errno.EINVAL, detail });
  }
  throw new NotSupportedError('uprobes (CONFIG_UPROBES)', undefined, {
    errno: Errno.EOPNOTSUPP,
    detail: 'this kernel was built without CONFIG_UPROBES (BPF_LINK_CREATE answers EOPNOTSUPP)',
  });
}

/** The resolved targets: one file offset each, and names for messages. */
interface Targets {
  readonly offsets: readonly bigint[];
  readonly what: string;
  /** True when the offsets came from a pattern (per-target lists make no sense then). */
  readonly fromPattern: boolean;
}

/**
 * Functions of `exe` whose names share the longest possible prefix with the literal start of
 * `pattern` (at least three characters), for a pattern that matched nothing.
 */
function nearFunctions(exe: Executable, pattern: string): string[] {
  const all = [...new Set(exe.functionsMatching(/./).map((s) => s.name))].sort();
  for (let prefix = pattern.replace(/[*?].*$/, ''); prefix.length >= 3; prefix = prefix.slice(0, -1)) {
    const near = all.filter((n) => n.startsWith(prefix));
    if (near.length > 0) return near.slice(0, 8);
  }
  return [];
}

const SYMBOL_WITH_OFFSET = /^(.+?)(?:\+(0x[0-9a-fA-F]+|\d+))?$/;

function resolveTargets(exe: Executable, options: UprobeMultiOptions, retprobe: boolean): Targets {
  const which = exactlyOne('attachUprobeMulti', { symbols: options.symbols, pattern: options.pattern, offsets: options.offsets });
  if (which === 'offsets') {
    const offsets = u64List(options.offsets, 'offsets');
    if (offsets.some((o) => o >= 1n << 63n)) throw new ArgumentError('offsets must be file offsets below 2^63');
    return { offsets, what: summarize(offsets.map((o) => `0x${o.toString(16)}`)), fromPattern: false };
  }
  if (which === 'pattern') {
    const pattern = options.pattern;
    if (typeof pattern !== 'string' || pattern === '') throw new ArgumentError(`pattern must be a non-empty glob, got ${JSON.stringify(pattern)}`);
    const found = exe.functionsMatching(pattern);
    if (found.length === 0) throw new SymbolNotFoundError(pattern, nearFunctions(exe, pattern), 'no function of the binary matches the pattern', exe.path);
    checkListLength(found, `pattern ${pattern}`);
    return { offsets: found.map((s) => s.offset), what: `${pattern} (${found.length} functions)`, fromPattern: true };
  }
  const symbols = options.symbols;
  checkListLength(symbols, 'symbols');
  const offsets = symbols.map((target, i) => {
    if (typeof target !== 'string' || target === '') throw new ArgumentError(`symbols[${i}] must be a non-empty string, got ${JSON.stringify(target)}`);
    const m = SYMBOL_WITH_OFFSET.exec(target)!;
    const extra = m[2] === undefined ? 0n : BigInt(m[2]);
    if (retprobe && extra > 0n) throw new ArgumentError(`symbols[${i}] ${target}: uretprobes attach at the function entry; an offset into the function makes no sense with retprobe`);
    return exe.symbolOffset(m[1]!, extra);
  });
  const seen = new Map<bigint, string>();
  offsets.forEach((o, i) => {
    const other = seen.get(o);
    if (other !== undefined) throw new ArgumentError(`symbols ${other} and ${symbols[i]} are the same place (file offset 0x${o.toString(16)}) in ${exe.path}`);
    seen.set(o, symbols[i] as string);
  });
  return { offsets, what: summarize(symbols as string[]), fromPattern: false };
}

/** Explanation of BPF_LINK_CREATE errnos for uprobe_multi (bpf_uprobe_multi_link_attach()). */
function explain(errno: number, prog: Program, path: string, pid: number, uapiName: string): string | undefined {
  switch (errno) {
    case Errno.ENOENT:
      return `${path} does not exist (anymore)`;
    case Errno.EBADF:
      return `${path} is not a regular file`;
    case Errno.ESRCH:
      return `no such process: pid ${pid} has exited`;
    case Errno.EINVAL: {
      // is_uprobe_multi() refuses another expected attach type; uprobe_register() refuses an
      // offset beyond the file or a semaphore offset it cannot use.
      const loaded = prog.attachment.attachType === undefined ? `, or program ${prog.name} was not loaded with expected attach type ${uapiName}` : '';
      return `an offset lies beyond the end of ${path}, or a semaphore offset is wrong${loaded}`;
    }
    case Errno.ENOTSUPP:
    case Errno.EOPNOTSUPP:
      return 'uprobes cannot handle an instruction at one of the offsets (not at an instruction boundary, or cannot be single-stepped)';
    case Errno.E2BIG:
      return 'too many places for one link';
    default:
      return undefined;
  }
}

/**
 * Attaches a KPROBE program to many places of one user-space binary at once (a uprobe_multi
 * link): `symbols` (resolved like {@link attachUprobe}'s targets), a glob `pattern` over its
 * functions, or file `offsets`; in every process that maps the file, or only in `pid`.
 * `cookies` tell the program which place it runs for; `refCtrOffsets` name USDT semaphores.
 * The program must be loaded with expected attach type BPF_TRACE_UPROBE_MULTI: a
 * `uprobe.multi/…` or `uretprobe.multi/…` section, or `attachType:
 * AttachType.TraceUprobeMulti` in its spec.
 *
 * With `session` (a `uprobe.session/…` section, BPF_TRACE_UPROBE_SESSION) one program runs at
 * both entry and return, and its entry run decides whether the return run happens.
 *
 * Minimum kernel: 6.6; `info()` reports the path, offsets and cookies from 6.8; `session` 6.13.
 *
 * @example
 * ```ts
 * import { attachUprobeMulti } from 'ebpf-ts';
 * using link = attachUprobeMulti(coll.programs.on_lock, 'libc.so.6', { pattern: 'pthread_mutex_*lock' });
 * using two = attachUprobeMulti(coll.programs.on_alloc, 'libc.so.6', { symbols: ['malloc', 'free'], cookies: [1n, 2n], pid: 1234 });
 * using both = attachUprobeMulti(coll.programs.on_session, 'libc.so.6', { symbols: ['malloc'], session: true });
 * ```
 * @throws {@link ArgumentError} for a program that is not KPROBE or was loaded for another
 * attach type, none or several of `symbols`/`pattern`/`offsets`, an empty list, per-target
 * lists of the wrong length or with a pattern, `session` with `retprobe`, a bad pid, a binary that cannot be found or
 * read, an IFUNC or ambiguous symbol; {@link SymbolNotFoundError} when the binary has no such
 * function or nothing matches the pattern; {@link NotSupportedError} on kernels before 6.6 (6.13
 * with `session`) or without CONFIG_UPROBES; {@link SyscallError} when the kernel refuses the link (with a hint).
 */
export function attachUprobeMulti(prog: Program, binary: string | Executable, options: UprobeMultiOptions): Link {
  if (options === null || typeof options !== 'object') throw new ArgumentError('attachUprobeMulti needs options: { symbols }, { pattern } or { offsets }');
  const session = options.session ?? prog.attachment.attachType === AttachType.TraceUprobeSession;
  const attachType = session ? AttachType.TraceUprobeSession : AttachType.TraceUprobeMulti;
  const uapiName = session ? 'BPF_TRACE_UPROBE_SESSION' : 'BPF_TRACE_UPROBE_MULTI';
  checkMultiProgram(prog, attachType, uapiName, 'attachUprobeMulti', session ? 'uprobe.session' : 'uprobe.multi');
  if (session && options.retprobe === true) throw new ArgumentError('attachUprobeMulti: a session runs at entry and return already; retprobe does not apply to it');
  const pid = options.pid ?? -1;
  if (!Number.isSafeInteger(pid) || pid < -1 || pid === 0 || pid > 0x7fffffff) {
    throw new ArgumentError(`uprobe_multi pid must be a process id (or -1 for all processes; process.pid for this one), got ${String(options.pid)}`);
  }
  const retprobe = options.retprobe === true;
  const exe = binary instanceof Executable ? binary : Executable.open(binary);
  const targets = resolveTargets(exe, options, retprobe);
  const count = targets.offsets.length;
  if (targets.fromPattern && (options.cookies !== undefined || options.refCtrOffsets !== undefined)) {
    throw new ArgumentError('cookies and refCtrOffsets pair with symbols or offsets by position; a pattern has no order of your choosing: pass the offsets of exe.functionsMatching(pattern) instead');
  }
  const cookies = options.cookies === undefined ? undefined : u64List(options.cookies, 'cookies', count);
  const refCtr = options.refCtrOffsets === undefined ? undefined : u64List(options.refCtrOffsets, 'refCtrOffsets', count);
  requireUprobeMulti(session);
  const what = `${session ? 'uprobe_session' : retprobe ? 'uretprobe_multi' : 'uprobe_multi'} ${exe.path}:${targets.what}${pid > 0 ? ` in pid ${pid}` : ''}`;
  const fd = bpfCall(
    LinkCreate,
    {
      prog_fd: prog.fd,
      target_fd: 0,
      attach_type: attachType,
      flags: 0,
      uprobe_multi_path: cString(exe.path),
      uprobe_multi_offsets: u64Array(targets.offsets),
      uprobe_multi_ref_ctr_offsets: refCtr === undefined || refCtr.every((r) => r === 0n) ? undefined : u64Array(refCtr),
      uprobe_multi_cookies: cookies === undefined || cookies.every((c) => c === 0n) ? undefined : u64Array(cookies),
      uprobe_multi_cnt: count,
      uprobe_multi_flags: retprobe ? BPF_F_UPROBE_MULTI_RETURN : 0,
      // 0 means every process; the field is read as a pid_t.
      uprobe_multi_pid: pid > 0 ? pid : 0,
    },
    { context: `attach ${prog.name} to ${what}`, explain: (errno) => explain(errno, prog, exe.path, pid, uapiName) },
  );
  return Link.adopt({ fd, mode: 'bpf-link', what });
}
