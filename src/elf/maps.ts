/**
 * Map definitions: BTF-defined maps in `.maps` and legacy `struct bpf_map_def` maps in `maps`.
 *
 * A BTF map is a variable in `.maps` whose (anonymous) struct type encodes the definition in
 * member *types*, not values (bpf_helpers.h): `__uint(name, N)` is `int (*name)[N]`, a pointer
 * to an array whose length is the number; `__type(name, T)` is `T *name`; `__array(name, T)`
 * is `T *name[]`, used for the inner map template of map-in-maps and for prog arrays. Slots
 * initialised with `.values = { [i] = &x }` appear as relocations against `.maps`, 8 bytes per
 * slot, at the offset of `values` in the definition.
 *
 * @module
 */
import { Array as BTFArray, Datasec, Enum, Enum64, FuncProto, Pointer, Struct, Var, VarLinkage, skipQualifiers, skipQualifiersAndTypedefs, sizeof, type Type, type VarSecinfo } from '../btf/types.js';
import type { Spec } from '../btf/spec.js';
import { ParseError } from '../errors.js';
import { PinType } from '../map-spec.js';
import { MapType } from '../types.js';
import { RelocationType, SymbolBind, SymbolType } from './constants.js';
import { symbolName, type ELFFile, type ELFSection, type ELFSymbol } from './file.js';
import type { ELFMapSpec, MapSlotReference } from './specs.js';
import { dataView } from '../internal/bytes.js';

/** Maps found in one object, plus where each definition lives (for relocations). */
export interface MapDefinitions {
  /** Maps by name. */
  readonly maps: Map<string, ELFMapSpec>;
  /** Definition symbols by section index and offset: what an `ld_imm64` relocation names. */
  readonly byOffset: Map<number, Map<number, string>>;
}

/** Symbols that name definitions in a section: data objects with a name. */
function definitionSymbols(file: ELFFile, section: ELFSection): ELFSymbol[] {
  return file
    .symbolsIn(section.index)
    .filter((s) => s.name !== '' && s.type !== SymbolType.Section && s.type !== SymbolType.File && s.type !== SymbolType.Func)
    .sort((a, b) => a.value - b.value);
}

/**
 * The number an integer attribute member encodes: `__uint(name, N)` is a pointer to an array
 * of N elements; `__ulong(name, N)` (newer bpf_helpers.h, for 64-bit values such as an arena's
 * map_extra address) is an anonymous enum, or enum64, whose one enumerator is N — libbpf
 * accepts either wherever a number is expected, and so do we.
 */
function integerMember(mapName: string, member: string, type: Type): bigint {
  const t = skipQualifiers(type);
  if ((t instanceof Enum || t instanceof Enum64) && t.values.length === 1) return BigInt.asUintN(64, BigInt(t.values[0]!.value));
  const array = t instanceof Pointer ? skipQualifiersAndTypedefs(t.type) : undefined;
  if (!(array instanceof BTFArray)) {
    throw new ParseError(`map ${mapName}: member ${member} is ${type}, expected __uint(${member}, N) (a pointer to an array) or __ulong(${member}, N) (an enum with one value)`);
  }
  return BigInt(array.nelems);
}

/** An integer attribute that the kernel takes as a u32 (`type`, `max_entries`, …). */
function uintMember(mapName: string, member: string, type: Type): number {
  const n = integerMember(mapName, member, type);
  if (n > 0xffffffffn) throw new ParseError(`map ${mapName}: ${member} ${n} does not fit the kernel's 32-bit field`);
  return Number(n);
}

/** The type a `__type(name, T)` member encodes. */
function typeMember(mapName: string, member: string, type: Type): Type {
  const ptr = skipQualifiers(type);
  if (!(ptr instanceof Pointer)) throw new ParseError(`map ${mapName}: member ${member} is ${type}, expected __type(${member}, T) (a pointer)`);
  return ptr.type;
}

function sizeOf(mapName: string, what: string, type: Type): number {
  try {
    return sizeof(type);
  } catch (e) {
    throw new ParseError(`map ${mapName}: ${what} type ${type} has no size (${e instanceof Error ? e.message : String(e)})`);
  }
}

interface ParsedDefinition {
  spec: ELFMapSpec;
  /** Byte offset of the `values` member in the definition, when present. */
  valuesOffset: number | undefined;
}

/**
 * Reads one BTF map definition struct. `inner` is set for the template of a map-in-map's
 * inner maps (which may itself not have `values`).
 */
function parseDefinition(name: string, sectionName: string, type: Type, depth: number): ParsedDefinition {
  const def = skipQualifiersAndTypedefs(type);
  if (!(def instanceof Struct)) throw new ParseError(`map ${name}: definition is ${def}, expected a struct`);
  const spec: ELFMapSpec = { name, sectionName, type: MapType.Unspec, keySize: 0, valueSize: 0, maxEntries: 0, flags: 0 };
  let keySize: number | undefined;
  let valueSize: number | undefined;
  let valuesOffset: number | undefined;
  let valuesKind: 'map' | 'prog' | undefined;
  for (const m of def.members) {
    switch (m.name) {
      case 'type':
        spec.type = uintMember(name, m.name, m.type) as MapType;
        break;
      case 'max_entries':
        spec.maxEntries = uintMember(name, m.name, m.type);
        break;
      case 'map_flags':
        spec.flags = uintMember(name, m.name, m.type);
        break;
      case 'numa_node':
        spec.numaNode = uintMember(name, m.name, m.type);
        break;
      case 'map_extra':
        spec.mapExtra = integerMember(name, m.name, m.type);
        break;
      case 'pinning': {
        const pinning = uintMember(name, m.name, m.type);
        if (pinning !== PinType.None && pinning !== PinType.ByName) {
          throw new ParseError(`map ${name}: pinning ${pinning} is not supported (only LIBBPF_PIN_NONE and LIBBPF_PIN_BY_NAME)`);
        }
        spec.pinning = pinning;
        break;
      }
      case 'key_size':
      case 'value_size': {
        const n = uintMember(name, m.name, m.type);
        const known = m.name === 'key_size' ? keySize : valueSize;
        if (known !== undefined && known !== n) throw new ParseError(`map ${name}: ${m.name} ${n} contradicts the ${m.name.slice(0, -5)} type's size ${known}`);
        if (m.name === 'key_size') keySize = n;
        else valueSize = n;
        break;
      }
      case 'key':
      case 'value': {
        const t = typeMember(name, m.name, m.type);
        const n = sizeOf(name, m.name, t);
        const known = m.name === 'key' ? keySize : valueSize;
        if (known !== undefined && known !== n) throw new ParseError(`map ${name}: ${m.name} type size ${n} contradicts ${m.name}_size ${known}`);
        if (m.name === 'key') {
          keySize = n;
          spec.key = t;
        } else {
          valueSize = n;
          spec.value = t;
        }
        break;
      }
      case 'values': {
        const array = skipQualifiers(m.type);
        const element = array instanceof BTFArray ? skipQualifiers(array.type) : undefined;
        if (!(array instanceof BTFArray) || array.nelems !== 0 || !(element instanceof Pointer)) {
          throw new ParseError(`map ${name}: member values is ${m.type}, expected __array(values, T) (an array of pointers)`);
        }
        if (m.bitfieldSize !== 0 || m.offset % 8 !== 0) throw new ParseError(`map ${name}: member values is not byte aligned`);
        valuesOffset = m.offset / 8;
        const target = skipQualifiersAndTypedefs(element.type);
        if (target instanceof FuncProto) {
          valuesKind = 'prog';
        } else if (target instanceof Struct) {
          if (depth > 0) throw new ParseError(`map ${name}: an inner map may not itself contain maps`);
          valuesKind = 'map';
          spec.innerMap = parseDefinition(`${name}.inner`, sectionName, target, depth + 1).spec;
        } else {
          throw new ParseError(`map ${name}: values element ${target} is neither a map definition nor a function`);
        }
        break;
      }
      default:
        throw new ParseError(`map ${name}: unknown member ${m.name || '(anonymous)'} in the BTF map definition`);
    }
  }
  if (valuesKind === 'map' && spec.type !== MapType.ArrayOfMaps && spec.type !== MapType.HashOfMaps) {
    throw new ParseError(`map ${name}: values holds maps, but the map type ${spec.type} is not a map-in-map`);
  }
  if (valuesKind === 'prog' && spec.type !== MapType.ProgArray) {
    throw new ParseError(`map ${name}: values holds programs, but the map type ${spec.type} is not PROG_ARRAY`);
  }
  spec.keySize = keySize ?? 0;
  // Map-in-map and prog array values are fds to user space: 4 bytes unless stated otherwise.
  spec.valueSize = valueSize ?? (valuesKind === undefined ? 0 : 4);
  if (spec.type === MapType.RingBuf || spec.type === MapType.UserRingBuf) {
    // `__type(value, struct event)` on a ring buffer names its record type (for decoders and
    // `ebpf-ts gen`); the kernel wants key and value sizes 0, so the type stays in the spec
    // only, as libbpf and cilium/ebpf treat it.
    spec.keySize = 0;
    spec.valueSize = 0;
  }
  return { spec, valuesOffset };
}

/**
 * Parses the `.maps` section: one map per named data symbol, definitions from the BTF
 * DATASEC `.maps`. Also fixes the DATASEC up the way the kernel needs it (size and variable
 * offsets, which clang leaves 0 in objects).
 */
export function parseBTFMaps(file: ELFFile, section: ELFSection, btf: Spec | undefined, out: MapDefinitions): void {
  const symbols = definitionSymbols(file, section);
  if (symbols.length === 0) return;
  if (btf === undefined) throw new ParseError(`section .maps defines ${symbols.length} maps but the object has no .BTF (compile with -g)`, section.offset);
  const datasec = findDatasec(btf, section.name);
  if (datasec === undefined) throw new ParseError('section .maps has no BTF DATASEC', section.offset);
  const offsets = new Map<number, string>();
  const parsed = new Map<string, ParsedDefinition & { symbol: ELFSymbol }>();
  for (const symbol of symbols) {
    const info = datasec.vars.find((v) => v.type instanceof Var && v.type.name === symbol.name);
    if (info === undefined) throw new ParseError(`map ${symbol.name}: no BTF variable in DATASEC .maps`, section.offset + symbol.value);
    if (symbol.value + symbol.size > section.size) throw new ParseError(`map ${symbol.name}: definition [${symbol.value}, +${symbol.size}) is past the end of .maps`, section.offset);
    info.offset = symbol.value;
    const def = parseDefinition(symbol.name, section.name, (info.type as Var).type, 0);
    if (out.maps.has(symbol.name)) throw new ParseError(`map ${symbol.name} is defined twice`, section.offset + symbol.value);
    out.maps.set(symbol.name, def.spec);
    offsets.set(symbol.value, symbol.name);
    parsed.set(symbol.name, { ...def, symbol });
  }
  datasec.size = section.size;
  out.byOffset.set(section.index, offsets);

  // Static slot initialisation.
  for (const rel of file.relocations(section.index)) {
    let owner: ELFSymbol | undefined;
    for (const s of symbols) if (s.value <= rel.offset) owner = s;
    const def = owner === undefined ? undefined : parsed.get(owner.name);
    const where = `relocation at offset ${rel.offset} of .maps (symbol ${symbolName(file, rel.symbol)})`;
    if (owner === undefined || def === undefined || rel.offset >= owner.value + Math.max(owner.size, 1)) throw new ParseError(`${where} is outside every map definition`);
    if (rel.type !== RelocationType.R_BPF_64_ABS64 && rel.type !== RelocationType.R_BPF_64_64) {
      throw new ParseError(`${where}: unsupported relocation type ${RelocationType[rel.type] ?? rel.type} in map ${owner.name}`);
    }
    const at = rel.offset - owner.value - (def.valuesOffset ?? 0);
    if (def.valuesOffset === undefined || at < 0 || at % 8 !== 0) throw new ParseError(`${where}: map ${owner.name} has no values slot there`);
    const index = at / 8;
    if (def.spec.maxEntries !== undefined && index >= def.spec.maxEntries) {
      throw new ParseError(`${where}: slot ${index} of map ${owner.name} is beyond max_entries ${def.spec.maxEntries}`);
    }
    const target = rel.symbol;
    let name: string | undefined;
    if (def.spec.type === MapType.ProgArray) {
      if (target.type === SymbolType.Func && target.name !== '') name = target.name;
    } else if (target.sectionIndex === section.index) {
      name = target.type === SymbolType.Section ? offsets.get(target.value) : target.name;
    }
    if (name === undefined) throw new ParseError(`${where}: map ${owner.name} slot ${index} must point at a ${def.spec.type === MapType.ProgArray ? 'program' : 'map in .maps'}`);
    const slots: MapSlotReference[] = (def.spec.initialSlots ??= []);
    slots.push({ index, name });
  }
}

/**
 * Parses the legacy `maps` section: every named symbol is one `struct bpf_map_def`
 * (`type, key_size, value_size, max_entries, map_flags`, u32 each) or a longer struct that
 * starts with those fields (iproute2's `bpf_elf_map`). Definitions may differ in size: a
 * statically linked object (`bpftool gen object`) concatenates the `maps` sections of its
 * inputs, each with its own struct. A definition's extent is its symbol's `st_size`, or, when
 * a compiler left that 0, the distance to the next definition (the end of the section for the
 * last). Bytes beyond the 20 known ones are kept in {@link ELFMapSpec.extra}.
 */
export function parseLegacyMaps(file: ELFFile, section: ELFSection, out: MapDefinitions): void {
  const symbols = definitionSymbols(file, section);
  if (symbols.length === 0) return;
  if (section.data.length !== section.size) throw new ParseError('legacy maps section has no file contents', section.offset);
  const view = dataView(section.data);
  const little = file.byteOrder === 'little';
  const offsets = new Map<number, string>();
  symbols.forEach((symbol, i) => {
    const at = symbol.value;
    const next = i + 1 < symbols.length ? symbols[i + 1]!.value : section.size;
    const size = symbol.size !== 0 ? symbol.size : next - at;
    const where = section.offset + Math.min(at, section.size);
    if (at % 4 !== 0 || size % 4 !== 0 || size < 16) {
      throw new ParseError(`legacy map ${symbol.name}: definition [${at}, +${size}) is not a struct bpf_map_def (4-byte aligned, at least 16 bytes)`, where);
    }
    if (at + size > section.size) throw new ParseError(`legacy map ${symbol.name}: definition [${at}, +${size}) is past the end of the maps section (${section.size} bytes)`, where);
    if (at + size > next) throw new ParseError(`legacy map ${symbol.name}: definition [${at}, +${size}) overlaps the next one, ${symbols[i + 1]!.name} at ${next}`, where);
    const spec: ELFMapSpec = {
      name: symbol.name,
      sectionName: section.name,
      type: view.getUint32(at, little) as MapType,
      keySize: view.getUint32(at + 4, little),
      valueSize: view.getUint32(at + 8, little),
      maxEntries: view.getUint32(at + 12, little),
      flags: size >= 20 ? view.getUint32(at + 16, little) : 0,
    };
    if (size > 20) spec.extra = section.data.slice(at + 20, at + size);
    if (out.maps.has(symbol.name)) throw new ParseError(`map ${symbol.name} is defined twice`, where);
    out.maps.set(symbol.name, spec);
    offsets.set(at, symbol.name);
  });
  out.byOffset.set(section.index, offsets);
}

/**
 * Where the variables of one section's DATASEC lie, given the section's symbols: clang
 * leaves the DATASEC offsets of globals at 0 and the symbol table has them (one non-local
 * symbol per name); static variables carry theirs in BTF (a linked object may hold several
 * of one name). The name → symbol map is built once, here.
 *
 * @example
 * ```ts
 * const offsetOf = datasecVarOffsets(file.symbolsIn(section.index));
 * for (const v of datasec.vars) console.log(v.type.name, offsetOf(v));
 * ```
 */
export function datasecVarOffsets(symbols: readonly ELFSymbol[]): (info: VarSecinfo) => number {
  const byName = new Map<string, ELFSymbol>();
  for (const s of symbols) if (s.name !== '' && s.bind !== SymbolBind.Local && !byName.has(s.name)) byName.set(s.name, s);
  return (info) => {
    const v = info.type;
    if (!(v instanceof Var) || v.linkage === VarLinkage.Static) return info.offset;
    return byName.get(v.name)?.value ?? info.offset;
  };
}

/** The DATASEC called `name` in `btf`, if any. */
export function findDatasec(btf: Spec, name: string): Datasec | undefined {
  for (const id of btf.idsByName(name)) {
    const t = btf.typeById(id);
    if (t instanceof Datasec && t.name === name) return t;
  }
  return undefined;
}
