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
import { closeSync, existsSync, fstatSync, openSync, readSync, realpathSync, statSync } from 'node:fs';
import { arch } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { ArgumentError, ParseError, SymbolNotFoundError } from '../errors.js';
import { editDistance, globToRegExp } from '../internal/kallsyms.js';
// For {@link} in doc comments only.
import type { attachUprobe } from './uprobe.js';
import { integerArgument } from './integer.js';

/** `ET_EXEC` and `ET_DYN`: the object types a uprobe can live in. */
const ET_EXEC = 2;
const ET_DYN = 3;
const PT_LOAD = 1;
const SHT_SYMTAB = 2;
const SHT_DYNSYM = 11;
const SHT_GNU_VERDEF = 0x6ffffffd;
const SHT_GNU_VERSYM = 0x6fffffff;
const STT_OBJECT = 1;
const STT_FUNC = 2;
const STT_GNU_IFUNC = 10;
const STB_LOCAL = 0;
const STB_WEAK = 2;
const SHN_UNDEF = 0;
const SHN_LORESERVE = 0xff00;
const SHN_XINDEX = 0xffff;
/** `.gnu.version` entries with this bit are non-default versions (`name@VER`, not `name@@VER`). */
const VERSYM_HIDDEN = 0x8000;

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

interface Layout {
  readonly is64: boolean;
  readonly le: boolean;
}

interface SectionHeader {
  readonly index: number;
  readonly name: number;
  readonly type: number;
  readonly offset: number;
  readonly size: number;
  readonly link: number;
  readonly entsize: number;
}

interface Segment {
  readonly vaddr: bigint;
  readonly offset: bigint;
  readonly filesz: bigint;
}

/** Reads ranges of an open file, checking each against the file's size. */
class FileReader {
  constructor(
    readonly fd: number,
    readonly size: number,
    readonly path: string,
  ) {}

  read(offset: number, length: number, what: string): DataView {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new ParseError(`${this.path}: ${what} (${length} bytes at offset ${offset}) runs past the end of the ${this.size}-byte file`, offset);
    }
    const bytes = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, bytes, done, length - done, offset + done);
      if (n === 0) throw new ParseError(`${this.path}: ${what} was cut short (file changed while reading?)`, offset + done);
      done += n;
    }
    return new DataView(bytes.buffer);
  }
}

function word(view: DataView, at: number, layout: Layout): bigint {
  return layout.is64 ? view.getBigUint64(at, layout.le) : BigInt(view.getUint32(at, layout.le));
}

function toNumber(value: bigint, what: string, path: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ParseError(`${path}: ${what} ${value} is not a usable file offset`);
  return Number(value);
}

function cstring(strings: DataView, at: number, path: string, what: string): string {
  if (at >= strings.byteLength) throw new ParseError(`${path}: ${what} name offset ${at} is outside its ${strings.byteLength}-byte string table`);
  let end = at;
  while (end < strings.byteLength && strings.getUint8(end) !== 0) end++;
  return Buffer.from(strings.buffer, strings.byteOffset + at, end - at).toString('latin1');
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
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new ArgumentError(`cannot read uprobe target ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  try {
    return parseExecutable(new FileReader(fd, fstatSync(fd).size, path));
  } finally {
    closeSync(fd);
  }
}

function parseExecutable(file: FileReader): ParsedExecutable {
  const { path } = file;
  if (file.size < 52) throw new ArgumentError(`${path} is not an ELF file (${file.size} bytes)`);
  const ident = file.read(0, 16, 'e_ident');
  if (ident.getUint32(0, false) !== 0x7f454c46) throw new ArgumentError(`${path} is not an ELF file (no \\x7fELF magic); uprobes attach to ELF executables and shared objects`);
  const elfClass = ident.getUint8(4);
  const data = ident.getUint8(5);
  if ((elfClass !== 1 && elfClass !== 2) || (data !== 1 && data !== 2)) {
    throw new ParseError(`${path}: unknown ELF class ${elfClass} or data encoding ${data}`, 4);
  }
  const layout: Layout = { is64: elfClass === 2, le: data === 1 };
  const header = file.read(0, layout.is64 ? 64 : 52, 'ELF header');
  const type = header.getUint16(16, layout.le);
  const machine = header.getUint16(18, layout.le);
  if (type !== ET_EXEC && type !== ET_DYN) {
    throw new ArgumentError(`${path} is an ELF file of type ${type}, not an executable or shared object (ET_EXEC/ET_DYN): uprobes need code the kernel maps`);
  }
  const w = layout.is64 ? 8 : 4;
  const phoff = toNumber(word(header, 24 + w, layout), 'e_phoff', path);
  const shoff = toNumber(word(header, 24 + 2 * w, layout), 'e_shoff', path);
  const at = 24 + 3 * w + 4; // past e_entry, e_phoff, e_shoff, e_flags
  const phentsize = header.getUint16(at + 2, layout.le);
  const phnum = header.getUint16(at + 4, layout.le);
  const shentsize = header.getUint16(at + 6, layout.le);
  let shnum = header.getUint16(at + 8, layout.le);
  let shstrndx = header.getUint16(at + 10, layout.le);

  const segments = readSegments(file, layout, phoff, phentsize, phnum);
  if (shoff === 0) return { elfType: type, machine, symbols: [] };
  const expectShent = layout.is64 ? 64 : 40;
  if (shentsize !== expectShent) throw new ParseError(`${path}: e_shentsize is ${shentsize}, expected ${expectShent}`, at + 6);
  if (shnum === 0 || shstrndx === SHN_XINDEX) {
    // More than 0xff00 sections: the real numbers live in section header 0.
    const first = readSectionHeader(file, layout, shoff, 0);
    if (shnum === 0) shnum = first.size;
    if (shstrndx === SHN_XINDEX) shstrndx = first.link;
  }
  const sections: SectionHeader[] = [];
  for (let i = 0; i < shnum; i++) sections.push(readSectionHeader(file, layout, shoff + i * shentsize, i));

  const symbols: ExecutableSymbol[] = [];
  for (const table of sections) {
    if (table.type !== SHT_SYMTAB && table.type !== SHT_DYNSYM) continue;
    const tableName = table.type === SHT_SYMTAB ? '.symtab' : '.dynsym';
    const strings = sections[table.link];
    if (strings === undefined) throw new ParseError(`${path}: ${tableName} links to string table section ${table.link}, which does not exist`);
    const versions = table.type === SHT_DYNSYM ? readVersions(file, layout, sections) : undefined;
    readSymbols(file, layout, table, tableName, strings, segments, versions, symbols);
  }
  return { elfType: type, machine, symbols };
}

function readSegments(file: FileReader, layout: Layout, phoff: number, phentsize: number, phnum: number): Segment[] {
  if (phnum === 0) return [];
  const expect = layout.is64 ? 56 : 32;
  if (phentsize !== expect) throw new ParseError(`${file.path}: e_phentsize is ${phentsize}, expected ${expect}`);
  const table = file.read(phoff, phnum * phentsize, 'program header table');
  const out: Segment[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = i * phentsize;
    if (table.getUint32(o, layout.le) !== PT_LOAD) continue;
    out.push(
      layout.is64
        ? { offset: table.getBigUint64(o + 8, layout.le), vaddr: table.getBigUint64(o + 16, layout.le), filesz: table.getBigUint64(o + 32, layout.le) }
        : { offset: BigInt(table.getUint32(o + 4, layout.le)), vaddr: BigInt(table.getUint32(o + 8, layout.le)), filesz: BigInt(table.getUint32(o + 16, layout.le)) },
    );
  }
  return out;
}

function readSectionHeader(file: FileReader, layout: Layout, offset: number, index: number): SectionHeader {
  const v = file.read(offset, layout.is64 ? 64 : 40, `section header ${index}`);
  const le = layout.le;
  if (layout.is64) {
    return {
      index,
      name: v.getUint32(0, le),
      type: v.getUint32(4, le),
      offset: toNumber(v.getBigUint64(24, le), `section ${index} sh_offset`, file.path),
      size: toNumber(v.getBigUint64(32, le), `section ${index} sh_size`, file.path),
      link: v.getUint32(40, le),
      entsize: toNumber(v.getBigUint64(56, le), `section ${index} sh_entsize`, file.path),
    };
  }
  return {
    index,
    name: v.getUint32(0, le),
    type: v.getUint32(4, le),
    offset: v.getUint32(16, le),
    size: v.getUint32(20, le),
    link: v.getUint32(24, le),
    entsize: v.getUint32(36, le),
  };
}

interface Versions {
  /** `.gnu.version`: one entry per .dynsym symbol. */
  readonly versym: DataView;
  /** Version index → name, from `.gnu.version_d` (definitions). */
  readonly names: Map<number, string>;
}

/** `.gnu.version` and `.gnu.version_d`, when the binary has them. */
function readVersions(file: FileReader, layout: Layout, sections: readonly SectionHeader[]): Versions | undefined {
  const versymSection = sections.find((s) => s.type === SHT_GNU_VERSYM);
  if (versymSection === undefined) return undefined;
  const versym = file.read(versymSection.offset, versymSection.size, '.gnu.version');
  const names = new Map<number, string>();
  const verdef = sections.find((s) => s.type === SHT_GNU_VERDEF);
  if (verdef !== undefined) {
    const strings = sections[verdef.link];
    if (strings === undefined) throw new ParseError(`${file.path}: .gnu.version_d links to missing section ${verdef.link}`);
    const strtab = file.read(strings.offset, strings.size, '.gnu.version_d string table');
    const defs = file.read(verdef.offset, verdef.size, '.gnu.version_d');
    let at = 0;
    // Elf_Verdef: vd_version u16, vd_flags u16, vd_ndx u16, vd_cnt u16, vd_hash u32, vd_aux u32, vd_next u32.
    for (let guard = 0; guard < 65536; guard++) {
      if (at + 20 > defs.byteLength) throw new ParseError(`${file.path}: .gnu.version_d entry runs past its section`, verdef.offset + at);
      const ndx = defs.getUint16(at + 4, layout.le);
      const aux = defs.getUint32(at + 12, layout.le);
      const next = defs.getUint32(at + 16, layout.le);
      // Elf_Verdaux: vda_name u32, vda_next u32; the first one names the version.
      if (at + aux + 8 > defs.byteLength) throw new ParseError(`${file.path}: .gnu.version_d aux entry runs past its section`, verdef.offset + at);
      names.set(ndx, cstring(strtab, defs.getUint32(at + aux, layout.le), file.path, '.gnu.version_d'));
      if (next === 0) break;
      at += next;
    }
  }
  return { versym, names };
}

function readSymbols(
  file: FileReader,
  layout: Layout,
  table: SectionHeader,
  tableName: '.symtab' | '.dynsym',
  stringSection: SectionHeader,
  segments: readonly Segment[],
  versions: Versions | undefined,
  out: ExecutableSymbol[],
): void {
  const entsize = layout.is64 ? 24 : 16;
  if (table.entsize !== entsize) throw new ParseError(`${file.path}: ${tableName} sh_entsize is ${table.entsize}, expected ${entsize}`, table.offset);
  const count = Math.floor(table.size / entsize);
  const syms = file.read(table.offset, count * entsize, tableName);
  const strings = file.read(stringSection.offset, stringSection.size, `${tableName} string table`);
  const le = layout.le;
  for (let i = 1; i < count; i++) {
    const o = i * entsize;
    const info = layout.is64 ? syms.getUint8(o + 4) : syms.getUint8(o + 12);
    const type = info & 0xf;
    if (type !== STT_FUNC && type !== STT_GNU_IFUNC && type !== STT_OBJECT) continue;
    const shndx = layout.is64 ? syms.getUint16(o + 6, le) : syms.getUint16(o + 14, le);
    const address = layout.is64 ? syms.getBigUint64(o + 8, le) : BigInt(syms.getUint32(o + 4, le));
    if (shndx === SHN_UNDEF || (shndx >= SHN_LORESERVE && shndx !== SHN_XINDEX) || address === 0n) continue;
    const size = layout.is64 ? syms.getBigUint64(o + 16, le) : BigInt(syms.getUint32(o + 8, le));
    const segment = segments.find((s) => address >= s.vaddr && address < s.vaddr + s.filesz);
    // A function outside every loaded segment cannot be probed; skip rather than fail the file.
    if (segment === undefined) continue;
    let name = cstring(strings, syms.getUint32(o, le), file.path, `${tableName} symbol ${i}`);
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
      size,
      offset: address - segment.vaddr + segment.offset,
      bind: info >> 4,
      ifunc: type === STT_GNU_IFUNC,
      table: tableName,
    });
  }
}
