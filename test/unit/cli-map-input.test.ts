// Keys and values of `map lookup|update|delete` as typed on the command line — bpftool's byte
// words, "hex" digits, or JSON through the map's BTF types (exact beyond 2^53) — and entries
// as `map dump` prints them: decoded JSON when the map has types, hex bytes otherwise,
// per-CPU values one line per CPU. No kernel needed.
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/args.js';
import { decodedText, entryRecord, entryText, type OpenedMap } from '../../src/cli/map-entries.js';
import { coerce, elementBytes, parseJSONExact, splitElementWords } from '../../src/cli/map-input.js';
import { Array as ArrayType, Enum, Int, IntEncoding, Member, Struct, Typedef, Union } from '../../src/btf/types.js';

const u32 = new Int('unsigned int', 4);
const u64 = new Typedef('__u64', new Int('unsigned long long', 8));
const char = new Int('char', 1, IntEncoding.Char);
const color = new Enum('color', 4, [
  { name: 'RED', value: 1 },
  { name: 'BLUE', value: 2 },
]);
// struct point { __u32 x; __u64 big; char name[4]; enum color c; union { __u32 a; __u32 b; }; }
const point = new Struct('point', 24, [
  new Member('x', u32, 0),
  new Member('big', u64, 32),
  new Member('name', new ArrayType(char, u32, 4), 96),
  new Member('c', color, 128),
  new Member('', new Union('', 4, [new Member('a', u32, 0), new Member('b', u32, 0)]), 160),
]);

describe('element words', () => {
  it('splits key, value and the update flag', () => {
    expect(splitElementWords(['key', '0x01', '0', 'value', '1', 'noexist'])).toEqual({ key: ['0x01', '0'], value: ['1'], flag: 'noexist' });
    expect(splitElementWords(['key', 'hex', '0100'])).toEqual({ key: ['hex', '0100'], value: undefined, flag: undefined });
    // A lone "any" after "value" is the value, not a flag.
    expect(splitElementWords(['key', '1', 'value', 'any'])).toEqual({ key: ['1'], value: ['any'], flag: undefined });
    expect(() => splitElementWords(['1'])).toThrow(/expected "key"/);
    expect(() => splitElementWords(['key'])).toThrow(UsageError);
    expect(() => splitElementWords(['key', '1', 'value'])).toThrow(/"value" needs/);
  });

  it('reads one word per byte, in hex or decimal, or "hex" and digits', () => {
    expect(elementBytes(['0x01', '0x00', '255', '7'], 4, undefined, 'key')).toEqual(Uint8Array.from([1, 0, 255, 7]));
    expect(elementBytes(['hex', '01', '00', '00', 'ff'], 4, undefined, 'key')).toEqual(Uint8Array.from([1, 0, 0, 255]));
    expect(elementBytes(['hex', '010000ff'], 4, undefined, 'key')).toEqual(Uint8Array.from([1, 0, 0, 255]));
    expect(() => elementBytes(['1', '2'], 4, undefined, 'key')).toThrow('key needs 4 byte(s): one word per byte (0x01 or 1), "hex" and digits (the map has no BTF for a JSON value); got 2 word(s)');
    expect(() => elementBytes(['0x100', '0', '0', '0'], 4, undefined, 'key')).toThrow(UsageError);
    expect(() => elementBytes(['hex', '0100'], 4, undefined, 'key')).toThrow('key needs 4 byte(s), got 2');
    expect(() => elementBytes(['hex', '010'], 4, undefined, 'key')).toThrow(/two per byte/);
  });

  it('encodes one JSON word through the BTF type, little-endian on this host', () => {
    expect(elementBytes(['7'], 4, u32, 'key')).toEqual(Uint8Array.from([7, 0, 0, 0]));
    // Four byte words for a 4-byte key stay bytes, BTF or not.
    expect(elementBytes(['7', '0', '0', '0'], 4, u32, 'key')).toEqual(Uint8Array.from([7, 0, 0, 0]));
    const bytes = elementBytes(['{"x": 1, "big": 18446744073709551615, "name": "ab", "c": "BLUE", "b": 9}'], 24, point, 'value');
    expect(Buffer.from(bytes).toString('hex')).toBe('01000000' + 'ffffffffffffffff' + '61620000' + '02000000' + '09000000');
    expect(() => elementBytes(['{"x":'], 24, point, 'value')).toThrow(/neither 24 byte\(s\) nor JSON/);
    expect(() => elementBytes(['{"x": -1}'], 24, point, 'value')).toThrow(/does not fit/);
  });

  it('keeps integers beyond 2^53 exact, and digits inside strings alone', () => {
    expect(parseJSONExact('{"a": 18446744073709551615, "s": "12345678901234567890", "f": 1.5, "n": -9007199254740993}')).toEqual({
      a: '18446744073709551615',
      s: '12345678901234567890',
      f: 1.5,
      n: '-9007199254740993',
    });
    expect(coerce(point, { big: '18446744073709551615', name: '1234', a: '5' })).toEqual({ big: 18446744073709551615n, name: '1234', a: 5n });
  });
});

describe('entries', () => {
  const opened = (keyType: OpenedMap['keyType'], valueType: OpenedMap['valueType']): OpenedMap => ({ keyType, valueType }) as OpenedMap;

  it('prints decoded JSON with exact big integers when the map has types, hex bytes without', () => {
    const value = elementBytes(['{"x": 1, "big": 18446744073709551615, "name": "ab", "c": "RED"}'], 24, point, 'value');
    const typed = entryRecord(opened(u32, point), Uint8Array.from([5, 0, 0, 0]), value);
    expect(entryText(typed)).toBe('key: 5  value: {"x": 1, "big": 18446744073709551615, "name": "ab", "c": "RED", "a": 0, "b": 0}\n');
    const raw = entryRecord(opened(undefined, undefined), Uint8Array.from([5, 0, 0, 0]), Uint8Array.from([1, 2]));
    expect(raw.formatted).toBeUndefined();
    expect(entryText(raw)).toBe('key: 05 00 00 00  value: 01 02\n');
  });

  it('prints per-CPU values one per line, and says why a value could not be read', () => {
    const perCPU = entryRecord(opened(u32, u32), Uint8Array.from([0, 0, 0, 0]), [Uint8Array.from([1, 0, 0, 0]), Uint8Array.from([2, 0, 0, 0])]);
    expect(entryText(perCPU)).toBe('key: 0\n  cpu 0: 1\n  cpu 1: 2\n');
    const failed = entryRecord(opened(undefined, undefined), Uint8Array.from([1, 0, 0, 0]), undefined, 'ENOTSUPP');
    expect(failed).toEqual({ key: Uint8Array.from([1, 0, 0, 0]), value: null, error: 'ENOTSUPP' });
    expect(entryText(failed)).toBe('key: 01 00 00 00  value: (ENOTSUPP)\n');
  });

  it('writes decoded values as JSON a user can paste back into map update', () => {
    const text = decodedText({ a: [1, 2n ** 64n - 1n], s: 'x"y', t: true, n: null as never });
    expect(text).toBe('{"a": [1, 18446744073709551615], "s": "x\\"y", "t": true, "n": null}');
    expect(parseJSONExact(text)).toEqual({ a: [1, '18446744073709551615'], s: 'x"y', t: true, n: null });
  });
});
