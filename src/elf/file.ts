/**
 * An ELF64 relocatable object as BPF compilers write it: the header and section table come
 * from elfy, after we have checked every offset elfy would read (elfy trusts its input and
 * would throw plain `Error`s, `RangeError`s or silently clamp a section that runs past the
 * end). The symbol table and relocations are read here, lazily, in the file's byte order.
 *
 * Every malformed input ends in a {@link ParseError} naming what is wrong and the file
 * offset where it was found; nothing reads outside the input.
 *
 * @module
 */
import elfy from 'elfy';
import type { ByteOrder } from '../asm/encoding.js';
import { ParseError } from '../errors.js';
import {
  EM_BPF,
  ET_REL,
  RelocationType,
  SectionType,
  SHN_LORESERVE,
  SHN_UNDEF,
  SymbolType,
} from './constants.js';

/** One section header, with its bytes. */
export interface ELFSection {
  /** Index in the section header table. */
  readonly index: number;
  /** The section's name (`"kprobe/do_sys_open"`, `".rodata"`). */
  readonly name: string;
  /** `sh_type` (see `SectionType`). */
  readonly type: number;
  /** `sh_flags` (see `SectionFlag`); BPF objects never set bits above 2^32. */
  readonly flags: number;
  /** File offset of the contents. */
  readonly offset: number;
  /** Size in bytes (in memory for `SHT_NOBITS`, which has no file bytes). */
  readonly size: number;
  /** `sh_link`: the symbol table of a relocation section, the string table of a symbol table. */
  readonly link: number;
  /** `sh_info`: for a relocation section, the section it applies to. */
  readonly info: number;
  /** The contents: a view into the input; empty for `SHT_NOBITS`. */
  readonly data: Uint8Array;
}

/** One entry of `.symtab`. */
export interface ELFSymbol {
  /** Index in the symbol table (relocations refer to symbols by index). */
  readonly index: number;
  /** The name; `""` for section symbols and the null symbol (see {@link symbolName}). */
  readonly name: string;
  /** `st_value`: for defined symbols in a relocatable object, the offset in its section. */
  readonly value: number;
  /** `st_size` in bytes. */
  readonly size: number;
  /** `STT_*` (see `SymbolType`). */
  readonly type: number;
  /** `STB_*` (see `SymbolBind`). */
  readonly bind: number;
  /** `STV_*` (see `SymbolVisibility`). */
  readonly visibility: number;
  /** `st_shndx`: the section, `SHN_UNDEF` (0) for externs, or a special `SHN_*` index. */
  readonly sectionIndex: number;
}

/** One relocation entry (`Elf64_Rel`, or `Elf64_Rela` with an explicit addend). */
export interface ELFRelocation {
  /** Byte offset in the section the relocation applies to. */
  readonly offset: number;
  /** `ELF64_R_TYPE` (see {@link RelocationType}). */
  readonly type: number;
  /** The symbol the relocation refers to. */
  readonly symbol: ELFSymbol;
  /** The explicit addend of an `SHT_RELA` entry; undefined for `SHT_REL` (addend in place). */
  readonly addend: bigint | undefined;
}

const headerSize = 64;
const sectionHeaderSize = 64;
const symbolSize = 24;

/** A parsed BPF object file. Create one with {@link readELF}. */
export class ELFFile {
  /** The object's byte order (`bpfel` → little, `bpfeb` → big). */
  readonly byteOrder: ByteOrder;
  /** All sections, indexed by section number (index 0 is the null section). */
  readonly sections: readonly ELFSection[];
  /** The input bytes. */
  readonly bytes: Uint8Array;
  #view: DataView;
  #symbols: ELFSymbol[] | undefined;
  #relocations = new Map<number, ELFRelocation[]>();
  #relocationSections: Map<number, ELFSection[]> | undefined;

  /** @internal Use {@link readELF}. */
  constructor(bytes: Uint8Array, byteOrder: ByteOrder, sections: ELFSection[]) {
    this.bytes = bytes;
    this.byteOrder = byteOrder;
    this.sections = sections;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** The first section called `name`, if any. */
  section(name: string): ELFSection | undefined {
    return this.sections.find((s) => s.name === name);
  }

  /**
   * The symbol table (`.symtab`), index 0 being the null symbol. Empty when the object has
   * none (an object stripped of symbols has no programs to find either).
   */
  get symbols(): readonly ELFSymbol[] {
    this.#symbols ??= this.#readSymbols();
    return this.#symbols;
  }

  /**
   * Relocations that apply to section `index`, from every `SHT_REL`/`SHT_RELA` section whose
   * `sh_info` names it, sorted by offset. Each relocation's offset is checked to lie inside
   * the target section.
   */
  relocations(index: number): readonly ELFRelocation[] {
    let out = this.#relocations.get(index);
    if (out !== undefined) return out;
    if (this.#relocationSections === undefined) {
      const byTarget = new Map<number, ELFSection[]>();
      for (const s of this.sections) {
        if (s.type !== SectionType.Rel && s.type !== SectionType.Rela) continue;
        const list = byTarget.get(s.info) ?? [];
        list.push(s);
        byTarget.set(s.info, list);
      }
      this.#relocationSections = byTarget;
    }
    out = [];
    for (const rel of this.#relocationSections.get(index) ?? []) out.push(...this.#readRelocations(rel));
    out.sort((a, b) => a.offset - b.offset);
    this.#relocations.set(index, out);
    return out;
  }

  /** Symbols defined in section `index`, in table order. */
  symbolsIn(index: number): ELFSymbol[] {
    return this.symbols.filter((s) => s.sectionIndex === index);
  }

  #readSymbols(): ELFSymbol[] {
    const symtabs = this.sections.filter((s) => s.type === SectionType.SymTab);
    if (symtabs.length === 0) return [];
    if (symtabs.length > 1) throw new ParseError(`ELF has ${symtabs.length} symbol tables, expected one`, symtabs[1]!.offset);
    const symtab = symtabs[0]!;
    if (symtab.size % symbolSize !== 0) {
      throw new ParseError(`symbol table ${symtab.name}: size ${symtab.size} is not a multiple of ${symbolSize}`, symtab.offset);
    }
    const strtab = this.sections[symtab.link];
    if (strtab === undefined || strtab.type !== SectionType.StrTab) {
      throw new ParseError(`symbol table ${symtab.name}: sh_link ${symtab.link} is not a string table`, symtab.offset);
    }
    const little = this.byteOrder === 'little';
    const view = this.#view;
    const out: ELFSymbol[] = [];
    for (let i = 0; i < symtab.size / symbolSize; i++) {
      const at = symtab.offset + i * symbolSize;
      const info = view.getUint8(at + 4);
      const sectionIndex = view.getUint16(at + 6, little);
      const name = readString(strtab, view.getUint32(at, little), `name of symbol ${i}`);
      if (sectionIndex !== SHN_UNDEF && sectionIndex < SHN_LORESERVE && sectionIndex >= this.sections.length) {
        throw new ParseError(`symbol ${i} (${name || 'unnamed'}) refers to section ${sectionIndex}, but there are only ${this.sections.length}`, at + 6);
      }
      out.push({
        index: i,
        name,
        type: info & 0xf,
        bind: info >> 4,
        visibility: view.getUint8(at + 5) & 0x3,
        sectionIndex,
        value: readU64(view, at + 8, little),
        size: readU64(view, at + 16, little),
      });
    }
    return out;
  }

  #readRelocations(rel: ELFSection): ELFRelocation[] {
    const rela = rel.type === SectionType.Rela;
    const entrySize = rela ? 24 : 16;
    if (rel.size % entrySize !== 0) {
      throw new ParseError(`relocation section ${rel.name}: size ${rel.size} is not a multiple of ${entrySize}`, rel.offset);
    }
    const target = this.sections[rel.info];
    if (target === undefined || rel.info === 0) {
      throw new ParseError(`relocation section ${rel.name}: sh_info ${rel.info} is not a section`, rel.offset);
    }
    const symtab = this.sections[rel.link];
    if (symtab === undefined || symtab.type !== SectionType.SymTab) {
      throw new ParseError(`relocation section ${rel.name}: sh_link ${rel.link} is not the symbol table`, rel.offset);
    }
    const symbols = this.symbols;
    const little = this.byteOrder === 'little';
    const view = this.#view;
    const out: ELFRelocation[] = [];
    for (let at = rel.offset; at < rel.offset + rel.size; at += entrySize) {
      const offset = readU64(view, at, little);
      const type = view.getUint32(at + 8 + (little ? 0 : 4), little);
      const symbolIndex = view.getUint32(at + 8 + (little ? 4 : 0), little);
      const symbol = symbols[symbolIndex];
      if (symbol === undefined) {
        throw new ParseError(`relocation in ${rel.name}: symbol index ${symbolIndex} out of range (${symbols.length} symbols)`, at + 8);
      }
      const width = relocationWidth(type);
      if (offset + width > target.size) {
        throw new ParseError(
          `relocation in ${rel.name}: offset ${offset} (+${width}) is past the end of ${target.name || `section ${target.index}`} (size ${target.size})`,
          at,
        );
      }
      out.push({ offset, type, symbol, addend: rela ? view.getBigInt64(at + 16, little) : undefined });
    }
    return out;
  }
}

/** Bytes a relocation of this type patches, for bounds checks; unknown types are checked later. */
function relocationWidth(type: number): number {
  switch (type) {
    case RelocationType.R_BPF_64_64:
      return 16; // both slots of an ld_imm64
    case RelocationType.R_BPF_64_ABS64:
    case RelocationType.R_BPF_64_32:
      return 8; // a data word, or the whole call instruction
    case RelocationType.R_BPF_64_ABS32:
    case RelocationType.R_BPF_64_NODYLD32:
      return 4;
    default:
      return 1;
  }
}

/** The name a user would recognise a symbol by: its own, or its section's for section symbols. */
export function symbolName(file: ELFFile, symbol: ELFSymbol): string {
  if (symbol.name !== '') return symbol.name;
  if (symbol.type === SymbolType.Section) return file.sections[symbol.sectionIndex]?.name ?? `section ${symbol.sectionIndex}`;
  return `symbol ${symbol.index}`;
}

function readU64(view: DataView, at: number, little: boolean): number {
  const v = view.getBigUint64(at, little);
  // Offsets and sizes beyond 2^53 cannot be valid in a file that fits in memory; keep them
  // exact enough to fail every bounds check instead of wrapping.
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
}

const decoder = new TextDecoder('utf-8', { fatal: false });

/** A NUL-terminated string at `offset` in a string table section. */
function readString(strtab: ELFSection, offset: number, what: string): string {
  if (offset >= strtab.size && !(offset === 0 && strtab.size === 0)) {
    throw new ParseError(`${what}: string offset ${offset} is past the end of ${strtab.name || 'the string table'} (size ${strtab.size})`, strtab.offset);
  }
  const data = strtab.data;
  let end = offset;
  while (end < data.length && data[end] !== 0) end++;
  if (end === data.length && offset < data.length) {
    throw new ParseError(`${what}: string at offset ${offset} is not NUL-terminated`, strtab.offset + offset);
  }
  return decoder.decode(data.subarray(offset, end));
}

/**
 * Parses the header and section table of a BPF object (ELF64, `ET_REL`, `EM_BPF` or
 * `EM_NONE`), in either byte order. Throws {@link ParseError} for anything that is not such a
 * file or whose tables point outside the input.
 */
export function readELF(bytes: Uint8Array): ELFFile {
  if (bytes.length < 4 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) {
    throw new ParseError('not an ELF file (bad magic)', 0);
  }
  if (bytes.length < headerSize) throw new ParseError(`ELF header truncated: ${bytes.length} of ${headerSize} bytes`, bytes.length);
  if (bytes[4] !== 2) throw new ParseError(`ELF class ${bytes[4]} is not ELFCLASS64 (BPF objects are 64-bit)`, 4);
  if (bytes[5] !== 1 && bytes[5] !== 2) throw new ParseError(`bad ELF data encoding ${bytes[5]}`, 5);
  const little = bytes[5] === 1;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = view.getUint16(16, little);
  const machine = view.getUint16(18, little);
  if (type !== ET_REL) throw new ParseError(`ELF type ${type} is not ET_REL: only relocatable objects (clang -c) hold BPF programs`, 16);
  // libbpf accepts EM_NONE too (objects from old toolchains); anything else is another
  // architecture's object passed by mistake.
  if (machine !== EM_BPF && machine !== 0) throw new ParseError(`ELF machine ${machine} is not EM_BPF (${EM_BPF})`, 18);
  const shoff = readU64(view, 0x28, little);
  const shentsize = view.getUint16(0x3a, little);
  const shnum = view.getUint16(0x3c, little);
  const shstrndx = view.getUint16(0x3e, little);
  if (shoff === 0 || shnum === 0) {
    // shnum 0 with a table means "extended numbering" (>= 0xff00 sections); no BPF compiler
    // writes that many.
    if (shoff !== 0) throw new ParseError('ELF extended section numbering is not supported', 0x3c);
    throw new ParseError('ELF has no section header table', 0x28);
  }
  if (shentsize !== sectionHeaderSize) throw new ParseError(`ELF section header size ${shentsize}, expected ${sectionHeaderSize}`, 0x3a);
  if (shoff + shnum * sectionHeaderSize > bytes.length) {
    throw new ParseError(`ELF section header table [${shoff}, +${shnum * sectionHeaderSize}) is past the end of the file (${bytes.length} bytes)`, 0x28);
  }
  if (shstrndx >= shnum) throw new ParseError(`ELF section name table index ${shstrndx} out of range (${shnum} sections)`, 0x3e);

  // Check what elfy will slice and name before handing it the bytes.
  const raw: { nameOffset: number; type: number; offset: number; size: number; at: number }[] = [];
  for (let i = 0; i < shnum; i++) {
    const at = shoff + i * sectionHeaderSize;
    const s = { nameOffset: view.getUint32(at, little), type: view.getUint32(at + 4, little), offset: readU64(view, at + 0x18, little), size: readU64(view, at + 0x20, little), at };
    if (s.type !== SectionType.NoBits && s.type !== SectionType.Null && s.offset + s.size > bytes.length) {
      throw new ParseError(`ELF section ${i}: contents [${s.offset}, +${s.size}) are past the end of the file (${bytes.length} bytes)`, at + 0x18);
    }
    raw.push(s);
  }
  const names = raw[shstrndx]!;
  if (names.type !== SectionType.StrTab) throw new ParseError(`ELF section name table (section ${shstrndx}) is not a string table`, names.at + 4);
  // elfy reads program headers too; a relocatable object has none, so a non-empty table is
  // only checked for bounds to keep elfy from reading past the end.
  const phoff = readU64(view, 0x20, little);
  const phentsize = view.getUint16(0x36, little);
  const phnum = view.getUint16(0x38, little);
  if (phoff !== 0 && phnum !== 0 && (phentsize < 56 || phoff + phnum * phentsize > bytes.length)) {
    throw new ParseError(`ELF program header table [${phoff}, +${phnum * phentsize}) is malformed or past the end of the file`, 0x20);
  }

  let parsed: ReturnType<typeof elfy.parse>;
  try {
    parsed = elfy.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (e) {
    throw new ParseError(`ELF header or section table unreadable: ${e instanceof Error ? e.message : String(e)}`, 0);
  }
  const typeNumbers = invert(elfy.constants.sectType);
  const flagBits = invert(elfy.constants.sectFlags);
  const nameTable = bytes.subarray(names.offset, names.offset + names.size);
  const sections: ELFSection[] = parsed.body.sections.map((s, index) => {
    const r = raw[index]!;
    if (r.nameOffset !== 0 && r.nameOffset >= nameTable.length) {
      throw new ParseError(`ELF section ${index}: name offset ${r.nameOffset} is past the end of the section name table`, r.at);
    }
    const sectionType = typeof s.type === 'number' ? s.type : (typeNumbers.get(s.type) ?? r.type);
    let flags = 0;
    for (const [name, set] of Object.entries(s.flags)) {
      if (!set) continue;
      const bit = flagBits.get(name) ?? Number(name);
      if (Number.isInteger(bit) && bit > 0) flags |= bit;
    }
    return {
      index,
      name: s.name,
      type: sectionType,
      flags: flags >>> 0,
      offset: r.offset,
      size: r.size,
      link: s.link,
      info: s.info,
      data: sectionType === SectionType.NoBits || sectionType === SectionType.Null ? new Uint8Array(0) : bytes.subarray(r.offset, r.offset + r.size),
    };
  });
  return new ELFFile(bytes, little ? 'little' : 'big', sections);
}

// elfy maps numbers to names (several names can share a number, e.g. 0 is both "undef" and
// "null"); we want the numbers back.
function invert(table: Record<number, string>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of Object.entries(table)) if (!out.has(v)) out.set(v, Number(k));
  return out;
}
