/**
 * /proc/kallsyms: the kernel's symbol table, and what kprobe attachment learns from it before
 * asking the kernel. A kprobe on a name the kernel does not have fails with a bare ENOENT or
 * EINVAL; looking first lets the error say what to use instead:
 *
 * - functions that vanished or were renamed (`do_execve` became part of `do_execveat_common`
 *   in 5.9; `do_sys_open` became `do_sys_openat2` in 5.6; syscalls got `__x64_sys_` /
 *   `__arm64_sys_` wrappers in 4.17);
 * - compiler clones: GCC's interprocedural optimisations emit `name.isra.0`,
 *   `name.constprop.0`, `name.part.0` and cold halves `name.cold`, sometimes with no plain
 *   `name` left;
 * - typos, by edit distance.
 *
 * The table is parsed once and cached; it is read again when /proc/modules changes, as loading
 * or unloading a module adds or removes symbols.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { arch } from 'node:os';

/** One /proc/kallsyms entry. */
export interface KernelSymbol {
  /** The symbol name, e.g. `do_sys_openat2` or `foo.isra.0`. */
  readonly name: string;
  /** The address (0 when kptr_restrict hides addresses). */
  readonly address: bigint;
  /** nm's type letter: `T`/`t` text, `D`/`d` data, `B`/`b` bss, `R`/`r` read-only, `W`/`w` weak. */
  readonly type: string;
  /** The module, for symbols of loaded modules (`[bpf]` in the file). */
  readonly module: string | undefined;
}

/** A parsed symbol table with the indexes suggestions need. */
export class KallsymsTable {
  /** Every symbol by name (the first entry wins for names defined more than once). */
  readonly byName = new Map<string, KernelSymbol>();
  /** Compiler clones by base name: `foo` → [`foo.isra.0`, `foo.cold`]. */
  readonly clones = new Map<string, string[]>();
  #sorted: string[] | undefined;

  constructor(entries: Iterable<KernelSymbol>) {
    for (const sym of entries) {
      if (!this.byName.has(sym.name)) this.byName.set(sym.name, sym);
      const base = cloneBase(sym.name);
      if (base !== sym.name) {
        const list = this.clones.get(base) ?? [];
        if (!list.includes(sym.name)) list.push(sym.name);
        this.clones.set(base, list);
      }
    }
  }

  /** Every name, sorted (for prefix search). */
  get sortedNames(): string[] {
    return (this.#sorted ??= [...this.byName.keys()].sort());
  }

  /** The symbol called exactly `name`. */
  get(name: string): KernelSymbol | undefined {
    return this.byName.get(name);
  }

  /** Names starting with `prefix`, in sorted order, at most `limit`. */
  withPrefix(prefix: string, limit: number): string[] {
    const names = this.sortedNames;
    let lo = 0;
    let hi = names.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (names[mid]! < prefix) lo = mid + 1;
      else hi = mid;
    }
    const out: string[] = [];
    for (let i = lo; i < names.length && out.length < limit && names[i]!.startsWith(prefix); i++) out.push(names[i]!);
    return out;
  }
}

// GCC clone suffixes: .isra.N, .constprop.N, .part.N, .cold(.N), .lto_priv.N, .llvm.<hash>,
// possibly stacked (foo.isra.0.cold).
const CLONE_SUFFIX = /(?:\.(?:isra|constprop|part|lto_priv|cold|llvm|localalias)(?:\.\d+)*)+$/;

/** `foo.isra.0.cold` → `foo`; other names unchanged. */
export function cloneBase(name: string): string {
  return name.replace(CLONE_SUFFIX, '');
}

/** True for text (function) symbols: nm types T, t, W, w. */
export function isTextSymbol(sym: KernelSymbol): boolean {
  return sym.type === 'T' || sym.type === 't' || sym.type === 'W' || sym.type === 'w';
}

/**
 * Parses /proc/kallsyms text: `address type name [module]` per line. Malformed lines are
 * skipped.
 *
 * @example
 * ```ts
 * const table = parseKallsyms('ffffffff816b52b0 t do_sys_openat2\n');
 * table.get('do_sys_openat2')?.type; // 't'
 * ```
 */
export function parseKallsyms(text: string): KallsymsTable {
  return new KallsymsTable(kallsymsEntries(text));
}

/**
 * Every entry of /proc/kallsyms text, in file order (names defined more than once included,
 * as an address lookup needs them all). Malformed lines are skipped.
 *
 * @example
 * ```ts
 * [...kallsymsEntries('ffffffffc0a01000 t nf_hook\t[nf_tables]\n')][0]?.module; // 'nf_tables'
 * ```
 */
export function* kallsymsEntries(text: string): Generator<KernelSymbol> {
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    const a = line.indexOf(' ');
    const b = line.indexOf(' ', a + 1);
    if (a <= 0 || b !== a + 2) continue;
    let name = line.slice(b + 1);
    let module: string | undefined;
    const tab = name.indexOf('\t');
    if (tab >= 0) {
      module = name.slice(tab + 1).replace(/^\[|\]$/g, '');
      name = name.slice(0, tab);
    }
    if (name === '' || /\s/.test(name)) continue;
    let address = 0n;
    try {
      address = BigInt(`0x${line.slice(0, a)}`);
    } catch {
      continue;
    }
    yield { name, address, type: line[a + 1]!, module };
  }
}

let cachedTable: KallsymsTable | undefined;
let cachedModules: string | undefined;
let kallsymsPath = '/proc/kallsyms';
let modulesPath = '/proc/modules';

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Makes {@link kallsyms} read other files (or, with no arguments, the real ones again) and
 * drops the cache. For tests with fixture files.
 */
export function setKallsymsSource(kallsymsFile?: string, modulesFile?: string): void {
  kallsymsPath = kallsymsFile ?? '/proc/kallsyms';
  modulesPath = modulesFile ?? '/proc/modules';
  cachedTable = undefined;
  cachedModules = undefined;
}

/**
 * The running kernel's symbol table, parsed once and re-read when /proc/modules changed since
 * (a module was loaded or unloaded). An unreadable /proc/kallsyms gives an empty table.
 *
 * Minimum kernel: any.
 *
 * @example
 * ```ts
 * kallsyms().get('do_sys_openat2'); // { name: 'do_sys_openat2', type: 't', … }
 * ```
 */
export function kallsyms(): KallsymsTable {
  const modules = readOrEmpty(modulesPath);
  if (cachedTable !== undefined && modules === cachedModules) return cachedTable;
  cachedTable = parseKallsyms(readOrEmpty(kallsymsPath));
  cachedModules = modules;
  return cachedTable;
}

/** The syscall wrapper prefix of this architecture (`__x64_`, `__arm64_`, …), '' if unknown. */
export function syscallPrefix(architecture: string = arch()): string {
  switch (architecture) {
    case 'x64':
      return '__x64_';
    case 'arm64':
      return '__arm64_';
    case 's390x':
      return '__s390x_';
    case 'riscv64':
      return '__riscv_';
    case 'ia32':
      return '__ia32_';
    default:
      return '';
  }
}

/**
 * The kernel function behind system call `syscall` (`openat` or `sys_openat`): since 4.17
 * ("syscalls/core, syscalls/x86: Rename struct pt_regs-based sys_*() to __x64_sys_*()", and
 * the matching arm64 change in 4.19) the entry points carry an architecture prefix, e.g. `__x64_sys_openat`;
 * older kernels have plain `sys_openat`. The table decides which exists; when neither does,
 * the prefixed name is returned (and attaching reports it as missing, with suggestions).
 *
 * @example
 * ```ts
 * ksyscallName('getppid'); // '__x64_sys_getppid' on x86-64
 * ```
 */
export function ksyscallName(syscall: string, table: KallsymsTable = kallsyms(), architecture: string = arch()): string {
  const bare = syscall.startsWith('sys_') ? syscall : `sys_${syscall}`;
  const prefixed = `${syscallPrefix(architecture)}${bare}`;
  if (table.get(prefixed) !== undefined) return prefixed;
  if (table.get(bare) !== undefined) return bare;
  return prefixed;
}

// Functions that disappeared from some kernel version on, with where their code went. Only
// names whose absence people actually hit with kprobes are listed.
const RENAMED: Readonly<Record<string, readonly string[]>> = {
  // 5.9: do_execve() and do_execveat() folded into their callers; the work is in
  // do_execveat_common() (often a .isra clone), bprm_execve() and the syscall wrappers.
  do_execve: ['do_execveat_common', 'bprm_execve', 'sys_execve'],
  do_execveat: ['do_execveat_common', 'bprm_execve', 'sys_execveat'],
  // 5.6: openat2 support moved the body of do_sys_open() into do_sys_openat2().
  do_sys_open: ['do_sys_openat2', 'sys_openat'],
};

/**
 * Edit distance with adjacent transpositions counted as one edit (optimal string alignment:
 * `vfs_raed` is 1 from `vfs_read`), giving up (returning `max + 1`) once it exceeds `max`.
 */
export function editDistance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let before = new Array<number>(b.length + 1).fill(0);
  let prev = new Array<number>(b.length + 1);
  let cur = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a.charCodeAt(i - 1) === b.charCodeAt(j - 1) ? 0 : 1;
      let d = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a.charCodeAt(i - 1) === b.charCodeAt(j - 2) && a.charCodeAt(i - 2) === b.charCodeAt(j - 1)) {
        d = Math.min(d, before[j - 2]! + 1);
      }
      cur[j] = d;
      if (d < rowMin) rowMin = d;
    }
    if (rowMin > max) return max + 1;
    [before, prev, cur] = [prev, cur, before];
  }
  return prev[b.length]!;
}

// Symbols nobody attaches to: ftrace/CFI padding in front of every function (6.2+).
const NOISE = /^(?:__pfx_|__cfi_)/;

/**
 * Names of `table` close to `name`, best first: compiler clones of it, its successors when it
 * was renamed or removed, syscall wrappers, longer names it is a prefix of, then names within
 * a small edit distance. Only text symbols are suggested.
 *
 * @example
 * ```ts
 * nearSymbols('do_execve', kallsyms()); // ['do_execveat_common.isra.0', 'bprm_execve', '__x64_sys_execve', …]
 * ```
 */
export function nearSymbols(name: string, table: KallsymsTable, limit = 8, architecture: string = arch()): string[] {
  const out: string[] = [];
  const add = (candidate: string): void => {
    if (out.length >= limit || out.includes(candidate) || candidate === name) return;
    const sym = table.get(candidate);
    if (sym !== undefined && isTextSymbol(sym) && !NOISE.test(candidate)) out.push(candidate);
  };
  const addWithClones = (candidate: string): void => {
    add(candidate);
    for (const clone of table.clones.get(candidate) ?? []) if (!clone.endsWith('.cold')) add(clone);
  };
  const base = cloneBase(name);
  addWithClones(base);
  for (const successor of RENAMED[base] ?? []) {
    if (successor.startsWith('sys_')) addWithClones(ksyscallName(successor, table, architecture));
    else addWithClones(successor);
  }
  if (base.startsWith('sys_')) addWithClones(ksyscallName(base, table, architecture));
  else if (table.get(`${syscallPrefix(architecture)}sys_${base}`) !== undefined) add(`${syscallPrefix(architecture)}sys_${base}`);
  for (const longer of table.withPrefix(base, limit * 4)) if (!longer.endsWith('.cold')) add(longer);
  if (out.length < limit) {
    const max = Math.min(3, Math.max(1, Math.floor(base.length / 5)));
    const scored: Array<[number, string]> = [];
    for (const [candidate, sym] of table.byName) {
      if (!isTextSymbol(sym) || NOISE.test(candidate) || Math.abs(candidate.length - base.length) > max) continue;
      const d = editDistance(base, candidate, max);
      if (d <= max) scored.push([d, candidate]);
    }
    scored.sort((x, y) => x[0] - y[0] || (x[1] < y[1] ? -1 : 1));
    for (const [, candidate] of scored) add(candidate);
  }
  return out;
}

let blacklistPath = '/sys/kernel/debug/kprobes/blacklist';

/** Makes {@link kprobeBlacklist} read another file (tests); no argument restores the default. */
export function setKprobeBlacklistPath(path?: string): void {
  blacklistPath = path ?? '/sys/kernel/debug/kprobes/blacklist';
}

/**
 * The functions kprobes refuse (`NOKPROBE_SYMBOL`, `__kprobes` sections, the entry code), from
 * debugfs's `kprobes/blacklist` (Linux 4.1+; lines `0xstart-0xend\tname`). Undefined when the
 * file cannot be read (debugfs not mounted, no root): the answer is then unknown.
 *
 * @example
 * ```ts
 * kprobeBlacklist()?.has('do_int3'); // true
 * ```
 */
export function kprobeBlacklist(): ReadonlySet<string> | undefined {
  let text: string;
  try {
    text = readFileSync(blacklistPath, 'utf8');
  } catch {
    return undefined;
  }
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const name = line.trim().split(/\s+/)[1];
    if (name !== undefined && name !== '') out.add(name.replace(/\s*\[.*\]$/, ''));
  }
  return out;
}

/**
 * Why `name` is missing from `table`, in words, for {@link SymbolNotFoundError}'s detail.
 */
export function explainMissingSymbol(name: string, table: KallsymsTable): string {
  const base = cloneBase(name);
  const clones = (table.clones.get(base) ?? []).filter((c) => !c.endsWith('.cold'));
  if (table.byName.size === 0) return '/proc/kallsyms could not be read';
  if (clones.length > 0) {
    return `the compiler only emitted specialised copies of ${base} (${clones.slice(0, 3).join(', ')}): attach to one of them`;
  }
  if (RENAMED[base] !== undefined) {
    return `${base} no longer exists in this kernel (folded into or renamed to ${RENAMED[base]!.join(', ')})`;
  }
  return 'it may be inlined into its callers, static and optimised away, renamed in this kernel version, or in a module that is not loaded';
}

/** Converts a shell-style glob (`*`, `?`) to an anchored RegExp. */
export function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`);
}

/**
 * Names matching `pattern` (a glob or RegExp), sorted and unique: from `filterFunctions` (the
 * text of tracefs's `available_filter_functions`, `name [module]` per line) when given, else
 * from the text symbols of {@link kallsyms}.
 *
 * @example
 * ```ts
 * matchKernelFunctions('vfs_*'); // ['vfs_fstat', 'vfs_read', …]
 * ```
 */
export function matchKernelFunctions(pattern: string | RegExp, filterFunctions?: string): string[] {
  const re = typeof pattern === 'string' ? globToRegExp(pattern) : pattern;
  const out = new Set<string>();
  if (filterFunctions !== undefined) {
    for (const line of filterFunctions.split('\n')) {
      const name = line.split(/\s+/)[0];
      if (name !== undefined && name !== '' && !NOISE.test(name) && re.test(name)) out.add(name);
    }
  } else {
    for (const [name, sym] of kallsyms().byName) if (isTextSymbol(sym) && !NOISE.test(name) && re.test(name)) out.add(name);
  }
  return [...out].sort();
}
