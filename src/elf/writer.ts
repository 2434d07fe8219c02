/**
 * Writing a BPF object: an ELF64 relocatable file (`ET_REL`, `EM_BPF`) in either byte order,
 * laid out as clang lays one out — the header, each section's bytes at its alignment, the
 * section header table last — with one string table for section and symbol names, the symbol
 * table locals first (`sh_info` is the first global), and one `SHT_REL` section per section
 * that has relocations, named `.rel` + its name. The linker (linker.ts) writes its output
 * with it; the ELF reader reads it back like any clang object.
 *
 * @module
 */
import type { ByteOrder } from '../asm/encoding.js';
import { ArgumentError } from '../errors.js';
import { StringTableBuilder } from '../btf/strings.js';
import { dataView } from '../internal/bytes.js';
import { ELF64 } from '../internal/elf-reader.js';
import { EM_BPF, ET_REL, SectionType, SHN_LORESERVE } from './constants.js';

/** A section to write; its index in the output is its position in the list plus one. */
export interface OutputSection {
  /** The name (`socket`, `.rodata`, `.BTF`). */
  readonly name: string;
  /** `sh_type`: `SHT_PROGBITS`, or `SHT_NOBITS` for `.bss` (then only `size` counts). */
  readonly type: number;
  /** `sh_flags` (`SHF_ALLOC`, `SHF_WRITE`, `SHF_EXECINSTR`). */
  readonly flags: number;
  /** The contents (empty for `SHT_NOBITS`). */
  readonly data: Uint8Array;
  /** Size in memory; for `SHT_NOBITS`, the only size. Default: the data's length. */
  readonly size?: number;
  /** `sh_addralign` (a power of two; 0 or 1 for none). */
  readonly align: number;
}

/** A symbol to write. */
export interface OutputSymbol {
  /** The name (`""` for section symbols). */
  readonly name: string;
  /** `st_value`: the offset in its section. */
  readonly value: number;
  /** `st_size`. */
  readonly size: number;
  /** `STT_*`. */
  readonly type: number;
  /** `STB_*`; locals must come before every other binding. */
  readonly bind: number;
  /** `STV_*`. */
  readonly visibility: number;
  /** The output section index (list position + 1), `SHN_UNDEF` or `SHN_ABS`. */
  readonly section: number;
}

/** A relocation to write (`Elf64_Rel`: the addend is in the patched bytes). */
export interface OutputRelocation {
  /** Byte offset in the target section. */
  readonly offset: number;
  /** `R_BPF_*`. */
  readonly type: number;
  /** Index in the output symbol table (the null symbol is 0, the first given symbol 1). */
  readonly symbol: number;
}

/** Everything {@link writeELF} writes. */
export interface OutputObject {
  /** Byte order of every field. */
  readonly byteOrder: ByteOrder;
  /** The sections, in order. */
  readonly sections: readonly OutputSection[];
  /** The symbols after the null one, locals first. */
  readonly symbols: readonly OutputSymbol[];
  /** Relocations by target section index (list position + 1). */
  readonly relocations: ReadonlyMap<number, readonly OutputRelocation[]>;
}

const { ehdrSize: headerSize, shdrSize: sectionHeaderSize, symSize: symbolSize } = ELF64;
const relSize = 16;
/** `SHF_INFO_LINK`: `sh_info` holds a section index (the target of a relocation section). */
const SHF_INFO_LINK = 0x40;

/**
 * `n` rounded up to a multiple of `align` (0 or 1: no alignment).
 *
 * @example
 * ```ts
 * alignUp(13, 8); // 16
 * ```
 */
export const alignUp = (n: number, align: number): number => (align > 1 ? Math.ceil(n / align) * align : n);

/**
 * Encodes a relocatable BPF object.
 *
 * @example
 * ```ts
 * const bytes = writeELF({
 *   byteOrder: 'little',
 *   sections: [{ name: 'socket', type: SectionType.ProgBits, flags: 6, data: code, align: 8 }],
 *   symbols: [{ name: 'prog', value: 0, size: code.length, type: SymbolType.Func, bind: SymbolBind.Global, visibility: 0, section: 1 }],
 *   relocations: new Map(),
 * });
 * ```
 *
 * @throws {@link ArgumentError} for a local symbol after a global one, a symbol or relocation
 * that names a section or symbol not in the output, or a relocation outside its section.
 */
export function writeELF(object: OutputObject): Uint8Array {
  const little = object.byteOrder === 'little';
  const user = object.sections;
  const strings = new StringTableBuilder();
  const symtabIndex = user.length + 1 + [...object.relocations.values()].filter((r) => r.length > 0).length;
  const strtabIndex = symtabIndex + 1;

  // The symbol table: null, then the given ones (locals first).
  let firstGlobal = object.symbols.length + 1;
  object.symbols.forEach((s, i) => {
    if (s.bind !== 0 && firstGlobal > object.symbols.length) firstGlobal = i + 1;
    if (s.bind === 0 && firstGlobal <= object.symbols.length) throw new ArgumentError(`symbol ${s.name || i + 1}: a local symbol after the globals`);
    if (s.section !== 0 && s.section < SHN_LORESERVE && s.section > user.length) throw new ArgumentError(`symbol ${s.name}: section ${s.section} is not in the output`);
  });
  const symtab = new Uint8Array((object.symbols.length + 1) * symbolSize);
  const sv = dataView(symtab);
  object.symbols.forEach((s, i) => {
    const at = (i + 1) * symbolSize;
    sv.setUint32(at, strings.add(s.name), little);
    symtab[at + ELF64.st_info] = (s.bind << 4) | (s.type & 0xf);
    symtab[at + ELF64.st_other] = s.visibility & 0x3;
    sv.setUint16(at + ELF64.st_shndx, s.section, little);
    sv.setBigUint64(at + ELF64.st_value, BigInt(s.value), little);
    sv.setBigUint64(at + ELF64.st_size, BigInt(s.size), little);
  });

  // Relocation sections, in the order of their targets.
  const rels: { name: string; target: number; data: Uint8Array }[] = [];
  for (const target of [...object.relocations.keys()].sort((a, b) => a - b)) {
    const list = object.relocations.get(target)!;
    if (list.length === 0) continue;
    const section = user[target - 1];
    if (section === undefined) throw new ArgumentError(`relocations for section ${target}, which is not in the output`);
    const data = new Uint8Array(list.length * relSize);
    const rv = dataView(data);
    const size = section.size ?? section.data.length;
    list.forEach((r, i) => {
      if (r.offset < 0 || r.offset >= size) throw new ArgumentError(`relocation at ${r.offset} is outside section ${section.name} (${size} bytes)`);
      if (r.symbol <= 0 || r.symbol > object.symbols.length) throw new ArgumentError(`relocation at ${r.offset} of ${section.name}: symbol ${r.symbol} is not in the output`);
      rv.setBigUint64(i * relSize, BigInt(r.offset), little);
      // r_info = sym << 32 | type, as one 64-bit word in the file's byte order.
      rv.setBigUint64(i * relSize + 8, (BigInt(r.symbol) << 32n) | BigInt(r.type), little);
    });
    rels.push({ name: `.rel${section.name}`, target, data });
  }

  // Names last: every name must be in the table before it is written.
  const names = [...user.map((s) => strings.add(s.name)), ...rels.map((r) => strings.add(r.name)), strings.add('.symtab'), strings.add('.strtab')];
  const strtab = strings.build();

  interface Placed {
    name: number;
    type: number;
    flags: number;
    offset: number;
    size: number;
    link: number;
    info: number;
    align: number;
    entsize: number;
    data: Uint8Array | undefined;
  }
  const placed: Placed[] = [];
  let at = headerSize;
  const place = (p: Omit<Placed, 'offset'>): void => {
    at = alignUp(at, p.align);
    placed.push({ ...p, offset: at });
    if (p.data !== undefined) at += p.data.length;
  };
  user.forEach((s, i) => {
    const nobits = s.type === SectionType.NoBits;
    place({ name: names[i]!, type: s.type, flags: s.flags, size: s.size ?? s.data.length, link: 0, info: 0, align: Math.max(1, s.align), entsize: 0, data: nobits ? undefined : s.data });
  });
  rels.forEach((r, i) => {
    place({ name: names[user.length + i]!, type: SectionType.Rel, flags: SHF_INFO_LINK, size: r.data.length, link: symtabIndex, info: r.target, align: 8, entsize: relSize, data: r.data });
  });
  place({ name: names[user.length + rels.length]!, type: SectionType.SymTab, flags: 0, size: symtab.length, link: strtabIndex, info: firstGlobal, align: 8, entsize: symbolSize, data: symtab });
  place({ name: names[user.length + rels.length + 1]!, type: SectionType.StrTab, flags: 0, size: strtab.length, link: 0, info: 0, align: 1, entsize: 0, data: strtab });

  const shoff = alignUp(at, 8);
  const out = new Uint8Array(shoff + (placed.length + 1) * sectionHeaderSize);
  const v = dataView(out);
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, little ? 1 : 2, 1, 0]); // ELFCLASS64, EV_CURRENT, ELFOSABI_NONE
  v.setUint16(16, ET_REL, little);
  v.setUint16(18, EM_BPF, little);
  v.setUint32(20, 1, little); // e_version
  v.setBigUint64(ELF64.e_shoff, BigInt(shoff), little);
  v.setUint16(ELF64.e_ehsize, headerSize, little);
  v.setUint16(ELF64.e_shentsize, sectionHeaderSize, little);
  v.setUint16(ELF64.e_shnum, placed.length + 1, little);
  v.setUint16(ELF64.e_shstrndx, strtabIndex, little); // e_shstrndx: section names share .strtab, as clang writes
  placed.forEach((p, i) => {
    if (p.data !== undefined) out.set(p.data, p.offset);
    const h = shoff + (i + 1) * sectionHeaderSize;
    v.setUint32(h, p.name, little);
    v.setUint32(h + 4, p.type, little);
    v.setBigUint64(h + ELF64.sh_flags, BigInt(p.flags), little);
    v.setBigUint64(h + ELF64.sh_offset, BigInt(p.offset), little);
    v.setBigUint64(h + ELF64.sh_size, BigInt(p.size), little);
    v.setUint32(h + ELF64.sh_link, p.link, little);
    v.setUint32(h + ELF64.sh_info, p.info, little);
    v.setBigUint64(h + ELF64.sh_addralign, BigInt(p.align), little);
    v.setBigUint64(h + ELF64.sh_entsize, BigInt(p.entsize), little);
  });
  return out;
}
