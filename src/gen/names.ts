/**
 * TypeScript names for C names in generated bindings. The rules are predictable so that a
 * user can guess a name without opening the file: `struct event` → `Event`, `struct
 * task_info` → `TaskInfo`; a name TypeScript reserves, or one the module itself uses, gets a
 * `_` appended; a second C type with the same result gets its kind appended (`EventUnion`),
 * then a number.
 *
 * @module
 */

// Reserved words and strict-mode words (ECMAScript 2022 §13.1.1, TypeScript's type keywords).
const reserved = new Set(
  (
    'break case catch class const continue debugger default delete do else enum export extends false finally for function if ' +
    'import in instanceof new null return super switch this throw true try typeof var void while with yield let static ' +
    'implements interface package private protected public await any boolean number string symbol bigint never unknown ' +
    'object undefined type of as is keyof infer readonly declare namespace module require global asserts satisfies'
  ).split(' '),
);

// Globals a generated module uses, and the names it imports or declares itself.
const taken = new Set([
  'Array', 'Map', 'Set', 'Object', 'String', 'Number', 'BigInt', 'Boolean', 'Symbol', 'Error', 'Promise', 'DataView',
  'Uint8Array', 'URL', 'Buffer', 'Disposable', 'Record', 'Readonly', 'Partial', 'Omit',
  'ArgumentError', 'BpfMap', 'Codec', 'Collection', 'CollectionOptions', 'CollectionSpec', 'PerfReader', 'PerfReaderOptions',
  'Program', 'RingBufReader', 'RingBufReaderOptions', 'TypedMap', 'TypedReader', 'TypedReaderOptions', 'TypedVariable', 'btf',
]);

/**
 * True when `name` can be written as a property name without quotes.
 *
 * @example
 * ```ts
 * isIdentifier('on_exec'); // true
 * isIdentifier('fn.____fmt'); // false
 * ```
 */
export function isIdentifier(name: string): boolean {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name);
}

/**
 * A property key for `name`: bare when it is an identifier, quoted otherwise.
 *
 * @example
 * ```ts
 * propertyKey('fn.____fmt'); // "'fn.____fmt'"
 * ```
 */
export function propertyKey(name: string): string {
  return isIdentifier(name) && name !== '__proto__' ? name : stringLiteral(name);
}

/**
 * `s` as a single-quoted TypeScript string literal.
 *
 * @example
 * ```ts
 * stringLiteral("it's"); // "'it\\'s'"
 * ```
 */
export function stringLiteral(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * `snake_case` or any C name in PascalCase: `task_info` → `TaskInfo`, `__u32` → `U32`.
 *
 * @example
 * ```ts
 * pascalCase('sys_enter_ctx'); // 'SysEnterCtx'
 * ```
 */
export function pascalCase(name: string): string {
  const out = name
    .split(/[^A-Za-z0-9]+/)
    .filter((p) => p !== '')
    .map((p) => p[0]!.toUpperCase() + p.slice(1))
    .join('');
  if (out === '') return 'Anon';
  return /^[0-9]/.test(out) ? `T${out}` : out;
}

/**
 * `PascalCase` → `camelCase`, for values named after types (`eventCodec`).
 *
 * @example
 * ```ts
 * camelCase('TaskInfo'); // 'taskInfo'
 * ```
 */
export function camelCase(name: string): string {
  return name[0]!.toLowerCase() + name.slice(1);
}

/** Hands out unique TypeScript names, renaming as the module comment says. */
export class NameTable {
  readonly #used = new Set<string>();

  /**
   * Reserves `name` as is (names the module declares itself).
   *
   * @example
   * ```ts
   * names.reserve('loadTracer');
   * ```
   */
  reserve(name: string): void {
    this.#used.add(name);
  }

  /**
   * A unique type name for a C name of `kind` (`'struct'`, `'union'`, `'enum'`, `'typedef'`).
   *
   * @example
   * ```ts
   * names.typeName('event', 'struct'); // 'Event'
   * names.typeName('event', 'union');  // 'EventUnion'
   * ```
   */
  typeName(cName: string, kind: string): string {
    let base = pascalCase(cName);
    if (reserved.has(base) || taken.has(base)) base = `${base}_`;
    if (!this.#used.has(base)) return this.#take(base);
    const kinded = `${base}${pascalCase(kind)}`;
    if (!this.#used.has(kinded)) return this.#take(kinded);
    for (let i = 2; ; i++) if (!this.#used.has(`${kinded}${i}`)) return this.#take(`${kinded}${i}`);
  }

  #take(name: string): string {
    this.#used.add(name);
    return name;
  }
}
