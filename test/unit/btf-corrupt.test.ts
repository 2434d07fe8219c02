import { describe, expect, it } from 'vitest';
import { BpfError, ParseError } from '../../src/errors.js';
import {
  Int,
  IntEncoding,
  Member,
  Pointer,
  Spec,
  Struct,
  TypeCycleError,
  Typedef,
  dumpCHeader,
  formatType,
  marshalSpec,
  parseSpec,
  sizeof,
  skipQualifiersAndTypedefs,
} from '../../src/btf/index.js';
import { objectBTF } from './btf-helpers.js';

// A small valid blob: [1] int, [2] struct point {int x; int y;}, [3] typedef point_t, [4] ptr.
function validBlob(): { bytes: Uint8Array; offsets: Uint32Array; strStart: number } {
  const spec = new Spec();
  const int = new Int('int', 4, IntEncoding.Signed);
  const point = new Struct('point', 8, [new Member('x', int, 0), new Member('y', int, 32)]);
  spec.add(int);
  spec.add(point);
  spec.add(new Typedef('point_t', point));
  spec.add(new Pointer(point));
  const bytes = marshalSpec(spec);
  const parsed = parseSpec(bytes);
  return { bytes, offsets: parsed.raw!.offsets, strStart: 24 + parsed.raw!.header.stringOffset };
}

function patch32(bytes: Uint8Array, at: number, value: number): Uint8Array {
  const out = bytes.slice();
  new DataView(out.buffer).setUint32(at, value >>> 0, true);
  return out;
}

function expectParseError(bytes: Uint8Array, message: RegExp, offset: number | undefined): void {
  let caught: unknown;
  try {
    parseSpec(bytes);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ParseError);
  expect((caught as ParseError).message).toMatch(message);
  expect((caught as ParseError).offset).toBe(offset);
}

describe('malformed BTF gives a ParseError naming what and where', () => {
  const { bytes, offsets, strStart } = validBlob();
  const [, structAt, typedefAt] = offsets;
  const cases: [string, () => Uint8Array, RegExp, number | undefined][] = [
    ['truncated header', () => bytes.slice(0, 10), /header truncated: 10 bytes/, 0],
    ['bad magic', () => patch32(bytes, 0, 0x0001abcd), /bad magic/, 0],
    ['unsupported version', () => { const b = bytes.slice(); b[2] = 2; return b; }, /version 2/, 2],
    ['hdr_len past the end', () => patch32(bytes, 4, 1 << 20), /hdr_len 1048576 out of range/, 4],
    ['type section past the end', () => patch32(bytes, 12, 1 << 20), /type section .* runs past the end/, 8],
    ['string section past the end', () => patch32(bytes, 20, 1 << 20), /string section .* runs past the end/, 16],
    ['type section cut inside a record', () => patch32(bytes, 12, typedefAt! - 24 + 4), /type 3 truncated: 4 bytes left/, typedefAt],
    ['unknown kind', () => patch32(bytes, typedefAt! + 4, 31 << 24), /type 3 has unknown kind 31/, typedefAt! + 4],
    ['kind 0 (void is never encoded)', () => patch32(bytes, typedefAt! + 4, 0), /unknown kind 0/, typedefAt! + 4],
    ['vlen running past the end', () => patch32(bytes, structAt! + 4, (4 << 24) | 1000), /type 2 \(struct, vlen 1000\) runs past the end/, structAt],
    ['type name offset out of range', () => patch32(bytes, typedefAt!, 9999), /type 3: type name offset 9999 is past the end/, typedefAt],
    ['member name offset out of range', () => patch32(bytes, structAt! + 12, 9999), /type 2: member 0 name offset 9999/, structAt! + 12],
    ['type ID beyond the table', () => patch32(bytes, typedefAt! + 8, 77), /type 3 references type ID 77, but the last type ID is 4/, typedefAt! + 8],
    ['member type ID beyond the table', () => patch32(bytes, structAt! + 12 + 16, 5), /type 2 references type ID 5/, structAt! + 12 + 16],
    ['string table not NUL-terminated', () => { const b = bytes.slice(); b[b.length - 1] = 0x41; return b; }, /not NUL-terminated/, bytes.length - 1],
    ['string table not starting with ""', () => { const b = bytes.slice(); b[strStart] = 0x41; return b; }, /must start with an empty string/, strStart],
    ['int wider than its size', () => patch32(bytes, offsets[0]! + 12, (IntEncoding.Signed << 24) | 64), /int with 64 bits .* does not fit 4 bytes/, offsets[0]! + 12],
  ];
  it.each(cases)('%s', (_name, corrupt, message, offset) => {
    expectParseError(corrupt(), message, offset);
  });

  it('the valid blob itself parses', () => {
    expect(parseSpec(bytes).typeByName('point_t', Typedef).type.name).toBe('point');
  });
});

describe('cyclic type graphs', () => {
  // typedef a -> typedef b -> typedef a: representable in BTF, impossible in C.
  const { bytes, offsets } = validBlob();
  const typedefAt = offsets[2]!;
  // Make the pointer (id 4) a typedef to type 3, and typedef 3 point at 4.
  let b = patch32(bytes, offsets[3]! + 4, 8 << 24);
  b = patch32(b, offsets[3]! + 8, 3);
  b = patch32(b, typedefAt + 8, 4);
  const spec = parseSpec(b);

  it('parse, and bounded walks throw a typed error instead of hanging', () => {
    const t = spec.typeById(3);
    expect(() => skipQualifiersAndTypedefs(t)).toThrow(TypeCycleError);
    expect(() => sizeof(t)).toThrow(TypeCycleError);
    expect(formatType(t)).toMatch(/^typedef/);
  });

  it('marshal and the header dump terminate', () => {
    expect(marshalSpec(spec)).toEqual(b);
    expect(dumpCHeader(spec)).toContain('#endif');
  });
});

describe('fuzzed BTF never escapes as an untyped exception', () => {
  const base = objectBTF('btf_kinds.bpfel.o').btf;
  // A fixed-seed generator keeps failures reproducible.
  let seed = 0x12345678;
  const rand = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  it('1000 mutations: ParseError or a spec whose types, marshal and C dump work', () => {
    let parsed = 0;
    for (let i = 0; i < 1000; i++) {
      const b = base.slice();
      const flips = 1 + rand(4);
      for (let k = 0; k < flips; k++) {
        const at = rand(b.length);
        b[at] = rand(3) === 0 ? 0xff : rand(256);
      }
      try {
        const spec = parseSpec(b);
        for (const t of spec) String(t);
        marshalSpec(spec);
        dumpCHeader(spec);
        parsed++;
      } catch (err) {
        if (!(err instanceof BpfError)) throw err;
      }
    }
    expect(parsed).toBeGreaterThan(0);
  });
});
