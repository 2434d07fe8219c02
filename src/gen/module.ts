/**
 * `generateModule()`: the TypeScript module `ebpf-ts gen` writes for a BPF object — value
 * types and codecs from its BTF, and `load<Name>()` returning its programs, maps, variables
 * and readers typed. The output depends only on the object and the options (no timestamps),
 * so regenerating an unchanged object gives the same file.
 *
 * @module
 */
import { shapeOf, type Shape, type ShapeOptions } from '../btf/shape.js';
import { shapeSize } from '../btf/codec.js';
import { Composite, Type } from '../btf/types.js';
import { Spec } from '../btf/spec.js';
import type { CollectionSpec } from '../collection-spec.js';
import { ArgumentError } from '../errors.js';
import { isPerCPUMapType } from '../map.js';
import { MapType } from '../types.js';
import { CodecSource } from './codec-source.js';
import { camelCase, isIdentifier, NameTable, pascalCase, propertyKey } from './names.js';

/** Options of {@link generateModule}. */
export interface GenerateOptions {
  /** Base name: `tracer` gives `loadTracer()`, `Tracer`, `TracerMaps`, … */
  name: string;
  /**
   * The object as the module finds it: paths relative to the module (`./tracer.bpfel.o`)
   * for each byte order shipped, or the bytes themselves to embed (`--embed`).
   */
  objects: { little?: string | Uint8Array; big?: string | Uint8Array };
  /**
   * Extra types to emit, as `'struct event'`; `'events=struct event'` also makes the
   * `events` perf or ring buffer map's reader decode records to it.
   */
  types?: readonly string[];
  /**
   * `char[N]` as `'string'` (default: up to the first NUL) or `'bytes'` (a `Uint8Array` copy),
   * everywhere, as `btf.codecFor()`'s option of the same name.
   */
  charArrays?: 'string' | 'bytes';
  /**
   * Members kept as raw bytes whatever their type, `'struct event.payload'`: decoded to a
   * `Uint8Array` copy of the member's bytes, encoded from one (shorter is zero-filled). A
   * member of an anonymous struct or union inside the named one is named as the C code names
   * it (`'struct event.addr'`).
   */
  bytes?: readonly string[];
  /** Module the bindings import the runtime from. Default `'ebpf-ts'`. */
  importFrom?: string;
  /** The command that regenerates the file, for its header. */
  command?: string;
  /** The object's file name, for the header. */
  source?: string;
}

// Maps whose keys and values are plain data (not fds, not records).
const dataMaps = new Set<MapType>([MapType.Hash, MapType.Array, MapType.PerCPUHash, MapType.PerCPUArray, MapType.LRUHash, MapType.LRUPerCPUHash, MapType.LPMTrie]);
const readerMaps = new Set<MapType>([MapType.PerfEventArray, MapType.RingBuf]);

/** A `--type` argument: the type, and the reader map it is bound to. */
interface TypeRequest {
  readonly map: string | undefined;
  readonly type: Type;
}

function parseTypeRequest(btf: Spec, arg: string): TypeRequest {
  const eq = arg.indexOf('=');
  const map = eq < 0 ? undefined : arg.slice(0, eq).trim();
  const name = (eq < 0 ? arg : arg.slice(eq + 1)).trim();
  const m = /^(struct|union|enum|typedef)\s+([A-Za-z_][A-Za-z0-9_]*)$/.exec(name) ?? /^()([A-Za-z_][A-Za-z0-9_]*)$/.exec(name);
  if (m === null) throw new ArgumentError(`--type ${JSON.stringify(arg)}: expected 'struct name', 'union name', 'enum name' or 'map=struct name'`);
  const found = btf.anyTypesByName(m[2]!).filter((t) => t.name === m[2] && (m[1] === '' || t.kindName === m[1]));
  const t = found.find((f) => f instanceof Composite) ?? found[0];
  if (t === undefined) {
    throw new ArgumentError(
      `--type ${JSON.stringify(arg)}: the object's BTF has no ${name}. clang emits a type only when a function signature, ` +
        `a global variable or a map definition uses it: name it once, e.g. __type(value, ${name}) on the ring buffer map ` +
        `or a global \`${name} *unused __attribute__((unused));\`, and rebuild`,
    );
  }
  return { map, type: t };
}

/** Shapes with the module's options: char arrays as asked, `--bytes` members as raw bytes. */
type Shaper = (t: Type) => Shape;

function bytesSelector(btf: Spec, arg: string, charArrays: ShapeOptions['charArrays']): [Composite, string] {
  const m = /^\s*(?:(struct|union)\s+)?([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)\s*$/.exec(arg);
  if (m === null) throw new ArgumentError(`--bytes ${JSON.stringify(arg)}: expected 'struct name.member'`);
  const t = btf.anyTypesByName(m[2]!).find((x): x is Composite => x instanceof Composite && x.name === m[2] && (m[1] === undefined || x.kindName === m[1]));
  if (t === undefined) throw new ArgumentError(`--bytes ${JSON.stringify(arg)}: the object's BTF has no ${m[1] ?? 'struct or union'} ${m[2]}`);
  const s = shapeOf(t, { charArrays });
  const f = s.kind === 'struct' || s.kind === 'union' ? s.fields.find((x) => x.name === m[3]) : undefined;
  if (f === undefined) throw new ArgumentError(`--bytes ${JSON.stringify(arg)}: ${t.kindName} ${t.name} has no member ${m[3]}`);
  if (f.kind === 'bitfield') throw new ArgumentError(`--bytes ${JSON.stringify(arg)}: ${m[3]} is a bitfield, which has no bytes of its own`);
  return [t, m[3]!];
}

function shaper(btf: Spec, options: GenerateOptions): Shaper {
  const charArrays = options.charArrays ?? 'string';
  const keep = new Map<Type, Set<string>>();
  for (const arg of options.bytes ?? []) {
    const [t, member] = bytesSelector(btf, arg, charArrays);
    keep.set(t, (keep.get(t) ?? new Set()).add(member));
  }
  const rewrite = (s: Shape): Shape => {
    if (s.kind === 'array') return { ...s, element: rewrite(s.element) };
    if (s.kind !== 'struct' && s.kind !== 'union') return s;
    const members = keep.get(s.type);
    const fields = s.fields.map((f) => {
      if (f.kind !== 'field') return f;
      if (members?.has(f.name) === true) return { ...f, shape: { kind: 'chars' as const, length: shapeSize(f.shape), mode: 'bytes' as const } };
      return { ...f, shape: rewrite(f.shape) };
    });
    return { ...s, fields };
  };
  return (t) => rewrite(shapeOf(t, { charArrays }));
}

function shapeOrUndefined(shape: Shaper, t: unknown): Shape | undefined {
  if (!(t instanceof Type)) return undefined;
  try {
    return shape(t);
  } catch (e) {
    if (e instanceof ArgumentError) return undefined;
    throw e;
  }
}

/**
 * Generates the bindings module for `spec`.
 *
 * @example
 * ```ts
 * const spec = await loadCollectionSpec('tracer.bpfel.o');
 * writeFileSync('tracer.ts', generateModule(spec, { name: 'tracer', objects: { little: './tracer.bpfel.o' } }));
 * ```
 * @throws {@link ArgumentError} for an object without BTF, a name that is not an identifier, a
 * `--type` the BTF does not have (saying why clang leaves types out) or bound to a map that
 * is not a perf or ring buffer map.
 */
export function generateModule(spec: CollectionSpec, options: GenerateOptions): string {
  // Without BTF (no clang -g) the maps stay untyped; types cannot be asked for.
  const btf = spec.btf ?? new Spec();
  if (spec.btf === undefined && (options.types ?? []).length > 0) throw new ArgumentError('gen: --type needs BTF, and the object has none; compile it with clang -g');
  const Name = pascalCase(options.name);
  if (!isIdentifier(options.name)) throw new ArgumentError(`gen: --name ${JSON.stringify(options.name)} must be an identifier (letters, digits, _)`);
  const little = options.objects.little;
  const big = options.objects.big;
  if (little === undefined && big === undefined) throw new ArgumentError('gen: no object to load (options.objects)');
  const bothOrders = little !== undefined && big !== undefined;

  const shape = shaper(btf, options);
  const names = new NameTable();
  for (const n of [Name, `${Name}Maps`, `${Name}Programs`, `${Name}Variables`, `${Name}Readers`, `${Name}Constants`, `${Name}LoadOptions`]) names.reserve(n);
  const src = new CodecSource(names, { littleEndian: spec.byteOrder === 'little', bothOrders });

  // --type requests: declared first, so their names are the plain ones.
  const requests = (options.types ?? []).map((a) => parseTypeRequest(btf, a));
  for (const r of requests) {
    const s = shapeOrUndefined(shape, r.type);
    if (s === undefined) throw new ArgumentError(`--type ${r.type}: it has no value representation`);
    src.typeOf(s);
    if (r.map !== undefined) {
      const m = spec.maps[r.map];
      if (m === undefined || !readerMaps.has(m.type)) throw new ArgumentError(`--type ${r.map}=…: ${r.map} is not a perf event array or ring buffer map of the object`);
    }
  }

  const codecs: string[] = [];
  const mapLines: string[] = [];
  const mapMakers: string[] = [];
  const mapGetters: string[] = [];
  const readerLines: string[] = [];
  const readerMakers: string[] = [];
  const uses = new Set<string>();

  const mapNames = Object.keys(spec.maps).filter((n) => !n.startsWith('.') && spec.maps[n]!.sectionName !== '.kconfig').sort();
  const readerMapCount = mapNames.filter((n) => readerMaps.has(spec.maps[n]!.type)).length;
  for (const name of mapNames) {
    const m = spec.maps[name]!;
    const key = propertyKey(name);
    const id = camelCase(pascalCase(name));
    const ks = shapeOrUndefined(shape, m.key);
    const vs = shapeOrUndefined(shape, m.value);
    mapGetters.push(`get ${key}() { return ${id}Map(); },`);
    if (dataMaps.has(m.type) && ks !== undefined && vs !== undefined) {
      const perCPU = isPerCPUMapType(m.type);
      codecs.push(`/** Keys of map \`${name}\`. */`, `export const ${id}KeyCodec: Codec<${src.typeOf(ks)}> = ${src.codecExpr(ks, `${name} key`)};`, '');
      codecs.push(`/** Values of map \`${name}\`${perCPU ? ' (per CPU)' : ''}. */`, `export const ${id}ValueCodec: Codec<${src.typeOf(vs)}> = ${src.codecExpr(vs, `${name} value`)};`, '');
      const valueType = perCPU ? `Array<${src.typeOf(vs)}>` : src.typeOf(vs);
      mapLines.push(`  /** \`${MapType[m.type]}\` map \`${name}\`${perCPU ? ': one value per possible CPU' : ''}. */`, `  readonly ${key}: TypedMap<${src.typeOf(ks)}, ${valueType}>;`);
      mapMakers.push(`const ${id}Map = once(() => TypedMap.${perCPU ? 'perCPU' : 'of'}(pick(c.maps, '${name}', 'map'), ${id}KeyCodec, ${id}ValueCodec));`);
      uses.add('TypedMap');
    } else {
      mapLines.push(`  /** \`${MapType[m.type] ?? m.type}\` map \`${name}\` (untyped: ${readerMaps.has(m.type) ? 'records come through readers' : dataMaps.has(m.type) ? 'no BTF key/value type' : 'its values are not data'}). */`, `  readonly ${key}: BpfMap;`);
      mapMakers.push(`const ${id}Map = once(() => pick(c.maps, '${name}', 'map'));`);
      uses.add('BpfMap');
    }
    if (readerMaps.has(m.type)) {
      const record = recordShape(btf, shape, name, requests, vs, readerMapCount);
      if (record === undefined) continue;
      const ring = m.type === MapType.RingBuf;
      const reader = ring ? 'RingBufReader' : 'PerfReader';
      const t = src.typeOf(record);
      codecs.push(`/** Records of map \`${name}\`. */`, `export const ${id}RecordCodec: Codec<${t}> = ${src.codecExpr(record, `${name} record`)};`, '');
      readerLines.push(
        `  /** Opens a reader of \`${name}\` whose records decode to ${t} (\`onLost\` hears of perf loss reports); close it (or \`using\`) when done. */`,
        `  ${key}(options?: ${reader}Options & TypedReaderOptions): TypedReader<${t}>;`,
      );
      readerMakers.push(`${key}: (options?: ${reader}Options & TypedReaderOptions) => new TypedReader(new ${reader}(${id}Map() as BpfMap, options), ${id}RecordCodec, options),`);
      uses.add(reader).add(`${reader}Options`).add('TypedReader').add('TypedReaderOptions').add('BpfMap');
    }
  }

  const programLines: string[] = [];
  const programMakers: string[] = [];
  for (const name of Object.keys(spec.programs).sort()) {
    const p = spec.programs[name]!;
    programLines.push(`  /** \`SEC("${p.sectionName}")\` */`, `  readonly ${propertyKey(name)}: Program;`);
    programMakers.push(`get ${propertyKey(name)}() { return pick(c.programs, '${name}', 'program'); },`);
    uses.add('Program');
  }

  const variableLines: string[] = [];
  const variableMakers: string[] = [];
  const variableGetters: string[] = [];
  const constantLines: string[] = [];
  const constantSetters: string[] = [];
  for (const name of Object.keys(spec.variables).sort()) {
    const v = spec.variables[name]!;
    if (!isIdentifier(name) || v.sectionName === '.ksyms') continue;
    const s = shapeOrUndefined(shape, v.type);
    if (s === undefined) continue;
    const id = camelCase(pascalCase(name));
    const t = src.typeOf(s);
    codecs.push(`/** Variable \`${name}\` (${v.sectionName}). */`, `export const ${id}VariableCodec: Codec<${t}> = ${src.codecExpr(s, name)};`, '');
    variableLines.push(`  /** \`${name}\` in ${v.sectionName}${v.readOnly ? ' (read-only once loaded: set it through options.constants)' : ''}. */`, `  readonly ${name}: TypedVariable<${t}>;`);
    variableMakers.push(`const ${id}Variable = once(() => new TypedVariable(pick(c.variables, '${name}', 'variable'), ${id}VariableCodec));`);
    variableGetters.push(`get ${name}() { return ${id}Variable(); },`);
    uses.add('TypedVariable');
    if (v.readOnly && v.sectionName !== '.kconfig') {
      constantLines.push(`  /** \`const volatile\` \`${name}\`. */`, `  ${name}?: ${t};`);
      constantSetters.push(`if (constants.${name} !== undefined) pick(spec.variables, '${name}', 'variable').set(${id}VariableCodec.encode(constants.${name}));`);
    }
  }

  return render({
    Name,
    options,
    src,
    codecs,
    uses,
    bothOrders,
    littleEndian: spec.byteOrder === 'little',
    mapLines,
    mapMakers,
    mapGetters,
    readerLines,
    readerMakers,
    programLines,
    programMakers,
    variableLines,
    variableMakers,
    variableGetters,
    constantLines,
    constantSetters,
  });
}

// The record type of a reader map: a --type bound to it, the map's own __type(value, …), a
// lone unbound --type when the object has one reader map, or the naming convention: a struct
// named like the map (`events` → `struct event`, `struct events`, `struct events_event`).
function recordShape(btf: Spec, shape: Shaper, map: string, requests: readonly TypeRequest[], value: Shape | undefined, readers: number): Shape | undefined {
  const bound = requests.find((r) => r.map === map);
  if (bound !== undefined) return shape(bound.type);
  if (value !== undefined && (value.kind === 'struct' || value.kind === 'union')) return value;
  const unbound = requests.filter((r) => r.map === undefined);
  if (unbound.length === 1 && readers === 1) return shape(unbound[0]!.type);
  for (const candidate of [map.replace(/s$/, ''), map, `${map}_event`, ...(readers === 1 ? ['event'] : [])]) {
    const t = btf.anyTypesByName(candidate).find((x) => x instanceof Composite && x.name === candidate);
    if (t !== undefined) return shape(t);
  }
  return undefined;
}

interface Parts {
  Name: string;
  options: GenerateOptions;
  src: CodecSource;
  codecs: string[];
  uses: Set<string>;
  bothOrders: boolean;
  littleEndian: boolean;
  mapLines: string[];
  mapMakers: string[];
  /** `get name() { … }` of each map, in mapMakers' order. */
  mapGetters: string[];
  readerLines: string[];
  readerMakers: string[];
  programLines: string[];
  programMakers: string[];
  variableLines: string[];
  variableMakers: string[];
  /** `get name() { … }` of each variable, in variableMakers' order. */
  variableGetters: string[];
  constantLines: string[];
  constantSetters: string[];
}

function base64Lines(bytes: Uint8Array): string {
  const b64 = Buffer.from(bytes).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 100) lines.push(`  '${b64.slice(i, i + 100)}'`);
  return lines.join(' +\n');
}

function render(p: Parts): string {
  const { Name, options, src } = p;
  // Declarations first: emitting them can still reach helpers (enum tables, bitfields).
  const declarations = src.declarations();
  const embedded = [options.objects.little, options.objects.big].some((o) => o instanceof Uint8Array);
  const out: string[] = [];
  out.push(`// Code generated by ebpf-ts gen${options.source === undefined ? '' : ` from ${options.source}`}. DO NOT EDIT.`);
  if (options.command !== undefined) out.push(`// Regenerate with: ${options.command}`);
  out.push('');

  const runtime = ['ArgumentError', 'loadCollection', 'parseCollectionSpec', ...[...p.uses].filter((u) => ['TypedMap', 'TypedVariable', 'TypedReader', 'PerfReader', 'RingBufReader'].includes(u))];
  // Every module builds its codecs with btf.codecOf.
  const helpers = ['codecOf', ...[...src.used].filter((h) => ['decodeCString', 'encodeCString', 'checkInt', 'checkNumber', 'readBits', 'writeBits'].includes(h))].sort();
  runtime.push('btf');
  const types = ['Codec', 'Collection', 'CollectionOptions', 'CollectionSpec', ...[...p.uses].filter((u) => ['BpfMap', 'Program', 'PerfReaderOptions', 'RingBufReaderOptions', 'TypedReaderOptions'].includes(u))];
  if (!embedded) out.push("import { readFile } from 'node:fs/promises';");
  if (p.bothOrders) out.push("import { endianness } from 'node:os';");
  const imports = [...runtime.sort(), ...types.sort().map((t) => `type ${t}`)];
  out.push(`import {\n${imports.map((i) => `  ${i},`).join('\n')}\n} from '${options.importFrom ?? 'ebpf-ts'}';`, '');
  out.push(`const { ${helpers.join(', ')} } = btf;`, '');

  out.push(
    p.bothOrders
      ? '/** Byte order of the data: the host\'s, which picks the object (both are shipped). */\nconst le = endianness() === \'LE\';'
      : `/** Byte order of the data: the object's (${p.littleEndian ? 'little' : 'big'}-endian), as its programs write it. */\nconst le = ${p.littleEndian};`,
    '',
  );
  out.push(...prelude(src.used), '');
  out.push(...declarations);
  out.push(...p.codecs);

  const block = (title: string, lines: string[]): string[] => [`export interface ${title} {`, ...lines, '}', ''];
  out.push(`/** The programs of the object, by function name. */`, ...block(`${Name}Programs`, p.programLines));
  out.push(`/** The maps of the object, by name (global data is under variables). */`, ...block(`${Name}Maps`, p.mapLines));
  out.push(`/** Readers of the perf event array and ring buffer maps. */`, ...block(`${Name}Readers`, p.readerLines));
  out.push(`/** The global variables of the object: \`.bss\`/\`.data\` live, \`.rodata\` read-only once loaded. */`, ...block(`${Name}Variables`, p.variableLines));
  out.push(`/** \`const volatile\` values to set before load. */`, ...block(`${Name}Constants`, p.constantLines));
  out.push(
    `/** Options of {@link load${Name}}: those of \`loadCollection\`, with typed constants. */`,
    `export interface ${Name}LoadOptions extends Omit<CollectionOptions, 'constants'> {`,
    `  constants?: ${Name}Constants;`,
    '}',
    '',
    `/** The loaded object: its programs, maps, readers and variables, typed. Close it (or \`using\`) to release them. */`,
    `export interface ${Name} extends Disposable {`,
    '  readonly collection: Collection;',
    `  readonly programs: ${Name}Programs;`,
    `  readonly maps: ${Name}Maps;`,
    `  readonly readers: ${Name}Readers;`,
    `  readonly variables: ${Name}Variables;`,
    '  close(): void;',
    '}',
    '',
  );

  // The object file(s).
  const objectFor = (o: string | Uint8Array, order: string): string[] =>
    o instanceof Uint8Array
      ? [`// The ${order}-endian object, embedded (--embed).`, `const ${order}Object = () => Promise.resolve(new Uint8Array(Buffer.from(`, base64Lines(o) + ',', "  'base64',", ')));']
      : [`const ${order}Object = async () => new Uint8Array(await readFile(new URL('${o}', import.meta.url)));`];
  if (options.objects.little !== undefined) out.push(...objectFor(options.objects.little, 'little'));
  if (options.objects.big !== undefined) out.push(...objectFor(options.objects.big, 'big'));
  const pickObject = p.bothOrders ? '(le ? littleObject : bigObject)' : options.objects.little !== undefined ? 'littleObject' : 'bigObject';
  out.push(
    '',
    `/**`,
    ` * Parses the object into a spec (no kernel involved), e.g. to inspect or edit it before load.`,
    ` *`,
    ` * @example`,
    ' * ```ts',
    ` * const spec = await load${Name}Spec();`,
    ' * ```',
    ` */`,
    `export async function load${Name}Spec(): Promise<CollectionSpec> {`,
    `  return parseCollectionSpec(await ${pickObject}());`,
    '}',
    '',
    `/**`,
    ` * Loads the object into the kernel and returns it typed.`,
    ` *`,
    ` * @example`,
    ' * ```ts',
    ` * using obj = await load${Name}();`,
    ' * ```',
    ` * @throws what \`loadCollection\` throws (VerifierError, NotSupportedError, …); ArgumentError for a constant that does not fit.`,
    ` */`,
    `export async function load${Name}(options: ${Name}LoadOptions = {}): Promise<${Name}> {`,
    `  const { constants = {}, ...rest } = options;`,
    `  const spec = await load${Name}Spec();`,
    ...p.constantSetters.map((l) => `  ${l}`),
    '  const c = await loadCollection(spec, rest);',
    ...p.mapMakers.map((l) => `  ${l}`),
    ...p.variableMakers.map((l) => `  ${l}`),
    '  return {',
    '    collection: c,',
    '    programs: {',
    ...p.programMakers.map((l) => `      ${l}`),
    '    },',
    '    maps: {',
    ...p.mapGetters.map((l) => `      ${l}`),
    '    },',
    '    readers: {',
    ...p.readerMakers.map((l) => `      ${l}`),
    '    },',
    '    variables: {',
    ...p.variableGetters.map((l) => `      ${l}`),
    '    },',
    '    close: () => c.close(),',
    '    [Symbol.dispose]: () => c.close(),',
    '  };',
    '}',
  );
  return out.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd() + '\n';
}

function prelude(used: ReadonlySet<string>): string[] {
  const out = [
    '/** A lazily made member: maps, programs and variables a partial load left out throw only when used. */',
    'function once<T>(make: () => T): () => T {',
    '  let made: { value: T } | undefined;',
    '  return () => (made ??= { value: make() }).value;',
    '}',
    '',
    'function pick<T>(from: Record<string, T>, name: string, what: string): T {',
    '  const found = from[name];',
    '  if (found === undefined) throw new ArgumentError(`${what} ${name} was not loaded (see the programs option)`);',
    '  return found;',
    '}',
  ];
  if (used.has('arrayOf')) {
    out.push('', 'function arrayOf<T>(n: number, item: (i: number) => T): T[] {', '  const a = new Array<T>(n);', '  for (let i = 0; i < n; i++) a[i] = item(i);', '  return a;', '}');
  }
  if (used.has('enumName')) {
    out.push('', 'function enumName<N extends number | bigint, T>(names: Map<N, T>, n: N): T | N {', '  return names.get(n) ?? n;', '}');
  }
  if (used.has('enumValue')) {
    out.push(
      '',
      'function enumValue(values: Readonly<Record<string, number | bigint>>, x: string | number | bigint, bits: number, signed: boolean, path: string): number | bigint {',
      "  if (typeof x !== 'string') return btf.checkInt(x, bits, signed, path);",
      '  const n = values[x];',
      '  if (n === undefined) throw new ArgumentError(`encode: ${path}: ${JSON.stringify(x)} is not an enumerator`);',
      '  return n;',
      '}',
    );
  }
  return out;
}
