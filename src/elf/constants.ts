/**
 * Numbers from the ELF specification (System V gABI) and the BPF psABI that the reader needs:
 * section types, symbol types and bindings, special section indexes and the BPF relocation
 * types (llvm/BinaryFormat/ELFRelocs/BPF.def, Documentation/bpf/llvm_reloc.rst).
 *
 * @module
 */

/** `EM_BPF`: the machine number of BPF objects (`e_machine`). */
export const EM_BPF = 247;
/** `ET_REL`: a relocatable object, what `clang -c` writes. */
export const ET_REL = 1;

/** Section types (`sh_type`) the reader cares about. */
export const SectionType = {
  /** `SHT_NULL` */
  Null: 0,
  /** `SHT_PROGBITS`: code and initialised data. */
  ProgBits: 1,
  /** `SHT_SYMTAB` */
  SymTab: 2,
  /** `SHT_STRTAB` */
  StrTab: 3,
  /** `SHT_RELA`: relocations with explicit addends. */
  Rela: 4,
  /** `SHT_NOBITS`: occupies no file bytes (`.bss`). */
  NoBits: 8,
  /** `SHT_REL`: relocations whose addend is in the relocated field (what clang emits for BPF). */
  Rel: 9,
} as const;

/** Section flags (`sh_flags`). */
export const SectionFlag = {
  /** `SHF_WRITE` */
  Write: 0x1,
  /** `SHF_ALLOC` */
  Alloc: 0x2,
  /** `SHF_EXECINSTR`: the section holds instructions. */
  ExecInstr: 0x4,
  /** `SHF_MERGE` */
  Merge: 0x10,
  /** `SHF_STRINGS` */
  Strings: 0x20,
} as const;

/** Symbol types (`ELF64_ST_TYPE(st_info)`). */
export const SymbolType = {
  /** `STT_NOTYPE`: labels and undefined externs. */
  NoType: 0,
  /** `STT_OBJECT`: a variable or map definition. */
  Object: 1,
  /** `STT_FUNC`: a function (program or subprogram). */
  Func: 2,
  /** `STT_SECTION`: stands for its section; relocations against it carry the offset. */
  Section: 3,
  /** `STT_FILE` */
  File: 4,
} as const;

/** Symbol bindings (`ELF64_ST_BIND(st_info)`). */
export const SymbolBind = {
  /** `STB_LOCAL`: file-local (C `static`). */
  Local: 0,
  /** `STB_GLOBAL` */
  Global: 1,
  /** `STB_WEAK`: may stay unresolved (`__weak` externs). */
  Weak: 2,
} as const;

/** Symbol visibility (`ELF64_ST_VISIBILITY(st_other)`). */
export const SymbolVisibility = {
  /** `STV_DEFAULT` */
  Default: 0,
  /** `STV_INTERNAL` */
  Internal: 1,
  /** `STV_HIDDEN`: `__hidden` functions, verified as global functions by libbpf's rules. */
  Hidden: 2,
  /** `STV_PROTECTED` */
  Protected: 3,
} as const;

/** `SHN_UNDEF`: the symbol is not defined in this object (an extern). */
export const SHN_UNDEF = 0;
/** `SHN_LORESERVE`: section indexes from here up are special, not real sections. */
export const SHN_LORESERVE = 0xff00;
/** `SHN_ABS`: an absolute value, in no section. */
export const SHN_ABS = 0xfff1;
/** `SHN_COMMON`: an uninitialised common symbol (clang never emits these for BPF). */
export const SHN_COMMON = 0xfff2;
/** `SHN_XINDEX`: the real index is in `.symtab_shndx`. */
export const SHN_XINDEX = 0xffff;

/**
 * BPF relocation types (Documentation/bpf/llvm_reloc.rst). Which one appears where:
 * `64_64` on `ld_imm64` (map, global data, function pointer), `64_32` on `call` (BPF-to-BPF,
 * kfunc), `64_ABS64` in data (`.maps` slots of prog arrays and map-in-map), `64_ABS32` and
 * `64_NODYLD32` in DWARF and `.BTF`/`.BTF.ext`.
 */
export enum RelocationType {
  /** `R_BPF_NONE` */
  None = 0,
  /** `R_BPF_64_64`: the 64-bit immediate of an `ld_imm64`. */
  R_BPF_64_64 = 1,
  /** `R_BPF_64_ABS64`: a 64-bit data word. */
  R_BPF_64_ABS64 = 2,
  /** `R_BPF_64_ABS32`: a 32-bit data word. */
  R_BPF_64_ABS32 = 3,
  /** `R_BPF_64_NODYLD32`: a 32-bit data word that runtime dynamic linkers ignore (.BTF.ext). */
  R_BPF_64_NODYLD32 = 4,
  /** `R_BPF_64_32`: the 32-bit immediate of a `call` (in instruction units, pc-relative). */
  R_BPF_64_32 = 10,
}
