/**
 * `generateBindings()`: from an object file on disk to the text and path of its bindings
 * module — finds the other byte order's object next to it, picks names and relative paths,
 * and writes the header's regenerate command. Used by `ebpf-ts gen` and `ebpf-ts build`.
 *
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { parseCollectionSpec } from '../collection-spec.js';
import { ArgumentError } from '../errors.js';
import { generateModule } from './module.js';
import { transpileBindings } from './transpile.js';

/** Options of {@link generateBindings}. */
export interface BindingsOptions {
  /**
   * Where the module goes. Default: `<name>.ts` next to the object. A `.js` (or `.mjs`) path
   * writes JavaScript and its declarations (`.d.ts`, `.d.mts`) instead, for projects without a
   * TypeScript build; that needs the `typescript` package (5.5+) at generation time.
   */
  out?: string;
  /** Base name of the generated names (`loadTracer`). Default: the object's name (`tracer` of `tracer.bpfel.o`). */
  name?: string;
  /** Extra types, `'struct event'` or `'events=struct event'` (see `GenerateOptions.types`). */
  types?: readonly string[];
  /** Embed the object(s) in the module instead of loading them from next to it. */
  embed?: boolean;
  /** `char[N]` as `'string'` (default) or `'bytes'` (see `GenerateOptions.charArrays`). */
  charArrays?: 'string' | 'bytes';
  /** Members kept as raw bytes, `'struct event.payload'` (see `GenerateOptions.bytes`). */
  bytes?: readonly string[];
  /** Module to import the runtime from. Default `'ebpf-ts'`. */
  importFrom?: string;
  /** The regenerate command for the header, when not the `gen` command line (`ebpf-ts build` passes its own). */
  command?: string;
}

/**
 * The default base name of an object: its file name without `.bpfel.o`/`.bpfeb.o`/`.bpf.o`/`.o`,
 * with characters other than letters, digits and `_` turned into `_`.
 *
 * @example
 * ```ts
 * defaultName('out/exec-snoop.bpfel.o'); // 'exec_snoop'
 * ```
 */
export function defaultName(objectPath: string): string {
  const base = basename(objectPath).replace(/(\.bpfe[lb])?(\.bpf)?\.o$/, '');
  const name = base.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[0-9]/.test(name) ? `_${name}` : name;
}

/** What {@link generateBindings} produced: the module, and its declarations for JavaScript output. */
export interface Bindings {
  /** The module's path (`options.out`). */
  path: string;
  /** The module's text. */
  text: string;
  /** For a `.js`/`.mjs` module: its `.d.ts`/`.d.mts` next to it. */
  declarations?: { path: string; text: string };
}

/**
 * Generates the bindings module of the object at `objectPath`. When the object is
 * `x.bpfel.o` or `x.bpfeb.o` and the other byte order's file is next to it, the module
 * ships both and loads the host's.
 *
 * @example
 * ```ts
 * const { path, text } = generateBindings('tracer.bpfel.o', { out: 'src/tracer.ts' });
 * writeFileSync(path, text);
 * ```
 * @throws {@link ArgumentError} for a missing object or bad options; `ParseError` for a file
 * that is not a BPF object; `ToolNotFoundError` for JavaScript output without TypeScript 5.5+.
 */
export function generateBindings(objectPath: string, options: BindingsOptions = {}): Bindings {
  if (!existsSync(objectPath)) throw new ArgumentError(`gen: ${objectPath}: no such file`);
  const bytes = new Uint8Array(readFileSync(objectPath));
  const spec = parseCollectionSpec(bytes);
  const name = options.name ?? defaultName(objectPath);
  const out = options.out ?? join(dirname(objectPath), `${name}.ts`);
  const m = /\.bpfe([lb])\.o$/.exec(objectPath);
  const paths: { little?: string; big?: string } = {};
  paths[spec.byteOrder] = objectPath;
  if (m !== null) {
    const other = objectPath.replace(/\.bpfe[lb]\.o$/, m[1] === 'l' ? '.bpfeb.o' : '.bpfel.o');
    if (existsSync(other)) paths[spec.byteOrder === 'little' ? 'big' : 'little'] = other;
  }
  const ref = (p: string): string | Uint8Array => {
    if (options.embed === true) return new Uint8Array(readFileSync(p));
    const r = relative(dirname(resolve(out)), resolve(p)).split(sep).join('/');
    return r.startsWith('.') ? r : `./${r}`;
  };
  const objects: { little?: string | Uint8Array; big?: string | Uint8Array } = {};
  if (paths.little !== undefined) objects.little = ref(paths.little);
  if (paths.big !== undefined) objects.big = ref(paths.big);
  const command = options.command ?? [
    'npx ebpf-ts gen',
    objectPath,
    '--out',
    out,
    '--name',
    name,
    ...(options.types !== undefined && options.types.length > 0 ? ['--type', `'${options.types.join(',')}'`] : []),
    ...(options.charArrays !== undefined ? ['--char-arrays', options.charArrays] : []),
    ...(options.bytes ?? []).flatMap((b) => ['--bytes', `'${b}'`]),
    ...(options.embed === true ? ['--embed'] : []),
    ...(options.importFrom !== undefined ? ['--import-from', options.importFrom] : []),
  ].join(' ');
  const text = generateModule(spec, {
    name,
    objects,
    types: options.types ?? [],
    ...(options.charArrays !== undefined ? { charArrays: options.charArrays } : {}),
    ...(options.bytes !== undefined ? { bytes: options.bytes } : {}),
    importFrom: options.importFrom ?? 'ebpf-ts',
    command,
    source: basename(objectPath),
  });
  const js = /\.(m?)js$/.exec(out);
  if (js === null) return { path: out, text };
  const { js: code, dts } = transpileBindings(text, basename(out).replace(/\.m?js$/, '.ts'));
  // The compiler keeps the header on the code; the declarations get it again.
  const header = text.split('\n').filter((l, i) => i < 2 && l.startsWith('//'));
  return { path: out, text: code, declarations: { path: out.replace(/\.m?js$/, `.d.${js[1]}ts`), text: [...header, '', dts].join('\n') } };
}
