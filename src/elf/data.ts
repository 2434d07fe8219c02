/**
 * Global data and externs. Each `.rodata*`, `.data*` and `.bss*` section becomes a
 * single-entry array map holding the section's bytes (what libbpf calls internal maps), with
 * its variables described by the BTF DATASEC of the same name. `.kconfig` externs get a map of
 * their own whose values the loader fills from the running kernel; `.ksyms` externs are kernel
 * symbols resolved at load time.
 *
 * clang leaves DATASEC sizes and most variable offsets at 0 in objects (the linker is supposed
 * to fill them in); they are fixed up here from the ELF section sizes and symbol values, as
 * the kernel checks them when the BTF is loaded (btf_datasec_check_meta()).
 *
 * @module
 */
import type { ByteOrder } from '../asm/encoding.js';
import type { Spec } from '../btf/spec.js';
import { Array as BTFArray, Composite, Func, Var, Void, skipQualifiersAndTypedefs, sizeof, type Type } from '../btf/types.js';
import { ParseError } from '../errors.js';
import { MapType } from '../types.js';
import { SHN_UNDEF, SymbolBind, SymbolType } from './constants.js';
import type { ELFFile, ELFSection } from './file.js';
import { datasecVarOffsets, findDatasec } from './maps.js';
import type { ELFMapSpec, ExternSpec } from './specs.js';
import { VariableSpec } from './variables.js';
import { BPF_F_RDONLY_PROG, BPF_F_MMAPABLE } from '../internal/flags.js';
export { BPF_F_RDONLY_PROG, BPF_F_MMAPABLE } from '../internal/flags.js';

/**
 * The largest global data section accepted. The kernel caps an array map's value at
 * KMALLOC_MAX_SIZE (array_map_alloc_check(); 4 MiB on x86-64 with 4 KiB pages); anything far
 * beyond that is a corrupt size, and allocating it would exhaust memory before the kernel
 * could say no.
 */
export const maxDataSectionSize = 64 << 20;

/** The name of the map that holds `.kconfig` extern values. */
export const kconfigMapName = '.kconfig';

/**
 * Builds the array map and variables of one global data section. Returns undefined for an
 * empty section (nothing to create; nothing can refer to it).
 */
export function parseDataSection(
  file: ELFFile,
  section: ELFSection,
  kind: 'rodata' | 'data' | 'bss',
  btf: Spec | undefined,
): { map: ELFMapSpec; variables: VariableSpec[] } | undefined {
  if (section.size === 0) return undefined;
  if (section.size > maxDataSectionSize) {
    throw new ParseError(`section ${section.name} is ${section.size} bytes, more than any BPF array map value can hold`, section.offset);
  }
  // NOBITS sections have no file bytes: their contents are zeros.
  const contents = kind === 'bss' || section.data.length === 0 ? new Uint8Array(section.size) : section.data.slice();
  const datasec = btf === undefined ? undefined : findDatasec(btf, section.name);
  const readOnly = kind === 'rodata';
  const map: ELFMapSpec = {
    name: section.name,
    sectionName: section.name,
    type: MapType.Array,
    keySize: 4,
    valueSize: section.size,
    maxEntries: 1,
    flags: readOnly ? BPF_F_RDONLY_PROG : 0,
    contents: [[new Uint8Array(4), contents]],
    mmapable: true,
  };
  if (readOnly) map.freeze = true;
  if (datasec !== undefined) {
    map.value = datasec;
    datasec.size = section.size;
  }

  const symbols = file.symbolsIn(section.index).filter((s) => s.type === SymbolType.Object && s.name !== '');
  const variables: VariableSpec[] = [];
  const byteOrder: ByteOrder = file.byteOrder;
  if (datasec !== undefined) {
    const offsetOf = datasecVarOffsets(symbols);
    for (const info of datasec.vars) {
      if (!(info.type instanceof Var)) continue;
      const name = info.type.name;
      info.offset = offsetOf(info);
      if (info.offset + info.size > section.size) {
        throw new ParseError(`variable ${name}: [${info.offset}, +${info.size}) is outside section ${section.name} (${section.size} bytes)`, section.offset);
      }
      variables.push(new VariableSpec({ name, sectionName: section.name, offset: info.offset, size: info.size, type: info.type.type, byteOrder }, map));
    }
  } else {
    // No BTF: the symbol table still names and sizes the variables.
    for (const s of symbols) {
      if (s.value + s.size > section.size) {
        throw new ParseError(`variable ${s.name}: [${s.value}, +${s.size}) is outside section ${section.name} (${section.size} bytes)`, section.offset);
      }
      variables.push(new VariableSpec({ name: s.name, sectionName: section.name, offset: s.value, size: s.size, type: undefined, byteOrder }, map));
    }
  }
  return { map, variables };
}

/** Natural alignment of a type, for laying out `.kconfig` values. */
function alignOf(type: Type): number {
  const t = skipQualifiersAndTypedefs(type);
  if (t instanceof BTFArray) return alignOf(t.type);
  if (t instanceof Composite) return Math.max(1, ...t.members.map((m) => alignOf(m.type)));
  try {
    return Math.min(8, Math.max(1, sizeof(t)));
  } catch {
    return 1;
  }
}

/**
 * Collects `.kconfig` and `.ksyms` externs from the BTF DATASECs of those names and the
 * undefined symbols that refer to them. Kconfig values are laid out in DATASEC order at their
 * natural alignment (the DATASEC is fixed up to match), giving the `.kconfig` map. Undefined
 * symbols in neither DATASEC (and all of them without BTF) are no externs: the instructions
 * that use them keep symbolic references.
 */
export function parseExterns(file: ELFFile, btf: Spec | undefined): { externs: Map<string, ExternSpec>; kconfigMap: ELFMapSpec | undefined } {
  const externs = new Map<string, ExternSpec>();
  const undefinedSymbols = file.symbols.filter((s) => s.index !== 0 && s.sectionIndex === SHN_UNDEF && s.name !== '' && s.type !== SymbolType.File);
  if (undefinedSymbols.length === 0) return { externs, kconfigMap: undefined };
  const weak = new Map(undefinedSymbols.map((s) => [s.name, s.bind === SymbolBind.Weak]));
  // Without BTF nothing says whether a name is a kconfig value or a kernel symbol: every
  // reference to one stays symbolic, for the user to resolve (references.ts).
  if (btf === undefined) return { externs, kconfigMap: undefined };
  let kconfigMap: ELFMapSpec | undefined;
  const kconfig = findDatasec(btf, kconfigMapName);
  if (kconfig !== undefined) {
    let offset = 0;
    for (const info of kconfig.vars) {
      if (!(info.type instanceof Var)) throw new ParseError(`.kconfig holds ${info.type}, expected extern variables`);
      const v = info.type;
      let size: number;
      try {
        size = sizeof(v.type);
      } catch {
        throw new ParseError(`kconfig extern ${v.name} has type ${v.type}, which has no size`);
      }
      const align = alignOf(v.type);
      offset = Math.ceil(offset / align) * align;
      info.offset = offset;
      info.size = size;
      externs.set(v.name, { name: v.name, kind: 'kconfig', weak: weak.get(v.name) ?? false, type: v.type, isFunction: false, typeless: false, offset, size });
      offset += size;
    }
    const total = Math.max(8, Math.ceil(offset / 8) * 8);
    if (total > maxDataSectionSize) throw new ParseError(`.kconfig externs need ${total} bytes, more than any BPF array map value can hold`);
    kconfig.size = total;
    kconfigMap = {
      name: kconfigMapName,
      sectionName: kconfigMapName,
      type: MapType.Array,
      keySize: 4,
      valueSize: total,
      maxEntries: 1,
      flags: BPF_F_RDONLY_PROG,
      freeze: true,
      contents: [[new Uint8Array(4), new Uint8Array(total)]],
      value: kconfig,
      mmapable: true,
    };
  }
  const ksyms = findDatasec(btf, '.ksyms');
  if (ksyms !== undefined) {
    for (const info of ksyms.vars) {
      const t = info.type;
      if (t instanceof Func) {
        externs.set(t.name, { name: t.name, kind: 'ksym', weak: weak.get(t.name) ?? false, type: t, isFunction: true, typeless: false, offset: undefined, size: 0 });
      } else if (t instanceof Var) {
        const typeless = skipQualifiersAndTypedefs(t.type) instanceof Void;
        let size = 0;
        if (!typeless) {
          try {
            size = sizeof(t.type);
          } catch {
            size = 0;
          }
        }
        externs.set(t.name, { name: t.name, kind: 'ksym', weak: weak.get(t.name) ?? false, type: t.type, isFunction: false, typeless, offset: undefined, size });
      }
    }
  }
  // Only `.ksyms` makes a function a kfunc (as for libbpf): a function that is merely declared
  // (`int fwd(int);`, a FUNC of extern linkage in BTF) is defined by another object, and calls
  // to it stay symbolic references until linked or resolved.
  return { externs, kconfigMap };
}

