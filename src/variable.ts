/**
 * {@link Variable}: a global variable of a loaded collection (`.data`, `.bss`, `.rodata`,
 * custom `.data.*` sections, `.kconfig`), read and written while programs run.
 *
 * Where the map was created with `BPF_F_MMAPABLE` (Linux 5.5) the variable is a window onto
 * the mapped value, so a read is a memory load and sees what programs write at once. Otherwise
 * every access is one `BPF_MAP_LOOKUP_ELEM` / `BPF_MAP_UPDATE_ELEM` of key 0 (a write then
 * rewrites the whole section value, so concurrent program writes to other variables of the
 * same section between our lookup and update are lost — the price of old kernels).
 *
 * @module
 */
import type { ByteOrder } from './asm/encoding.js';
import { decodeValue, encodeValue, type DecodedValue } from './btf/decode.js';
import type { Type } from './btf/types.js';
import type { VariableSpec, VariableValue } from './elf/variables.js';
import { ArgumentError, BpfError, ClosedError } from './errors.js';
import type { BpfMap } from './map.js';

/**
 * A write to a variable of a read-only section: `.rodata*` and `.kconfig` maps are frozen
 * (`BPF_MAP_FREEZE`) before programs load, so that the verifier can treat their values as
 * constants; neither user space nor programs can change them afterwards. Set such values
 * before load with the `constants` option or `CollectionSpec.rewriteConstants`.
 */
export class ReadOnlyVariableError extends BpfError {
  /** The variable's name. */
  readonly variable: string;

  constructor(variable: string, section: string) {
    super(
      `variable ${variable} is read-only after load: ${section} is frozen so the verifier can treat it as constant; ` +
        'set it before loading (the constants option of loadCollection, or spec.rewriteConstants())',
    );
    this.variable = variable;
  }
}

/**
 * Access to the value of one global data map, shared by the variables of that section: either
 * a mapping of the value (mmapable maps) or the map itself.
 *
 * @internal Built by `loadCollection`.
 */
export interface SectionAccess {
  /** The map holding the section (key 0, one value). */
  readonly map: BpfMap;
  /** The mapped value, when the map is mmapable and the backend can map it. */
  readonly mapped: Uint8Array | undefined;
  /** True while the collection is open. */
  readonly open: () => boolean;
  /** Read-only section (frozen). */
  readonly readOnly: boolean;
}

const key0 = new Uint8Array(4);

/**
 * A global variable of a loaded collection.
 *
 * @example
 * ```ts
 * using coll = await loadCollection('counter.bpf.o');
 * coll.variables.packets.get();          // 0n: a __u64 in .bss
 * coll.programs.count.testRun({ data: new Uint8Array(64) });
 * coll.variables.packets.get();          // 1n
 * coll.variables.packets.set(100n);
 * coll.variables.limit.set(1);           // .rodata: throws ReadOnlyVariableError
 * ```
 */
export class Variable {
  /** The variable's name. */
  readonly name: string;
  /** The section (and map) holding it: `.bss`, `.data`, `.rodata`, `.kconfig`, … */
  readonly sectionName: string;
  /** Byte offset in the section's value. */
  readonly offset: number;
  /** Size in bytes. */
  readonly size: number;
  /** The BTF type, when the object has BTF. */
  readonly type: Type | undefined;
  /** True for `.rodata*` and `.kconfig` variables: writes throw {@link ReadOnlyVariableError}. */
  readonly readOnly: boolean;
  readonly #byteOrder: ByteOrder;
  readonly #access: SectionAccess;
  readonly #spec: VariableSpec;

  /** @internal Built by `loadCollection`. */
  constructor(spec: VariableSpec, access: SectionAccess) {
    this.name = spec.name;
    this.sectionName = spec.sectionName;
    this.offset = spec.offset;
    this.size = spec.size;
    this.type = spec.type;
    this.readOnly = access.readOnly;
    this.#byteOrder = spec.byteOrder;
    this.#access = access;
    this.#spec = spec;
  }

  /** True when reads and writes go through a memory mapping rather than map syscalls. */
  get mapped(): boolean {
    return this.#access.mapped !== undefined;
  }

  /** The current bytes (a copy). */
  get bytes(): Uint8Array {
    return this.#window().slice();
  }

  /**
   * The current value decoded through BTF: integers up to 4 bytes as numbers, 8-byte ones as
   * bigints, `_Bool` as boolean, enums as enumerator names, structs as objects, arrays as
   * arrays, `char[]` as strings. Without BTF, the bytes.
   */
  get(): DecodedValue | Uint8Array {
    const bytes = this.#window();
    if (this.type === undefined) return bytes.slice();
    return decodeValue(this.type, bytes, { byteOrder: this.#byteOrder, charArraysAsStrings: true });
  }

  /**
   * Writes the variable. Accepts what {@link Variable.get} returns (encoded through BTF), or
   * exactly {@link Variable.size} bytes.
   *
   * @throws {@link ReadOnlyVariableError} for `.rodata`/`.kconfig` variables;
   * `ArgumentError` when the value does not fit the type; {@link ClosedError} after the
   * collection was closed.
   */
  set(value: DecodedValue | Uint8Array | VariableValue): void {
    if (this.readOnly) throw new ReadOnlyVariableError(this.name, this.sectionName);
    let bytes: Uint8Array;
    if (value instanceof Uint8Array) {
      if (value.length !== this.size) throw new ArgumentError(`variable ${this.name}: ${value.length} bytes given, the variable has ${this.size}`);
      bytes = value;
    } else if (this.type !== undefined) {
      bytes = encodeValue(this.type, value, { byteOrder: this.#byteOrder, charArraysAsStrings: true });
    } else {
      bytes = this.#spec.encode(value as VariableValue);
    }
    const access = this.#checkOpen();
    if (access.mapped !== undefined) {
      access.mapped.set(bytes, this.offset);
      return;
    }
    const whole = access.map.lookup(key0);
    if (whole === undefined) throw new BpfError(`variable ${this.name}: map ${access.map.name} has no value at key 0`);
    whole.set(bytes, this.offset);
    access.map.update(key0, whole);
  }

  #checkOpen(): SectionAccess {
    if (!this.#access.open()) throw new ClosedError(`variable ${this.name}: its collection is closed`);
    return this.#access;
  }

  /** The variable's bytes: a view of the mapping, or a fresh lookup. */
  #window(): Uint8Array {
    const access = this.#checkOpen();
    const whole = access.mapped ?? access.map.lookup(key0);
    if (whole === undefined) throw new BpfError(`variable ${this.name}: map ${access.map.name} has no value at key 0`);
    return whole.subarray(this.offset, this.offset + this.size);
  }

  /** `Variable(name, .section+offset, N bytes)`. */
  toString(): string {
    return `Variable(${this.name}, ${this.sectionName}+${this.offset}, ${this.size} bytes)`;
  }
}
