/**
 * {@link VariableSpec}: one global variable of a BPF object (`.data`, `.rodata`, `.bss`, custom
 * `.data.*` / `.rodata.*` sections), readable and writable before load. A variable is a window
 * onto the contents of its section's array map, so setting it changes the bytes the loader
 * will write into the map; `const volatile` values in `.rodata` are how a program is
 * configured before the verifier sees it (dead code behind a false constant is pruned).
 *
 * @module
 */
import type { ByteOrder } from '../asm/encoding.js';
import { Enum, Enum64, Int, IntEncoding, skipQualifiersAndTypedefs, type Type } from '../btf/types.js';
import { ArgumentError } from '../errors.js';
import type { ELFMapSpec } from './specs.js';
import { dataView } from '../internal/bytes.js';

/** A value {@link VariableSpec.set} accepts. */
export type VariableValue = Uint8Array | number | bigint | boolean;

/** Names passed to `rewriteConstants` (or looked up) that are not variables of the object. */
export class UnknownVariableError extends ArgumentError {
  /** The names that were not found. */
  readonly names: readonly string[];

  constructor(names: readonly string[], detail: string, hint = '') {
    super(`${detail}: ${names.join(', ')}${hint}`);
    this.names = names;
  }
}

/**
 * A global variable of a collection spec. Reads and writes go to the contents of the map
 * named {@link VariableSpec.sectionName}, so they survive until the spec is loaded.
 *
 * @example
 * ```ts
 * const spec = await loadCollectionSpec('prog.bpf.o');
 * spec.variables.target_pid.set(1234);     // const volatile __u32 target_pid
 * spec.variables.target_pid.value;         // 1234
 * ```
 */
export class VariableSpec {
  /** The variable's name (static variables keep their C name; bpf_printk formats are `fn.____fmt`). */
  readonly name: string;
  /** The section, and so the name of the map that holds it (`.rodata`, `.bss`, …). */
  readonly sectionName: string;
  /** Byte offset in the section. */
  readonly offset: number;
  /** Size in bytes. */
  readonly size: number;
  /** The BTF type of the variable (qualifiers included), when the object has BTF. */
  readonly type: Type | undefined;
  /** The byte order numbers are written in (the object's). */
  readonly byteOrder: ByteOrder;
  #map: ELFMapSpec;

  /** @internal Built by the ELF reader; `map` must be the section's array map. */
  constructor(fields: { name: string; sectionName: string; offset: number; size: number; type: Type | undefined; byteOrder: ByteOrder }, map: ELFMapSpec) {
    this.name = fields.name;
    this.sectionName = fields.sectionName;
    this.offset = fields.offset;
    this.size = fields.size;
    this.type = fields.type;
    this.byteOrder = fields.byteOrder;
    this.#map = map;
  }

  /** The map holding the variable: its section's map, or the object's ARENA map for `__arena` globals. */
  get mapName(): string {
    return this.#map.name;
  }

  /** True for variables in a read-only section (`.rodata*`): constants once loaded. */
  get readOnly(): boolean {
    return this.sectionName === '.rodata' || this.sectionName.startsWith('.rodata.');
  }

  /** The current bytes (a copy). */
  get bytes(): Uint8Array {
    return this.#window().slice();
  }

  /**
   * The current value decoded through BTF: a `number` for integers and enums up to 4 bytes, a
   * `bigint` for 8-byte ones, a `boolean` for `_Bool`, the bytes otherwise.
   */
  get value(): number | bigint | boolean | Uint8Array {
    const bytes = this.#window();
    const t = this.type === undefined ? undefined : skipQualifiersAndTypedefs(this.type);
    // clang 15+ writes an enum with a value beyond 32 bits as ENUM64 (clang-14: an 8-byte ENUM).
    const signed = t instanceof Int ? t.signed : t instanceof Enum || t instanceof Enum64 ? t.signed : false;
    if ((t instanceof Int || t instanceof Enum || t instanceof Enum64) && [1, 2, 4, 8].includes(this.size)) {
      const view = dataView(bytes);
      const little = this.byteOrder === 'little';
      if (t instanceof Int && (t.encoding & IntEncoding.Bool) !== 0) return bytes.some((b) => b !== 0);
      switch (this.size) {
        case 1:
          return signed ? view.getInt8(0) : view.getUint8(0);
        case 2:
          return signed ? view.getInt16(0, little) : view.getUint16(0, little);
        case 4:
          return signed ? view.getInt32(0, little) : view.getUint32(0, little);
        default:
          return signed ? view.getBigInt64(0, little) : view.getBigUint64(0, little);
      }
    }
    return bytes.slice();
  }

  /**
   * Sets the variable. Bytes must have exactly {@link VariableSpec.size} bytes; numbers,
   * bigints and booleans are encoded in the object's byte order and must fit the variable's
   * size (and signedness, when BTF says). Throws `ArgumentError` otherwise.
   */
  set(value: VariableValue): void {
    this.#window().set(this.encode(value));
  }

  /** The bytes {@link VariableSpec.set} would write for `value`; throws `ArgumentError` if it does not fit. */
  encode(value: VariableValue): Uint8Array {
    if (value instanceof Uint8Array) {
      if (value.length !== this.size) throw new ArgumentError(`variable ${this.name}: ${value.length} bytes given, the variable has ${this.size}`);
      return value.slice();
    }
    if (![1, 2, 4, 8].includes(this.size)) {
      throw new ArgumentError(`variable ${this.name}: ${this.size}-byte variables can only be set from a Uint8Array`);
    }
    const t = this.type === undefined ? undefined : skipQualifiersAndTypedefs(this.type);
    if (t !== undefined && !(t instanceof Int) && !(t instanceof Enum) && !(t instanceof Enum64)) {
      throw new ArgumentError(`variable ${this.name} has type ${t}; set it from a Uint8Array`);
    }
    let n: bigint;
    if (typeof value === 'boolean') n = value ? 1n : 0n;
    else if (typeof value === 'bigint') n = value;
    else if (Number.isSafeInteger(value)) n = BigInt(value);
    else throw new ArgumentError(`variable ${this.name}: ${value} is not an integer`);
    const bits = BigInt(this.size * 8);
    // Enums are only known to be signed when kind_flag says so (BTF from 6.0 on); otherwise
    // accept either range rather than reject a negative enumerator.
    const signed = t instanceof Int ? t.signed : (t instanceof Enum || t instanceof Enum64) && t.signed ? true : undefined;
    const min = signed === false ? 0n : -(1n << (bits - 1n));
    const max = signed === true ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
    if (n < min || n > max) throw new ArgumentError(`variable ${this.name}: ${value} does not fit ${this.size} bytes${signed === undefined ? '' : signed ? ' (signed)' : ' (unsigned)'}`);
    const out = new Uint8Array(this.size);
    const view = dataView(out);
    const little = this.byteOrder === 'little';
    const u = BigInt.asUintN(Number(bits), n);
    if (this.size === 8) view.setBigUint64(0, u, little);
    else if (this.size === 4) view.setUint32(0, Number(u), little);
    else if (this.size === 2) view.setUint16(0, Number(u), little);
    else view.setUint8(0, Number(u));
    return out;
  }

  /** @internal The same variable over another map (used when copying a collection spec). */
  rebind(map: ELFMapSpec): VariableSpec {
    return new VariableSpec(this, map);
  }

  /** The variable's bytes inside the map's value (creating zeroed contents if there are none). */
  #window(): Uint8Array {
    const map = this.#map;
    if (map.arenaData !== undefined) return this.#slice(map.arenaData, map.name);
    let value = map.contents?.[0]?.[1];
    if (!(value instanceof Uint8Array) || value.length < map.valueSize) {
      const fresh = new Uint8Array(map.valueSize);
      if (value instanceof Uint8Array) fresh.set(value.subarray(0, map.valueSize));
      value = fresh;
      map.contents = [[new Uint8Array(4), value]];
    }
    return this.#slice(value, map.name);
  }

  #slice(value: Uint8Array, mapName: string): Uint8Array {
    if (this.offset + this.size > value.length) {
      throw new ArgumentError(`variable ${this.name} [${this.offset}, +${this.size}) is outside map ${mapName} (${value.length} bytes)`);
    }
    return value.subarray(this.offset, this.offset + this.size);
  }
}
