/**
 * The value shape of a BTF type: what a codec reads and writes, with qualifiers and typedefs
 * looked through and anonymous struct/union members lifted into their parent. The runtime
 * codec (`codec.ts`) and the code generator (`src/gen/`) both walk this one description, so
 * generated decoders and `codecFor()` cannot disagree on layout or on JavaScript types.
 *
 * JavaScript types follow `decodeValue()` with `charArraysAsStrings`: integers and enums up to
 * 4 bytes are numbers, wider ones and pointers bigints, `_Bool` a boolean, enums their
 * enumerator's name (the number when none matches), `char[N]` strings up to the first NUL.
 *
 * @module
 */
import { ArgumentError } from '../errors.js';
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
  Union,
  Var,
  maxResolveDepth,
  sizeof,
  skipQualifiersAndTypedefs,
  type Type,
} from './types.js';

/** How `char[N]` members decode: a string up to the first NUL, or a copy of the bytes. */
export type CharArrayMode = 'string' | 'bytes';

/** Options of {@link shapeOf}. */
export interface ShapeOptions {
  /**
   * `char[N]` as `'string'` (default) or `'bytes'` (a `Uint8Array`); `'numbers'` makes them
   * plain integer arrays (`decodeValue` without `charArraysAsStrings`).
   */
  charArrays?: CharArrayMode | 'numbers';
  /** Enums as enumerator `'names'` (default) or plain `'numbers'`. */
  enums?: 'names' | 'numbers';
}

/** An integer of 1, 2, 4, 8 or 16 bytes; `_Bool` when `bool`. */
export interface IntShape {
  /** Discriminant. */
  readonly kind: 'int';
  /** Width in bytes: 1, 2, 4, 8 or 16. */
  readonly size: number;
  /** Whether the integer is signed. */
  readonly signed: boolean;
  /** `_Bool`: decodes to a boolean. */
  readonly bool: boolean;
}

/** A 4- or 8-byte IEEE float. */
export interface FloatShape {
  /** Discriminant. */
  readonly kind: 'float';
  /** Width in bytes. */
  readonly size: 4 | 8;
}

/** A pointer: 8 bytes on BPF targets, a bigint. */
export interface PointerShape {
  /** Discriminant. */
  readonly kind: 'pointer';
}

/** An enum, decoded to its enumerator's name when `names` is set. */
export interface EnumShape {
  /** Discriminant. */
  readonly kind: 'enum';
  /** The BTF enum described. */
  readonly type: Enum | Enum64;
  /** Width in bytes. */
  readonly size: number;
  /** Whether values are read as signed. */
  readonly signed: boolean;
  /** Decode to enumerator names (else numbers). */
  readonly names: boolean;
  /** Enumerators, values normalised to the decoded range (signed or unsigned). */
  readonly values: ReadonlyArray<{
    /** The enumerator's name. */
    readonly name: string;
    /** Its value in the decoded range. */
    readonly value: bigint;
  }>;
}

/** `char[length]` as a string (NUL-terminated when shorter) or bytes. */
export interface CharsShape {
  /** Discriminant. */
  readonly kind: 'chars';
  /** `N` of `char[N]`. */
  readonly length: number;
  /** String or bytes. */
  readonly mode: CharArrayMode;
}

/** A fixed-size array other than a char array. */
export interface ArrayShape {
  /** Discriminant. */
  readonly kind: 'array';
  /** Shape of each element. */
  readonly element: Shape;
  /** Bytes per element (the stride). */
  readonly elementSize: number;
  /** Number of elements. */
  readonly count: number;
}

/** A member of a struct or union shape, at a byte offset (ordinary) or a bit offset (bitfield). */
export type FieldShape =
  | {
      /** Discriminant: a byte-aligned member. */
      readonly kind: 'field';
      /** Member (or variable) name. */
      readonly name: string;
      /** Byte offset from the start of the composite. */
      readonly offset: number;
      /** The member's value shape. */
      readonly shape: Shape;
    }
  | {
      /** Discriminant: a bitfield member. */
      readonly kind: 'bitfield';
      /** Member name. */
      readonly name: string;
      /** Bit offset from the start of the composite, in memory order. */
      readonly bitOffset: number;
      /** Width in bits. */
      readonly bits: number;
      /** The declared type, an int or an enum shape (bool for `_Bool`). */
      readonly shape: IntShape | EnumShape;
    };

/** A struct or union with anonymous members lifted (their fields carry absolute offsets). */
export interface CompositeShape {
  /** Discriminant. */
  readonly kind: 'struct' | 'union';
  /** The BTF struct or union described. */
  readonly type: Composite;
  /** Size in bytes. */
  readonly size: number;
  /** Named members, anonymous ones lifted. */
  readonly fields: readonly FieldShape[];
}

/** A data section: its variables by name. */
export interface DatasecShape {
  /** Discriminant. */
  readonly kind: 'datasec';
  /** The BTF data section described. */
  readonly type: Datasec;
  /** Size in bytes. */
  readonly size: number;
  /** Its variables, at their section offsets. */
  readonly fields: readonly FieldShape[];
}

/** The value shape of a BTF type. */
export type Shape = IntShape | FloatShape | PointerShape | EnumShape | CharsShape | ArrayShape | CompositeShape | DatasecShape;

function isCharElement(t: Type): boolean {
  const e = skipQualifiersAndTypedefs(t);
  return e instanceof Int && e.size === 1 && ((e.encoding & IntEncoding.Char) !== 0 || e.name === 'char');
}

/**
 * Describes how values of `type` are laid out and which JavaScript values stand for them.
 *
 * @example
 * ```ts
 * const shape = shapeOf(spec.typeByName('event', 'struct'));
 * if (shape.kind === 'struct') console.log(shape.fields.map((f) => f.name));
 * ```
 * @throws {@link ArgumentError} for a type without a value (void, functions, forward
 * declarations), a bitfield of a non-integer type, or nesting beyond 64 levels.
 */
export function shapeOf(type: Type, options: ShapeOptions = {}): Shape {
  return shape(type, options, 0);
}

function shape(type: Type, options: ShapeOptions, depth: number): Shape {
  if (depth > maxResolveDepth) throw new ArgumentError(`codec: ${type} nests deeper than ${maxResolveDepth} levels`);
  const t = skipQualifiersAndTypedefs(type);
  if (t instanceof Var) return shape(t.type, options, depth + 1);
  if (t instanceof Int) {
    if (![1, 2, 4, 8, 16].includes(t.size)) throw new ArgumentError(`codec: ${t}: ${t.size}-byte integers are not supported`);
    return { kind: 'int', size: t.size, signed: t.signed, bool: (t.encoding & IntEncoding.Bool) !== 0 };
  }
  if (t instanceof Pointer) return { kind: 'pointer' };
  if (t instanceof Float) {
    if (t.size !== 4 && t.size !== 8) throw new ArgumentError(`codec: ${t}: only 4- and 8-byte floats are supported`);
    return { kind: 'float', size: t.size };
  }
  if (t instanceof Enum || t instanceof Enum64) return enumShape(t, options);
  if (t instanceof ArrayType) {
    if (options.charArrays !== 'numbers' && isCharElement(t.type)) return { kind: 'chars', length: t.nelems, mode: options.charArrays ?? 'string' };
    return { kind: 'array', element: shape(t.type, options, depth + 1), elementSize: sizeof(t.type), count: t.nelems };
  }
  if (t instanceof Composite) {
    const fields: FieldShape[] = [];
    lift(t, 0, fields, options, depth);
    return { kind: t instanceof Union ? 'union' : 'struct', type: t, size: t.size, fields };
  }
  if (t instanceof Datasec) {
    const fields: FieldShape[] = t.vars.map((v) => ({ kind: 'field', name: v.type.name, offset: v.offset, shape: shape(v.type, options, depth + 1) }));
    return { kind: 'datasec', type: t, size: t.size, fields };
  }
  throw new ArgumentError(`codec: ${t} has no value representation`);
}

function enumShape(t: Enum | Enum64, options: ShapeOptions): EnumShape {
  const bits = t.size * 8;
  const norm = (v: bigint): bigint => (t.signed ? BigInt.asIntN(bits, v) : BigInt.asUintN(bits, v));
  return {
    kind: 'enum',
    type: t,
    size: t.size,
    signed: t.signed,
    names: options.enums !== 'numbers',
    values: t.values.map((e) => ({ name: e.name, value: norm(BigInt(e.value)) })),
  };
}

// C lets code name the members of an anonymous struct/union as if they were the parent's:
// they are lifted here, offsets made relative to the outermost composite.
function lift(t: Composite, base: number, into: FieldShape[], options: ShapeOptions, depth: number): void {
  if (depth > maxResolveDepth) throw new ArgumentError(`codec: ${t} nests deeper than ${maxResolveDepth} levels`);
  for (const m of t.members) {
    const bitOffset = base + m.offset;
    if (m.bitfieldSize > 0) {
      if (m.name === '') continue; // `int :3` padding has no value
      const s = shape(m.type, options, depth + 1);
      if (s.kind !== 'int' && s.kind !== 'enum') throw new ArgumentError(`codec: bitfield ${m.name} of ${t} has type ${m.type}`);
      into.push({ kind: 'bitfield', name: m.name, bitOffset, bits: m.bitfieldSize, shape: s });
      continue;
    }
    if (bitOffset % 8 !== 0) throw new ArgumentError(`codec: member ${m.name} of ${t} is not byte-aligned`);
    const inner = skipQualifiersAndTypedefs(m.type);
    if (m.name === '' && inner instanceof Composite) {
      lift(inner, bitOffset, into, options, depth + 1);
      continue;
    }
    if (m.name === '') continue;
    into.push({ kind: 'field', name: m.name, offset: bitOffset / 8, shape: shape(m.type, options, depth + 1) });
  }
}

/**
 * Where a bitfield's bits sit: the bytes `[start, start + size)` of the composite, shifted
 * right by `shift` inside that window (read in the object's byte order). BTF counts bit
 * offsets in memory order: bit 0 is the low bit of byte 0 on little-endian targets, the high
 * bit on big-endian ones (clang's layout for bpfel and bpfeb).
 *
 * @example
 * ```ts
 * bitWindow(3, 5, true); // { start: 0, size: 1, shift: 3 }
 * ```
 */
export function bitWindow(
  bitOffset: number,
  bits: number,
  littleEndian: boolean,
): {
  /** First byte of the window. */
  start: number;
  /** Window width in bytes. */
  size: number;
  /** Right shift of the bits inside the window. */
  shift: number;
} {
  const start = Math.floor(bitOffset / 8);
  const size = Math.ceil((bitOffset + bits) / 8) - start;
  const inner = bitOffset - start * 8;
  return { start, size, shift: littleEndian ? inner : size * 8 - inner - bits };
}
