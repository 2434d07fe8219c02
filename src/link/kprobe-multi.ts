/**
 * kprobe_multi links: one KPROBE program on many kernel functions at once, with one
 * BPF_LINK_CREATE of attach type BPF_TRACE_KPROBE_MULTI (Linux 5.18, "bpf: Add multi kprobe
 * link"). The kernel resolves the names itself and hooks the functions through fprobe, which
 * sits on ftrace rather than on kprobes: attaching a thousand functions costs one syscall and
 * one ftrace update, where a thousand kprobes cost a thousand perf events.
 *
 * What that implies, and what this file checks before the kernel sees anything:
 *
 * - the program must have been loaded with expected attach type BPF_TRACE_KPROBE_MULTI
 *   (sections `kprobe.multi/…` and `kretprobe.multi/…` get it); any other is EINVAL;
 * - every function must be one ftrace can patch (`available_filter_functions`): one that is
 *   not (notrace, inlined, __init) fails the whole link with EINVAL, so a `pattern` is matched
 *   against that list, and names are checked against /proc/kallsyms like {@link attachKprobe};
 * - the feature needs CONFIG_FPROBE as well as the version: kernels built without it answer
 *   EOPNOTSUPP (Debian's 6.1 kernel is one), which {@link kprobeMultiFeature} tells apart from
 *   kernels that predate the attach type (EINVAL).
 *
 * The same link made with attach type BPF_TRACE_KPROBE_SESSION (Linux 6.10) is a session: one
 * program at entry and return, the return run only when the entry run returned 0.
 *
 * @module
 */
import { ArgumentError, NotSupportedError, SymbolNotFoundError } from '../errors.js';
import { Feature, unknown } from '../features/feature.js';
import { Program } from '../prog.js';
import { encodeAttr } from '../sys/attr.js';
import { bpfCheck } from '../sys/bpf.js';
import { Errno } from '../sys/errno.js';
import { LinkCreate } from '../sys/layouts.js';
import { encodeAttrWithStrings, u64Array } from '../sys/string-array.js';
import { AttachType, ProgramType } from '../types.js';
import { explainMissingSymbol, globToRegExp, isTextSymbol, kallsyms, matchKernelFunctions, nearSymbols } from '../internal/kallsyms.js';
import { type attachKprobe, kprobeFunctions, kprobeSupport } from './kprobe.js';
import { Link } from './link.js';
import { linkCreateProbe } from './link-create-probe.js';
import { checkListLength, checkMultiProgram, exactlyOne, summarize, u64List } from './multi-args.js';
import { readTracefsFile, tracefsAvailable } from '../internal/tracefs.js';
import { BPF_F_KPROBE_MULTI_RETURN } from '../internal/flags.js';
export { BPF_F_KPROBE_MULTI_RETURN } from '../internal/flags.js';

/**
 * `KSYM_NAME_LEN`: the kernel copies each name into a buffer of this size and answers E2BIG to
 * a longer one (512 since 6.1, 128 before).
 */
const KSYM_NAME_LEN = 512;

/** Options of {@link attachKprobeMulti}: one of `symbols`, `pattern` or `addresses`. */
export interface KprobeMultiOptions {
  /** Kernel function names, e.g. `['vfs_read', 'vfs_write']`; checked against /proc/kallsyms. */
  symbols?: readonly string[];
  /**
   * A glob (`*`, `?`) over the functions kprobe_multi can attach to, e.g. `vfs_*`: see
   * {@link kprobeMultiFunctions}. Cannot be combined with cookies (the matches' order is not
   * yours); list the matches and pass them as `symbols` for that.
   */
  pattern?: string;
  /** Kernel addresses of the functions (needs addresses from /proc/kallsyms, so root). */
  addresses?: readonly (bigint | number)[];
  /**
   * One value per function, in the order of `symbols` or `addresses`, that
   * `bpf_get_attach_cookie()` returns in the program when that function is hit.
   */
  cookies?: readonly (bigint | number)[];
  /** Run at the functions' return instead of their entry (`BPF_F_KPROBE_MULTI_RETURN`). */
  retprobe?: boolean;
  /**
   * A session link (BPF_TRACE_KPROBE_SESSION, Linux 6.10): the program runs at each function's
   * entry, and again at its return when the entry run returned 0 (any other value skips the
   * return). In the program, the kfunc `bpf_session_is_return()` tells the two runs apart and
   * `bpf_session_cookie()` points at 8 bytes the entry run can leave for the return run. The
   * program must be loaded with that attach type (a `kprobe.session/…` section); the default
   * is true for such a program and false otherwise. Not with `retprobe`.
   */
  session?: boolean;
}

/**
 * kprobe_multi links: BPF_LINK_CREATE with BPF_TRACE_KPROBE_MULTI (Linux 5.18). Probed with one
 * symbol whose pointer is NULL, so nothing is attached: a kernel with the feature gets as far
 * as copying the name and answers EFAULT; one built without CONFIG_FPROBE answers EOPNOTSUPP
 * before looking at anything (the stub of bpf_kprobe_multi_link_attach()); older kernels do
 * not know the attach type or the attr fields and answer EINVAL. "Not supported" with no
 * minimum version means CONFIG_FPROBE.
 *
 * @example
 * ```ts
 * if (kprobeMultiFeature.supported()) console.log('one link for many functions');
 * ```
 */
export const kprobeMultiFeature = new Feature('kprobe_multi link (BPF_LINK_CREATE with BPF_TRACE_KPROBE_MULTI)', '5.18', () =>
  linkCreateProbe({
    name: 'probe_kpm',
    programType: ProgramType.Kprobe,
    attachType: AttachType.TraceKprobeMulti,
    attachName: 'BPF_TRACE_KPROBE_MULTI',
    // One slot holding NULL: copy_user_syms() fails to copy the name (EFAULT).
    fields: { kprobe_multi_cnt: 1, kprobe_multi_syms: new Uint8Array(8) },
    proves: [Errno.EFAULT, Errno.ENOENT, Errno.ESRCH],
    since: '5.18',
    config: 'CONFIG_FPROBE',
  }),
  { perBoot: 'kernel' },
);

/**
 * kprobe session links: BPF_LINK_CREATE with BPF_TRACE_KPROBE_SESSION (Linux 6.10, "bpf: Add
 * support for kprobe session attach"), the same probe as {@link kprobeMultiFeature} with the
 * session attach type. A kernel older than 6.10 built without CONFIG_FPROBE answers EOPNOTSUPP
 * to any kprobe_multi attach type: there the version is reported, since it is missing too.
 *
 * @example
 * ```ts
 * if (kprobeSessionFeature.supported()) console.log('entry and return in one program');
 * ```
 */
export const kprobeSessionFeature = new Feature('kprobe session link (BPF_LINK_CREATE with BPF_TRACE_KPROBE_SESSION)', '6.10', () =>
  linkCreateProbe({
    name: 'probe_kps',
    programType: ProgramType.Kprobe,
    attachType: AttachType.TraceKprobeSession,
    attachName: 'BPF_TRACE_KPROBE_SESSION',
    fields: { kprobe_multi_cnt: 1, kprobe_multi_syms: new Uint8Array(8) },
    proves: [Errno.EFAULT, Errno.ENOENT, Errno.ESRCH],
    since: '6.10',
    config: 'CONFIG_FPROBE',
  }),
  { perBoot: 'kernel' },
);

/** True when this kernel has neither a kprobe PMU nor kprobe_events (CONFIG_KPROBES unset). */
function noKprobesAtAll(): boolean {
  const s = kprobeSupport();
  return s.pmuType === undefined && !s.tracefsEvents && (s.configKprobes === false || s.tracefsMounted);
}

/**
 * Throws the {@link NotSupportedError} that fits when the kernel cannot make kprobe_multi links;
 * an inconclusive probe lets the attachment itself answer.
 */
function requireKprobeMulti(session: boolean): void {
  const feature = session ? kprobeSessionFeature : kprobeMultiFeature;
  const r = feature.check();
  if (r.supported !== false) return;
  if (r.minimumVersion !== undefined) {
    throw new NotSupportedError(feature.name, r.minimumVersion, {
      errno: Errno.EINVAL,
      detail: session
        ? 'use a kprobe.multi and a kretprobe.multi program (or attachKprobe with and without retprobe) instead'
        : 'attach each function with attachKprobe instead',
    });
  }
  if (noKprobesAtAll()) {
    const err = new NotSupportedError('kprobes (CONFIG_KPROBES) and kprobe_multi links (CONFIG_FPROBE)', undefined, { errno: Errno.EOPNOTSUPP });
    err.message =
      'kprobes are not available in this kernel (CONFIG_KPROBES), and neither are kprobe_multi links (CONFIG_FPROBE; ' +
      'BPF_LINK_CREATE answers EOPNOTSUPP): use tracepoints or raw tracepoints, or a kernel built with CONFIG_KPROBES=y and CONFIG_FPROBE=y';
    throw err;
  }
  throw new NotSupportedError(`${session ? 'kprobe session' : 'kprobe_multi'} link (CONFIG_FPROBE)`, undefined, {
    errno: Errno.EOPNOTSUPP,
    detail:
      'this kernel was built without CONFIG_FPROBE (BPF_LINK_CREATE answers EOPNOTSUPP); ' +
      'attach each function with attachKprobe instead, or use a kernel built with CONFIG_FPROBE=y',
  });
}

/** `available_filter_functions`, or undefined when tracefs or the function tracer is missing. */
function ftraceFunctions(): string | undefined {
  if (!tracefsAvailable()) return undefined;
  try {
    return readTracefsFile('available_filter_functions');
  } catch {
    return undefined;
  }
}

/**
 * Kernel functions matching `pattern` (a glob such as `vfs_*`, or a RegExp) that a kprobe_multi
 * link can attach to, sorted: the functions ftrace can patch (tracefs's
 * `available_filter_functions`, which fprobe needs), or, when that file cannot be read, the
 * text symbols of /proc/kallsyms as {@link kprobeFunctions} lists them. This is what the
 * `pattern` option and `kprobe.multi/<pattern>` sections match against.
 *
 * A function can be attachable without being listed under its own name: on x86-64 the syscall
 * entry `__x64_sys_getppid` is an alias of the listed `__do_sys_getppid`. Such names work in
 * `symbols`.
 *
 * Minimum kernel: any (the list needs tracefs and CONFIG_FUNCTION_TRACER).
 *
 * @example
 * ```ts
 * kprobeMultiFunctions('vfs_read*'); // ['vfs_read', 'vfs_readlink', 'vfs_readv']
 * ```
 */
export function kprobeMultiFunctions(pattern: string | RegExp): string[] {
  const ftrace = ftraceFunctions();
  if (ftrace === undefined) return kprobeFunctions(pattern);
  // Weak functions that a strong definition replaced leave placeholders behind (6.1+).
  return matchKernelFunctions(pattern, ftrace).filter((n) => !n.startsWith('__ftrace_invalid_address__'));
}

/**
 * Throws unless `name` could be a kernel symbol name (or a glob of one): the kernel copies it
 * with strncpy_from_user() into a KSYM_NAME_LEN buffer. `label` names it in the message.
 */
function checkName(name: unknown, label: string): asserts name is string {
  if (typeof name !== 'string' || name === '') throw new ArgumentError(`${label} must be a non-empty string, got ${JSON.stringify(name)}`);
  const bad = [...name].find((c) => /[\s\0-\x1f\x7f]/.test(c));
  if (bad !== undefined) throw new ArgumentError(`${label} ${JSON.stringify(name)} contains ${JSON.stringify(bad)}, which no kernel symbol has`);
  const length = Buffer.byteLength(name);
  if (length >= KSYM_NAME_LEN) throw new ArgumentError(`${label} is ${length} bytes long; kernel symbol names are shorter than ${KSYM_NAME_LEN}`);
}

/** The kallsyms check of {@link attachKprobe}, for each name: exists, and is a function. */
function checkSymbols(symbols: readonly string[]): void {
  const seen = new Set<string>();
  for (let i = 0; i < symbols.length; i++) {
    const name = symbols[i];
    checkName(name, `symbols[${i}]`);
    if (seen.has(name)) throw new ArgumentError(`symbols lists ${name} twice; a kprobe_multi link attaches to each function once`);
    seen.add(name);
  }
  const table = kallsyms();
  // An unreadable kallsyms (no procfs) tells nothing: the kernel resolves the names anyway.
  if (table.byName.size === 0) return;
  for (const name of symbols) {
    const sym = table.get(name);
    if (sym === undefined) throw new SymbolNotFoundError(name, nearSymbols(name, table), explainMissingSymbol(name, table));
    if (!isTextSymbol(sym)) {
      throw new ArgumentError(`kernel symbol ${name} is a ${sym.type} (data) symbol in /proc/kallsyms, not a function: kprobe_multi attaches to functions`);
    }
  }
}

/** The targets the options name, resolved and checked. */
interface Targets {
  readonly symbols?: readonly string[];
  readonly addresses?: readonly bigint[];
  readonly count: number;
  readonly what: string;
}

function resolveTargets(options: KprobeMultiOptions): Targets {
  const which = exactlyOne('attachKprobeMulti', { symbols: options.symbols, pattern: options.pattern, addresses: options.addresses });
  if (which === 'pattern') {
    const pattern = options.pattern;
    checkName(pattern, 'pattern');
    if (options.cookies !== undefined) {
      throw new ArgumentError('cookies pair with symbols or addresses by position; a pattern has no order of your choosing: pass kprobeMultiFunctions(pattern) as symbols to give cookies');
    }
    const symbols = kprobeMultiFunctions(globToRegExp(pattern));
    if (symbols.length === 0) {
      // Suggestions from the pattern's literal start, when it has one worth searching for.
      const prefix = pattern.replace(/[*?].*$/, '');
      const near = prefix.length >= 3 ? nearSymbols(prefix, kallsyms()) : [];
      throw new SymbolNotFoundError(pattern, near, 'no function that kprobe_multi can attach to (available_filter_functions) matches the pattern');
    }
    checkListLength(symbols, `pattern ${pattern}`);
    return { symbols, count: symbols.length, what: `${pattern} (${symbols.length} functions)` };
  }
  if (which === 'symbols') {
    checkListLength(options.symbols, 'symbols');
    checkSymbols(options.symbols!);
    return { symbols: options.symbols, count: options.symbols!.length, what: summarize(options.symbols!) };
  }
  const addresses = u64List(options.addresses, 'addresses');
  if (addresses.some((a) => a === 0n)) throw new ArgumentError('addresses must not be 0 (kallsyms shows 0 for every address to processes without CAP_SYSLOG)');
  if (new Set(addresses).size !== addresses.length) throw new ArgumentError('addresses lists an address twice; a kprobe_multi link attaches to each function once');
  return { addresses, count: addresses.length, what: summarize(addresses.map((a) => `0x${a.toString(16)}`)) };
}

/** Explanation of BPF_LINK_CREATE errnos for kprobe_multi (bpf_kprobe_multi_link_attach()). */
function explain(errno: number, prog: Program, targets: Targets, uapiName: string): string | undefined {
  switch (errno) {
    case Errno.EINVAL: {
      // is_kprobe_multi() refuses a program of another expected attach type; register_fprobe_ips()
      // → ftrace_set_filter_ips() refuses an address ftrace does not patch.
      const ftrace = targets.symbols === undefined ? undefined : ftraceFunctions();
      let unlisted: string[] = [];
      if (ftrace !== undefined) {
        const listed = new Set(matchKernelFunctions(/./, ftrace));
        unlisted = targets.symbols!.filter((s) => !listed.has(s));
      }
      const loaded = prog.attachment.attachType === undefined ? `, or program ${prog.name} was not loaded with expected attach type ${uapiName}` : '';
      const suspects = unlisted.length === 0 ? '' : `; not listed there under that name: ${summarize(unlisted)} (an alias of a listed function still works)`;
      return `a function cannot be hooked through ftrace (it must be in tracefs's available_filter_functions: notrace, inlined and __init code are not)${loaded}${suspects}`;
    }
    case Errno.ENOENT:
    case Errno.ESRCH:
      // kallsyms_lookup_name() (5.18) or ftrace_lookup_symbols() (6.0+) did not find every name.
      return 'the kernel did not find every function: a module symbol that was unloaded, or a name /proc/kallsyms shows but the lookup skips';
    case Errno.EBUSY:
      return 'ftrace is already patching one of the functions for an exclusive user (livepatch)';
    case Errno.E2BIG:
      return 'too many functions for one link, or a name longer than the kernel\'s KSYM_NAME_LEN';
    case Errno.EOPNOTSUPP:
      return 'this kernel was built without CONFIG_FPROBE';
    default:
      return undefined;
  }
}

/**
 * Attaches a KPROBE program to many kernel functions at once (a kprobe_multi link): at their
 * entry, or at their return with `retprobe`. Give `symbols` (checked against /proc/kallsyms
 * first, like {@link attachKprobe}), a glob `pattern` (see {@link kprobeMultiFunctions}), or
 * `addresses`; `cookies` tell the program which function it runs for. The program must be
 * loaded with expected attach type BPF_TRACE_KPROBE_MULTI: a `kprobe.multi/…` or
 * `kretprobe.multi/…` section, or `attachType: AttachType.TraceKprobeMulti` in its spec.
 *
 * With `session` (a `kprobe.session/…` section, BPF_TRACE_KPROBE_SESSION) one program runs at
 * both entry and return, and its entry run decides whether the return run happens.
 *
 * Minimum kernel: 5.18, built with CONFIG_FPROBE; `info()` reports the functions from 6.6;
 * `session` 6.10.
 *
 * @example
 * ```ts
 * import { attachKprobeMulti } from 'ebpf-ts';
 * using link = attachKprobeMulti(coll.programs.on_vfs, { pattern: 'vfs_*' });
 * using rets = attachKprobeMulti(coll.programs.on_ret, { symbols: ['vfs_read', 'vfs_write'], cookies: [1n, 2n], retprobe: true });
 * using both = attachKprobeMulti(coll.programs.on_session, { symbols: ['vfs_read'], session: true });
 * ```
 * @throws {@link ArgumentError} for a program that is not KPROBE or was loaded for another
 * attach type, for none or several of `symbols`/`pattern`/`addresses`, an empty list, a
 * repeated or malformed name, a data symbol, cookies that do not pair one to one with the
 * functions, cookies with a pattern, or `session` with `retprobe`; {@link SymbolNotFoundError}
 * when kallsyms has no such function (with close matches) or nothing matches the pattern;
 * {@link NotSupportedError} when the kernel predates kprobe_multi (5.18) or, with `session`,
 * kprobe sessions (6.10), was built without CONFIG_FPROBE, or has no kprobes at all; {@link SyscallError} when the kernel refuses the link (with a hint).
 */
export function attachKprobeMulti(prog: Program, options: KprobeMultiOptions): Link {
  if (options === null || typeof options !== 'object') throw new ArgumentError('attachKprobeMulti needs options: { symbols }, { pattern } or { addresses }');
  const session = options.session ?? prog.attachment.attachType === AttachType.TraceKprobeSession;
  const attachType = session ? AttachType.TraceKprobeSession : AttachType.TraceKprobeMulti;
  const uapiName = session ? 'BPF_TRACE_KPROBE_SESSION' : 'BPF_TRACE_KPROBE_MULTI';
  checkMultiProgram(prog, attachType, uapiName, 'attachKprobeMulti', session ? 'kprobe.session' : 'kprobe.multi');
  const retprobe = options.retprobe === true;
  if (session && retprobe) throw new ArgumentError('attachKprobeMulti: a session runs at entry and return already; retprobe does not apply to it');
  const targets = resolveTargets(options);
  const cookies = options.cookies === undefined ? undefined : u64List(options.cookies, 'cookies', targets.count);
  requireKprobeMulti(session);
  const values = {
    prog_fd: prog.fd,
    target_fd: 0,
    attach_type: attachType,
    flags: 0,
    kprobe_multi_flags: retprobe ? BPF_F_KPROBE_MULTI_RETURN : 0,
    kprobe_multi_cnt: targets.count,
    kprobe_multi_addrs: targets.addresses === undefined ? undefined : u64Array(targets.addresses),
    // Cookies of all zeros tell the program nothing: leave the field out.
    kprobe_multi_cookies: cookies === undefined || cookies.every((c) => c === 0n) ? undefined : u64Array(cookies),
  };
  const { attr, pointers } =
    targets.symbols !== undefined ? encodeAttrWithStrings(LinkCreate, values, 'kprobe_multi_syms', targets.symbols) : encodeAttr(LinkCreate, values);
  const what = `${session ? 'kprobe_session' : retprobe ? 'kretprobe_multi' : 'kprobe_multi'} ${targets.what}`;
  const fd = bpfCheck(LinkCreate, attr, pointers, {
    context: `attach ${prog.name} to ${what}`,
    explain: (errno) => explain(errno, prog, targets, uapiName),
  });
  return Link.adopt({ fd, mode: 'bpf-link', what });
}
