/**
 * Arena globals (Linux 6.9): variables declared `__arena` (clang's `address_space(1)`) live in
 * section `.addr_space.1`. Like libbpf, the loader does not make a map of that section: its
 * bytes become the initial contents of the object's one `BPF_MAP_TYPE_ARENA` map, copied to
 * the start of the arena once it is created and mmap()ed, and instructions that refer to the
 * globals become `ld_imm64` map-value references to the arena map with the global's offset
 * (the kernel resolves them to the arena's user address plus the offset).
 *
 * @module
 */
import type { Spec } from '../btf/spec.js';
import { ParseError } from '../errors.js';
import { MapType } from '../types.js';
import { parseDataSection } from './data.js';
import type { ELFFile, ELFSection } from './file.js';
import type { MapDefinitions } from './maps.js';
import type { VariableSpec } from './variables.js';

/**
 * Attaches the globals of `.addr_space.1` to the object's arena map: sets its `arenaData` and
 * returns the map's name with the variables, bound to that map. Undefined for an empty section.
 * Throws {@link ParseError} when the object defines no ARENA map, or more than one (a program
 * may use one arena; the kernel refuses a second with "Only one arena per program").
 */
export function parseArenaSection(
  file: ELFFile,
  section: ELFSection,
  btf: Spec | undefined,
  definitions: MapDefinitions,
): { mapName: string; variables: VariableSpec[] } | undefined {
  // The same layout as a writable data section: bytes plus the DATASEC's (or symbols') variables.
  const data = parseDataSection(file, section, 'data', btf);
  if (data === undefined) return undefined;
  const arenas = [...definitions.maps.values()].filter((m) => m.type === MapType.Arena);
  if (arenas.length === 0) {
    throw new ParseError(`section ${section.name} holds __arena globals, but the object defines no BPF_MAP_TYPE_ARENA map to put them in`, section.offset);
  }
  if (arenas.length > 1) {
    throw new ParseError(`section ${section.name} holds __arena globals, but the object defines ${arenas.length} ARENA maps (${arenas.map((m) => m.name).join(', ')}): which one holds them is ambiguous`, section.offset);
  }
  const arena = arenas[0]!;
  arena.arenaData = data.map.contents![0]![1] as Uint8Array;
  return { mapName: arena.name, variables: data.variables.map((v) => v.rebind(arena)) };
}
