/**
 * {@link TypedVariable}: a global variable of a loaded collection read and written as a
 * JavaScript value through a codec.
 *
 * @module
 */
import type { Codec } from './btf/codec.js';
import { ArgumentError } from './errors.js';
import type { Variable } from './variable.js';

/**
 * A typed global variable: `.bss`/`.data` ones live (reads see what programs wrote), `.rodata`
 * ones readable only (set those before load, through the loader's `constants`).
 *
 * @example
 * ```ts
 * const hits = new TypedVariable(coll.variables.hits, btf.codecFor<bigint>(spec.btf, '__u64'));
 * hits.get(); // 12n
 * hits.set(0n);
 * ```
 * @throws `ReadOnlyVariableError` from `set()` on `.rodata`/`.kconfig` variables;
 * {@link ArgumentError} when the value does not fit the type.
 */
export class TypedVariable<T> {
  /** The untyped variable underneath. */
  readonly variable: Variable;
  readonly #codec: Codec<T>;

  /**
   * A typed view of `variable`.
   *
   * @example
   * ```ts
   * new TypedVariable(coll.variables.target_tgid, u32Codec);
   * ```
   * @throws {@link ArgumentError} when the codec size differs from the variable's.
   */
  constructor(variable: Variable, codec: Codec<T>) {
    if (variable.size !== codec.size) throw new ArgumentError(`TypedVariable ${variable.name}: the codec is ${codec.size} bytes, the variable ${variable.size}`);
    this.variable = variable;
    this.#codec = codec;
  }

  /** The variable's name. */
  get name(): string {
    return this.variable.name;
  }

  /** True for `.rodata`/`.kconfig` variables. */
  get readOnly(): boolean {
    return this.variable.readOnly;
  }

  /**
   * The current value.
   *
   * @example
   * ```ts
   * hits.get();
   * ```
   */
  get(): T {
    return this.#codec.decode(this.variable.bytes);
  }

  /**
   * Writes the value.
   *
   * @example
   * ```ts
   * hits.set(0n);
   * ```
   * @throws `ReadOnlyVariableError` for read-only sections; {@link ArgumentError} when it does not fit.
   */
  set(value: T): void {
    this.variable.set(this.#codec.encode(value));
  }
}
