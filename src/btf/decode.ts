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
import type { ByteOrder } from './parse.js';
import {
  Array as ArrayType,
  Composite,
  Datasec,
  Enum,
  Enum64,
  Float,
  Int,
  IntEncoding,
  Pointer,
  Type,
  Union,
  Var,
  maxResolveDepth,
  sizeof,
  skipQualifiersAndTypedefs,
} from './types.js';

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

function isCharArray(t: ArrayType): boolean {
  const elem = skipQualifiersAndTypedefs(t.type);
  return elem instanceof Int && elem.size === 1 && ((elem.encoding & IntEncoding.Char) !== 0 || elem.name === 'char');
}

function readUnsigned(bytes: Uint8Array, offset: number, size: number, le: boolean): bigint {
  let v = 0n;
  for (let i = 0; i < size; i++) {
    const b = BigInt(bytes[offset + (le ? size - 1 - i : i)]!);
    v = (v << 8n) | b;
  }
  return v;
}

function writeUnsigned(bytes: Uint8Array, offset: number, size: number, le: boolean, value: bigint): void {
  let v = value;
  for (let i = 0; i < size; i++) {
    bytes[offset + (le ? i : size - 1 - i)] = Number(v & 0xffn);
    v >>= 8n;
  }
}

/** The bytes `[start, end)` a bitfield spans, and its shift inside that little window. */
function bitWindow(bitOffset: number, bits: number, le: boolean): { start: number; size: number; shift: bigint } {
  const start = Math.floor(bitOffset / 8);
  const end = Math.ceil((bitOffset + bits) / 8);
  const size = end - start;
  const inner = bitOffset - start * 8;
  // LE: bit 0 is the low bit of the window; BE: bit 0 is its high bit.
  const shift = le ? BigInt(inner) : BigInt(size * 8 - inner - bits);
  return { start, size, shift };
}

function intFromBits(raw: bigint, bits: number, signed: boolean): bigint {
  return signed ? BigInt.asIntN(bits, raw) : BigInt.asUintN(bits, raw);
}

function needBytes(bytes: Uint8Array, end: number, t: Type): void {
  if (end > bytes.length) throw new ArgumentError(`decode: ${t} needs ${end} bytes, got ${bytes.length}`);
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
  const le = (options.byteOrder ?? 'little') === 'little';
  return decodeAt(type, bytes, offset, le, options, 0);
}

function decodeAt(type: Type, bytes: Uint8Array, offset: number, le: boolean, options: DecodeOptions, depth: number): DecodedValue {
  if (depth > maxResolveDepth) throw new ArgumentError(`decode: ${type} nests deeper than ${maxResolveDepth} levels`);
  const t = skipQualifiersAndTypedefs(type);
  if (t instanceof Var) return decodeAt(t.type, bytes, offset, le, options, depth + 1);
  if (t instanceof Int) {
    needBytes(bytes, offset + t.size, t);
    const raw = readUnsigned(bytes, offset, t.size, le);
    if ((t.encoding & IntEncoding.Bool) !== 0) return raw !== 0n;
    const v = intFromBits(raw, t.size * 8, t.signed);
    return t.size <= 4 ? Number(v) : v;
  }
  if (t instanceof Pointer) {
    needBytes(bytes, offset + 8, t);
    return readUnsigned(bytes, offset, 8, le);
  }
  if (t instanceof Float) {
    needBytes(bytes, offset + t.size, t);
    const view = new DataView(bytes.buffer, bytes.byteOffset + offset, t.size);
    if (t.size === 4) return view.getFloat32(0, le);
    if (t.size === 8) return view.getFloat64(0, le);
    throw new ArgumentError(`decode: ${t}: only 4- and 8-byte floats are supported`);
  }
  if (t instanceof Enum || t instanceof Enum64) {
    needBytes(bytes, offset + t.size, t);
    const v = intFromBits(readUnsigned(bytes, offset, t.size, le), t.size * 8, t.signed);
    return enumValue(t, v, options);
  }
  if (t instanceof ArrayType) {
    const elemSize = sizeof(t.type);
    needBytes(bytes, offset + elemSize * t.nelems, t);
    if (options.charArraysAsStrings === true && isCharArray(t)) {
      const slice = bytes.subarray(offset, offset + t.nelems);
      const nul = slice.indexOf(0);
      return new TextDecoder().decode(nul < 0 ? slice : slice.subarray(0, nul));
    }
    const out: DecodedValue[] = [];
    for (let i = 0; i < t.nelems; i++) out.push(decodeAt(t.type, bytes, offset + i * elemSize, le, options, depth + 1));
    return out;
  }
  if (t instanceof Composite) {
    needBytes(bytes, offset + t.size, t);
    const out: { [name: string]: DecodedValue } = {};
    for (const m of t.members) {
      let v: DecodedValue;
      if (m.bitfieldSize > 0) {
        const w = bitWindow(m.offset, m.bitfieldSize, le);
        const raw = readUnsigned(bytes, offset + w.start, w.size, le) >> w.shift;
        const mt = skipQualifiersAndTypedefs(m.type);
        const signed = (mt instanceof Int && mt.signed) || ((mt instanceof Enum || mt instanceof Enum64) && mt.signed);
        const n = intFromBits(raw, m.bitfieldSize, signed);
        if (mt instanceof Enum || mt instanceof Enum64) v = enumValue(mt, n, options);
        else if (mt instanceof Int && (mt.encoding & IntEncoding.Bool) !== 0) v = n !== 0n;
        else v = mt instanceof Int && mt.size > 4 ? n : Number(n);
      } else {
        if (m.offset % 8 !== 0) throw new ArgumentError(`decode: member ${m.name} of ${t} is not byte-aligned`);
        v = decodeAt(m.type, bytes, offset + m.offset / 8, le, options, depth + 1);
      }
      if (m.name !== '') out[m.name] = v;
      else if (typeof v === 'object' && !Array.isArray(v)) Object.assign(out, v);
      // else: an unnamed padding bitfield (`int :3`), which has no value.
    }
    return out;
  }
  if (t instanceof Datasec) {
    const out: { [name: string]: DecodedValue } = {};
    for (const v of t.vars) out[v.type.name] = decodeAt(v.type, bytes, offset + v.offset, le, options, depth + 1);
    return out;
  }
  throw new ArgumentError(`decode: ${t} has no value representation`);
}

function enumValue(t: Enum | Enum64, v: bigint, options: DecodeOptions): DecodedValue {
  if (options.enumsAsNames !== false) {
    const found = t.values.find((e) => BigInt(e.value) === v || (!t.signed && BigInt.asUintN(t.size * 8, BigInt(e.value)) === v));
    if (found !== undefined) return found.name;
  }
  return t.size <= 4 ? Number(v) : v;
}

/**
 * Encodes a value shaped like {@link decodeValue}'s output into `sizeof(type)` bytes. Missing
 * struct members are zero; integers accept numbers or bigints and must fit; enums accept
 * names or numbers; strings must fit their char array. Throws `ArgumentError` otherwise,
 * naming the member path.
 */
export function encodeValue(type: Type, value: unknown, options: DecodeOptions = {}): Uint8Array {
  const out = new Uint8Array(sizeof(type));
  encodeAt(type, value, out, 0, (options.byteOrder ?? 'little') === 'little', options, 'value', 0);
  return out;
}

function toBigInt(value: unknown, path: string): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'boolean') return value ? 1n : 0n;
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  throw new ArgumentError(`encode: ${path} must be an integer, got ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`);
}

function checkRange(v: bigint, bits: number, signed: boolean, path: string): bigint {
  const min = signed ? -(1n << BigInt(bits - 1)) : 0n;
  const max = signed ? (1n << BigInt(bits - 1)) - 1n : (1n << BigInt(bits)) - 1n;
  // Accept the unsigned spelling of negative values too (0xffffffff for an int), as C does.
  if (v < min || v > max) {
    if (signed && v > max && v <= (1n << BigInt(bits)) - 1n) return BigInt.asUintN(bits, v);
    throw new ArgumentError(`encode: ${path} = ${v} does not fit ${bits} ${signed ? 'signed' : 'unsigned'} bits`);
  }
  return BigInt.asUintN(bits, v);
}

function enumNumber(t: Enum | Enum64, value: unknown, path: string): bigint {
  if (typeof value === 'string') {
    const found = t.values.find((e) => e.name === value);
    if (found === undefined) throw new ArgumentError(`encode: ${path}: ${value} is not an enumerator of ${t}`);
    return BigInt(found.value);
  }
  return toBigInt(value, path);
}

function encodeAt(
  type: Type,
  value: unknown,
  out: Uint8Array,
  offset: number,
  le: boolean,
  options: DecodeOptions,
  path: string,
  depth: number,
  // Anonymous members get the enclosing object: only the outermost level checks for strays.
  nested = false,
): void {
  if (depth > maxResolveDepth) throw new ArgumentError(`encode: ${type} nests deeper than ${maxResolveDepth} levels`);
  if (value === undefined) return; // zero, already
  const t = skipQualifiersAndTypedefs(type);
  if (t instanceof Var) return encodeAt(t.type, value, out, offset, le, options, path, depth + 1);
  if (t instanceof Int) {
    writeUnsigned(out, offset, t.size, le, checkRange(toBigInt(value, path), t.size * 8, t.signed, path));
    return;
  }
  if (t instanceof Pointer) {
    writeUnsigned(out, offset, 8, le, checkRange(toBigInt(value, path), 64, false, path));
    return;
  }
  if (t instanceof Float) {
    if (typeof value !== 'number') throw new ArgumentError(`encode: ${path} must be a number`);
    const view = new DataView(out.buffer, out.byteOffset + offset, t.size);
    if (t.size === 4) view.setFloat32(0, value, le);
    else if (t.size === 8) view.setFloat64(0, value, le);
    else throw new ArgumentError(`encode: ${path}: only 4- and 8-byte floats are supported`);
    return;
  }
  if (t instanceof Enum || t instanceof Enum64) {
    writeUnsigned(out, offset, t.size, le, checkRange(enumNumber(t, value, path), t.size * 8, t.signed, path));
    return;
  }
  if (t instanceof ArrayType) {
    const elemSize = sizeof(t.type);
    if (typeof value === 'string' && isCharArray(t)) {
      const encoded = new TextEncoder().encode(value);
      if (encoded.length > t.nelems) throw new ArgumentError(`encode: ${path}: ${encoded.length} bytes do not fit char[${t.nelems}]`);
      out.set(encoded, offset);
      return;
    }
    if (!Array.isArray(value) && !(value instanceof Uint8Array)) throw new ArgumentError(`encode: ${path} must be an array`);
    const items = Array.from(value as ArrayLike<unknown>);
    if (items.length > t.nelems) throw new ArgumentError(`encode: ${path} has ${items.length} elements, the array ${t.nelems}`);
    items.forEach((v, i) => encodeAt(t.type, v, out, offset + i * elemSize, le, options, `${path}[${i}]`, depth + 1));
    return;
  }
  if (t instanceof Composite) {
    if (typeof value !== 'object' || value === null) throw new ArgumentError(`encode: ${path} must be an object`);
    const obj = value as Record<string, unknown>;
    const known = new Set<string>();
    collectNames(t, known);
    for (const key of nested ? [] : Object.keys(obj)) {
      if (!known.has(key)) throw new ArgumentError(`encode: ${path}.${key} is not a member of ${t}`);
    }
    // In a union only one member's bytes survive: encode the members that were given.
    const members = t instanceof Union ? t.members.filter((m) => m.name === '' || obj[m.name] !== undefined) : t.members;
    if (t instanceof Union && members.filter((m) => m.name !== '').length > 1) {
      throw new ArgumentError(`encode: ${path}: give only one member of ${t} (they share their bytes)`);
    }
    for (const m of members) {
      const mpath = `${path}.${m.name}`;
      if (m.name === '') {
        encodeAt(m.type, obj, out, offset + m.offset / 8, le, options, path, depth + 1, true);
        continue;
      }
      const v = obj[m.name];
      if (v === undefined) continue;
      if (m.bitfieldSize > 0) {
        const mt = skipQualifiersAndTypedefs(m.type);
        const signed = (mt instanceof Int && mt.signed) || ((mt instanceof Enum || mt instanceof Enum64) && mt.signed);
        const n = checkRange(mt instanceof Enum || mt instanceof Enum64 ? enumNumber(mt, v, mpath) : toBigInt(v, mpath), m.bitfieldSize, signed, mpath);
        const w = bitWindow(m.offset, m.bitfieldSize, le);
        const mask = ((1n << BigInt(m.bitfieldSize)) - 1n) << w.shift;
        const old = readUnsigned(out, offset + w.start, w.size, le);
        writeUnsigned(out, offset + w.start, w.size, le, (old & ~mask) | (n << w.shift));
      } else {
        encodeAt(m.type, v, out, offset + m.offset / 8, le, options, mpath, depth + 1);
      }
    }
    return;
  }
  if (t instanceof Datasec) {
    const obj = value as Record<string, unknown>;
    for (const v of t.vars) encodeAt(v.type, obj[v.type.name], out, offset + v.offset, le, options, `${path}.${v.type.name}`, depth + 1);
    return;
  }
  throw new ArgumentError(`encode: ${t} has no value representation`);
}

// Member names reachable from a composite, looking through anonymous members.
function collectNames(t: Composite, into: Set<string>, depth = 0): void {
  if (depth > maxResolveDepth) return;
  for (const m of t.members) {
    if (m.name !== '') into.add(m.name);
    else {
      const inner = skipQualifiersAndTypedefs(m.type);
      if (inner instanceof Composite) collectNames(inner, into, depth + 1);
    }
  }
}
