/**
 * User-space binaries as uprobe targets: find the file (`libc.so.6`, `bash`, a path), read its
 * symbol tables, and turn a function name into the file offset the kernel's uprobe wants.
 *
 * A uprobe is placed at an offset into the file, not at a virtual address: the kernel maps the
 * offset into every process that maps that file. A symbol's `st_value` is a virtual address in
 * the binary's own layout, so it is translated through the PT_LOAD program header that covers
 * it (`vaddr - p_vaddr + p_offset`), which holds for executables and shared objects alike.
 *
 * Only the headers, the symbol tables and their string tables are read (positioned reads),
 * not the whole file: `/proc/self/exe` of Node is ~100 MB.
 *
 * @module
 */
import { existsSync, realpathSync, statSync } from 'node:fs';
import { arch } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { ArgumentError, ParseError, SymbolNotFoundError } from '../errors.js';
import {
  ET_DYN,
  ET_EXEC,
  PT_LOAD,
  SHN_LORESERVE,
  SHN_UNDEF,
  SHN_XINDEX,
  SHT_DYNSYM,
  SHT_GNU_verdef,
  SHT_GNU_versym,
  SHT_SYMTAB,
  STB_LOCAL,
  STB_WEAK,
  STT_FUNC,
  STT_GNU_IFUNC,
  STT_OBJECT,
  VERSYM_HIDDEN,
} from '../internal/elf-constants.js';
import {
  isELF,
  readHeader,
  readProgramHeaders,
  readSectionHeaders,
  readStringTable,
  readSymbolTable,
  sectionContents,
  type ELFHeader,
  type ProgramHeader,
  type SectionHeader,
} from '../internal/elf-reader.js';
import { elfError, withFileSource, type ELFSource } from '../internal/elf-source.js';
import { editDistance, globToRegExp } from '../internal/kallsyms.js';
// For {@link} in doc comments only.
import type { attachUprobe } from './uprobe.js';
import { integerArgument } from './integer.js';
import { dataView } from '../internal/bytes.js';

/** One function or variable symbol of a binary. */
export interface ExecutableSymbol {
  /** The name, without any version. */
  readonly name: string;
  /** `function` (STT_FUNC, STT_GNU_IFUNC) or `variable` (STT_OBJECT). */
  readonly kind: 'function' | 'variable';
  /** The symbol version from `.gnu.version_d` or a `name@VER` symtab name, if any. */
  readonly version: string | undefined;
  /** True for the default version (`@@`) or an unversioned symbol. */
  readonly defaultVersion: boolean;
  /** `st_value`: the virtual address in the binary's layout. */
  readonly address: bigint;
  /** `st_size` in bytes. */
  readonly size: bigint;
  /** File offset of the symbol: what a uprobe attaches at, or where a USDT semaphore lives. */
  readonly offset: bigint;
  /** `STB_*`: 0 local, 1 global, 2 weak. */
  readonly bind: number;
  /** True for a GNU indirect function (its address is the resolver, not the code). */
  readonly ifunc: boolean;
  /** The table it came from. */
  readonly table: '.symtab' | '.dynsym';
}

/**
 * A user-space ELF binary (executable or shared object) and its function symbols, for
 * uprobes. Open one with {@link Executable.open}; symbols are read once and cached per file.
 *
 * @example
 * ```ts
 * const libc = Executable.open('libc.so.6');
 * libc.path;                  // '/usr/lib/x86_64-linux-gnu/libc.so.6'
 * libc.symbolOffset('malloc'); // 0x9a0a0n (file offset)
 * ```
 */
export class Executable {
  /** The resolved, absolute, symlink-free path the kernel will be given. */
  readonly path: string;
  /** `e_type`: 2 (`ET_EXEC`) or 3 (`ET_DYN`, shared objects and PIE executables). */
  readonly elfType: number;
  /** `e_machine`. */
  readonly machine: number;
  readonly #symbols: readonly ExecutableSymbol[];
  #byName: Map<string, ExecutableSymbol[]> | undefined;

  private constructor(path: string, elfType: number, machine: number, symbols: readonly ExecutableSymbol[]) {
    this.path = path;
    this.elfType = elfType;
    this.machine = machine;
    this.#symbols = symbols;
  }

  /**
   * Opens `binary`: a path (`/usr/bin/bash`, `./app`), or a bare name searched like libbpf
   * does: shared objects (`libc.so.6`) in `LD_LIBRARY_PATH` then the standard library
   * directories (multiarch first), other names in `PATH`.
   *
   * @throws {@link ArgumentError} when the file cannot be found or is not an ELF executable or
   * shared object; {@link ParseError} when its headers or symbol tables are malformed.
   */
  static open(binary: string): Executable {
    const path = resolveBinary(binary);
    const st = statSync(path);
    const key = `${path}\0${st.dev}\0${st.ino}\0${st.size}\0${st.mtimeMs}`;
    const cached = cache.get(key);
    if (cached !== undefined) return cached;
    const { elfType, machine, symbols } = readExecutable(path);
    const exe = new Executable(path, elfType, machine, symbols);
    if (cache.size >= 16) cache.delete(cache.keys().next().value!);
    cache.set(key, exe);
    return exe;
  }

  /**
   * Every defined symbol with an address in a loaded segment, of `.symtab` and `.dynsym`:
   * functions (FUNC and IFUNC) and variables (OBJECT).
   */
  symbols(): readonly ExecutableSymbol[] {
    return this.#symbols;
  }

  /**
   * The symbol a uprobe on `name` means. `name` may carry a version (`memcpy@GLIBC_2.2.5`,
   * `memcpy@@GLIBC_2.14`); without one the default version wins. The same function listed in
   * both tables counts once; a weak symbol yields to a global one of the same name.
   *
   * @throws {@link SymbolNotFoundError} (with similar names) when there is no such function;
   * {@link ArgumentError} when the binary has no symbol table at all, when the name is
   * ambiguous (several local functions of that name), or names an IFUNC.
   */
  symbol(name: string): ExecutableSymbol {
    const sym = this.#find(name, 'function');
    if (sym.ifunc) {
      throw new ArgumentError(
        `${name} in ${this.path} is a GNU indirect function (IFUNC): its symbol is the resolver the dynamic linker calls once, not the code that runs; ` +
          `attach to the implementation it selects (glibc names them __${sym.name}_<variant>: see symbols()) or by file offset`,
      );
    }
    return sym;
  }

  /**
   * The file offset of function `name` (see {@link Executable.symbol}) plus `offset` bytes into
   * it: the value a uprobe attaches at.
   *
   * @throws the errors of {@link Executable.symbol}; {@link ArgumentError} for an offset beyond
   * the function's size.
   */
  symbolOffset(name: string, offset: bigint | number = 0n): bigint {
    const sym = this.symbol(name);
    const extra = integerArgument(offset, `offset into ${name}`);
    if (extra < 0n || (sym.size > 0n && extra >= sym.size)) {
      throw new ArgumentError(`offset ${extra} is outside ${name} (${sym.size} bytes) in ${this.path}`);
    }
    return sym.offset + extra;
  }

  /**
   * The variable (STT_OBJECT) `name`, e.g. a USDT semaphore such as `myapp_request_semaphore`.
   *
   * @throws {@link SymbolNotFoundError} when there is none; {@link ArgumentError} when the name
   * is ambiguous or the binary has no symbols.
   */
  variable(name: string): ExecutableSymbol {
    return this.#find(name, 'variable');
  }

  /**
   * The file offset of variable `name`: for a USDT semaphore, the `refCtrOffset` of
   * {@link attachUprobe}.
   *
   * @throws the errors of {@link Executable.variable}.
   */
  variableOffset(name: string): bigint {
    return this.variable(name).offset;
  }

  /**
   * The functions whose name matches `pattern` (a glob with `*` and `?`, such as `ebpf_ts_*`, or
   * a RegExp), one per file offset, sorted by offset: what a uprobe_multi `pattern` attaches
   * to. The match is on the name without its version; of several names at one offset (a
   * function listed in both tables, aliases) the global, default-version one is kept. IFUNC
   * resolvers are left out: see {@link Executable.symbol}.
   *
   * @example
   * ```ts
   * Executable.open('libc.so.6').functionsMatching('pthread_mutex_*lock').map((s) => s.name);
   * ```
   * @throws {@link ArgumentError} when `pattern` is empty or the binary has no symbols.
   */
  functionsMatching(pattern: string | RegExp): ExecutableSymbol[] {
    if (!(pattern instanceof RegExp) && (typeof pattern !== 'string' || pattern === '')) {
      throw new ArgumentError('uprobe pattern must be a non-empty glob or a RegExp');
    }
    if (this.#symbols.length === 0) {
      throw new ArgumentError(`${this.path} has no symbols (.symtab and .dynsym are missing or empty: stripped?); give file offsets instead`);
    }
    const re = typeof pattern === 'string' ? globToRegExp(pattern) : pattern;
    const byOffset = new Map<bigint, ExecutableSymbol>();
    for (const s of this.#symbols) {
      if (s.kind !== 'function' || s.ifunc || !re.test(s.name)) continue;
      const seen = byOffset.get(s.offset);
      if (seen === undefined || rank(s) < rank(seen) || (rank(s) === rank(seen) && s.defaultVersion && !seen.defaultVersion)) byOffset.set(s.offset, s);
    }
    return [...byOffset.values()].sort((a, b) => (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0));
  }

  #find(name: string, kind: ExecutableSymbol['kind']): ExecutableSymbol {
    if (typeof name !== 'string' || name === '') throw new ArgumentError('uprobe symbol must be a non-empty string');
    if (this.#symbols.length === 0) {
      throw new ArgumentError(`${this.path} has no symbols (.symtab and .dynsym are missing or empty: stripped?); give a file offset instead`);
    }
    const at = name.indexOf('@');
    const base = at < 0 ? name : name.slice(0, at);
    const version = at < 0 ? undefined : name.slice(name[at + 1] === '@' ? at + 2 : at + 1);
    let found = (this.#index().get(base) ?? []).filter((s) => s.kind === kind);
    if (version !== undefined) found = found.filter((s) => s.version === version);
    else if (found.some((s) => s.defaultVersion)) found = found.filter((s) => s.defaultVersion);
    if (found.length === 0) throw this.#notFound(name, base, kind);
    // One function, possibly listed twice (.symtab and .dynsym) or under aliases.
    const byAddress = new Map<bigint, ExecutableSymbol>();
    for (const s of found) {
      const seen = byAddress.get(s.address);
      if (seen === undefined || rank(s) < rank(seen)) byAddress.set(s.address, s);
    }
    let candidates = [...byAddress.values()];
    if (candidates.length > 1) {
      const strongest = Math.min(...candidates.map(rank));
      candidates = candidates.filter((s) => rank(s) === strongest);
    }
    if (candidates.length > 1) {
      const where = candidates.map((s) => `0x${s.address.toString(16)}`).join(', ');
      throw new ArgumentError(`${this.path} has ${candidates.length} ${kind}s named ${name} (at ${where}); attach by file offset to choose one`);
    }
    return candidates[0]!;
  }

  #index(): Map<string, ExecutableSymbol[]> {
    if (this.#byName === undefined) {
      this.#byName = new Map();
      for (const s of this.#symbols) {
        const list = this.#byName.get(s.name);
        if (list === undefined) this.#byName.set(s.name, [s]);
        else list.push(s);
      }
    }
    return this.#byName;
  }

  #notFound(name: string, base: string, kind: ExecutableSymbol['kind']): SymbolNotFoundError {
    const index = this.#index();
    const near: string[] = [];
    if (index.has(base)) {
      // The name exists, the version does not: list the versions there are.
      for (const s of index.get(base)!) if (s.kind === kind && s.version !== undefined) near.push(`${base}@${s.defaultVersion ? '@' : ''}${s.version}`);
    } else {
      const max = Math.min(3, Math.max(1, Math.floor(base.length / 5)));
      const scored: Array<[number, string]> = [];
      for (const [candidate, list] of index) {
        if (!list.some((s) => s.kind === kind)) continue;
        if (candidate.startsWith(base) || candidate.startsWith(`__${base}`)) scored.push([0, candidate]);
        else {
          const d = editDistance(base, candidate, max);
          if (d <= max) scored.push([d, candidate]);
        }
      }
      scored.sort((a, b) => a[0] - b[0] || a[1].length - b[1].length || a[1].localeCompare(b[1]));
      for (const [, candidate] of scored.slice(0, 8)) near.push(candidate);
    }
    const tables = new Set(this.#symbols.map((s) => s.table));
    const otherKind = index.get(base)?.some((s) => s.kind !== kind) === true;
    const detail = otherKind
      ? `${base} is a ${kind === 'function' ? 'variable' : 'function'} there, not a ${kind}`
      : tables.has('.symtab')
        ? undefined
        : 'only .dynsym was searched: the binary is stripped, so static functions are not visible';
    return new SymbolNotFoundError(name, [...new Set(near)], detail, this.path);
  }
}

/** Lower is preferred: global, then weak, then local. */
function rank(s: ExecutableSymbol): number {
  return s.bind === STB_WEAK ? 1 : s.bind === STB_LOCAL ? 2 : 0;
}

const cache = new Map<string, Executable>();

/** Library directories searched for a bare `lib*.so*` name after `LD_LIBRARY_PATH`. */
function libraryDirs(): string[] {
  const triple = arch() === 'arm64' ? 'aarch64-linux-gnu' : arch() === 'x64' ? 'x86_64-linux-gnu' : undefined;
  const multiarch = triple === undefined ? [] : [`/lib/${triple}`, `/usr/lib/${triple}`];
  return [...multiarch, '/lib64', '/usr/lib64', '/lib', '/usr/lib'];
}

/**
 * The absolute, symlink-free path of `binary`, found as {@link Executable.open} describes.
 *
 * @throws {@link ArgumentError} naming the places searched when nothing is found.
 */
export function resolveBinary(binary: string): string {
  if (typeof binary !== 'string' || binary === '') throw new ArgumentError('uprobe binary must be a non-empty path or file name');
  if (binary.includes('\0')) throw new ArgumentError(`uprobe binary ${JSON.stringify(binary)} contains a NUL byte`);
  let candidates: string[];
  let searched: string;
  if (binary.includes('/')) {
    candidates = [resolve(binary)];
    searched = candidates[0]!;
  } else {
    const isLibrary = /\.so(\.|$)/.test(binary);
    const envDirs = (process.env[isLibrary ? 'LD_LIBRARY_PATH' : 'PATH'] ?? '').split(delimiter).filter((d) => d !== '');
    const dirs = isLibrary ? [...envDirs, ...libraryDirs()] : envDirs;
    candidates = dirs.map((d) => join(d, binary));
    searched = isLibrary ? `LD_LIBRARY_PATH and ${libraryDirs().join(', ')}` : 'PATH';
  }
  for (const c of candidates) {
    if (existsSync(c) && statSync(c).isFile()) return realpathSync(c);
  }
  throw new ArgumentError(`uprobe target ${binary} not found (searched ${searched}); give its full path`);
}

/** What {@link Executable} holds of a file. */
interface ParsedExecutable {
  readonly elfType: number;
  readonly machine: number;
  readonly symbols: readonly ExecutableSymbol[];
}

function readExecutable(path: string): ParsedExecutable {
  return withFileSource(path, 'uprobe target', parseExecutable);
}

function parseExecutable(file: ELFSource): ParsedExecutable {
  const path = file.name;
  if (file.size < 52) throw new ArgumentError(`${path} is not an ELF file (${file.size} bytes)`);
  if (!isELF(file.read(0, 4, 'ELF magic'))) throw new ArgumentError(`${path} is not an ELF file (no \\x7fELF magic); uprobes attach to ELF executables and shared objects`);
  const header = readHeader(file);
  if (header.e_type !== ET_EXEC && header.e_type !== ET_DYN) {
    throw new ArgumentError(`${path} is an ELF file of type ${header.e_type}, not an executable or shared object (ET_EXEC/ET_DYN): uprobes need code the kernel maps`);
  }
  const segments = readProgramHeaders(file, header).filter((p) => p.p_type === PT_LOAD);
  const sections = readSectionHeaders(file, header);
  const symbols: ExecutableSymbol[] = [];
  for (const table of sections) {
    if (table.sh_type !== SHT_SYMTAB && table.sh_type !== SHT_DYNSYM) continue;
    const tableName = table.sh_type === SHT_SYMTAB ? '.symtab' : '.dynsym';
    const versions = table.sh_type === SHT_DYNSYM ? readVersions(file, header, sections) : undefined;
    readSymbols(file, header, sections, table, tableName, segments, versions, symbols);
  }
  return { elfType: header.e_type, machine: header.e_machine, symbols };
}

interface Versions {
  /** `.gnu.version`: one entry per .dynsym symbol. */
  readonly versym: DataView;
  /** Version index → name, from `.gnu.version_d` (definitions). */
  readonly names: Map<number, string>;
}

/** `.gnu.version` and `.gnu.version_d`, when the binary has them. */
function readVersions(file: ELFSource, header: ELFHeader, sections: readonly SectionHeader[]): Versions | undefined {
  const versymSection = sections.find((s) => s.sh_type === SHT_GNU_versym);
  if (versymSection === undefined) return undefined;
  const versymBytes = sectionContents(file, header, versymSection, '.gnu.version');
  const versym = dataView(versymBytes);
  const names = new Map<number, string>();
  const verdef = sections.find((s) => s.sh_type === SHT_GNU_verdef);
  if (verdef !== undefined) {
    const strings = sections[verdef.sh_link];
    if (strings === undefined) throw elfError(file, `.gnu.version_d links to missing section ${verdef.sh_link}`);
    const strtab = readStringTable(file, header, strings, '.gnu.version_d string table');
    const bytes = sectionContents(file, header, verdef, '.gnu.version_d');
    const defs = dataView(bytes);
    const le = header.byteOrder === 'little';
    let at = 0;
    // Elf_Verdef: vd_version u16, vd_flags u16, vd_ndx u16, vd_cnt u16, vd_hash u32, vd_aux u32, vd_next u32.
    for (let guard = 0; guard < 65536; guard++) {
      if (at + 20 > defs.byteLength) throw elfError(file, '.gnu.version_d entry runs past its section', verdef.sh_offset + at);
      const ndx = defs.getUint16(at + 4, le);
      const aux = defs.getUint32(at + 12, le);
      const next = defs.getUint32(at + 16, le);
      // Elf_Verdaux: vda_name u32, vda_next u32; the first one names the version.
      if (at + aux + 8 > defs.byteLength) throw elfError(file, '.gnu.version_d aux entry runs past its section', verdef.sh_offset + at);
      names.set(ndx, strtab.at(defs.getUint32(at + aux, le), '.gnu.version_d'));
      if (next === 0) break;
      at += next;
    }
  }
  return { versym, names };
}

function readSymbols(
  file: ELFSource,
  header: ELFHeader,
  sections: readonly SectionHeader[],
  section: SectionHeader,
  tableName: '.symtab' | '.dynsym',
  segments: readonly ProgramHeader[],
  versions: Versions | undefined,
  out: ExecutableSymbol[],
): void {
  const table = readSymbolTable(file, header, sections, section, tableName);
  const le = header.byteOrder === 'little';
  for (let i = 1; i < table.count; i++) {
    const type = table.type(i);
    if (type !== STT_FUNC && type !== STT_GNU_IFUNC && type !== STT_OBJECT) continue;
    const shndx = table.sectionIndex(i);
    const address = table.value(i);
    if (shndx === SHN_UNDEF || (shndx >= SHN_LORESERVE && shndx !== SHN_XINDEX) || address === 0n) continue;
    const segment = segments.find((s) => address >= s.p_vaddr && address < s.p_vaddr + s.p_filesz);
    // A function outside every loaded segment cannot be probed; skip rather than fail the file.
    if (segment === undefined) continue;
    let name = table.name(i, `${tableName} symbol ${i}`);
    let version: string | undefined;
    let defaultVersion = true;
    const at = name.indexOf('@');
    if (at > 0) {
      // .symtab spells versions into the name: name@VER (hidden) or name@@VER (default).
      defaultVersion = name[at + 1] === '@';
      version = name.slice(defaultVersion ? at + 2 : at + 1);
      name = name.slice(0, at);
    } else if (versions !== undefined && (i + 1) * 2 <= versions.versym.byteLength) {
      const v = versions.versym.getUint16(i * 2, le);
      version = versions.names.get(v & 0x7fff);
      defaultVersion = (v & VERSYM_HIDDEN) === 0;
      // Index 1 is the file's own base version (its soname): not a symbol version.
      if ((v & 0x7fff) <= 1) version = undefined;
    }
    out.push({
      name,
      kind: type === STT_OBJECT ? 'variable' : 'function',
      version,
      defaultVersion,
      address,
      size: table.size(i),
      offset: address - segment.p_vaddr + segment.p_offset,
      bind: table.bind(i),
      ifunc: type === STT_GNU_IFUNC,
      table: tableName,
    });
  }
}
