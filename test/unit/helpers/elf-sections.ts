// A deliberately tiny ELF64 reader for asm tests: section headers, section names and the
// symbol table, in either byte order. The real ELF package (src/elf) is a separate piece of
// work; this exists so the asm tests do not depend on it, and it trusts its input (testdata
// only). Layouts: System V gABI, "ELF Header", "Sections", "Symbol Table".
import { readFileSync } from 'node:fs';

export interface Section {
  index: number;
  name: string;
  type: number;
  flags: bigint;
  offset: number;
  size: number;
  data: Uint8Array;
}

export interface ElfSymbol {
  name: string;
  value: number;
  size: number;
  type: number; // STT_*
  bind: number; // STB_*
  sectionIndex: number;
}

export interface ElfFile {
  byteOrder: 'little' | 'big';
  sections: Section[];
  symbols: ElfSymbol[];
}

export const SHT_SYMTAB = 2;
export const SHF_EXECINSTR = 0x4n;
export const STT_NOTYPE = 0;
export const STT_FUNC = 2;

function cString(bytes: Uint8Array, start: number): string {
  let end = start;
  while (end < bytes.length && bytes[end] !== 0) end++;
  return new TextDecoder().decode(bytes.subarray(start, end));
}

export function readElf(path: string): ElfFile {
  const bytes = new Uint8Array(readFileSync(path));
  if (bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[4] !== 2) throw new Error(`${path}: not an ELF64 file`);
  const little = bytes[5] === 1;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shoff = Number(view.getBigUint64(0x28, little));
  const shentsize = view.getUint16(0x3a, little);
  const shnum = view.getUint16(0x3c, little);
  const shstrndx = view.getUint16(0x3e, little);
  const raw = Array.from({ length: shnum }, (_, i) => {
    const at = shoff + i * shentsize;
    return {
      nameOffset: view.getUint32(at, little),
      type: view.getUint32(at + 4, little),
      flags: view.getBigUint64(at + 8, little),
      offset: Number(view.getBigUint64(at + 0x18, little)),
      size: Number(view.getBigUint64(at + 0x20, little)),
      link: view.getUint32(at + 0x28, little),
    };
  });
  const shstr = raw[shstrndx]!;
  const names = bytes.subarray(shstr.offset, shstr.offset + shstr.size);
  const sections: Section[] = raw.map((s, index) => ({
    index,
    name: cString(names, s.nameOffset),
    type: s.type,
    flags: s.flags,
    offset: s.offset,
    size: s.size,
    data: s.type === 8 /* SHT_NOBITS */ ? new Uint8Array(0) : bytes.subarray(s.offset, s.offset + s.size),
  }));
  const symbols: ElfSymbol[] = [];
  const symtabIndex = raw.findIndex((s) => s.type === SHT_SYMTAB);
  if (symtabIndex >= 0) {
    const symtab = raw[symtabIndex]!;
    const strtab = sections[symtab.link]!.data;
    for (let at = symtab.offset; at + 24 <= symtab.offset + symtab.size; at += 24) {
      const info = view.getUint8(at + 4);
      symbols.push({
        name: cString(strtab, view.getUint32(at, little)),
        type: info & 0xf,
        bind: info >> 4,
        sectionIndex: view.getUint16(at + 6, little),
        value: Number(view.getBigUint64(at + 8, little)),
        size: Number(view.getBigUint64(at + 16, little)),
      });
    }
  }
  return { byteOrder: little ? 'little' : 'big', sections, symbols };
}

/** Sections holding code (SHF_EXECINSTR) with at least one instruction: what `objdump -d` shows. */
export function programSections(elf: ElfFile): Section[] {
  return elf.sections.filter((s) => (s.flags & SHF_EXECINSTR) !== 0n && s.size > 0);
}

/** Function and label symbols of a section, as llvm-objdump uses them for headers and targets. */
export function codeSymbols(elf: ElfFile, section: Section): ElfSymbol[] {
  return elf.symbols.filter(
    (s) => s.sectionIndex === section.index && (s.type === STT_FUNC || s.type === STT_NOTYPE) && s.name !== '',
  );
}
