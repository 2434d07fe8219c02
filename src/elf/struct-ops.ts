/**
 * struct_ops maps: `.struct_ops` and `.struct_ops.link` sections. Each global variable there is
 * one map implementing a kernel struct of function pointers (`struct tcp_congestion_ops`,
 * `struct sched_ext_ops`, …): its BTF struct is the map's value type, its bytes are the data
 * members the object sets (a CC's `name`, `flags`), and the section's relocations say which
 * function pointer member points at which program (`.cong_avoid = (void *)my_cong_avoid`).
 *
 * Everything here is the object's view. The kernel's layout of the struct, the value size of
 * its `bpf_struct_ops_<name>` wrapper and the member indexes the programs load with are the
 * running kernel's, resolved when the collection is loaded (src/struct-ops-layout.ts).
 *
 * @module
 */
import type { Spec } from '../btf/spec.js';
import { FuncProto, Pointer, Struct, Var, skipQualifiersAndTypedefs, type Member } from '../btf/types.js';
import { ParseError } from '../errors.js';
import { BPF_F_LINK } from '../internal/flags.js';
import { MapType, ProgramType } from '../types.js';
import { RelocationType, SymbolBind, SymbolType } from './constants.js';
import type { SectionKind } from './classify.js';
import { symbolName, type ELFFile, type ELFRelocation, type ELFSection } from './file.js';
import { datasecVarOffsets, findDatasec, type MapDefinitions } from './maps.js';
import { parseSectionName } from './section-names.js';
import type { ELFMapSpec, StructOpsFunction } from './specs.js';
import { dataView } from '../internal/bytes.js';

/** The section of struct_ops maps the kernel registers through a link (`BPF_F_LINK`, 6.4). */
export const structOpsLinkSection = '.struct_ops.link';

/** True when `type` (after typedefs and qualifiers) is a pointer to a function. */
export function isFunctionPointer(type: Member['type']): boolean {
  const t = skipQualifiersAndTypedefs(type);
  return t instanceof Pointer && skipQualifiersAndTypedefs(t.type) instanceof FuncProto;
}

/**
 * Parses one struct_ops section into one {@link ELFMapSpec} per variable, added to `out`.
 * Needs the object's BTF (the DATASEC names the variables and their struct types). Every
 * relocation must point a function pointer member at a program of a `struct_ops/…` section.
 */
export function parseStructOps(file: ELFFile, section: ELFSection, kinds: readonly SectionKind[], btf: Spec | undefined, out: MapDefinitions): void {
  const where = `section ${section.name}`;
  if (btf === undefined) throw new ParseError(`${where}: struct_ops maps need the object's BTF (compile with -g)`, section.offset);
  const datasec = findDatasec(btf, section.name);
  if (datasec === undefined) throw new ParseError(`${where} has no BTF DATASEC`, section.offset);
  const contents = section.data.length === section.size ? section.data : new Uint8Array(section.size);
  const symbols = file.symbolsIn(section.index).filter((s) => s.type === SymbolType.Object && s.name !== '' && s.bind !== SymbolBind.Local);

  interface Definition {
    readonly spec: ELFMapSpec;
    readonly type: Struct;
    readonly offset: number;
    readonly size: number;
    readonly functions: StructOpsFunction[];
    readonly data: Uint8Array;
  }
  const definitions: Definition[] = [];
  const offsetOf = datasecVarOffsets(symbols);
  for (const info of datasec.vars) {
    if (!(info.type instanceof Var)) throw new ParseError(`${where}: DATASEC holds ${info.type}, expected variables`, section.offset);
    const name = info.type.name;
    const offset = offsetOf(info);
    const type = skipQualifiersAndTypedefs(info.type.type);
    if (!(type instanceof Struct)) throw new ParseError(`struct_ops map ${name}: its type is ${type}, expected the kernel struct it implements`, section.offset + offset);
    if (offset + type.size > section.size) {
      throw new ParseError(`struct_ops map ${name}: [${offset}, +${type.size}) is outside ${section.name} (${section.size} bytes)`, section.offset);
    }
    if (out.maps.has(name)) throw new ParseError(`map ${name} is defined twice`, section.offset + offset);
    const data = contents.slice(offset, offset + type.size);
    const functions: StructOpsFunction[] = [];
    const spec: ELFMapSpec = {
      name,
      sectionName: section.name,
      type: MapType.StructOps,
      keySize: 4,
      // The object's struct size until load, where it becomes the size of the kernel's
      // bpf_struct_ops_<name> wrapper.
      valueSize: type.size,
      maxEntries: 1,
      flags: section.name === structOpsLinkSection ? BPF_F_LINK : 0,
      value: type,
      structOps: { typeName: type.name, data, functions },
    };
    definitions.push({ spec, type, offset, size: type.size, functions, data });
  }

  const little = file.byteOrder === 'little';
  for (const rel of file.relocations(section.index)) {
    const def = definitions.find((d) => rel.offset >= d.offset && rel.offset < d.offset + d.size);
    const at = `relocation at offset ${rel.offset} of ${section.name} (symbol ${symbolName(file, rel.symbol)})`;
    if (def === undefined) throw new ParseError(`${at} is outside every struct_ops variable`);
    const mapName = def.spec.name;
    if (rel.type !== RelocationType.R_BPF_64_ABS64 && rel.type !== RelocationType.R_BPF_64_64) {
      throw new ParseError(`${at}: unsupported relocation type ${RelocationType[rel.type] ?? rel.type} in struct_ops map ${mapName}`);
    }
    const moff = rel.offset - def.offset;
    const member = def.type.members.find((m) => m.offset === moff * 8 && m.bitfieldSize === 0);
    if (member === undefined) throw new ParseError(`${at}: struct_ops map ${mapName} has no member at byte ${moff} of struct ${def.type.name}`);
    if (!isFunctionPointer(member.type)) {
      throw new ParseError(`${at}: member ${member.name} of struct_ops map ${mapName} is not a function pointer; only function pointers can point at programs`);
    }
    const program = relocatedProgram(file, kinds, rel, contents, little);
    if (program === undefined) {
      throw new ParseError(`${at}: member ${member.name} of struct_ops map ${mapName} must point at a program of a SEC("struct_ops/…") section`);
    }
    def.functions.push({ member: member.name, program });
    // The slot holds an addend for the linker, not data for the kernel.
    def.data.fill(0, moff, moff + 8);
  }

  for (const def of definitions) {
    def.functions.sort((a, b) => def.type.members.findIndex((m) => m.name === a.member) - def.type.members.findIndex((m) => m.name === b.member));
    out.maps.set(def.spec.name, def.spec);
  }
}

/** The program a relocation names: a function symbol, or a section symbol plus the addend, in a struct_ops section. */
function relocatedProgram(file: ELFFile, kinds: readonly SectionKind[], rel: ELFRelocation, contents: Uint8Array, little: boolean): string | undefined {
  const sym = rel.symbol;
  if (kinds[sym.sectionIndex] !== 'program') return undefined;
  const section = file.sections[sym.sectionIndex]!;
  if (parseSectionName(section.name).type !== ProgramType.StructOps) return undefined;
  if (sym.type === SymbolType.Func && sym.name !== '') return sym.name;
  if (sym.type !== SymbolType.Section) return undefined;
  // REL keeps the addend in the relocated word; RELA in the entry.
  const addend = rel.addend ?? dataView(contents).getBigUint64(rel.offset, little);
  const fn = file.symbolsIn(sym.sectionIndex).find((s) => s.type === SymbolType.Func && s.name !== '' && BigInt(s.value) === addend);
  return fn?.name;
}
