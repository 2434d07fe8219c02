// Variables whose BTF type is an ENUM64 (clang 15+ for an enum with a value beyond 32 bits;
// clang-14 writes an 8-byte ENUM) read and write as 64-bit integers, as 8-byte ENUM ones do.
// Found by the conformance set: globals.clang19.*.o's globals_wide_value read back as bytes and
// could not be set from a number.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Enum64, Volatile } from '../../src/btf/types.js';
import { parseCollectionSpec } from '../../src/collection-spec.js';
import { VariableSpec, type ELFMapSpec } from '../../src/elf/index.js';
import { ArgumentError } from '../../src/errors.js';
import { MapType } from '../../src/types.js';
import { testdata } from '../helpers/tools.js';

const object = (name: string) => parseCollectionSpec(new Uint8Array(readFileSync(join(testdata, 'conformance', name))));

describe.each(['bpfel', 'bpfeb'])('const volatile enum with a 64-bit value (conformance/globals.clang19.%s.o)', (arch) => {
  it('reads as a bigint, sets from a number or bigint, and rewriteConstants accepts it', () => {
    const spec = object(`globals.clang19.${arch}.o`);
    const v = spec.variables.globals_wide_value!;
    expect(spec.btf!.typeByName('globals_wide')).toBeInstanceOf(Enum64);
    expect(v.value).toBe(1n << 32n);
    v.set(5);
    expect(v.value).toBe(5n);
    spec.rewriteConstants({ globals_wide_value: 1n << 40n });
    expect(v.value).toBe(1n << 40n);
    expect(v.bytes).toEqual(arch === 'bpfel' ? new Uint8Array([0, 0, 0, 0, 0, 1, 0, 0]) : new Uint8Array([0, 0, 1, 0, 0, 0, 0, 0]));
  });

  it('the same variable from clang-14 (an 8-byte ENUM) reads the same', () => {
    expect(object(`globals.clang14.${arch}.o`).variables.globals_wide_value!.value).toBe(1n << 32n);
  });
});

it('a signed ENUM64 reads negative values and refuses ones beyond its range', () => {
  const map: ELFMapSpec = { name: '.rodata', sectionName: '.rodata', type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 1 } as ELFMapSpec;
  const type = new Volatile(new Enum64('wide', 8, [{ name: 'NEG', value: -(1n << 40n) }], true));
  const v = new VariableSpec({ name: 'w', sectionName: '.rodata', offset: 0, size: 8, type, byteOrder: 'little' }, map);
  v.set(-(1n << 40n));
  expect(v.value).toBe(-(1n << 40n));
  expect(() => v.set(1n << 63n)).toThrow(ArgumentError);
});
