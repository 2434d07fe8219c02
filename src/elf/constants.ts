/**
 * The ELF numbers the BPF object reader needs, under the names this package exports them by
 * (section types, symbol types and bindings, special section indexes; the values come from
 * internal/elf-constants.ts), and the BPF relocation types of the BPF psABI
 * (llvm/BinaryFormat/ELFRelocs/BPF.def, Documentation/bpf/llvm_reloc.rst).
 *
 * @module
 */
import {
  EM_BPF,
  ET_REL,
  SHF_ALLOC,
  SHF_EXECINSTR,
  SHF_MERGE,
  SHF_STRINGS,
  SHF_WRITE,
  SHN_ABS,
  SHN_COMMON,
  SHN_LORESERVE,
  SHN_UNDEF,
  SHN_XINDEX,
  SHT_NOBITS,
  SHT_NULL,
  SHT_PROGBITS,
  SHT_REL,
  SHT_RELA,
  SHT_STRTAB,
  SHT_SYMTAB,
  STB_GLOBAL,
  STB_LOCAL,
  STB_WEAK,
  STT_FILE,
  STT_FUNC,
  STT_NOTYPE,
  STT_OBJECT,
  STT_SECTION,
  STV_DEFAULT,
  STV_HIDDEN,
  STV_INTERNAL,
  STV_PROTECTED,
} from '../internal/elf-constants.js';

// The numbers themselves live in internal/elf-constants.ts (one copy for every ELF reader);
// these are the names this package has always exported for them.
export { EM_BPF, ET_REL, SHN_ABS, SHN_COMMON, SHN_LORESERVE, SHN_UNDEF, SHN_XINDEX };

/** Section types (`sh_type`) the reader cares about. */
export const SectionType = {
  /** `SHT_NULL` */
  Null: SHT_NULL,
  /** `SHT_PROGBITS`: code and initialised data. */
  ProgBits: SHT_PROGBITS,
  /** `SHT_SYMTAB` */
  SymTab: SHT_SYMTAB,
  /** `SHT_STRTAB` */
  StrTab: SHT_STRTAB,
  /** `SHT_RELA`: relocations with explicit addends. */
  Rela: SHT_RELA,
  /** `SHT_NOBITS`: occupies no file bytes (`.bss`). */
  NoBits: SHT_NOBITS,
  /** `SHT_REL`: relocations whose addend is in the relocated field (what clang emits for BPF). */
  Rel: SHT_REL,
} as const;

/** Section flags (`sh_flags`). */
export const SectionFlag = {
  /** `SHF_WRITE` */
  Write: SHF_WRITE,
  /** `SHF_ALLOC` */
  Alloc: SHF_ALLOC,
  /** `SHF_EXECINSTR`: the section holds instructions. */
  ExecInstr: SHF_EXECINSTR,
  /** `SHF_MERGE` */
  Merge: SHF_MERGE,
  /** `SHF_STRINGS` */
  Strings: SHF_STRINGS,
} as const;

/** Symbol types (`ELF64_ST_TYPE(st_info)`). */
export const SymbolType = {
  /** `STT_NOTYPE`: labels and undefined externs. */
  NoType: STT_NOTYPE,
  /** `STT_OBJECT`: a variable or map definition. */
  Object: STT_OBJECT,
  /** `STT_FUNC`: a function (program or subprogram). */
  Func: STT_FUNC,
  /** `STT_SECTION`: stands for its section; relocations against it carry the offset. */
  Section: STT_SECTION,
  /** `STT_FILE` */
  File: STT_FILE,
} as const;

/** Symbol bindings (`ELF64_ST_BIND(st_info)`). */
export const SymbolBind = {
  /** `STB_LOCAL`: file-local (C `static`). */
  Local: STB_LOCAL,
  /** `STB_GLOBAL` */
  Global: STB_GLOBAL,
  /** `STB_WEAK`: may stay unresolved (`__weak` externs). */
  Weak: STB_WEAK,
} as const;

/** Symbol visibility (`ELF64_ST_VISIBILITY(st_other)`). */
export const SymbolVisibility = {
  /** `STV_DEFAULT` */
  Default: STV_DEFAULT,
  /** `STV_INTERNAL` */
  Internal: STV_INTERNAL,
  /** `STV_HIDDEN`: `__hidden` functions, verified as global functions by libbpf's rules. */
  Hidden: STV_HIDDEN,
  /** `STV_PROTECTED` */
  Protected: STV_PROTECTED,
} as const;

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
