/**
 * The one ELF reader core: the file header, program headers, section headers, string tables
 * and symbol tables of ELF32 and ELF64 files in either byte order (System V gABI), read from
 * an {@link ELFSource}. What a file must be beyond that (a BPF relocatable object, an
 * executable or shared object a uprobe can attach to, anything carrying `.BTF`) is for the
 * caller to check: src/elf, btf/elf-section.ts and link/executable.ts build on this.
 *
 * Every table is read whole, once, and checked against the file before any field is used;
 * every malformed input ends in a {@link ParseError} naming the field and its file offset.
 *
 * @module
 */
import type { ParseError } from '../errors.js';
import {
  EI_CLASS,
  EI_DATA,
  EI_NIDENT,
  ELFCLASS32,
  ELFCLASS64,
  ELFDATA2LSB,
  ELFDATA2MSB,
  SHN_XINDEX,
  SHT_NOBITS,
  SHT_NULL,
  SHT_STRTAB,
} from './elf-constants.js';
import { elfError, type ELFSource } from './elf-source.js';
import { dataView } from './bytes.js';

// Where the fields of each structure lie (gABI names) and how big the structures are, in
// each file class: `Elf64_*`, and `Elf32_*` with narrower words and `Elf32_Sym` reordered.
export const ELF64 = {
  ehdrSize: 64, e_phoff: 0x20, e_shoff: 0x28, e_ehsize: 0x34, e_phentsize: 0x36, e_phnum: 0x38, e_shentsize: 0x3a, e_shnum: 0x3c, e_shstrndx: 0x3e,
  shdrSize: 64, sh_flags: 8, sh_addr: 16, sh_offset: 24, sh_size: 32, sh_link: 40, sh_info: 44, sh_addralign: 48, sh_entsize: 56,
  phdrSize: 56, p_flags: 4, p_offset: 8, p_vaddr: 16, p_filesz: 32,
  symSize: 24, st_value: 8, st_size: 16, st_info: 4, st_other: 5, st_shndx: 6,
};

/** The structure sizes and field offsets of one file class. */
export type ELFClassLayout = Readonly<Record<keyof typeof ELF64, number>>;

const ELF32: ELFClassLayout = {
  ehdrSize: 52, e_phoff: 0x1c, e_shoff: 0x20, e_ehsize: 0x28, e_phentsize: 0x2a, e_phnum: 0x2c, e_shentsize: 0x2e, e_shnum: 0x30, e_shstrndx: 0x32,
  shdrSize: 40, sh_flags: 8, sh_addr: 12, sh_offset: 16, sh_size: 20, sh_link: 24, sh_info: 28, sh_addralign: 32, sh_entsize: 36,
  phdrSize: 32, p_flags: 24, p_offset: 4, p_vaddr: 8, p_filesz: 16,
  symSize: 16, st_value: 4, st_size: 8, st_info: 12, st_other: 13, st_shndx: 14,
};

/** The file header (`ElfN_Ehdr`), with `e_ident` decoded; fields keep their gABI names. */
export interface ELFHeader {
  /** `ELFCLASS64` rather than `ELFCLASS32`. */
  readonly is64: boolean;
  /** `ELFDATA2LSB` → little, `ELFDATA2MSB` → big. */
  readonly byteOrder: 'little' | 'big';
  /** Where the fields of this class lie, for reading the other tables and for error offsets. */
  readonly layout: ELFClassLayout;
  readonly e_type: number;
  readonly e_machine: number;
  readonly e_phoff: number;
  readonly e_phentsize: number;
  readonly e_phnum: number;
  readonly e_shoff: number;
  readonly e_shentsize: number;
  /** As written: 0 with a table means the count is in section 0 (extended numbering). */
  readonly e_shnum: number;
  /** As written: `SHN_XINDEX` means the index is in section 0's `sh_link`. */
  readonly e_shstrndx: number;
}

/**
 * One section header (`ElfN_Shdr`). `sh_flags` keeps its low 32 bits (the rest are OS and
 * processor specific); `sh_offset` and `sh_size` beyond 2^53 are inexact, which every bounds
 * check still rejects.
 */
export interface SectionHeader {
  /** Index in the section header table. */
  readonly index: number;
  /** File offset of this header, for error reports. */
  readonly at: number;
  readonly sh_name: number;
  readonly sh_type: number;
  readonly sh_flags: number;
  /** The section's virtual address in a loaded image (0 for sections that are not loaded). */
  readonly sh_addr: bigint;
  readonly sh_offset: number;
  readonly sh_size: number;
  readonly sh_link: number;
  readonly sh_info: number;
  /** Alignment of the section's address (0 or 1: none). */
  readonly sh_addralign: number;
  readonly sh_entsize: number;
}

/** The fields of a program header (`ElfN_Phdr`) that map addresses to file offsets. */
export interface ProgramHeader {
  readonly p_type: number;
  /** `PF_X` (1), `PF_W` (2), `PF_R` (4). */
  readonly p_flags: number;
  readonly p_offset: bigint;
  readonly p_vaddr: bigint;
  readonly p_filesz: bigint;
}

/** An address or size field: 8 bytes in ELF64, 4 in ELF32. */
function word(view: DataView, at: number, header: Pick<ELFHeader, 'is64' | 'byteOrder'>): bigint {
  const little = header.byteOrder === 'little';
  return header.is64 ? view.getBigUint64(at, little) : BigInt(view.getUint32(at, little));
}

/** True if the bytes start with the ELF magic `\x7fELF`. */
export function isELF(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46;
}

/** Reads and checks `e_ident` and the rest of the file header. */
export function readHeader(source: ELFSource): ELFHeader {
  if (source.size < 4 || !isELF(source.read(0, 4, 'ELF magic'))) throw elfError(source, 'not an ELF file (no \\x7fELF magic)', 0);
  const ident = source.read(0, EI_NIDENT, 'ELF identification (e_ident)');
  const cls = ident[EI_CLASS]!;
  const data = ident[EI_DATA]!;
  if (cls !== ELFCLASS32 && cls !== ELFCLASS64) throw elfError(source, `unknown ELF class ${cls} (e_ident[EI_CLASS])`, EI_CLASS);
  if (data !== ELFDATA2LSB && data !== ELFDATA2MSB) throw elfError(source, `unknown ELF data encoding ${data} (e_ident[EI_DATA])`, EI_DATA);
  const is64 = cls === ELFCLASS64;
  const layout = is64 ? ELF64 : ELF32;
  const byteOrder = data === ELFDATA2LSB ? 'little' : 'big';
  const little = byteOrder === 'little';
  const view = dataView(source.read(0, layout.ehdrSize, `ELF${is64 ? 64 : 32} header`));
  const fileOffset = (at: number, field: string): number => {
    const v = word(view, at, { is64, byteOrder });
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw elfError(source, `${field} ${v} is not a usable file offset`, at);
    return Number(v);
  };
  return {
    is64,
    byteOrder,
    layout,
    e_type: view.getUint16(16, little),
    e_machine: view.getUint16(18, little),
    e_phoff: fileOffset(layout.e_phoff, 'e_phoff'),
    e_phentsize: view.getUint16(layout.e_phentsize, little),
    e_phnum: view.getUint16(layout.e_phnum, little),
    e_shoff: fileOffset(layout.e_shoff, 'e_shoff'),
    e_shentsize: view.getUint16(layout.e_shentsize, little),
    e_shnum: view.getUint16(layout.e_shnum, little),
    e_shstrndx: view.getUint16(layout.e_shstrndx, little),
  };
}

/** The program header table; empty when the file has none. */
export function readProgramHeaders(source: ELFSource, header: ELFHeader): ProgramHeader[] {
  const { layout: L, byteOrder } = header;
  if (header.e_phoff === 0 || header.e_phnum === 0) return [];
  if (header.e_phentsize !== L.phdrSize) {
    throw elfError(source, `e_phentsize is ${header.e_phentsize}, expected ${L.phdrSize} (the ELF${header.is64 ? 64 : 32} program header size)`, L.e_phentsize);
  }
  const view = dataView(source.read(header.e_phoff, header.e_phnum * L.phdrSize, 'program header table', L.e_phoff));
  const out: ProgramHeader[] = [];
  for (let at = 0; at < view.byteLength; at += L.phdrSize) {
    out.push({
      p_type: view.getUint32(at, byteOrder === 'little'),
      p_flags: view.getUint32(at + L.p_flags, byteOrder === 'little'),
      p_offset: word(view, at + L.p_offset, header),
      p_vaddr: word(view, at + L.p_vaddr, header),
      p_filesz: word(view, at + L.p_filesz, header),
    });
  }
  return out;
}

function decodeSection(view: DataView, at: number, index: number, fileAt: number, header: ELFHeader): SectionHeader {
  const L = header.layout;
  const little = header.byteOrder === 'little';
  return {
    index,
    at: fileAt,
    sh_name: view.getUint32(at, little),
    sh_type: view.getUint32(at + 4, little),
    // The low half of ELF64's 8-byte sh_flags is at the far end in big-endian files.
    sh_flags: view.getUint32(at + L.sh_flags + (header.is64 && !little ? 4 : 0), little),
    sh_addr: word(view, at + L.sh_addr, header),
    sh_offset: Number(word(view, at + L.sh_offset, header)),
    sh_size: Number(word(view, at + L.sh_size, header)),
    sh_link: view.getUint32(at + L.sh_link, little),
    sh_info: view.getUint32(at + L.sh_info, little),
    sh_addralign: Number(word(view, at + L.sh_addralign, header)),
    sh_entsize: Number(word(view, at + L.sh_entsize, header)),
  };
}

/**
 * The section header table, index 0 included; empty when the file has none (`e_shoff` 0).
 * With more than `SHN_LORESERVE` sections the count comes from section 0 (gABI "Extended
 * Section Header Table").
 */
export function readSectionHeaders(source: ELFSource, header: ELFHeader): SectionHeader[] {
  const L = header.layout;
  if (header.e_shoff === 0) return [];
  if (header.e_shentsize !== L.shdrSize) {
    throw elfError(source, `e_shentsize is ${header.e_shentsize}, expected ${L.shdrSize} (the ELF${header.is64 ? 64 : 32} section header size)`, L.e_shentsize);
  }
  let count = header.e_shnum;
  if (count === 0) {
    const first = source.read(header.e_shoff, L.shdrSize, 'section header 0', L.e_shoff);
    count = decodeSection(dataView(first), 0, 0, header.e_shoff, header).sh_size;
  }
  const table = dataView(source.read(header.e_shoff, count * L.shdrSize, 'section header table', L.e_shoff));
  const out: SectionHeader[] = [];
  for (let i = 0; i < count; i++) out.push(decodeSection(table, i * L.shdrSize, i, header.e_shoff + i * L.shdrSize, header));
  return out;
}

/** The bytes of a section, checked to lie in the file; empty for `SHT_NOBITS` and `SHT_NULL`. */
export function sectionContents(source: ELFSource, header: ELFHeader, section: SectionHeader, what: string): Uint8Array {
  if (section.sh_type === SHT_NOBITS || section.sh_type === SHT_NULL) return new Uint8Array(0);
  return source.read(section.sh_offset, section.sh_size, what, section.at + header.layout.sh_offset);
}

/** A string table section: NUL-terminated names addressed by offset. */
export class StringTable {
  readonly #bytes: Uint8Array;
  readonly #text: Buffer;
  readonly #source: ELFSource;
  readonly #offset: number;

  /** @param offset the table's file offset, for error reports. */
  constructor(bytes: Uint8Array, source: ELFSource, offset: number) {
    this.#bytes = bytes;
    this.#text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#source = source;
    this.#offset = offset;
  }

  /** Size of the table in bytes. */
  get size(): number {
    return this.#bytes.byteLength;
  }

  /** The string at `offset`; `what` names its owner in errors ("symbol 12", "section 3"). */
  at(offset: number, what: string): string {
    const bytes = this.#bytes;
    if (offset >= bytes.length) {
      // Offset 0 of an empty table is the empty name, as for a table that is just "\0".
      if (offset === 0) return '';
      throw this.#error(`${what}: name offset ${offset} is past the end of its ${bytes.length}-byte string table`, this.#offset);
    }
    const end = bytes.indexOf(0, offset);
    if (end < 0) throw this.#error(`${what}: the name at offset ${offset} of its string table is not NUL-terminated`, this.#offset + offset);
    return end === offset ? '' : this.#text.toString('utf8', offset, end);
  }

  #error(message: string, at: number): ParseError {
    return elfError(this.#source, message, at);
  }
}

/** Reads a string table section; `what` names it in errors. */
export function readStringTable(source: ELFSource, header: ELFHeader, section: SectionHeader, what: string): StringTable {
  return new StringTable(sectionContents(source, header, section, what), source, section.sh_offset);
}

/** The section name table (`e_shstrndx`, or section 0's `sh_link` when that is `SHN_XINDEX`). */
export function readSectionNames(source: ELFSource, header: ELFHeader, sections: readonly SectionHeader[]): StringTable {
  const index = header.e_shstrndx === SHN_XINDEX && sections.length > 0 ? sections[0]!.sh_link : header.e_shstrndx;
  const table = sections[index];
  if (table === undefined) {
    throw elfError(source, `section name table index (e_shstrndx) ${index} is out of range (${sections.length} sections)`, header.layout.e_shstrndx);
  }
  if (table.sh_type !== SHT_STRTAB) throw elfError(source, `section name table (section ${index}) is not a string table`, table.at + 4);
  return readStringTable(source, header, table, 'section name table');
}

/**
 * The entries of one symbol table (`SHT_SYMTAB` or `SHT_DYNSYM`), read field by field from
 * the table's bytes: large binaries have 10^5 symbols, most of which a caller skips after
 * looking at one field.
 */
export class SymbolTable {
  /** Number of entries, the null symbol at index 0 included. */
  readonly count: number;
  /** The linked string table (`sh_link`) the names are in. */
  readonly strings: StringTable;
  readonly #view: DataView;
  readonly #layout: ELFClassLayout;
  readonly #header: ELFHeader;
  readonly #little: boolean;
  readonly #offset: number;

  constructor(bytes: Uint8Array, strings: StringTable, header: ELFHeader, offset: number) {
    this.#view = dataView(bytes);
    this.#layout = header.layout;
    this.#header = header;
    this.#little = header.byteOrder === 'little';
    this.#offset = offset;
    this.strings = strings;
    this.count = bytes.byteLength / header.layout.symSize;
  }

  /** File offset of entry `i`, for error reports. */
  offsetOf(i: number): number {
    return this.#offset + i * this.#layout.symSize;
  }

  /** `st_name`: offset of the name in {@link strings}. */
  nameOffset(i: number): number {
    return this.#view.getUint32(i * this.#layout.symSize, this.#little);
  }

  /** The name of entry `i` (`""` for unnamed ones). */
  name(i: number, what = `symbol ${i}`): string {
    return this.strings.at(this.nameOffset(i), what);
  }

  /** `ELF_ST_TYPE(st_info)` (`STT_*`). */
  type(i: number): number {
    return this.#view.getUint8(i * this.#layout.symSize + this.#layout.st_info) & 0xf;
  }

  /** `ELF_ST_BIND(st_info)` (`STB_*`). */
  bind(i: number): number {
    return this.#view.getUint8(i * this.#layout.symSize + this.#layout.st_info) >> 4;
  }

  /** `ELF_ST_VISIBILITY(st_other)` (`STV_*`). */
  visibility(i: number): number {
    return this.#view.getUint8(i * this.#layout.symSize + this.#layout.st_other) & 0x3;
  }

  /** `st_shndx`: the section, `SHN_UNDEF` or a special `SHN_*` index. */
  sectionIndex(i: number): number {
    return this.#view.getUint16(i * this.#layout.symSize + this.#layout.st_shndx, this.#little);
  }

  /** `st_value`: an address, or an offset in its section in a relocatable object. */
  value(i: number): bigint {
    return word(this.#view, i * this.#layout.symSize + this.#layout.st_value, this.#header);
  }

  /** `st_size` in bytes. */
  size(i: number): bigint {
    return word(this.#view, i * this.#layout.symSize + this.#layout.st_size, this.#header);
  }
}

/**
 * Reads symbol table `section` and its string table; `what` names the table in errors. The
 * entry size must be the class's `ElfN_Sym` and the table a whole number of entries.
 */
export function readSymbolTable(source: ELFSource, header: ELFHeader, sections: readonly SectionHeader[], section: SectionHeader, what: string): SymbolTable {
  const L = header.layout;
  if (section.sh_entsize !== L.symSize) throw elfError(source, `${what}: sh_entsize is ${section.sh_entsize}, expected ${L.symSize}`, section.at + L.sh_entsize);
  if (section.sh_size % L.symSize !== 0) throw elfError(source, `${what}: size ${section.sh_size} is not a multiple of ${L.symSize}`, section.at + L.sh_size);
  const link = section.sh_link;
  const strings = sections[link];
  if (strings === undefined) throw elfError(source, `${what} links to string table section ${link}, which does not exist`, section.at + L.sh_link);
  if (strings.sh_type !== SHT_STRTAB) throw elfError(source, `${what} links to section ${link} as its string table, which is not one`, section.at + L.sh_link);
  const bytes = sectionContents(source, header, section, what);
  return new SymbolTable(bytes, readStringTable(source, header, strings, `${what} string table`), header, section.sh_offset);
}

/** One entry of a note section (`ElfN_Nhdr` with its name and descriptor). */
export interface ELFNote {
  /** The owner (`GNU`, `stapsdt`), without its NUL. */
  readonly name: string;
  /** `n_type`: its meaning depends on the owner (`NT_STAPSDT` is 3 for `stapsdt`). */
  readonly type: number;
  /** The descriptor bytes. */
  readonly desc: Uint8Array;
  /** File offset of the descriptor, for error reports. */
  readonly at: number;
}

/**
 * The notes of an `SHT_NOTE` section, in order. Both ELF classes use three 4-byte words
 * (`n_namesz`, `n_descsz`, `n_type`) as Linux and binutils write them, and the name and
 * descriptor are each padded to 4 bytes (the 8-byte padding of GNU property notes in sections
 * aligned to 8 is not read here).
 */
export function readNotes(source: ELFSource, header: ELFHeader, section: SectionHeader, what: string): ELFNote[] {
  const bytes = sectionContents(source, header, section, what);
  const view = dataView(bytes);
  const little = header.byteOrder === 'little';
  const pad = (n: number): number => (n + 3) & ~3;
  const out: ELFNote[] = [];
  for (let at = 0; at < bytes.byteLength; ) {
    if (at + 12 > bytes.byteLength) throw elfError(source, `${what}: note header at +${at} runs past the end of the section`, section.sh_offset + at);
    const namesz = view.getUint32(at, little);
    const descsz = view.getUint32(at + 4, little);
    const type = view.getUint32(at + 8, little);
    const nameAt = at + 12;
    const descAt = nameAt + pad(namesz);
    const end = descAt + pad(descsz);
    // The last descriptor's padding may be missing when it ends the section.
    if (descAt + descsz > bytes.byteLength) {
      throw elfError(source, `${what}: note at +${at} (name ${namesz} bytes, descriptor ${descsz} bytes) runs past the end of the section`, section.sh_offset + at);
    }
    const rawName = bytes.subarray(nameAt, nameAt + namesz);
    const nul = rawName.indexOf(0);
    const name = Buffer.from(nul < 0 ? rawName : rawName.subarray(0, nul)).toString('latin1');
    out.push({ name, type, desc: bytes.subarray(descAt, descAt + descsz), at: section.sh_offset + descAt });
    at = end;
  }
  return out;
}
