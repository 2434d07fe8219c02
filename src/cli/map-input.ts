/**
 * Keys and values given on the command line, in bpftool's forms: one word per byte
 * (`key 0x01 0x00 0x00 0x00`, or decimal `1 0 0 0`), `hex` and hex digits
 * (`key hex 01 00 00 00`, `key hex 01000000`), or — for a map with BTF — one JSON word,
 * encoded through the key's or value's type (`key 1`, `value '{"x": 1, "y": 2}'`).
 *
 * @module
 */
import { encodeValue } from '../btf/decode.js';
import { Array as ArrayType, Composite, Datasec, Enum, Enum64, Int, Pointer, skipQualifiersAndTypedefs, Var, type Type } from '../btf/types.js';
import { UsageError } from './args.js';
import { hostByteOrder } from './xlated.js';

/** The words of an element command after the map: `key …`, `value …` and an update flag. */
export interface ElementWords {
  /** Words after `key`. */
  readonly key: string[];
  /** Words after `value` (undefined without `value`). */
  readonly value: string[] | undefined;
  /** `any`, `exist` or `noexist` at the end (update only). */
  readonly flag: 'any' | 'exist' | 'noexist' | undefined;
}

const flags = ['any', 'exist', 'noexist'] as const;

/** Splits `key K… [value V…] [any|exist|noexist]`. */
export function splitElementWords(words: readonly string[]): ElementWords {
  if (words[0] !== 'key') throw new UsageError(`expected "key" after the map, got ${words.length === 0 ? 'nothing' : JSON.stringify(words[0])}`);
  const valueAt = words.indexOf('value');
  const last = words[words.length - 1];
  const flag = valueAt >= 0 && (flags as readonly string[]).includes(last!) && words.length > valueAt + 2 ? (last as ElementWords['flag']) : undefined;
  const end = flag === undefined ? words.length : words.length - 1;
  const key = words.slice(1, valueAt < 0 ? end : valueAt);
  const value = valueAt < 0 ? undefined : words.slice(valueAt + 1, end);
  if (key.length === 0) throw new UsageError('"key" needs the key: bytes (0x01 0x00 …), "hex 0100…" or a JSON value');
  if (value !== undefined && value.length === 0) throw new UsageError('"value" needs the value: bytes (0x01 0x00 …), "hex 0100…" or a JSON value');
  return { key, value, flag };
}

/** A byte word: `0x1f`, `1f` after `hex`, or decimal `31`; undefined when it is not one. */
function byteWord(word: string): number | undefined {
  const n = /^0x[0-9a-f]{1,2}$/i.test(word) ? parseInt(word, 16) : /^\d{1,3}$/.test(word) ? Number(word) : undefined;
  return n !== undefined && n <= 255 ? n : undefined;
}

function hexDigits(words: readonly string[], what: string): Uint8Array {
  const digits = words.join('').replace(/^0x/i, '');
  if (!/^([0-9a-f]{2})*$/i.test(digits)) throw new UsageError(`${what}: "hex" takes hex digits, two per byte (got ${JSON.stringify(words.join(' '))})`);
  return Uint8Array.from(digits.match(/../g) ?? [], (b) => parseInt(b, 16));
}

/**
 * JSON, with integers beyond 2^53 kept exact: such literals are read as strings, which
 * {@link coerce} turns into bigints where the type is an integer.
 */
export function parseJSONExact(text: string): unknown {
  // Strings are skipped whole so that digits inside them are left alone.
  const quoted = text.replace(/"(?:[^"\\]|\\.)*"|-?\d{16,}(?![.eE\d])/g, (m) => (m.startsWith('"') ? m : `"${m}"`));
  return JSON.parse(quoted);
}

/** `value` with integer strings turned into bigints where `type` has integers. */
export function coerce(type: Type, value: unknown): unknown {
  const t = skipQualifiersAndTypedefs(type);
  if (t instanceof Var) return coerce(t.type, value);
  if ((t instanceof Int || t instanceof Pointer || t instanceof Enum || t instanceof Enum64) && typeof value === 'string' && /^-?\d+$/.test(value)) return BigInt(value);
  if (t instanceof ArrayType && Array.isArray(value)) return value.map((v) => coerce(t.type, v));
  if (t instanceof Composite && typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
    for (const m of t.members) {
      // Members of anonymous structs and unions are named in the parent object.
      if (m.name === '') Object.assign(out, coerce(m.type, out));
      else if (m.name in out) out[m.name] = coerce(m.type, out[m.name]);
    }
    return out;
  }
  if (t instanceof Datasec && typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
    for (const v of t.vars) if (v.type.name in out) out[v.type.name] = coerce(v.type, out[v.type.name]);
    return out;
  }
  return value;
}

/**
 * The bytes `words` give for a key or value of `size` bytes, `type` its BTF type when the map
 * has one. `what` (`key`, `value`) names it in errors.
 */
export function elementBytes(words: readonly string[], size: number, type: Type | undefined, what: string): Uint8Array {
  let bytes: Uint8Array | undefined;
  if (words[0] === 'hex') bytes = hexDigits(words.slice(1), what);
  else {
    const asBytes = words.map(byteWord);
    if (asBytes.length === size && asBytes.every((b) => b !== undefined)) bytes = Uint8Array.from(asBytes as number[]);
    else if (words.length === 1 && type !== undefined) {
      let value: unknown;
      try {
        value = parseJSONExact(words[0]!);
      } catch {
        throw new UsageError(`${what}: ${JSON.stringify(words[0])} is neither ${size} byte(s) nor JSON`);
      }
      bytes = encodeValue(type, coerce(type, value), { byteOrder: hostByteOrder, charArraysAsStrings: true });
    } else {
      const json = type === undefined ? ' (the map has no BTF for a JSON value)' : ', or one JSON word';
      throw new UsageError(`${what} needs ${size} byte(s): one word per byte (0x01 or 1), "hex" and digits${json}; got ${words.length} word(s)`);
    }
  }
  if (bytes.byteLength !== size) throw new UsageError(`${what} needs ${size} byte(s), got ${bytes.byteLength}`);
  return bytes;
}
