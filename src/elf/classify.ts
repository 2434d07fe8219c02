/**
 * What each section of a BPF object is for, decided from its name, type and flags the way
 * libbpf's `bpf_object__elf_collect` does: code (programs and `.text` subprograms), the
 * license and version, map definitions (BTF `.maps`, legacy `maps`), global data
 * (`.rodata*`, `.data*`, `.bss*`), BTF, struct_ops, and the bookkeeping sections.
 *
 * @module
 */
import { SectionFlag, SectionType } from './constants.js';
import type { ELFSection } from './file.js';

/**
 * The role of a section. `kconfig` and `ksyms` never occur as ELF sections (externs are
 * undefined symbols); they are the names of the BTF DATASECs that describe them, listed here
 * so every kind of data a loader handles has one name.
 */
export type SectionKind =
  | 'program'
  | 'text'
  | 'license'
  | 'version'
  | 'maps'
  | 'btf-maps'
  | 'rodata'
  | 'data'
  | 'bss'
  | 'arena'
  | 'kconfig'
  | 'ksyms'
  | 'btf'
  | 'btf-ext'
  | 'struct-ops'
  | 'symtab'
  | 'strtab'
  | 'relocations'
  | 'debug'
  | 'other';

/** The section clang puts `__attribute__((address_space(1)))` globals in. */
export const arenaSectionName = '.addr_space.1';

/** Section name prefixes of global data, each with the kind it maps to. */
const dataPrefixes: readonly (readonly [string, SectionKind])[] = [
  ['.rodata', 'rodata'],
  ['.data', 'data'],
  ['.bss', 'bss'],
];

function hasPrefix(name: string, base: string): boolean {
  // ".data" and ".data.anything", never ".database": libbpf's DATA_SEC "." convention.
  return name === base || name.startsWith(`${base}.`);
}

/** Classifies one section. */
export function classifySection(section: ELFSection): SectionKind {
  const { name, type, flags } = section;
  switch (type) {
    case SectionType.SymTab:
      return 'symtab';
    case SectionType.StrTab:
      return 'strtab';
    case SectionType.Rel:
    case SectionType.Rela:
      return 'relocations';
    case SectionType.Null:
      return 'other';
  }
  if (name === 'license') return 'license';
  if (name === 'version') return 'version';
  if (name === 'maps') return 'maps';
  if (name === '.maps') return 'btf-maps';
  if (name === '.BTF') return 'btf';
  if (name === '.BTF.ext') return 'btf-ext';
  if (name === '.struct_ops' || name === '.struct_ops.link') return 'struct-ops';
  if (type === SectionType.ProgBits && (flags & SectionFlag.ExecInstr) !== 0) return name === '.text' ? 'text' : 'program';
  if (name.startsWith('.debug_')) return 'debug';
  // `__arena` globals (clang's address_space(1)): copied into the object's ARENA map (arena.ts).
  if (name === arenaSectionName && type === SectionType.ProgBits) return 'arena';
  if (type === SectionType.ProgBits || type === SectionType.NoBits) {
    for (const [base, kind] of dataPrefixes) if (hasPrefix(name, base)) return type === SectionType.NoBits ? 'bss' : kind;
  }
  return 'other';
}

/** True for kinds whose contents become an array map (global data). */
export function isDataKind(kind: SectionKind): kind is 'rodata' | 'data' | 'bss' {
  return kind === 'rodata' || kind === 'data' || kind === 'bss';
}
