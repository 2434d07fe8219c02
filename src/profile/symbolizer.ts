/**
 * {@link Symbolizer}: names for the addresses of sampled stacks. Kernel addresses are looked up
 * in /proc/kallsyms ({@link KernelSymbolIndex}); user addresses go through the process's
 * /proc/PID/maps to the file mapped there and the offset into it, then to the binary's ELF
 * symbols ({@link functionAt}); addresses in anonymous memory go to the process's perf map
 * (`/tmp/perf-PID.map`, written by JITs such as Node's `--perf-basic-prof`).
 *
 * Everything read is cached: the kernel's symbols once per symbolizer, each process's mappings
 * until an address falls outside them, each binary's symbols per file (keyed by device and
 * inode, so a binary replaced on disk is not mistaken for the one mapped).
 *
 * @module
 */
import { readFileSync, statSync } from 'node:fs';
import { ArgumentError } from '../errors.js';
import { Executable } from '../link/executable.js';
import { parseProcMaps, type MemoryMapping } from '../internal/proc-maps.js';
import { functionAt } from './binary-symbols.js';
import { KernelSymbolIndex } from './kernel-symbols.js';
import { PerfMap } from './perf-map.js';
// For {@link} in doc comments only.
import type { stackTrace } from './stack-trace.js';

/** One symbolised address. Fields are missing where nothing is known. */
export interface SymbolizedFrame {
  /** The address as sampled. */
  readonly address: bigint;
  /** The function (or JIT code object) holding it. */
  readonly symbol?: string;
  /** Bytes from the start of `symbol`. */
  readonly offset?: bigint;
  /**
   * Where the symbol comes from: a kernel module (`nf_tables`, `bpf` for BPF programs;
   * undefined for the kernel image), the binary a user address is mapped from
   * (`/usr/lib/x86_64-linux-gnu/libc.so.6`), a pseudo-mapping (`[vdso]`, `[anon]`), or the
   * perf map a JIT name came from.
   */
  readonly module?: string;
}

/** Options of {@link Symbolizer}. */
export interface SymbolizerOptions {
  /** /proc/kallsyms text to use instead of the running kernel's (another machine's, a test's). */
  readonly kallsyms?: string;
  /** Where procfs is; default `/proc`. Processes are read from `<procPath>/<pid>/maps` and `/status`. */
  readonly procPath?: string;
}

interface ProcessState {
  mappings: readonly MemoryMapping[];
  perfMap: { path: string; size: number; mtimeMs: number; map: PerfMap } | undefined;
  /** The pid inside the process's own pid namespace, once read from its status. */
  nsPid: number | undefined;
}

/**
 * Names for sampled addresses, kernel and user space, with caches for repeated lookups.
 *
 * Minimum kernel: any (kallsyms addresses need kptr_restrict to allow them: root, or
 * `kernel.kptr_restrict=0`).
 *
 * @example
 * ```ts
 * const symbols = new Symbolizer();
 * symbols.loadProcess(pid); // before it may exit
 * for (const f of symbols.userStack(pid, stackTrace(coll.maps.stacks, userStackId) ?? [])) console.log(formatFrame(f));
 * for (const f of symbols.kernelStack(stackTrace(coll.maps.stacks, kernelStackId) ?? [])) console.log(formatFrame(f));
 * ```
 *
 * Errors: {@link ArgumentError} for a pid that is not a positive integer. An address that
 * cannot be named is returned with what is known, never thrown.
 */
export class Symbolizer {
  readonly #procPath: string;
  readonly #kallsymsText: string | undefined;
  #kernel: KernelSymbolIndex | undefined;
  readonly #processes = new Map<number, ProcessState>();
  /** Binaries by `dev:inode` (null: cannot be read as ELF). */
  readonly #binaries = new Map<string, Executable | null>();

  constructor(options: SymbolizerOptions = {}) {
    this.#procPath = options.procPath ?? '/proc';
    this.#kallsymsText = options.kallsyms;
  }

  /**
   * True when /proc/kallsyms lists the kernel's symbols with zero addresses: kptr_restrict
   * hides them from this process, so no kernel address can be named (run as root or set
   * `kernel.kptr_restrict=0`).
   */
  get kernelAddressesHidden(): boolean {
    return this.#kernelIndex().hidden;
  }

  /** The kernel function holding `address`, with its module. */
  kernel(address: bigint): SymbolizedFrame {
    return this.#kernelFrame(address, false);
  }

  /**
   * A kernel stack (innermost first, as {@link stackTrace} returns it). Frames after the first
   * are return addresses, looked up one byte earlier so that a call at the very end of a
   * function is not credited to the next one.
   */
  kernelStack(addresses: readonly bigint[]): SymbolizedFrame[] {
    return addresses.map((a, i) => this.#kernelFrame(a, i > 0));
  }

  /**
   * The function holding `address` in process `pid`: the file mapped there and the symbol at
   * the offset into it, or a JIT's name from its perf map.
   *
   * @throws {@link ArgumentError} for a pid that is not a positive integer.
   */
  user(pid: number, address: bigint): SymbolizedFrame {
    return this.userStack(pid, [address])[0]!;
  }

  /**
   * A user stack of process `pid` (innermost first); return addresses are looked up as in
   * {@link Symbolizer.kernelStack}. The process's mappings are read again (once) when an
   * address lies outside the ones cached: it may have loaded a library since.
   *
   * @throws {@link ArgumentError} for a pid that is not a positive integer.
   */
  userStack(pid: number, addresses: readonly bigint[]): SymbolizedFrame[] {
    checkPid(pid);
    // Return addresses (every frame after the first) are looked up one byte earlier.
    const lookups = addresses.map((a, i) => (i > 0 ? a - 1n : a));
    let state = this.#processes.get(pid);
    let found = state === undefined ? undefined : lookups.map((a) => findMapping(state!.mappings, a));
    if (found === undefined || found.includes(undefined)) {
      const mappings = this.#readMaps(pid);
      // A process that exited keeps the mappings read while it lived.
      if (mappings !== undefined) {
        state = { mappings, perfMap: state?.perfMap, nsPid: state?.nsPid };
        this.#processes.set(pid, state);
        found = lookups.map((a) => findMapping(mappings, a));
      }
    }
    if (state === undefined || found === undefined) return addresses.map((address) => ({ address }));
    // The perf map is checked for growth once per stack, and only when a frame is in anonymous memory.
    const perf = found.some((m) => m?.inode === 0) ? this.#perfMap(pid, state) : undefined;
    return addresses.map((address, i) => this.#userFrame(pid, found[i], perf, address, lookups[i]!));
  }

  /**
   * Reads the mappings, binaries and perf map of process `pid` now, so that its stacks can be
   * named after it exits (a profiled command that finishes before the profile is printed).
   *
   * @throws {@link ArgumentError} for a pid that is not a positive integer or a process that
   * cannot be read (gone, or not ptrace-readable by this process).
   */
  loadProcess(pid: number): void {
    checkPid(pid);
    const mappings = this.#readMaps(pid);
    if (mappings === undefined) throw new ArgumentError(`cannot read ${this.#procPath}/${pid}/maps: no such process, or not readable by this one (needs CAP_SYS_PTRACE or the same user)`);
    const state: ProcessState = { mappings, perfMap: undefined, nsPid: this.#processes.get(pid)?.nsPid };
    this.#processes.set(pid, state);
    for (const m of mappings) if (m.perms[2] === 'x' && m.inode !== 0) this.#binary(pid, m);
    this.#perfMap(pid, state);
  }

  /** Drops what is cached about process `pid` (its pid may be reused). */
  forget(pid: number): void {
    this.#processes.delete(pid);
  }

  #kernelIndex(): KernelSymbolIndex {
    if (this.#kernel === undefined) {
      let text = this.#kallsymsText;
      if (text === undefined) {
        try {
          text = readFileSync('/proc/kallsyms', 'utf8');
        } catch {
          text = '';
        }
      }
      this.#kernel = KernelSymbolIndex.parse(text);
    }
    return this.#kernel;
  }

  #kernelFrame(address: bigint, returnAddress: boolean): SymbolizedFrame {
    const at = this.#kernelIndex().lookup(returnAddress ? address - 1n : address);
    if (at === undefined) return { address };
    const frame: SymbolizedFrame = { address, symbol: at.symbol, offset: returnAddress ? at.offset + 1n : at.offset };
    return at.module === undefined ? frame : { ...frame, module: at.module };
  }

  #readMaps(pid: number): MemoryMapping[] | undefined {
    try {
      return parseProcMaps(readFileSync(`${this.#procPath}/${pid}/maps`, 'utf8'));
    } catch {
      return undefined;
    }
  }

  /** The frame of `address`, looked up at `lookupAddress` (one less for a return address) in `mapping`. */
  #userFrame(pid: number, mapping: MemoryMapping | undefined, perf: ProcessState['perfMap'], address: bigint, lookupAddress: bigint): SymbolizedFrame {
    if (mapping === undefined) return { address };
    const adjust = (at: { symbol: string; offset: bigint } | undefined, module: string): SymbolizedFrame =>
      at === undefined ? { address, module } : { address, symbol: at.symbol, offset: at.offset + (address - lookupAddress), module };
    if (mapping.inode === 0) {
      // Anonymous memory: JIT code, if the process keeps a perf map.
      const at = perf?.map.lookup(lookupAddress);
      if (at !== undefined) return adjust(at, perf!.path);
      return { address, module: mapping.path === '' ? '[anon]' : mapping.path };
    }
    const module = mapping.deleted ? `${mapping.path} (deleted)` : mapping.path;
    const exe = this.#binary(pid, mapping);
    if (exe === null) return { address, module };
    return adjust(functionAt(exe, lookupAddress - mapping.start + mapping.offset), module);
  }

  /**
   * The binary of a file mapping: the path as the process sees it, tried here and through the
   * process's root (another mount namespace: a container), accepted only if its inode is the
   * one mapped (not a newer file at the same path).
   */
  #binary(pid: number, mapping: MemoryMapping): Executable | null {
    const key = `${mapping.dev}:${mapping.inode}`;
    const known = this.#binaries.get(key);
    if (known !== undefined) return known;
    let exe: Executable | null = null;
    if (!mapping.deleted && mapping.path.startsWith('/')) {
      for (const candidate of [mapping.path, `${this.#procPath}/${pid}/root${mapping.path}`]) {
        try {
          if (statSync(candidate).ino !== mapping.inode) continue;
          exe = Executable.open(candidate);
          break;
        } catch {
          // Not there, not readable or not ELF: try the next place, else no symbols.
        }
      }
    }
    this.#binaries.set(key, exe);
    return exe;
  }

  /**
   * The process's perf map, read again when the file grew (the JIT keeps appending). It is
   * named after the pid in the process's own pid namespace and lives in its /tmp.
   */
  #perfMap(pid: number, state: ProcessState): ProcessState['perfMap'] {
    state.nsPid ??= namespacePid(this.#procPath, pid);
    const nsPid = state.nsPid ?? pid;
    for (const path of [`${this.#procPath}/${pid}/root/tmp/perf-${nsPid}.map`, `/tmp/perf-${pid}.map`]) {
      let st: { size: number; mtimeMs: number };
      try {
        st = statSync(path);
      } catch {
        continue;
      }
      const cached = state.perfMap;
      if (cached !== undefined && cached.path === path && cached.size === st.size && cached.mtimeMs === st.mtimeMs) return cached;
      try {
        state.perfMap = { path, size: st.size, mtimeMs: st.mtimeMs, map: PerfMap.parse(readFileSync(path, 'utf8')) };
        return state.perfMap;
      } catch {
        continue;
      }
    }
    return state.perfMap;
  }
}

function checkPid(pid: number): void {
  if (!Number.isSafeInteger(pid) || pid <= 0) throw new ArgumentError(`a process id must be a positive integer, got ${String(pid)}`);
}

function findMapping(mappings: readonly MemoryMapping[], address: bigint): MemoryMapping | undefined {
  // Few enough (tens to a few thousand) that a scan costs less than keeping an index fresh.
  for (const m of mappings) if (address >= m.start && address < m.end) return m;
  return undefined;
}

/** The pid of `pid` inside its own pid namespace (the last `NSpid:` field, Linux 4.1+). */
function namespacePid(procPath: string, pid: number): number | undefined {
  try {
    const line = /^NSpid:\s*(.*)$/m.exec(readFileSync(`${procPath}/${pid}/status`, 'utf8'))?.[1];
    const last = line?.trim().split(/\s+/).at(-1);
    return last === undefined ? undefined : Number(last);
  } catch {
    return undefined;
  }
}

/**
 * A frame as one line: `symbol+0xoff (module)`, the address in hex when no symbol is known.
 *
 * @example
 * ```ts
 * formatFrame({ address: 0x401136n, symbol: 'main', offset: 6n, module: '/usr/bin/app' }); // 'main+0x6 (/usr/bin/app)'
 * formatFrame({ address: 0x7f00deadbeefn, module: '[anon]' }); // '0x7f00deadbeef ([anon])'
 * ```
 */
export function formatFrame(frame: SymbolizedFrame): string {
  const where = frame.symbol === undefined ? `0x${frame.address.toString(16)}` : frame.offset === undefined || frame.offset === 0n ? frame.symbol : `${frame.symbol}+0x${frame.offset.toString(16)}`;
  return frame.module === undefined ? where : `${where} (${frame.module})`;
}
