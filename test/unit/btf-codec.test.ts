// codecFor(): every struct, union, enum and typedef of every testdata object, in both byte
// orders, decodes random bytes exactly like the runtime BTF decoder (decodeValue with char
// arrays as strings), and encodes back to bytes that decode to the same value. Plus
// bitfields on both byte orders, typed errors, and the raw codec.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ArgumentError } from '../../src/errors.js';
import { codecFor, rawCodec } from '../../src/btf/codec.js';
import { decodeValue } from '../../src/btf/decode.js';
import { TypeNotFoundError } from '../../src/btf/errors.js';
import { Composite, Enum, Enum64, Int, IntEncoding, Member, Struct, Typedef, Union, sizeof, type Type } from '../../src/btf/types.js';
import { parseCollectionSpec } from '../../src/collection-spec.js';
import { testdata } from '../helpers/tools.js';
import { randomBytes } from './helpers/random-bytes.js';

function valueTypes(types: Iterable<Type>): Type[] {
  return [...types].filter((t) => t instanceof Composite || t instanceof Enum || t instanceof Enum64 || t instanceof Typedef || t instanceof Int);
}

const objects = readdirSync(testdata).filter((f) => /\.bpfe[lb]\.o$/.test(f));

describe('codecFor matches decodeValue on every testdata type', () => {
  for (const file of objects) {
    it(file, () => {
      const spec = parseCollectionSpec(readFileSync(join(testdata, file)));
      if (spec.btf === undefined) return;
      let checked = 0;
      for (const t of valueTypes(spec.btf)) {
        let size: number;
        try {
          size = sizeof(t);
        } catch {
          continue; // a forward declaration's typedef
        }
        let codec;
        try {
          codec = codecFor(spec.btf, t);
        } catch (e) {
          if (e instanceof ArgumentError) continue; // no value representation (function pointers are fine; fwd members not)
          throw e;
        }
        for (const seed of [1, 7, 99]) {
          const bytes = randomBytes(size, seed + size);
          const want = decodeValue(t, bytes, { byteOrder: spec.byteOrder, charArraysAsStrings: true });
          const got = codec.decode(bytes);
          expect(got, `${t}`).toEqual(want);
          expect(codec.decode(codec.encode(got)), `${t} round trip`).toEqual(got);
        }
        checked++;
      }
      expect(checked).toBeGreaterThan(0);
    });
  }
});

describe('codecFor', () => {
  const u8 = new Int('u8', 1);
  const s32 = new Int('int', 4, IntEncoding.Signed);
  const u64 = new Int('u64', 8);
  const flags = new Struct('flags', 8, [
    new Member('a', u8, 0, 3),
    new Member('b', s32, 3, 7),
    new Member('', new Union('', 4, [new Member('c', u64, 0, 20), new Member('d', u8, 0)]), 32),
  ]);

  for (const byteOrder of ['little', 'big'] as const) {
    it(`bitfields and anonymous unions agree with decodeValue (${byteOrder}-endian)`, () => {
      const codec = codecFor<{ a: number; b: number; c: bigint; d?: number }>(undefined, flags, { byteOrder });
      const bytes = codec.encode({ a: 5, b: -33, c: 0xabcden });
      const back = codec.decode(bytes);
      expect(back.a).toBe(5);
      expect(back.b).toBe(-33);
      expect(back.c).toBe(0xabcden);
      expect(back).toEqual(decodeValue(flags, bytes, { byteOrder }));
    });
  }

  it('rejects values that do not fit, naming the member', () => {
    const codec = codecFor(undefined, flags);
    expect(() => codec.encode({ a: 8 })).toThrow(/value\.a = 8 does not fit 3 unsigned bits/);
    expect(() => codec.encode({ b: 'x' })).toThrow(ArgumentError);
    expect(() => codec.decode(new Uint8Array(3))).toThrow(/needs 8 bytes/);
  });

  it('looks types up by name and explains a missing one', () => {
    const spec = parseCollectionSpec(readFileSync(join(testdata, 'execsnoop.bpfel.o')));
    const codec = codecFor<{ pid: number; comm: string; argv: string[] }>(spec.btf, 'struct event');
    const v = codec.decode(codec.encode({ pid: 7, comm: 'bash', argv: ['ls', '-l'] }));
    expect(v.pid).toBe(7);
    expect(v.comm).toBe('bash');
    expect(v.argv.slice(0, 3)).toEqual(['ls', '-l', '']);
    expect(() => codecFor(spec.btf, 'struct nope')).toThrow(TypeNotFoundError);
    expect(() => codecFor(spec.btf, 'struct nope')).toThrow(/only when a function signature/);
  });

  it('keeps char arrays as bytes when asked', () => {
    const spec = parseCollectionSpec(readFileSync(join(testdata, 'execsnoop.bpfel.o')));
    const codec = codecFor<{ comm: Uint8Array }>(spec.btf, 'struct event', { charArrays: 'bytes' });
    expect(codec.decode(new Uint8Array(codec.size)).comm).toEqual(new Uint8Array(16));
  });

  it('rawCodec checks the size', () => {
    expect(rawCodec(2).decode(new Uint8Array([1, 2, 3]), 1)).toEqual(new Uint8Array([2, 3]));
    expect(() => rawCodec(2).encode(new Uint8Array(3))).toThrow(/expected 2 bytes/);
  });
});
