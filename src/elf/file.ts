/**
 * A BPF object as BPF compilers write it (ELF64 `ET_REL`, either byte order): its section
 * table with names and contents, and, lazily, its symbol table and relocations. The header,
 * section headers, string and symbol tables come from the ELF reader core
 * (internal/elf-reader.ts); what makes a file a BPF object, and relocations, are checked here.
 *
 * Every malformed input ends in a {@link ParseError} naming what is wrong and the file
 * offset where it was found; nothing reads outside the input.
 *
 * @module
 */
import type { ByteOrder } from '../asm/encoding.js';
import { ParseError } from '../errors.js';
import { EM_NONE } from '../internal/elf-constants.js';
import {
  readHeader,
  readProgramHeaders,
  readSectionHeaders,
  readSectionNames,
  readSymbolTable,
  sectionContents,
  type ELFHeader,
  type SectionHeader,
} from '../internal/elf-reader.js';
import { memorySource, type ELFSource } from '../internal/elf-source.js';
import { EM_BPF, ET_REL, RelocationType, SectionType, SHN_LORESERVE, SHN_UNDEF, SymbolType } from './constants.js';
import { dataView } from '../internal/bytes.js';

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
  /** `sh_addralign` (0 or 1: no alignment). */
  readonly align: number;
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

/** A parsed BPF object file. Create one with {@link readELF}. */
export class ELFFile {
  /** The object's byte order (`bpfel` → little, `bpfeb` → big). */
  readonly byteOrder: ByteOrder;
  /** All sections, indexed by section number (index 0 is the null section). */
  readonly sections: readonly ELFSection[];
  /** The input bytes. */
  readonly bytes: Uint8Array;
  #view: DataView;
  #source: ELFSource;
  #tables: { header: ELFHeader; sections: readonly SectionHeader[] } | undefined;
  #symbols: ELFSymbol[] | undefined;
  #relocations = new Map<number, ELFRelocation[]>();
  #relocationSections: Map<number, ELFSection[]> | undefined;

  /** @internal Use {@link readELF}. */
  constructor(bytes: Uint8Array, byteOrder: ByteOrder, sections: ELFSection[], tables?: { header: ELFHeader; sections: readonly SectionHeader[] }) {
    this.bytes = bytes;
    this.byteOrder = byteOrder;
    this.sections = sections;
    this.#view = dataView(bytes);
    this.#source = memorySource(bytes);
    this.#tables = tables;
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
    const tables = (this.#tables ??= this.#readTables());
    const table = readSymbolTable(this.#source, tables.header, tables.sections, tables.sections[symtab.index]!, `symbol table ${symtab.name}`);
    const out: ELFSymbol[] = [];
    for (let i = 0; i < table.count; i++) {
      const name = table.name(i, `name of symbol ${i}`);
      const sectionIndex = table.sectionIndex(i);
      if (sectionIndex !== SHN_UNDEF && sectionIndex < SHN_LORESERVE && sectionIndex >= this.sections.length) {
        throw new ParseError(`symbol ${i} (${name || 'unnamed'}) refers to section ${sectionIndex}, but there are only ${this.sections.length}`, table.offsetOf(i) + 6);
      }
      out.push({
        index: i,
        name,
        type: table.type(i),
        bind: table.bind(i),
        visibility: table.visibility(i),
        sectionIndex,
        value: safeNumber(table.value(i)),
        size: safeNumber(table.size(i)),
      });
    }
    return out;
  }

  #readTables(): { header: ELFHeader; sections: readonly SectionHeader[] } {
    const header = readHeader(this.#source);
    return { header, sections: readSectionHeaders(this.#source, header) };
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
      const offset = safeNumber(view.getBigUint64(at, little));
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

/**
 * Offsets and sizes beyond 2^53 cannot be valid in a file that fits in memory; keep them
 * large enough to fail every bounds check instead of wrapping.
 */
function safeNumber(v: bigint): number {
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
}

/**
 * Parses the header and section table of a BPF object (ELF64, `ET_REL`, `EM_BPF` or
 * `EM_NONE`), in either byte order. Throws {@link ParseError} for anything that is not such a
 * file or whose tables point outside the input.
 */
export function readELF(bytes: Uint8Array): ELFFile {
  const source = memorySource(bytes);
  const header = readHeader(source);
  if (!header.is64) throw new ParseError('ELF class 1 is not ELFCLASS64 (BPF objects are 64-bit)', 4);
  if (header.e_type !== ET_REL) throw new ParseError(`ELF type ${header.e_type} is not ET_REL: only relocatable objects (clang -c) hold BPF programs`, 16);
  // libbpf accepts EM_NONE too (objects from old toolchains); anything else is another
  // architecture's object passed by mistake.
  if (header.e_machine !== EM_BPF && header.e_machine !== EM_NONE) throw new ParseError(`ELF machine ${header.e_machine} is not EM_BPF (${EM_BPF})`, 18);
  const L = header.layout;
  if (header.e_shoff === 0) throw new ParseError('ELF has no section header table', L.e_shoff);
  // No BPF compiler writes 0xff00 sections or more; a 0 count is more likely corruption.
  if (header.e_shnum === 0) throw new ParseError('ELF extended section numbering is not supported', L.e_shnum);
  // A relocatable object has no program headers; a table that claims to be there must at
  // least lie inside the file.
  readProgramHeaders(source, header);
  const headers = readSectionHeaders(source, header);
  const names = readSectionNames(source, header, headers);
  const sections = headers.map(
    (h): ELFSection => ({
      index: h.index,
      name: names.at(h.sh_name, `ELF section ${h.index}`),
      type: h.sh_type,
      flags: h.sh_flags,
      offset: h.sh_offset,
      size: h.sh_size,
      link: h.sh_link,
      info: h.sh_info,
      align: h.sh_addralign,
      data: sectionContents(source, header, h, `ELF section ${h.index}: contents`),
    }),
  );
  return new ELFFile(bytes, header.byteOrder, sections, { header, sections: headers });
}
