/**
 * BTF-driven decoding: turn the bytes of a map value or a perf/ring buffer sample into a plain
 * JavaScript value following a BTF type, and back. Integers up to 4 bytes (and floats) become
 * `number`s, 8- and 16-byte integers and pointers `bigint`s, `bool` a boolean, enums the
 * enumerator's name (or the number when no enumerator has the value), structs plain objects
 * (members of anonymous structs/unions are lifted into the parent, as C lets you name them),
 * unions an object with every member decoded from the same bytes, arrays JS arrays, and
 * `char` arrays strings when asked.
 *
 * Bitfields follow the BTF convention: a member's bit offset counts bits in memory order, so
 * on little-endian targets bit 0 is the least significant bit of byte 0, and on big-endian
 * targets the most significant one (the layout clang gives the two `bpfel`/`bpfeb` targets).
 *
 * @module
 */
import { ArgumentError } from '../errors.js';
import { codecFor, type BTFCodec, type CodecOptions } from './codec.js';
import type { ByteOrder } from './parse.js';
import { shapeOf, type Shape, type ShapeOptions } from './shape.js';
import { Composite, Union, skipQualifiersAndTypedefs, type Type } from './types.js';

/** Options of {@link decodeValue} and {@link encodeValue}. */
export interface DecodeOptions {
  /** Byte order of the data; the kernel writes the host's. Default `"little"`. */
  byteOrder?: ByteOrder;
  /** Decode `char` arrays as strings (up to the first NUL) and accept strings when encoding. Default false. */
  charArraysAsStrings?: boolean;
  /** Decode enums as enumerator names. Default true. */
  enumsAsNames?: boolean;
}

/** A decoded value: numbers, bigints, booleans, strings, arrays and plain objects. */
export type DecodedValue = number | bigint | boolean | string | DecodedValue[] | { [name: string]: DecodedValue };

interface Compiled {
  codec: BTFCodec<DecodedValue>;
  shape: Shape;
}

// codecFor() compiles closures once per type and options; callers (variables, CLI, readers)
// decode the same types again and again.
const compiled = new WeakMap<Type, Map<string, Compiled>>();

function compile(type: Type, options: DecodeOptions): Compiled {
  const byteOrder = options.byteOrder ?? 'little';
  // Without charArraysAsStrings, char arrays are plain arrays of numbers.
  const charArrays = options.charArraysAsStrings === true ? 'string' : 'numbers';
  const enums = options.enumsAsNames === false ? 'numbers' : 'names';
  const key = `${byteOrder}/${charArrays}/${enums}`;
  let byKey = compiled.get(type);
  if (byKey === undefined) compiled.set(type, (byKey = new Map()));
  let c = byKey.get(key);
  if (c === undefined) {
    const shapeOptions: ShapeOptions = { charArrays, enums };
    c = {
      codec: codecFor<DecodedValue>(undefined, type, { byteOrder, ...shapeOptions } as CodecOptions),
      shape: shapeOf(type, shapeOptions),
    };
    byKey.set(key, c);
  }
  return c;
}

/**
 * The cached codec {@link decodeValue} decodes `type` with under `options`: for a loop that
 * decodes many values of one type (the readers' `decoded()`), looked up once. @internal
 */
export function valueCodec(type: Type, options: DecodeOptions = {}): BTFCodec<DecodedValue> {
  return compile(type, options).codec;
}

/**
 * Decodes `bytes` (at `offset`) as a value of `type`. Throws `ArgumentError` when the bytes are
 * too short or the type has no value representation (void, functions, forward declarations).
 *
 * @example
 * ```ts
 * const event = decodeValue(spec.typeByName('event', 'struct'), sample.rawSample, { charArraysAsStrings: true });
 * ```
 */
export function decodeValue(type: Type, bytes: Uint8Array, options: DecodeOptions = {}, offset = 0): DecodedValue {
  return compile(type, options).codec.decode(bytes, offset);
}

/**
 * Encodes a value shaped like {@link decodeValue}'s output into `sizeof(type)` bytes. Missing
 * struct members are zero; integers accept numbers or bigints and must fit; enums accept
 * names or numbers; strings must fit their char array. Throws `ArgumentError` otherwise,
 * naming the member path.
 */
export function encodeValue(type: Type, value: unknown, options: DecodeOptions = {}): Uint8Array {
  const { codec, shape } = compile(type, options);
  return codec.encode(checked(shape, value, 'value', 0) as DecodedValue);
}

/**
 * What the codec does not check: names that are no member, two members of one union given
 * (they share their bytes), unknown enumerator names; char arrays given as numbers become bytes.
 */
function checked(s: Shape, value: unknown, path: string, depth: number): unknown {
  if (value === undefined || depth > 64) return value;
  switch (s.kind) {
    case 'enum':
      if (typeof value === 'string' && !s.values.some((e) => e.name === value)) {
        throw new ArgumentError(`encode: ${path}: ${value} is not an enumerator of ${s.type}`);
      }
      return value;
    case 'chars':
      if (Array.isArray(value) && value.every((b) => Number.isInteger(b) && b >= -128 && b <= 255)) return Uint8Array.from(value as number[]);
      return value;
    case 'array':
      return Array.isArray(value) ? value.map((v, i) => checked(s.element, v, `${path}[${i}]`, depth + 1)) : value;
    case 'struct':
    case 'union':
    case 'datasec': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
      const obj = value as Record<string, unknown>;
      if (s.kind !== 'datasec') {
        const known = new Set(s.fields.map((f) => f.name));
        for (const key of Object.keys(obj)) {
          if (!known.has(key)) throw new ArgumentError(`encode: ${path}.${key} is not a member of ${s.type}`);
        }
        checkUnions(s.type, obj, path, 0);
      }
      const out: Record<string, unknown> = { ...obj };
      for (const f of s.fields) if (f.kind === 'field' && f.name in out) out[f.name] = checked(f.shape, out[f.name], `${path}.${f.name}`, depth + 1);
      return out;
    }
    default:
      return value;
  }
}

// In a union only one member's bytes survive: `obj` may give one named member of each union
// (anonymous members are looked through, their members named in `obj`).
function checkUnions(t: Composite, obj: Record<string, unknown>, path: string, depth: number): void {
  if (depth > 64) return;
  if (t instanceof Union && t.members.filter((m) => m.name !== '' && obj[m.name] !== undefined).length > 1) {
    throw new ArgumentError(`encode: ${path}: give only one member of ${t} (they share their bytes)`);
  }
  for (const m of t.members) {
    if (m.name !== '') continue;
    const inner = skipQualifiersAndTypedefs(m.type);
    if (inner instanceof Composite) checkUnions(inner, obj, path, depth + 1);
  }
}
