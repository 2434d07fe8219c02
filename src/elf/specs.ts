/**
 * The shapes the ELF reader produces: {@link MapSpec} and {@link ProgramSpec} with the facts
 * only an object file knows (where a definition came from, symbolic slot contents, legacy
 * definition bytes, autoload), and the externs a loader resolves against the running kernel.
 * They are supersets of the plain specs, so every one of them can be handed to
 * `BpfMap.create` / `Program.load` as it is.
 *
 * @module
 */
import type { CORERelocation, FuncInfo, LineInfo } from '../btf/ext.js';
import type { Type } from '../btf/types.js';
import type { MapSpec } from '../map-spec.js';
import type { ProgramSpec } from '../prog-spec.js';

/**
 * A slot of a prog array or map-in-map that the object initialises statically
 * (`.values = { [0] = &prog }`): the loader puts the named program's or map's fd at `index`
 * once everything is created.
 */
export interface MapSlotReference {
  /** The array index (key). */
  readonly index: number;
  /** The name of the program (prog array) or inner map (map-in-map) to store there. */
  readonly name: string;
}

/** A function pointer member of a struct_ops map and the program the object points it at. */
export interface StructOpsFunction {
  /** The member's name (`cong_avoid`). */
  readonly member: string;
  /** The program's function name. */
  readonly program: string;
}

/**
 * What a `.struct_ops` / `.struct_ops.link` variable says, in the object's terms: the struct it
 * implements, the data members it sets and the programs its function pointers name. The
 * loader translates it member by member, by name, into the running kernel's layout.
 */
export interface StructOpsSpec {
  /** The struct's name in the object's BTF (`tcp_congestion_ops`; a `___flavour` suffix is kept). */
  readonly typeName: string;
  /** The variable's bytes in the object's layout, function pointer slots zeroed. */
  readonly data: Uint8Array;
  /** Function pointer members set to programs, in member order. */
  readonly functions: readonly StructOpsFunction[];
}

/** A map as an ELF object defines it. */
export interface ELFMapSpec extends MapSpec {
  /** The map's name: the symbol (`.maps`, `maps`) or the section (`.rodata`, `.kconfig`). */
  name: string;
  /**
   * Where the definition came from: `.maps` (BTF), `maps` (legacy `struct bpf_map_def`), a
   * global data section name (`.rodata`, `.data.custom`, …) or `.kconfig`.
   */
  sectionName: string;
  /** Statically initialised slots of prog arrays and map-in-maps, by name. */
  initialSlots?: MapSlotReference[];
  /**
   * Bytes of a legacy definition beyond `struct bpf_map_def` (iproute2's `bpf_elf_map` adds
   * id, pinning, inner_id, inner_idx), kept verbatim for tools that interpret them.
   */
  extra?: Uint8Array;
  /**
   * Global data the loader should create with `BPF_F_MMAPABLE` where the kernel has it
   * (Linux 5.5), so variables can be read and written through a mapping after load. Not part
   * of `flags`, because whether to set it depends on the running kernel.
   */
  mmapable?: boolean;
  /**
   * For the object's `ARENA` map: the initial bytes of its `__arena` globals (section
   * `.addr_space.1`), copied to the start of the arena once it is created and mapped.
   */
  arenaData?: Uint8Array;
  /**
   * For `STRUCT_OPS` maps (`.struct_ops`, `.struct_ops.link`): the object's struct, data and
   * member → program mapping. `value` is the object's struct type; `valueSize` is its size until
   * load, where the kernel's `bpf_struct_ops_<name>` wrapper decides it.
   */
  structOps?: StructOpsSpec;
}

/** A program as an ELF object defines it, linked with its subprograms. */
export interface ELFProgramSpec extends ProgramSpec {
  /** The function name. */
  name: string;
  /** The section, with any `?` prefix (`"?tp/syscalls/sys_enter_close"`). */
  sectionName: string;
  /** The object's license (`""` when there is no `license` section). */
  license: string;
  /**
   * Load this program by default. False for `SEC("?…")` programs, which libbpf leaves
   * unloaded unless asked for.
   */
  autoload: boolean;
  /**
   * func_info records (`.BTF.ext`) of the program and each appended subprogram, `insnOffset`
   * in bytes from the program start. Also encoded into `funcInfo` for BPF_PROG_LOAD.
   */
  funcInfos?: FuncInfo[];
  /** line_info records, `insnOffset` in bytes from the program start; encoded into `lineInfo`. */
  lineInfos?: LineInfo[];
  /**
   * CO-RE relocations (`.BTF.ext`), `insnOffset` in bytes from the program start: what the
   * CO-RE engine rewrites against the target kernel's BTF before load.
   */
  coreRelocations?: CORERelocation[];
}

/** How an extern is resolved at load time. */
export type ExternKind = 'kconfig' | 'ksym';

/**
 * An `extern` the object refers to: a `.kconfig` value (`LINUX_KERNEL_VERSION`,
 * `LINUX_HAS_*`, `CONFIG_*`) or a `.ksyms` kernel symbol (variable or kfunc).
 */
export interface ExternSpec {
  /** The symbol name. */
  readonly name: string;
  /** `kconfig` (a value in the `.kconfig` map) or `ksym` (a kernel symbol). */
  readonly kind: ExternKind;
  /** Declared `__weak`: may stay unresolved (then it reads as zero / the call is dead code). */
  readonly weak: boolean;
  /** The BTF type (the `Var`'s type, or the `Func` of a kfunc); undefined without BTF. */
  readonly type: Type | undefined;
  /** A kernel function called from BPF (`extern … __ksym` function). */
  readonly isFunction: boolean;
  /** A ksym declared with type `void`: resolved through /proc/kallsyms rather than BTF. */
  readonly typeless: boolean;
  /** For kconfig externs: byte offset of the value in the `.kconfig` map. */
  readonly offset: number | undefined;
  /** Size in bytes of the value (0 for functions and typeless ksyms). */
  readonly size: number;
}
