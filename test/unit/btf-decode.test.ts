// BTF-driven decoding and encoding: integers by size, bool, enums by name, char arrays as
// strings, nested and anonymous members, unions, bitfields in both byte orders, round trips
// over a compiled struct, and typed errors.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ArgumentError } from '../../src/errors.js';
import { decodeValue, encodeValue } from '../../src/btf/decode.js';
import { findELFSection } from '../../src/btf/elf-section.js';
import { parseSpec } from '../../src/btf/spec.js';
import { Array as ArrayType, Enum, Float, Int, IntEncoding, Member, Pointer, Struct, Union, Void } from '../../src/btf/types.js';
import { testdata } from './btf-helpers.js';

const u8 = new Int('unsigned char', 1);
const char = new Int('char', 1, IntEncoding.Char | IntEncoding.Signed);
const s16 = new Int('short', 2, IntEncoding.Signed);
const u32 = new Int('unsigned int', 4);
const s32 = new Int('int', 4, IntEncoding.Signed);
const u64 = new Int('unsigned long long', 8);
const bool = new Int('_Bool', 1, IntEncoding.Bool);
const color = new Enum('color', 4, [{ name: 'RED', value: 0 }, { name: 'BLUE', value: 7 }]);

const event = new Struct('event', 52, [
  new Member('pid', u32, 0),
  new Member('delta', s16, 32),
  new Member('ok', bool, 48),
  new Member('ts', u64, 64),
  new Member('comm', new ArrayType(char, u32, 8), 128),
  new Member('color', color, 192),
  new Member('', new Union('', 8, [new Member('addr', new Pointer(new Void()), 0), new Member('word', u32, 0)]), 256),
  new Member('vals', new ArrayType(s16, u32, 3), 320),
  new Member('ratio', new Float('float', 4), 384),
]);

describe('decodeValue', () => {
  const bytes = new Uint8Array(52);
  const v = new DataView(bytes.buffer);
  v.setUint32(0, 4242, true);
  v.setInt16(4, -3, true);
  bytes[6] = 1;
  v.setBigUint64(8, 1n << 60n, true);
  bytes.set(new TextEncoder().encode('node'), 16);
  v.setUint32(24, 7, true);
  v.setBigUint64(32, 0xffff_0000_1234n, true);
  v.setInt16(40, 1, true);
  v.setInt16(42, -2, true);
  v.setInt16(44, 3, true);
  v.setFloat32(48, 0.25, true);

  it('decodes integers by size, bool, enums by name, unions, arrays and strings', () => {
    expect(decodeValue(event, bytes, { charArraysAsStrings: true })).toEqual({
      pid: 4242,
      delta: -3,
      ok: true,
      ts: 1n << 60n,
      comm: 'node',
      color: 'BLUE',
      addr: 0xffff_0000_1234n,
      word: 0x0000_1234,
      vals: [1, -2, 3],
      ratio: 0.25,
    });
  });

  it('keeps char arrays as numbers and enums as numbers when asked', () => {
    const d = decodeValue(event, bytes, { enumsAsNames: false }) as Record<string, unknown>;
    expect(d.comm).toEqual([110, 111, 100, 101, 0, 0, 0, 0]);
    expect(d.color).toBe(7);
  });

  it('round-trips through encodeValue in both byte orders', () => {
    for (const byteOrder of ['little', 'big'] as const) {
      const value = { pid: 1, delta: -7, ok: false, ts: 99n, comm: 'abc', color: 'RED', word: 5, vals: [4, 5, 6], ratio: 1.5 };
      const enc = encodeValue(event, value, { byteOrder, charArraysAsStrings: true });
      const dec = decodeValue(event, enc, { byteOrder, charArraysAsStrings: true }) as Record<string, unknown>;
      // The 4-byte word overlays the low half of the pointer on little-endian, the high half on big-endian.
      expect(dec).toMatchObject({ ...value, addr: byteOrder === 'little' ? 5n : 5n << 32n });
      expect(() => encodeValue(event, { word: 1, addr: 2n })).toThrow(/only one member/);
    }
  });

  it('rejects short input, values that do not fit, and unknown names with ArgumentError', () => {
    expect(() => decodeValue(event, new Uint8Array(10))).toThrow(ArgumentError);
    expect(() => encodeValue(s16, 70000)).toThrow(/does not fit 16 signed bits/);
    expect(() => encodeValue(color, 'GREEN')).toThrow(/GREEN is not an enumerator/);
    expect(() => encodeValue(event, { nope: 1 })).toThrow(/value.nope is not a member/);
    expect(() => encodeValue(event, { comm: 'far too long' }, { charArraysAsStrings: true })).toThrow(/do not fit char\[8\]/);
    expect(() => decodeValue(new Void(), new Uint8Array(8))).toThrow(ArgumentError);
  });
});

describe('bitfields', () => {
  // struct { unsigned a:3; unsigned b:5; int c:4; unsigned long long d:40; }
  const bf = new Struct(
    'bf',
    8,
    [new Member('a', u32, 0, 3), new Member('b', u32, 3, 5), new Member('c', s32, 8, 4), new Member('d', u64, 12, 40)],
    true,
  );

  it('uses the low bits first on little-endian targets', () => {
    const enc = encodeValue(bf, { a: 5, b: 17, c: -2, d: 0x12_3456_789an });
    expect(enc[0]).toBe(5 | (17 << 3));
    expect(enc[1]! & 0x0f).toBe(0b1110);
    expect(decodeValue(bf, enc)).toEqual({ a: 5, b: 17, c: -2, d: 0x12_3456_789an });
  });

  it('uses the high bits first on big-endian targets', () => {
    const enc = encodeValue(bf, { a: 5, b: 17, c: -2, d: 1n }, { byteOrder: 'big' });
    expect(enc[0]).toBe((5 << 5) | 17);
    expect(enc[1]! >> 4).toBe(0b1110);
    expect(decodeValue(bf, enc, { byteOrder: 'big' })).toEqual({ a: 5, b: 17, c: -2, d: 1n });
  });

  it('round-trips the compiled struct core_sample (bitfields, anonymous union) of both byte orders', () => {
    for (const arch of ['bpfel', 'bpfeb'] as const) {
      const elf = new Uint8Array(readFileSync(join(testdata, `core_target.${arch}.o`)));
      const spec = parseSpec(findELFSection(elf, '.BTF')!.data);
      const sample = spec.typeByName('core_sample', 'struct');
      const byteOrder = arch === 'bpfel' ? 'little' : 'big';
      const value = { first: -1n, b: 2, a: 3, flags_u: 9, flags_s: -30, wide: (1n << 44n) + 5n, name: 'hello', c0: 1, c2: 2, e: 'CE_NEW', se: 'CSE_NEG' };
      const enc = encodeValue(sample, value, { byteOrder, charArraysAsStrings: true });
      expect(decodeValue(sample, enc, { byteOrder, charArraysAsStrings: true })).toMatchObject(value);
    }
  });
});
