// Arena globals (`__arena`, section .addr_space.1) parsed from testdata/arena.bpf.c: their
// variables belong to the object's ARENA map, its arenaData holds their initial bytes, and
// instructions that use them refer to the arena map with the global's offset. No privileges.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PseudoSource } from '../../src/asm/pseudo.js';
import { parseCollectionSpec } from '../../src/collection-spec.js';
import { readObject } from '../../src/elf/index.js';
import { parseArenaSection } from '../../src/elf/arena.js';
import { readELF } from '../../src/elf/file.js';
import { ParseError } from '../../src/errors.js';
import { MapType } from '../../src/types.js';
import { testdata } from '../helpers/tools.js';

const bytes = (arch: string) => new Uint8Array(readFileSync(join(testdata, `arena.${arch}.o`)));

describe.each(['bpfel', 'bpfeb'])('arena globals (testdata/arena.%s.o)', (arch) => {
  it('become variables of the ARENA map, with their initial values', () => {
    const spec = parseCollectionSpec(bytes(arch));
    // No map for the section itself: its bytes are the arena's initial contents.
    expect(Object.keys(spec.maps)).toEqual(['arena']);
    const arena = spec.maps.arena!;
    expect(arena.type).toBe(MapType.Arena);
    expect(arena.arenaData).toHaveLength(32);
    const { counter, table, seen_from_js } = spec.variables;
    expect([counter!.sectionName, counter!.mapName, counter!.offset, counter!.size]).toEqual(['.addr_space.1', 'arena', 0, 4]);
    expect(counter!.value).toBe(40);
    expect([table!.offset, table!.size]).toEqual([4, 16]);
    expect(seen_from_js!.offset).toBe(24);
    expect(seen_from_js!.value).toBe(0n);
    // Setting a variable before load edits the bytes copied into the arena.
    counter!.set(7);
    expect(spec.maps.arena!.arenaData!.subarray(0, 4)).toEqual(arch === 'bpfel' ? new Uint8Array([7, 0, 0, 0]) : new Uint8Array([0, 0, 0, 7]));
  });

  it('references become arena map values at the global offset', () => {
    const spec = parseCollectionSpec(bytes(arch));
    const loads = spec.programs.arena_rw!.instructions.filter((i) => i.isLoadImm64);
    expect(loads.map((i) => [i.src, i.reference, Number(BigInt(i.constant) >> 32n)])).toEqual([
      [PseudoSource.MapValue, 'arena', 0], // counter
      [PseudoSource.MapValue, 'arena', 24], // seen_from_js
      [PseudoSource.MapValue, 'arena', 4], // table
      [PseudoSource.MapValue, 'arena', 4],
      [PseudoSource.MapValue, 'arena', 4],
    ]);
  });

  it('a copy of the spec keeps its own arena data', () => {
    const spec = parseCollectionSpec(bytes(arch));
    const copy = spec.copy();
    copy.variables.counter!.set(1);
    expect(copy.variables.counter!.value).toBe(1);
    expect(spec.variables.counter!.value).toBe(40);
  });
});

describe('arena globals need exactly one ARENA map', () => {
  const file = readELF(bytes('bpfel'));
  const section = file.section('.addr_space.1')!;
  const arenaMap = readObject(bytes('bpfel')).maps.get('arena')!;

  it('refuses an object without one', () => {
    expect(() => parseArenaSection(file, section, undefined, { maps: new Map(), byOffset: new Map() })).toThrow(ParseError);
    expect(() => parseArenaSection(file, section, undefined, { maps: new Map(), byOffset: new Map() })).toThrow(/defines no BPF_MAP_TYPE_ARENA map/);
  });

  it('refuses an object with two', () => {
    const maps = new Map([
      ['a', { ...arenaMap, name: 'a' }],
      ['b', { ...arenaMap, name: 'b' }],
    ]);
    expect(() => parseArenaSection(file, section, undefined, { maps, byOffset: new Map() })).toThrow(/2 ARENA maps \(a, b\)/);
  });
});
