/**
 * The ELF numbers every reader in this package uses, under their names in the System V gABI
 * ("ELF Header", "Sections", "Symbol Table", "Program Header") and, for symbol versions, the
 * GNU extensions (glibc's <elf.h>). One copy: src/elf, BTF extraction and uprobe targets
 * import them from here.
 *
 * @module
 */

/** `EI_NIDENT`: size of `e_ident`. */
export const EI_NIDENT = 16;
/** `EI_CLASS`: index of the file class in `e_ident`. */
export const EI_CLASS = 4;
/** `EI_DATA`: index of the data encoding in `e_ident`. */
export const EI_DATA = 5;
/** `ELFCLASS32`: 32-bit objects. */
export const ELFCLASS32 = 1;
/** `ELFCLASS64`: 64-bit objects. */
export const ELFCLASS64 = 2;
/** `ELFDATA2LSB`: little-endian. */
export const ELFDATA2LSB = 1;
/** `ELFDATA2MSB`: big-endian. */
export const ELFDATA2MSB = 2;

/** `ET_REL`: a relocatable object, what `clang -c` writes. */
export const ET_REL = 1;
/** `ET_EXEC`: an executable at a fixed address. */
export const ET_EXEC = 2;
/** `ET_DYN`: a shared object or a position-independent executable. */
export const ET_DYN = 3;

/** `EM_NONE`: no machine (some old BPF toolchains wrote it). */
export const EM_NONE = 0;
/** `EM_BPF`: the machine number of BPF objects. */
export const EM_BPF = 247;
/** `EM_X86_64`: AMD x86-64. */
export const EM_X86_64 = 62;
/** `EM_AARCH64`: ARM 64-bit. */
export const EM_AARCH64 = 183;

/** `PT_LOAD`: a segment the loader maps. */
export const PT_LOAD = 1;

/** `SHT_NULL`: an unused section header (index 0). */
export const SHT_NULL = 0;
/** `SHT_PROGBITS`: code and initialised data. */
export const SHT_PROGBITS = 1;
/** `SHT_SYMTAB`: the full symbol table. */
export const SHT_SYMTAB = 2;
/** `SHT_STRTAB`: a string table. */
export const SHT_STRTAB = 3;
/** `SHT_RELA`: relocations with explicit addends. */
export const SHT_RELA = 4;
/** `SHT_NOTE`: notes (`.note.stapsdt`, `.note.gnu.build-id`). */
export const SHT_NOTE = 7;
/** `SHT_NOBITS`: occupies no file bytes (`.bss`). */
export const SHT_NOBITS = 8;
/** `SHT_REL`: relocations whose addend is in the relocated field. */
export const SHT_REL = 9;
/** `SHT_DYNSYM`: the dynamic linker's symbol table (what a stripped binary keeps). */
export const SHT_DYNSYM = 11;
/** `SHT_GNU_verdef`: `.gnu.version_d`, the versions a shared object defines. */
export const SHT_GNU_verdef = 0x6ffffffd;
/** `SHT_GNU_versym`: `.gnu.version`, one version index per `.dynsym` entry. */
export const SHT_GNU_versym = 0x6fffffff;

/** `SHF_WRITE` */
export const SHF_WRITE = 0x1;
/** `SHF_ALLOC` */
export const SHF_ALLOC = 0x2;
/** `SHF_EXECINSTR`: the section holds instructions. */
export const SHF_EXECINSTR = 0x4;
/** `SHF_MERGE` */
export const SHF_MERGE = 0x10;
/** `SHF_STRINGS` */
export const SHF_STRINGS = 0x20;

/** `STT_NOTYPE`: labels and undefined externs. */
export const STT_NOTYPE = 0;
/** `STT_OBJECT`: a variable (or a BPF map definition). */
export const STT_OBJECT = 1;
/** `STT_FUNC`: a function. */
export const STT_FUNC = 2;
/** `STT_SECTION`: stands for its section; relocations against it carry the offset. */
export const STT_SECTION = 3;
/** `STT_FILE`: the source file's name. */
export const STT_FILE = 4;
/** `STT_GNU_IFUNC`: a GNU indirect function (the symbol is its resolver). */
export const STT_GNU_IFUNC = 10;

/** `STB_LOCAL`: file-local (C `static`). */
export const STB_LOCAL = 0;
/** `STB_GLOBAL` */
export const STB_GLOBAL = 1;
/** `STB_WEAK`: may stay unresolved, yields to a global of the same name. */
export const STB_WEAK = 2;

/** `STV_DEFAULT` */
export const STV_DEFAULT = 0;
/** `STV_INTERNAL` */
export const STV_INTERNAL = 1;
/** `STV_HIDDEN`: not visible outside the object (`__hidden`). */
export const STV_HIDDEN = 2;
/** `STV_PROTECTED` */
export const STV_PROTECTED = 3;

/** `SHN_UNDEF`: the symbol is not defined in this object. */
export const SHN_UNDEF = 0;
/** `SHN_LORESERVE`: section indexes from here up are special, not real sections. */
export const SHN_LORESERVE = 0xff00;
/** `SHN_ABS`: an absolute value, in no section. */
export const SHN_ABS = 0xfff1;
/** `SHN_COMMON`: an uninitialised common symbol. */
export const SHN_COMMON = 0xfff2;
/** `SHN_XINDEX`: the real index is elsewhere (`.symtab_shndx`, or section 0 for `e_shstrndx`). */
export const SHN_XINDEX = 0xffff;

/** `VERSYM_HIDDEN`: a `.gnu.version` entry for a non-default version (`name@VER`, not `name@@VER`). */
export const VERSYM_HIDDEN = 0x8000;
