/**
 * USDT probes as `<sys/sdt.h>` records them: one `NT_STAPSDT` note per probe location in the
 * `.note.stapsdt` section of an executable or shared library, holding the probe's address,
 * the address of `_.stapsdt.base`, the address of its semaphore (0 for none), and three
 * strings: provider, name and the argument specs (`-4@%eax 8@-16(%rbp)`).
 *
 * Addresses in the note are link-time virtual addresses. The note section is not loaded, so
 * a tool that relocates the file after linking (prelink) leaves them stale; the
 * `.stapsdt.base` section moves with the code, so `sh_addr(.stapsdt.base) − base` is the
 * shift to apply to the probe and semaphore addresses (0 for files nobody relocated). A
 * uprobe wants file offsets, which come from the PT_LOAD segment covering each address, for
 * PIE and non-PIE files alike.
 *
 * @module
 */
import { statSync } from 'node:fs';
import { ArgumentError } from '../errors.js';
// For {@link} in doc comments only.
import type { ParseError } from '../errors.js';
import { ET_DYN, ET_EXEC, PT_LOAD, SHN_UNDEF, SHT_DYNSYM, SHT_NOTE, SHT_SYMTAB } from '../internal/elf-constants.js';
import {
  isELF,
  readHeader,
  readNotes,
  readProgramHeaders,
  readSectionHeaders,
  readSectionNames,
  readSymbolTable,
  type ProgramHeader,
} from '../internal/elf-reader.js';
import { elfError, withFileSource, type ELFSource } from '../internal/elf-source.js';
import { dataView } from '../internal/bytes.js';
import { resolveBinary } from './executable.js';

/** `n_type` of a `stapsdt` note (`_SDT_NOTE_TYPE` in `<sys/sdt.h>`). */
export const NT_STAPSDT = 3;

/** `p_flags` bit of an executable segment. */
const PF_X = 1;

/** One location of a USDT probe in a file, as its note describes it. */
export interface USDTProbe {
  /** The file (absolute, symlink-free path). */
  readonly binary: string;
  /** The provider (`libc`, `python`, `node`). */
  readonly provider: string;
  /** The probe's name within its provider. */
  readonly name: string;
  /** Link-time address of the probe's nop, with the `.stapsdt.base` shift applied. */
  readonly location: bigint;
  /** The note's `_.stapsdt.base` address, as written (0 when the note has none). */
  readonly base: bigint;
  /** Link-time address of the semaphore (an `unsigned short`), shifted like `location`; 0 for none. */
  readonly semaphore: bigint;
  /** The argument specs, space-separated (`-4@%eax 8@-16(%rbp)`); `""` for none. */
  readonly arguments: string;
  /** File offset of the probe: where a uprobe attaches. Undefined when no executable segment covers it. */
  readonly offset: bigint | undefined;
  /**
   * File offset of the semaphore (a uprobe's `ref_ctr_offset`); 0 without a semaphore,
   * undefined when no segment holds it in the file.
   */
  readonly semaphoreOffset: bigint | undefined;
}

/** The USDT probes of one file and what attaching needs to know about the file. */
export interface USDTFile {
  /** The file (absolute, symlink-free path). */
  readonly path: string;
  /** `e_type`: `ET_EXEC` (2; addresses are run-time addresses) or `ET_DYN` (3; PIE or a shared library). */
  readonly elfType: number;
  /** `e_machine`: which argument syntax the specs use (62 x86-64, 183 arm64). */
  readonly machine: number;
  /** Every probe location, in note order. */
  readonly probes: readonly USDTProbe[];
}

const cache = new Map<string, USDTFile>();


/**
 * The USDT probes of `binary`: a path, or a name searched like uprobe targets are
 * (`libc.so.6` in the library directories, `python3` in PATH). A file without a
 * `.note.stapsdt` section has none. Cached per file (path, inode, size, mtime).
 *
 * @example
 * ```ts
 * for (const p of readUSDTFile('libstdc++.so.6').probes) console.log(`${p.provider}:${p.name}`);
 * ```
 * @throws {@link ArgumentError} when the file cannot be found or read or is not an ELF
 * executable or shared object; {@link ParseError} when its headers or notes are malformed.
 */
export function readUSDTFile(binary: string): USDTFile {
  const path = resolveBinary(binary);
  const st = statSync(path);
  const key = `${path}\0${st.dev}\0${st.ino}\0${st.size}\0${st.mtimeMs}`;
  const cached = cache.get(key);
  if (cached !== undefined) return cached;
  const file = withFileSource(path, 'USDT target', parseUSDTFile);
  if (cache.size >= 64) cache.delete(cache.keys().next().value!);
  cache.set(key, file);
  return file;
}

/**
 * The USDT probes of an ELF file in `source` (named by `source.name`), as
 * {@link readUSDTFile} reads them.
 *
 * @throws {@link ArgumentError} when it is not an ELF executable or shared object;
 * {@link ParseError} when its headers or notes are malformed.
 */
export function parseUSDTFile(source: ELFSource): USDTFile {
  const path = source.name;
  if (source.size < 52 || !isELF(source.read(0, 4, 'ELF magic'))) throw new ArgumentError(`${path} is not an ELF file; USDT probes live in ELF executables and shared libraries`);
  const header = readHeader(source);
  if (header.e_type !== ET_EXEC && header.e_type !== ET_DYN) {
    throw new ArgumentError(`${path} is an ELF file of type ${header.e_type}, not an executable or shared object (ET_EXEC/ET_DYN)`);
  }
  const sections = readSectionHeaders(source, header);
  const base = { path, elfType: header.e_type, machine: header.e_machine };
  if (sections.length === 0) return { ...base, probes: [] };
  const names = readSectionNames(source, header, sections);
  const named = (name: string) => sections.find((s) => names.at(s.sh_name, `section ${s.index}`) === name);
  const notes = named('.note.stapsdt');
  if (notes === undefined) return { ...base, probes: [] };
  if (notes.sh_type !== SHT_NOTE) throw elfError(source, `.note.stapsdt (section ${notes.index}) is of type ${notes.sh_type}, not SHT_NOTE`, notes.at + 4);
  const baseSection = named('.stapsdt.base');
  const segments = readProgramHeaders(source, header).filter((p) => p.p_type === PT_LOAD);
  const little = header.byteOrder === 'little';
  const word = header.is64 ? 8 : 4;
  const probes: USDTProbe[] = [];
  for (const note of readNotes(source, header, notes, '.note.stapsdt')) {
    if (note.name !== 'stapsdt' || note.type !== NT_STAPSDT) continue;
    const desc = note.desc;
    if (desc.byteLength < 3 * word + 3) throw elfError(source, `.note.stapsdt: a ${desc.byteLength}-byte descriptor is too short for a probe`, note.at);
    const view = dataView(desc);
    const address = (i: number): bigint => (header.is64 ? view.getBigUint64(i * word, little) : BigInt(view.getUint32(i * word, little)));
    const [pc, noteBase, sema] = [address(0), address(1), address(2)];
    const strings: string[] = [];
    let at = 3 * word;
    for (let i = 0; i < 3; i++) {
      const end = desc.indexOf(0, at);
      if (end < 0) throw elfError(source, `.note.stapsdt: probe string ${i + 1} of 3 (provider, name, arguments) is not NUL-terminated`, note.at + at);
      strings.push(Buffer.from(desc.subarray(at, end)).toString('utf8'));
      at = end + 1;
    }
    // prelink moved the file: shift by how far .stapsdt.base moved since the note was written.
    const shift = noteBase !== 0n && baseSection !== undefined ? baseSection.sh_addr - noteBase : 0n;
    const location = pc + shift;
    const semaphore = sema === 0n ? 0n : sema + shift;
    probes.push({
      binary: path,
      provider: strings[0]!,
      name: strings[1]!,
      location,
      base: noteBase,
      semaphore,
      arguments: strings[2]!.trim(),
      offset: fileOffset(segments, location, true),
      semaphoreOffset: semaphore === 0n ? 0n : fileOffset(segments, semaphore, false),
    });
  }
  return { ...base, probes };
}

/** The file offset of `address` through the PT_LOAD segment holding it in the file. */
function fileOffset(segments: readonly ProgramHeader[], address: bigint, code: boolean): bigint | undefined {
  const s = segments.find((p) => address >= p.p_vaddr && address < p.p_vaddr + p.p_filesz && (!code || (p.p_flags & PF_X) !== 0));
  return s === undefined ? undefined : address - s.p_vaddr + s.p_offset;
}

const symbolCache = new WeakMap<USDTFile, Map<string, bigint>>();

/**
 * The link-time address of symbol `name` defined in `file` (`.symtab`, else `.dynsym`), for
 * argument specs that name a variable (`counter(%rip)`); undefined when there is none. Unlike
 * {@link Executable}'s uprobe symbols, variables in `.bss` count: they have no file bytes but
 * an address.
 *
 * @throws {@link ArgumentError} when the file cannot be read again; {@link ParseError} when its
 * symbol tables are malformed.
 */
export function usdtSymbolAddress(file: USDTFile, name: string): bigint | undefined {
  let symbols = symbolCache.get(file);
  if (symbols === undefined) {
    symbols = withFileSource(file.path, 'USDT target', (source) => {
      const header = readHeader(source);
      const sections = readSectionHeaders(source, header);
      const out = new Map<string, bigint>();
      // .dynsym first, so .symtab (a superset where present) has the last word.
      for (const type of [SHT_DYNSYM, SHT_SYMTAB]) {
        for (const section of sections.filter((s) => s.sh_type === type)) {
          const table = readSymbolTable(source, header, sections, section, type === SHT_SYMTAB ? '.symtab' : '.dynsym');
          for (let i = 1; i < table.count; i++) {
            if (table.sectionIndex(i) === SHN_UNDEF || table.value(i) === 0n) continue;
            const n = table.name(i);
            if (n !== '') out.set(n.replace(/@.*$/, ''), table.value(i));
          }
        }
      }
      return out;
    });
    symbolCache.set(file, symbols);
  }
  return symbols.get(name);
}

/** `provider:name`, how probes are named in messages, sections and the CLI. */
export function probeLabel(p: Pick<USDTProbe, 'provider' | 'name'>): string {
  return `${p.provider}:${p.name}`;
}
