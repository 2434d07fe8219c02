/**
 * `codecFor()`: a codec built from BTF at run time — one decode and one encode function per
 * type, compiled once into closures over fixed offsets, so decoding a record walks no BTF.
 * For code that does not use `ebpf-ts gen`; the generated modules emit the same layout as
 * straight-line source (both follow `shape.ts`).
 *
 * @module
 */
import { ArgumentError } from '../errors.js';
import { TypeNotFoundError } from './errors.js';
import type { ByteOrder } from './parse.js';
import type { Spec } from './spec.js';
import { bitWindow, shapeOf, type CharArrayMode, type EnumShape, type FieldShape, type IntShape, type Shape } from './shape.js';
import type { Type } from './types.js';

/**
 * Turns values of one type into bytes and back. Built by {@link codecFor}, by generated
 * modules (`ebpf-ts gen`), or by hand; `TypedMap` and the typed readers take any of them.
 */
export interface Codec<T> {
  /** Bytes of one value. */
  readonly size: number;
  /** Decodes `size` bytes at `offset`. @throws ArgumentError when `bytes` is too short. */
  decode(bytes: Uint8Array, offset?: number): T;
  /** Encodes `value` into fresh zeroed bytes. @throws ArgumentError naming the member that does not fit. */
  encode(value: T): Uint8Array;
}

/** Options of {@link codecFor}. */
export interface CodecOptions {
  /** Byte order of the data. Default: the BTF's (the object's), which is what its programs write. */
  byteOrder?: ByteOrder;
  /** `char[N]` as `'string'` (default, up to the first NUL) or `'bytes'` (a `Uint8Array` copy). */
  charArrays?: CharArrayMode;
  /** Enums as enumerator `'names'` (default; the number when no enumerator matches) or `'numbers'`. */
  enums?: 'names' | 'numbers';
}

/** A codec built from BTF: a {@link Codec} that also tells its type and byte order. */
export interface BTFCodec<T> extends Codec<T> {
  /** The BTF type it encodes. */
  readonly type: Type;
  /** Byte order it reads and writes. */
  readonly byteOrder: ByteOrder;
}

type Reader = (view: DataView, bytes: Uint8Array, off: number) => unknown;
type Writer = (value: unknown, view: DataView, bytes: Uint8Array, off: number, path: string) => void;

/**
 * Builds a codec for a type of `spec`, given as a `Type` or a name like `'struct event'`,
 * `'union key'`, `'enum state'` or a plain (typedef) name.
 *
 * @example
 * ```ts
 * const spec = await loadCollectionSpec('tracer.bpfel.o');
 * const event = btf.codecFor<{ pid: number; comm: string }>(spec.btf!, 'struct event');
 * const { pid, comm } = event.decode(record.rawSample);
 * ```
 * @throws {@link TypeNotFoundError} when the name is not in the BTF (with the reason clang
 * leaves types out); {@link ArgumentError} for a type with no value (void, functions).
 */
export function codecFor<T = unknown>(spec: Spec | undefined, type: Type | string, options: CodecOptions = {}): BTFCodec<T> {
  const t = typeof type === 'string' ? lookupType(spec, type) : type;
  const byteOrder = options.byteOrder ?? spec?.byteOrder ?? 'little';
  const le = byteOrder === 'little';
  const s = shapeOf(t, options);
  const size = shapeSize(s);
  const read = reader(s, le);
  const write = writer(s, le);
  const codec = codecOf<T>(size, read as (v: DataView, b: Uint8Array, o: number) => T, (x, v, b, o) => write(x, v, b, o, 'value'), String(t));
  return { type: t, byteOrder, ...codec };
}

/**
 * A {@link Codec} of `size` bytes from a reader and a writer over a `DataView` of the bytes:
 * the size check and the fresh zeroed output every codec needs. {@link codecFor} builds its
 * codecs with it, and so do the modules `ebpf-ts gen` writes; `label` names the type in errors.
 *
 * @example
 * ```ts
 * const pair = btf.codecOf<[number, number]>(8, (v, b, o) => [v.getUint32(o, true), v.getUint32(o + 4, true)], ([a, c], v, b, o) => {
 *   v.setUint32(o, a, true);
 *   v.setUint32(o + 4, c, true);
 * });
 * ```
 */
export function codecOf<T>(
  size: number,
  read: (v: DataView, b: Uint8Array, o: number) => T,
  write: (x: T, v: DataView, b: Uint8Array, o: number) => void,
  label?: string,
): Codec<T> {
  const what = label === undefined ? 'decode' : `decode ${label}`;
  return {
    size,
    decode(bytes: Uint8Array, offset = 0): T {
      if (offset < 0 || bytes.length < offset + size) throw new ArgumentError(`${what}: needs ${size} bytes at offset ${offset}, got ${bytes.length}`);
      return read(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), bytes, offset);
    },
    encode(value: T): Uint8Array {
      const out = new Uint8Array(size);
      write(value, new DataView(out.buffer), out, 0);
      return out;
    },
  };
}

/** Resolves `'struct event'` (or a plain name) in `spec`. */
function lookupType(spec: Spec | undefined, name: string): Type {
  if (spec === undefined) throw new ArgumentError(`codecFor(${JSON.stringify(name)}): no BTF to look the type up in (compile with -g)`);
  const m = /^\s*(struct|union|enum|typedef)\s+(\S+)\s*$/.exec(name);
  try {
    return m === null ? spec.typeByName(name.trim()) : spec.typeByName(m[2]!, m[1] as 'struct');
  } catch (e) {
    if (!(e instanceof TypeNotFoundError)) throw e;
    // clang emits a type only when a signature, a global or a map definition names it.
    throw new TypeNotFoundError(
      e.typeName,
      e.kindName,
      'clang writes a type into BTF only when a function signature, a global variable or a map definition uses it; ' +
        'name it once (a map\'s __type(value, …), or an unused global pointer to it) and rebuild',
    );
  }
}

/**
 * Bytes of a value of this shape.
 *
 * @example
 * ```ts
 * shapeSize(shapeOf(spec.typeByName('event', 'struct'))); // sizeof(struct event)
 * ```
 */
export function shapeSize(s: Shape): number {
  switch (s.kind) {
    case 'int':
    case 'enum':
      return s.size;
    case 'float':
      return s.size;
    case 'pointer':
      return 8;
    case 'chars':
      return s.length;
    case 'array':
      return s.elementSize * s.count;
    default:
      return s.size;
  }
}

// ---- decoding ------------------------------------------------------------------------------

const utf8 = new TextDecoder();

/**
 * Decodes `char[length]` at `off` up to its first NUL: short ASCII strings without a
 * TextDecoder call, which costs more than the copy for the few bytes of a comm or a path.
 *
 * @example
 * ```ts
 * decodeCString(new Uint8Array([104, 105, 0, 0]), 0, 4); // 'hi'
 * ```
 */
export function decodeCString(bytes: Uint8Array, off: number, length: number): string {
  const limit = off + length;
  let s = '';
  for (let i = off; i < limit; i++) {
    const b = bytes[i]!;
    if (b === 0) return s;
    if (b >= 0x80) {
      // Not ASCII: UTF-8 up to the NUL (or the end), as TextDecoder reads it.
      let end = i;
      while (end < limit && bytes[end] !== 0) end++;
      return utf8.decode(bytes.subarray(off, end));
    }
    s += String.fromCharCode(b);
  }
  return s;
}

const utf8Encoder = new TextEncoder();

/**
 * Writes `value` as UTF-8 into `char[length]` at `off`, with a NUL after it when it is
 * shorter; bytes after the NUL are left as they are.
 *
 * @example
 * ```ts
 * encodeCString('hi', out, 8, 16, 'value.comm');
 * ```
 * @throws {@link ArgumentError} when `value` is not a string or its UTF-8 bytes do not fit.
 */
export function encodeCString(value: unknown, bytes: Uint8Array, off: number, length: number, path: string): void {
  if (typeof value !== 'string') throw new ArgumentError(`encode: ${path} must be a string, got ${describe(value)}`);
  const encoded = utf8Encoder.encode(value);
  if (encoded.length > length) throw new ArgumentError(`encode: ${path}: ${encoded.length} bytes do not fit char[${length}]`);
  bytes.set(encoded, off);
  if (encoded.length < length) bytes[off + encoded.length] = 0;
}

function intReader(s: IntShape, le: boolean): Reader {
  if (s.bool) {
    if (s.size === 1) return (v, _b, o) => v.getUint8(o) !== 0;
    return (_v, b, o) => b.subarray(o, o + s.size).some((x) => x !== 0);
  }
  switch (s.size) {
    case 1:
      return s.signed ? (v, _b, o) => v.getInt8(o) : (v, _b, o) => v.getUint8(o);
    case 2:
      return s.signed ? (v, _b, o) => v.getInt16(o, le) : (v, _b, o) => v.getUint16(o, le);
    case 4:
      return s.signed ? (v, _b, o) => v.getInt32(o, le) : (v, _b, o) => v.getUint32(o, le);
    case 8:
      return s.signed ? (v, _b, o) => v.getBigInt64(o, le) : (v, _b, o) => v.getBigUint64(o, le);
    default: {
      // 16 bytes (__int128): two 64-bit halves in the object's order.
      const bits = s.size * 8;
      return (v, _b, o) => {
        const lo = v.getBigUint64(le ? o : o + 8, le);
        const hi = v.getBigUint64(le ? o + 8 : o, le);
        const u = (hi << 64n) | lo;
        return s.signed ? BigInt.asIntN(bits, u) : u;
      };
    }
  }
}

/**
 * The enumerator names of an enum shape by value, for decoding.
 *
 * @example
 * ```ts
 * enumNames(shape).get(1); // 'RUNNING'
 * ```
 */
export function enumNames(s: EnumShape): Map<number | bigint, string> {
  const names = new Map<number | bigint, string>();
  for (const e of s.values) {
    const key = s.size > 4 ? e.value : Number(e.value);
    if (!names.has(key)) names.set(key, e.name);
  }
  return names;
}

function enumReader(s: EnumShape, le: boolean): Reader {
  const raw = intReader({ kind: 'int', size: s.size, signed: s.signed, bool: false }, le);
  if (!s.names) return raw;
  const names = enumNames(s);
  return (v, b, o) => {
    const n = raw(v, b, o) as number | bigint;
    return names.get(n) ?? n;
  };
}

function reader(s: Shape, le: boolean): Reader {
  switch (s.kind) {
    case 'int':
      return intReader(s, le);
    case 'enum':
      return enumReader(s, le);
    case 'float':
      return s.size === 4 ? (v, _b, o) => v.getFloat32(o, le) : (v, _b, o) => v.getFloat64(o, le);
    case 'pointer':
      return (v, _b, o) => v.getBigUint64(o, le);
    case 'chars': {
      const n = s.length;
      return s.mode === 'string' ? (_v, b, o) => decodeCString(b, o, n) : (_v, b, o) => b.slice(o, o + n);
    }
    case 'array': {
      const elem = reader(s.element, le);
      const { count, elementSize } = s;
      return (v, b, o) => {
        const out = new Array<unknown>(count);
        for (let i = 0; i < count; i++) out[i] = elem(v, b, o + i * elementSize);
        return out;
      };
    }
    default: {
      const names = s.fields.map((f) => f.name);
      const reads = s.fields.map((f) => fieldReader(f, le));
      const n = names.length;
      return (v, b, o) => {
        const out: Record<string, unknown> = {};
        for (let i = 0; i < n; i++) out[names[i]!] = reads[i]!(v, b, o);
        return out;
      };
    }
  }
}

function fieldReader(f: FieldShape, le: boolean): Reader {
  if (f.kind === 'field') {
    const read = reader(f.shape, le);
    const at = f.offset;
    return (v, b, o) => read(v, b, o + at);
  }
  const w = bitWindow(f.bitOffset, f.bits, le);
  const s = f.shape;
  const signed = s.signed;
  const big = s.size > 4;
  const names = s.kind === 'enum' && s.names ? enumNames(s) : undefined;
  const bool = s.kind === 'int' && s.bool;
  return (_v, b, o) => {
    const n = readBits(b, o + w.start, w.size, w.shift, f.bits, signed, le, big);
    if (bool) return n !== 0 && n !== 0n;
    return names?.get(n) ?? n;
  };
}

/**
 * Reads a bitfield: `bits` bits shifted right by `shift` inside the `size`-byte window at
 * `off`. Numbers for windows up to 6 bytes (exact in a double), bigints beyond or when
 * `big` (the declared type is wider than 4 bytes).
 *
 * @example
 * ```ts
 * readBits(bytes, 0, 1, 3, 5, false, true, false); // bits 3..7 of byte 0
 * ```
 */
export function readBits(bytes: Uint8Array, off: number, size: number, shift: number, bits: number, signed: boolean, le: boolean, big: boolean): number | bigint {
  if (!big && size <= 6) {
    let raw = 0;
    for (let i = 0; i < size; i++) raw = raw * 256 + bytes[off + (le ? size - 1 - i : i)]!;
    let n = Math.floor(raw / 2 ** shift) % 2 ** bits;
    if (signed && n >= 2 ** (bits - 1)) n -= 2 ** bits;
    return n;
  }
  let raw = 0n;
  for (let i = 0; i < size; i++) raw = (raw << 8n) | BigInt(bytes[off + (le ? size - 1 - i : i)]!);
  const u = BigInt.asUintN(bits, raw >> BigInt(shift));
  const n = signed ? BigInt.asIntN(bits, u) : u;
  return big ? n : Number(n);
}

/**
 * Writes a bitfield (the inverse of {@link readBits}); other bits of the window keep their value.
 *
 * @example
 * ```ts
 * writeBits(bytes, 0, 1, 3, 5, 7, true);
 * ```
 */
export function writeBits(bytes: Uint8Array, off: number, size: number, shift: number, bits: number, value: bigint, le: boolean): void {
  let raw = 0n;
  for (let i = 0; i < size; i++) raw = (raw << 8n) | BigInt(bytes[off + (le ? size - 1 - i : i)]!);
  const mask = ((1n << BigInt(bits)) - 1n) << BigInt(shift);
  raw = (raw & ~mask) | ((BigInt.asUintN(bits, value) << BigInt(shift)) & mask);
  for (let i = 0; i < size; i++) {
    bytes[off + (le ? i : size - 1 - i)] = Number(raw & 0xffn);
    raw >>= 8n;
  }
}

// ---- encoding ------------------------------------------------------------------------------

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}

/**
 * Checks that `value` is an integer of `bits` bits (numbers or bigints; the unsigned spelling
 * of a negative signed value is accepted, as C accepts it) and returns it as a bigint.
 *
 * @example
 * ```ts
 * checkInt(-1, 32, true, 'value.retval'); // -1n
 * ```
 * @throws {@link ArgumentError} naming `path` when it is not an integer or does not fit.
 */
export function checkInt(value: unknown, bits: number, signed: boolean, path: string): bigint {
  let v: bigint;
  if (typeof value === 'bigint') v = value;
  else if (typeof value === 'number' && Number.isInteger(value)) v = BigInt(value);
  else if (typeof value === 'boolean') v = value ? 1n : 0n;
  else throw new ArgumentError(`encode: ${path} must be an integer, got ${describe(value)}`);
  const b = BigInt(bits);
  const min = signed ? -(1n << (b - 1n)) : 0n;
  const max = (1n << b) - 1n;
  if (v < min || v > max) throw new ArgumentError(`encode: ${path} = ${v} does not fit ${bits} ${signed ? 'signed' : 'unsigned'} bits`);
  return v;
}

/**
 * Checks that `value` is an integer number fitting `bits` bits (see {@link checkInt}): the
 * fast path of generated encoders for integers up to 32 bits.
 *
 * @example
 * ```ts
 * view.setUint32(0, checkNumber(value.pid, 32, false, 'value.pid'), true);
 * ```
 * @throws {@link ArgumentError} naming `path`.
 */
export function checkNumber(value: unknown, bits: number, signed: boolean, path: string): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= (signed ? -(2 ** (bits - 1)) : 0) && value < 2 ** bits) return value;
  return Number(checkInt(value, bits, signed, path));
}

function enumNumberOf(s: EnumShape): Map<string, bigint> {
  return new Map(s.values.map((e) => [e.name, e.value]));
}

function enumToInt(byName: Map<string, bigint>, s: EnumShape, value: unknown, bits: number, path: string): bigint {
  if (typeof value === 'string') {
    const n = byName.get(value);
    if (n === undefined) throw new ArgumentError(`encode: ${path}: ${JSON.stringify(value)} is not an enumerator of ${s.type}`);
    return n;
  }
  return checkInt(value, bits, s.signed, path);
}

function intWriter(s: IntShape, le: boolean): Writer {
  const bits = s.size * 8;
  switch (s.size) {
    // Up to 4 bytes: a number check and DataView's own wrap-around, no BigInt (as generated code does).
    case 1:
      return s.signed ? (x, v, _b, o, p) => v.setInt8(o, checkNumber(x, 8, true, p)) : (x, v, _b, o, p) => v.setUint8(o, checkNumber(x, 8, false, p));
    case 2:
      return s.signed ? (x, v, _b, o, p) => v.setInt16(o, checkNumber(x, 16, true, p), le) : (x, v, _b, o, p) => v.setUint16(o, checkNumber(x, 16, false, p), le);
    case 4:
      return s.signed ? (x, v, _b, o, p) => v.setInt32(o, checkNumber(x, 32, true, p), le) : (x, v, _b, o, p) => v.setUint32(o, checkNumber(x, 32, false, p), le);
    case 8:
      return (x, v, _b, o, p) => v.setBigUint64(o, BigInt.asUintN(64, checkInt(x, 64, s.signed, p)), le);
    default:
      return (x, v, _b, o, p) => {
        const u = BigInt.asUintN(bits, checkInt(x, bits, s.signed, p));
        v.setBigUint64(le ? o : o + 8, BigInt.asUintN(64, u), le);
        v.setBigUint64(le ? o + 8 : o, u >> 64n, le);
      };
  }
}

function writer(s: Shape, le: boolean): Writer {
  switch (s.kind) {
    case 'int':
      return intWriter(s, le);
    case 'enum': {
      const raw = intWriter({ kind: 'int', size: s.size, signed: s.signed, bool: false }, le);
      const byName = enumNumberOf(s);
      return (x, v, b, o, p) => raw(enumToInt(byName, s, x, s.size * 8, p), v, b, o, p);
    }
    case 'float':
      return (x, v, _b, o, p) => {
        if (typeof x !== 'number') throw new ArgumentError(`encode: ${p} must be a number, got ${describe(x)}`);
        if (s.size === 4) v.setFloat32(o, x, le);
        else v.setFloat64(o, x, le);
      };
    case 'pointer':
      return (x, v, _b, o, p) => v.setBigUint64(o, checkInt(x, 64, false, p), le);
    case 'chars': {
      const n = s.length;
      return (x, _v, b, o, p) => {
        if (x instanceof Uint8Array) {
          if (x.length > n) throw new ArgumentError(`encode: ${p}: ${x.length} bytes do not fit char[${n}]`);
          b.set(x, o);
        } else encodeCString(x, b, o, n, p);
      };
    }
    case 'array': {
      const elem = writer(s.element, le);
      const { count, elementSize } = s;
      return (x, v, b, o, p) => {
        if (!Array.isArray(x) && !ArrayBuffer.isView(x)) throw new ArgumentError(`encode: ${p} must be an array, got ${describe(x)}`);
        const items = x as ArrayLike<unknown>;
        if (items.length > count) throw new ArgumentError(`encode: ${p} has ${items.length} elements, the array ${count}`);
        for (let i = 0; i < items.length; i++) elem(items[i], v, b, o + i * elementSize, `${p}[${i}]`);
      };
    }
    default: {
      // Members left undefined stay zero; in a union each member given is written in
      // declaration order (decoded unions give them all, from the same bytes).
      const fields = s.fields.map((f) => ({ name: f.name, write: fieldWriter(f, le) }));
      return (x, v, b, o, p) => {
        if (typeof x !== 'object' || x === null || Array.isArray(x)) throw new ArgumentError(`encode: ${p} must be an object, got ${describe(x)}`);
        const obj = x as Record<string, unknown>;
        for (const f of fields) {
          const value = obj[f.name];
          if (value !== undefined) f.write(value, v, b, o, `${p}.${f.name}`);
        }
      };
    }
  }
}

function fieldWriter(f: FieldShape, le: boolean): Writer {
  if (f.kind === 'field') {
    const write = writer(f.shape, le);
    const at = f.offset;
    return (x, v, b, o, p) => write(x, v, b, o + at, p);
  }
  const w = bitWindow(f.bitOffset, f.bits, le);
  const s = f.shape;
  const byName = s.kind === 'enum' ? enumNumberOf(s) : undefined;
  return (x, _v, b, o, p) => {
    const n = byName !== undefined && s.kind === 'enum' ? enumToInt(byName, s, x, f.bits, p) : checkInt(x, f.bits, s.signed, p);
    writeBits(b, o + w.start, w.size, w.shift, f.bits, n, le);
  };
}

/**
 * A codec that hands the bytes through (copied on decode): for keys or values without BTF.
 *
 * @example
 * ```ts
 * const map = TypedMap.of(coll.maps.legacy, rawCodec(4), rawCodec(8));
 * ```
 */
export function rawCodec(size: number): Codec<Uint8Array> {
  return {
    size,
    decode(bytes: Uint8Array, offset = 0): Uint8Array {
      if (offset < 0 || bytes.length < offset + size) throw new ArgumentError(`decode: needs ${size} bytes at offset ${offset}, got ${bytes.length}`);
      return bytes.slice(offset, offset + size);
    },
    encode(value: Uint8Array): Uint8Array {
      if (!(value instanceof Uint8Array) || value.length !== size) throw new ArgumentError(`encode: expected ${size} bytes, got ${describe(value)}${value instanceof Uint8Array ? ` of ${value.length} bytes` : ''}`);
      return value;
    },
  };
}
