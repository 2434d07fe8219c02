/**
 * TypeScript source for value types and their codecs: an interface per named struct/union, a
 * literal union per named enum, and straight-line DataView decode/encode functions with every
 * offset a constant (the layout of `btf/shape.ts`, so they agree with `codecFor()`).
 *
 * @module
 */
import { bitWindow, type CompositeShape, type EnumShape, type FieldShape, type Shape } from '../btf/shape.js';
import { shapeSize } from '../btf/codec.js';
import { Composite, Enum, Enum64, type Type } from '../btf/types.js';
import { camelCase, NameTable, propertyKey, stringLiteral } from './names.js';

/** A named declaration: a composite's interface and functions, or an enum's union and tables. */
interface Declared {
  readonly name: string;
  readonly shape: CompositeShape | EnumShape;
}

/** Options of {@link CodecSource}. */
export interface CodecSourceOptions {
  /** The object's byte order. */
  littleEndian: boolean;
  /** Both byte orders are shipped: read `le` at run time and emit both bitfield layouts. */
  bothOrders: boolean;
}

/**
 * Collects the types a module needs and writes their declarations and codecs. Named
 * composites and enums are declared once, in the order first reached, with names from
 * {@link NameTable}; anonymous ones are written inline.
 */
export class CodecSource {
  readonly #names: NameTable;
  readonly #options: CodecSourceOptions;
  readonly #declared = new Map<Type, Declared>();
  readonly #order: Declared[] = [];
  /** Helpers of the prelude the emitted code calls. */
  readonly used = new Set<'arrayOf' | 'enumName' | 'enumValue' | 'decodeCString' | 'encodeCString' | 'checkInt' | 'checkNumber' | 'readBits' | 'writeBits'>();

  /**
   * Starts an empty set of declarations.
   *
   * @example
   * ```ts
   * const src = new CodecSource(new NameTable(), { littleEndian: true, bothOrders: false });
   * ```
   */
  constructor(names: NameTable, options: CodecSourceOptions) {
    this.#names = names;
    this.#options = options;
  }

  /**
   * Declares what `shape` reaches and returns its TypeScript type.
   *
   * @example
   * ```ts
   * src.typeOf(shapeOf(eventType)); // 'Event'
   * ```
   */
  typeOf(shape: Shape): string {
    switch (shape.kind) {
      case 'int':
        return shape.bool ? 'boolean' : shape.size > 4 ? 'bigint' : 'number';
      case 'float':
        return 'number';
      case 'pointer':
        return 'bigint';
      case 'chars':
        return shape.mode === 'string' ? 'string' : 'Uint8Array';
      case 'array': {
        const e = this.typeOf(shape.element);
        return /^[A-Za-z0-9_]+$/.test(e) ? `${e}[]` : `Array<${e}>`;
      }
      case 'enum': {
        const number = shape.size > 4 ? 'bigint' : 'number';
        if (!shape.names || shape.values.length === 0) return number;
        const d = this.#declare(shape);
        return d === undefined ? `${shape.values.map((v) => `'${v.name}'`).join(' | ')} | ${number}` : `${d.name} | ${number}`;
      }
      case 'datasec':
        return 'never';
      default: {
        const d = this.#declare(shape);
        return d === undefined ? this.#inlineType(shape) : d.name;
      }
    }
  }

  #declare(shape: CompositeShape | EnumShape): Declared | undefined {
    if (shape.type.name === '') return undefined;
    const known = this.#declared.get(shape.type);
    if (known !== undefined) return known;
    const kind = shape.type instanceof Enum || shape.type instanceof Enum64 ? 'enum' : shape.kind;
    const d: Declared = { name: this.#names.typeName(shape.type.name, kind), shape };
    this.#declared.set(shape.type, d);
    // Members first reach their own types, so declarations come out in dependency order.
    if (shape.kind !== 'enum') for (const f of shape.fields) this.typeOf(f.shape);
    this.#order.push(d);
    return d;
  }

  #inlineType(shape: CompositeShape): string {
    return `{ ${shape.fields.map((f) => `${propertyKey(f.name)}: ${this.typeOf(f.shape)}`).join('; ')} }`;
  }

  // ---- decoding ----------------------------------------------------------------------------

  /**
   * An expression decoding `shape` at offset expression `off` (over `v`: DataView, `b`: bytes).
   *
   * @example
   * ```ts
   * src.decodeExpr(u32Shape, 'o + 4'); // 'v.getUint32(o + 4, le)'
   * ```
   */
  decodeExpr(shape: Shape, off: string, depth = 0): string {
    switch (shape.kind) {
      case 'int':
        return this.#intRead(shape.size, shape.signed, shape.bool, off);
      case 'float':
        return `v.getFloat${shape.size * 8}(${off}, le)`;
      case 'pointer':
        return `v.getBigUint64(${off}, le)`;
      case 'chars':
        if (shape.mode === 'bytes') return `b.slice(${off}, ${off} + ${shape.length})`;
        this.used.add('decodeCString');
        return `decodeCString(b, ${off}, ${shape.length})`;
      case 'enum': {
        const raw = this.#intRead(shape.size, shape.signed, false, off);
        const d = shape.names ? this.#declare(shape) : undefined;
        if (d === undefined) return raw;
        this.used.add('enumName');
        return `enumName(${camelCase(d.name)}Names, ${raw})`;
      }
      case 'array': {
        this.used.add('arrayOf');
        const i = `i${depth}`;
        return `arrayOf(${shape.count}, (${i}) => ${this.decodeExpr(shape.element, `${off} + ${i} * ${shape.elementSize}`, depth + 1)})`;
      }
      case 'datasec':
        throw new Error('unreachable: data sections are not generated');
      default: {
        const d = this.#declare(shape);
        if (d !== undefined) return `decode${d.name}(v, b, ${off})`;
        return this.#objectExpr(shape, off, depth);
      }
    }
  }

  #intRead(size: number, signed: boolean, bool: boolean, off: string): string {
    const read = size === 1 ? `v.get${signed ? 'Int8' : 'Uint8'}(${off})` : size === 16 ? '' : `v.get${size === 8 ? (signed ? 'BigInt64' : 'BigUint64') : `${signed ? 'Int' : 'Uint'}${size * 8}`}(${off}, le)`;
    if (size === 16) {
      this.used.add('readBits');
      return `(readBits(b, ${off}, 16, 0, 128, ${signed}, le, true) as bigint)`;
    }
    return bool ? `${read} !== ${size === 8 ? '0n' : '0'}` : read;
  }

  #objectExpr(shape: CompositeShape, off: string, depth: number): string {
    const parts = shape.fields.map((f) => `${propertyKey(f.name)}: ${this.#fieldExpr(f, off, depth)}`);
    return `{ ${parts.join(', ')} }`;
  }

  #fieldExpr(f: FieldShape, off: string, depth: number): string {
    if (f.kind === 'field') return this.decodeExpr(f.shape, add(off, f.offset), depth);
    this.used.add('readBits');
    const s = f.shape;
    const big = s.size > 4;
    const read = (le: boolean): string => {
      const w = bitWindow(f.bitOffset, f.bits, le);
      return `readBits(b, ${add(off, w.start)}, ${w.size}, ${w.shift}, ${f.bits}, ${s.signed}, ${le}, ${big})`;
    };
    let raw = this.#options.bothOrders ? `(le ? ${read(true)} : ${read(false)})` : read(this.#options.littleEndian);
    if (s.kind === 'int' && s.bool) return `${raw} != 0`;
    raw = `(${raw} as ${big ? 'bigint' : 'number'})`;
    const d = s.kind === 'enum' && s.names ? this.#declare(s) : undefined;
    if (d === undefined) return raw;
    this.used.add('enumName');
    return `enumName(${camelCase(d.name)}Names, ${raw})`;
  }

  // ---- encoding ----------------------------------------------------------------------------

  /**
   * Statements writing `value` (an expression) as `shape` at offset expression `off`;
   * `path` names the value in error messages.
   *
   * @example
   * ```ts
   * src.encodeLines(u32Shape, 'x.pid', 'o + 0', 'event.pid'); // ["v.setUint32(o + 0, checkNumber(x.pid, 32, false, 'event.pid'), le);"]
   * ```
   */
  encodeLines(shape: Shape, value: string, off: string, path: string, depth = 0): string[] {
    const p = stringLiteral(path);
    switch (shape.kind) {
      case 'int':
        return [this.#intWrite(shape.size, shape.signed, shape.bool, value, off, p)];
      case 'float':
        return [`v.setFloat${shape.size * 8}(${off}, ${value}, le);`];
      case 'pointer':
        this.used.add('checkInt');
        return [`v.setBigUint64(${off}, checkInt(${value}, 64, false, ${p}), le);`];
      case 'chars':
        if (shape.mode === 'bytes') return [`b.set(${value}.subarray(0, ${shape.length}), ${off});`];
        this.used.add('encodeCString');
        return [`encodeCString(${value}, b, ${off}, ${shape.length}, ${p});`];
      case 'enum': {
        const d = shape.names ? this.#declare(shape) : undefined;
        if (d === undefined) return [this.#intWrite(shape.size, shape.signed, false, value, off, p)];
        this.used.add('enumValue');
        const n = `enumValue(${camelCase(d.name)}Values, ${value}, ${shape.size * 8}, ${shape.signed}, ${p})`;
        return [this.#rawIntWrite(shape.size, shape.signed, shape.size > 4 ? `BigInt(${n})` : `Number(${n})`, off)];
      }
      case 'array': {
        const i = `i${depth}`;
        const item = `e${depth}`;
        return [
          `if (${value}.length > ${shape.count}) throw new ArgumentError(\`encode: ${path} has \${${value}.length} elements, the array ${shape.count}\`);`,
          `for (let ${i} = 0; ${i} < ${value}.length; ${i}++) {`,
          `  const ${item} = ${value}[${i}];`,
          `  if (${item} !== undefined) {`,
          ...this.encodeLines(shape.element, item, `${off} + ${i} * ${shape.elementSize}`, `${path}[]`, depth + 1).map((l) => `    ${l}`),
          '  }',
          '}',
        ];
      }
      case 'datasec':
        throw new Error('unreachable: data sections are not generated');
      default: {
        const d = this.#declare(shape);
        if (d !== undefined) return [`encode${d.name}(${value}, v, b, ${off});`];
        return this.#fieldsLines(shape, value, off, path, depth);
      }
    }
  }

  #rawIntWrite(size: number, signed: boolean, n: string, off: string): string {
    if (size === 1) return `v.set${signed ? 'Int8' : 'Uint8'}(${off}, ${n});`;
    if (size === 8) return `v.set${signed ? 'BigInt64' : 'BigUint64'}(${off}, ${n}, le);`;
    return `v.set${signed ? 'Int' : 'Uint'}${size * 8}(${off}, ${n}, le);`;
  }

  #intWrite(size: number, signed: boolean, bool: boolean, value: string, off: string, p: string): string {
    if (bool) return this.#rawIntWrite(size, false, size === 8 ? `${value} ? 1n : 0n` : `${value} ? 1 : 0`, off);
    if (size === 16) {
      this.used.add('writeBits');
      this.used.add('checkInt');
      return `writeBits(b, ${off}, 16, 0, 128, checkInt(${value}, 128, ${signed}, ${p}), le);`;
    }
    if (size === 8) {
      this.used.add('checkInt');
      return this.#rawIntWrite(8, signed, `BigInt.as${signed ? 'Int' : 'Uint'}N(64, checkInt(${value}, 64, ${signed}, ${p}))`, off);
    }
    this.used.add('checkNumber');
    return this.#rawIntWrite(size, signed, `checkNumber(${value}, ${size * 8}, ${signed}, ${p})`, off);
  }

  #fieldsLines(shape: CompositeShape, value: string, off: string, path: string, depth: number): string[] {
    const out: string[] = [];
    for (const f of shape.fields) {
      const member = `${value}${propertyKey(f.name) === f.name ? `.${f.name}` : `[${propertyKey(f.name)}]`}`;
      const mpath = `${path}.${f.name}`;
      let body: string[];
      if (f.kind === 'field') body = this.encodeLines(f.shape, member, add(off, f.offset), mpath, depth);
      else body = this.#bitfieldLines(f, member, off, mpath);
      // Members left out stay zero; in unions each member given is written in order.
      out.push(`if (${member} !== undefined) {`, ...body.map((l) => `  ${l}`), '}');
    }
    return out;
  }

  #bitfieldLines(f: Extract<FieldShape, { kind: 'bitfield' }>, member: string, off: string, path: string): string[] {
    this.used.add('writeBits');
    const s = f.shape;
    const p = stringLiteral(path);
    let n: string;
    const d = s.kind === 'enum' && s.names ? this.#declare(s) : undefined;
    if (d !== undefined) {
      this.used.add('enumValue');
      n = `BigInt(enumValue(${camelCase(d.name)}Values, ${member}, ${f.bits}, ${s.signed}, ${p}))`;
    } else {
      this.used.add('checkInt');
      n = `checkInt(${member}, ${f.bits}, ${s.signed}, ${p})`;
    }
    const write = (le: boolean): string => {
      const w = bitWindow(f.bitOffset, f.bits, le);
      return `writeBits(b, ${add(off, w.start)}, ${w.size}, ${w.shift}, ${f.bits}, n, ${le});`;
    };
    if (!this.#options.bothOrders) return [`const n = ${n};`, write(this.#options.littleEndian)];
    return [`const n = ${n};`, `if (le) ${write(true)}`, `else ${write(false)}`];
  }

  // ---- declarations ------------------------------------------------------------------------

  /**
   * The declarations of every named type reached so far: interfaces and codec functions for
   * composites, literal unions and value tables for enums.
   *
   * @example
   * ```ts
   * const lines = src.declarations();
   * ```
   */
  declarations(): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.#order.length; i++) {
      const d = this.#order[i]!;
      out.push(...(d.shape.kind === 'enum' ? this.#enumDecl(d.name, d.shape) : this.#compositeDecl(d.name, d.shape)), '');
    }
    return out;
  }

  #enumDecl(name: string, s: EnumShape): string[] {
    const table = camelCase(name);
    const lit = (v: bigint): string => (s.size > 4 ? `${v}n` : `${v}`);
    const numberType = s.size > 4 ? 'bigint' : 'number';
    const unique = new Map<string, bigint>();
    for (const v of s.values) if (!unique.has(v.name)) unique.set(v.name, v.value);
    const byValue = new Map<string, string>();
    for (const v of s.values) if (!byValue.has(lit(v.value))) byValue.set(lit(v.value), v.name);
    return [
      `/** \`enum ${s.type.name}\`: decoded as the enumerator's name, or the number when none matches. */`,
      `export type ${name} = ${[...unique.keys()].map((n) => `'${n}'`).join(' | ')};`,
      '',
      `/** The values of \`enum ${s.type.name}\` by name. */`,
      `export const ${table}Values: Readonly<Record<${name}, ${numberType}>> = {`,
      ...[...unique].map(([n, v]) => `  ${propertyKey(n)}: ${lit(v)},`),
      '};',
      '',
      `const ${table}Names = new Map<${numberType}, ${name}>([${[...byValue].map(([v, n]) => `[${v}, '${n}']`).join(', ')}]);`,
    ];
  }

  #compositeDecl(name: string, s: CompositeShape): string[] {
    const c = s.type instanceof Composite ? s.type : undefined;
    const what = `${s.kind} ${c?.name ?? ''}`.trim();
    const lines = [`/** \`${what}\` (${s.size} bytes)${s.kind === 'union' ? ': every member decoded from the same bytes; encoding writes the members given, in order' : ''}. */`];
    lines.push(`export interface ${name} {`);
    for (const f of s.fields) lines.push(`  ${propertyKey(f.name)}: ${this.typeOf(f.shape)};`);
    lines.push('}', '');
    lines.push(`function decode${name}(v: DataView, b: Uint8Array, o: number): ${name} {`);
    // Arrays of the struct itself fill a local in a plain loop (no closure per decode).
    const values = s.fields.map((f, i) => {
      if (f.kind !== 'field' || f.shape.kind !== 'array') return this.#fieldExpr(f, 'o', 0);
      const a = f.shape;
      const t = this.typeOf(a.element);
      lines.push(`  const a${i} = new Array<${t}>(${a.count});`);
      lines.push(`  for (let i = 0; i < ${a.count}; i++) a${i}[i] = ${this.decodeExpr(a.element, `${add('o', f.offset)} + i * ${a.elementSize}`, 1)};`);
      return `a${i}`;
    });
    lines.push('  return {');
    s.fields.forEach((f, i) => lines.push(`    ${propertyKey(f.name)}: ${values[i]},`));
    lines.push('  };', '}', '');
    lines.push(`function encode${name}(x: ${name}, v: DataView, b: Uint8Array, o: number): void {`);
    lines.push(...this.#fieldsLines(s, 'x', 'o', c?.name === undefined || c.name === '' ? 'value' : c.name, 0).map((l) => `  ${l}`));
    lines.push('}', '');
    lines.push(`/** Encodes and decodes \`${what}\`. */`);
    lines.push(`export const ${camelCase(name)}Codec: Codec<${name}> = codecOf(${s.size}, decode${name}, encode${name});`);
    return lines;
  }

  /**
   * A codec expression for any shape: the named codec of a declared type, else an inline one.
   *
   * @example
   * ```ts
   * src.codecExpr(shapeOf(u32)); // 'codecOf<number>(4, (v, b, o) => v.getUint32(o, le), …)'
   * ```
   */
  codecExpr(shape: Shape, path: string): string {
    if ((shape.kind === 'struct' || shape.kind === 'union') && shape.type.name !== '') {
      const d = this.#declare(shape);
      if (d !== undefined) return `${camelCase(d.name)}Codec`;
    }
    const t = this.typeOf(shape);
    const body = this.encodeLines(shape, 'x', 'o', path);
    const write = body.length === 1 ? body[0]!.replace(/;$/, '') : `{\n${body.map((l) => `    ${l}`).join('\n')}\n  }`;
    return `codecOf<${t}>(${shapeSize(shape)}, (v, b, o) => ${this.decodeExpr(shape, 'o')}, (x, v, b, o) => ${write})`;
  }
}

function add(off: string, n: number): string {
  return n === 0 ? off : `${off} + ${n}`;
}

