// ebpf-ts gen: for every testdata object, in each byte order, the generated module
// type-checks under tsc --strict --noUncheckedIndexedAccess, and each map's key and value
// codec, each reader's record codec and each variable's codec decode random bytes exactly like
// the runtime BTF decoder (decodeValue) and encode back to bytes it reads the same way —
// bitfields, unions, anonymous members and big-endian objects included. A consumer file whose
// lines carry @ts-expect-error proves that wrong map names, key types and variable types do not
// compile. The output is stable: generating twice gives the same text.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codecFor } from '../../src/btf/codec.js';
import { decodeValue } from '../../src/btf/decode.js';
import { Type } from '../../src/btf/types.js';
import { parseCollectionSpec } from '../../src/collection-spec.js';
import { ArgumentError } from '../../src/errors.js';
import { generateBindings } from '../../src/gen/generate.js';
import { generateModule } from '../../src/gen/module.js';
import { camelCase, NameTable, pascalCase } from '../../src/gen/names.js';
import type { Codec } from '../../src/btf/codec.js';
import { MapType } from '../../src/types.js';
import { testdata } from '../helpers/tools.js';
import { randomBytes } from './helpers/random-bytes.js';

const src = join(import.meta.dirname, '../../src/index.js');
const objects = readdirSync(testdata).filter((f) => /\.bpfe[lb]\.o$/.test(f)).sort();
let dir: string;
const modules = new Map<string, string>(); // object file → generated module path

const moduleName = (file: string): string => file.replace(/\.bpfe([lb])\.o$/, '_$1').replace(/[^A-Za-z0-9_]/g, '_');

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ebpf-ts-gen-'));
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
  for (const file of objects) {
    const spec = parseCollectionSpec(readFileSync(join(testdata, file)));
    const name = moduleName(file);
    // One byte order per module, so the big-endian codecs are the ones under test.
    const text = generateModule(spec, { name, objects: { [spec.byteOrder]: join(testdata, file) }, importFrom: src, source: file });
    const path = join(dir, `${name}.ts`);
    writeFileSync(path, text);
    modules.set(file, path);
  }
  // Kept bytes: every char array, or chosen members.
  const exec = parseCollectionSpec(readFileSync(join(testdata, 'execsnoop.bpfel.o')));
  const keep = { execsnoop_bytes: { charArrays: 'bytes' as const }, execsnoop_members: { bytes: ['struct event.filename', 'event.argv'] } };
  for (const [name, o] of Object.entries(keep)) {
    writeFileSync(join(dir, `${name}.ts`), generateModule(exec, { name, objects: { little: join(testdata, 'execsnoop.bpfel.o') }, importFrom: src, ...o }));
  }
  writeFileSync(
    join(dir, 'consumer.ts'),
    `import { loadExecsnoopL } from './execsnoop_l.js';
export async function use(): Promise<void> {
  using obj = await loadExecsnoopL({ constants: { failed_only: 1 } });
  const e = obj.maps.execs.get(1n);
  if (e !== undefined) {
    const comm: string = e.comm;
    const pid: number = e.pid;
    void comm, pid;
  }
  const perCPU: { pid: number }[] | undefined = obj.maps.scratch.get(0);
  void perCPU;
  // @ts-expect-error a misspelt map name does not compile
  obj.maps.exces.get(1n);
  // @ts-expect-error keys of execs are bigints (u64), not numbers
  obj.maps.execs.get(1);
  // @ts-expect-error the value is a struct event, not a bigint
  obj.maps.execs.set(1n, 2n);
  // @ts-expect-error failed_only is a number
  await loadExecsnoopL({ constants: { failed_only: 'yes' } });
  // @ts-expect-error no such program
  void obj.programs.execve_entr;
  for await (const ev of obj.readers.events()) {
    // @ts-expect-error events carry no such member
    void ev.nope;
    break;
  }
}
`,
  );
});

afterAll(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('ebpf-ts gen', () => {
  it('every generated module type-checks with --strict --noUncheckedIndexedAccess, and wrong uses do not', () => {
    const files = [...modules.values(), join(dir, 'consumer.ts'), join(dir, 'execsnoop_bytes.ts'), join(dir, 'execsnoop_members.ts')];
    const program = ts.createProgram(files, {
      strict: true,
      noUncheckedIndexedAccess: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      lib: ['lib.es2022.d.ts', 'lib.esnext.disposable.d.ts'],
      types: ['node'],
      typeRoots: [join(import.meta.dirname, '../../node_modules/@types')],
      skipLibCheck: true,
      noEmit: true,
    });
    const diagnostics = ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.file === undefined || d.file.fileName.startsWith(dir))
      .map((d) => `${d.file?.fileName.slice(dir.length + 1) ?? ''}:${d.file === undefined ? '' : d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
    expect(diagnostics).toEqual([]);
  }, 120_000);

  for (const file of objects) {
    it(`${file}: every map, record and variable codec agrees with the runtime BTF decoder`, async () => {
      const spec = parseCollectionSpec(readFileSync(join(testdata, file)));
      const mod = (await import(modules.get(file)!)) as Record<string, Codec<unknown>>;
      const byteOrder = spec.byteOrder;
      const check = (codec: Codec<unknown> | undefined, type: unknown, what: string): void => {
        expect(codec, what).toBeDefined();
        expect(type).toBeInstanceOf(Type);
        for (const seed of [3, 11]) {
          const bytes = randomBytes(codec!.size, seed);
          const want = decodeValue(type as Type, bytes, { byteOrder, charArraysAsStrings: true });
          const got = codec!.decode(bytes);
          expect(got, what).toEqual(want);
          const again = codec!.encode(got);
          expect(codec!.decode(again), `${what} round trip`).toEqual(got);
          expect(decodeValue(type as Type, again, { byteOrder, charArraysAsStrings: true }), `${what} encoded`).toEqual(got);
        }
      };
      let checked = 0;
      for (const [name, m] of Object.entries(spec.maps)) {
        const id = camelCase(pascalCase(name));
        if (mod[`${id}KeyCodec`] !== undefined) {
          check(mod[`${id}KeyCodec`], m.key, `${name} key`);
          check(mod[`${id}ValueCodec`], m.value, `${name} value`);
          checked++;
        }
        if (mod[`${id}RecordCodec`] !== undefined && m.value instanceof Type) check(mod[`${id}RecordCodec`], m.value, `${name} record`);
      }
      for (const [name, v] of Object.entries(spec.variables)) {
        const codec = mod[`${camelCase(pascalCase(name))}VariableCodec`];
        if (codec === undefined) continue;
        check(codec, v.type, `variable ${name}`);
        checked++;
      }
      if (spec.btf !== undefined && Object.values(spec.maps).some((m) => m.key instanceof Type && [MapType.Hash, MapType.Array].includes(m.type))) expect(checked).toBeGreaterThan(0);
    });
  }

  it('is stable: the same object gives the same text, with a header saying how to regenerate it', () => {
    const a = generateBindings(join(testdata, 'btf_kinds.bpfel.o'), { out: join(dir, 'k.ts') });
    const b = generateBindings(join(testdata, 'btf_kinds.bpfel.o'), { out: join(dir, 'k.ts') });
    expect(a.text).toBe(b.text);
    expect(a.text.split('\n')[1]).toMatch(/^\/\/ Regenerate with: npx ebpf-ts gen .*btf_kinds\.bpfel\.o --out .*k\.ts --name btf_kinds$/);
    // Both byte orders are next to each other: both are shipped and the host's is loaded.
    expect(a.text).toContain("btf_kinds.bpfeb.o', import.meta.url)");
    expect(a.text).toContain("const le = endianness() === 'LE';");
  });

  it('embeds the object with --embed', () => {
    const { text } = generateBindings(join(testdata, 'execsnoop.bpfel.o'), { out: join(dir, 'e.ts'), embed: true });
    expect(text).not.toContain('readFile');
    expect(text).toContain("'base64'");
  });

  it('binds --type to a reader map and explains a type the BTF lacks', () => {
    const spec = parseCollectionSpec(readFileSync(join(testdata, 'execsnoop.bpfel.o')));
    const text = generateModule(spec, { name: 'x', objects: { little: './x.o' }, types: ['events=struct event'] });
    expect(text).toContain('events(options?: PerfReaderOptions & TypedReaderOptions): TypedReader<Event>;');
    expect(() => generateModule(spec, { name: 'x', objects: { little: './x.o' }, types: ['struct nope'] })).toThrow(/clang emits a type only when/);
    expect(() => generateModule(spec, { name: 'x', objects: { little: './x.o' }, types: ['execs=struct event'] })).toThrow(ArgumentError);
    expect(() => generateModule(spec, { name: 'x-y', objects: { little: './x.o' } })).toThrow(/must be an identifier/);
  });

  it('keeps char arrays as bytes (--char-arrays bytes), like codecFor with charArrays: bytes', async () => {
    const spec = parseCollectionSpec(readFileSync(join(testdata, 'execsnoop.bpfel.o')));
    const mod = (await import(join(dir, 'execsnoop_bytes.ts'))) as Record<string, Codec<Record<string, unknown>>>;
    const runtime = codecFor<Record<string, unknown>>(spec.btf, 'struct event', { charArrays: 'bytes' });
    const bytes = randomBytes(runtime.size, 5);
    const got = mod.eventCodec!.decode(bytes);
    expect(got).toEqual(runtime.decode(bytes));
    expect(got.comm).toEqual(bytes.slice(24, 40));
    expect(mod.eventCodec!.encode(got)).toEqual(runtime.encode(runtime.decode(bytes)));
    expect(readFileSync(join(dir, 'execsnoop_bytes.ts'), 'utf8')).toContain('  comm: Uint8Array;');
  });

  it("keeps chosen members as raw bytes (--bytes 'struct event.filename'), the others decoded", async () => {
    const spec = parseCollectionSpec(readFileSync(join(testdata, 'execsnoop.bpfel.o')));
    const mod = (await import(join(dir, 'execsnoop_members.ts'))) as Record<string, Codec<Record<string, unknown>>>;
    const codec = mod.eventCodec!;
    const bytes = randomBytes(codec.size, 9);
    const got = codec.decode(bytes);
    const strings = decodeValue(spec.btf!.typeByName('event', 'struct'), bytes, { charArraysAsStrings: true }) as Record<string, unknown>;
    expect(got.filename).toEqual(bytes.slice(40, 296));
    expect(got.argv).toEqual(bytes.slice(296, 296 + 16 * 64)); // char argv[16][64]: one run of bytes
    expect(got.comm).toBe(strings.comm);
    expect(got.pid).toBe(strings.pid);
    expect(codec.encode(got)).toEqual(codec.encode(codec.decode(codec.encode(got))));
    expect(codec.decode(codec.encode(got))).toEqual(got);
    // The maps that hold struct event see the same shape (one declaration per type).
    const text = readFileSync(join(dir, 'execsnoop_members.ts'), 'utf8');
    expect(text).toContain('  filename: Uint8Array;');
    expect(text).toContain('  argv: Uint8Array;');
    expect(text).toContain('  comm: string;');
    const gen = (bytes: string[]): string => generateModule(spec, { name: 'x', objects: { little: './x.o' }, bytes });
    expect(() => gen(['struct event.nope'])).toThrow(/struct event has no member nope/);
    expect(() => gen(['struct nope.x'])).toThrow(/has no struct nope/);
    expect(() => gen(['event'])).toThrow(/expected 'struct name.member'/);
  });

  it('writes JavaScript and its declarations for a .js output', () => {
    const { path, text, declarations } = generateBindings(join(testdata, 'execsnoop.bpfel.o'), { out: join(dir, 'js', 'execsnoop.js') });
    expect(path).toBe(join(dir, 'js', 'execsnoop.js'));
    expect(text.split('\n')[0]).toBe('// Code generated by ebpf-ts gen from execsnoop.bpfel.o. DO NOT EDIT.');
    expect(text).toContain('export const eventCodec = codecOf(1320, decodeEvent, encodeEvent);');
    expect(text).not.toMatch(/: Codec<|interface /);
    expect(declarations?.path).toBe(join(dir, 'js', 'execsnoop.d.ts'));
    expect(declarations?.text.split('\n')[1]).toMatch(/^\/\/ Regenerate with: npx ebpf-ts gen .* --out .*execsnoop\.js --name execsnoop$/);
    expect(declarations?.text).toContain('export declare const eventCodec: Codec<Event>;');
    expect(declarations?.text).toContain('export declare function loadExecsnoop(options?: ExecsnoopLoadOptions): Promise<Execsnoop>;');
    expect(generateBindings(join(testdata, 'execsnoop.bpfel.o'), { out: join(dir, 'js', 'e.mjs') }).declarations?.path).toBe(join(dir, 'js', 'e.d.mts'));
  });

  it('renames TypeScript keywords and clashes predictably', () => {
    const names = new NameTable();
    expect(names.typeName('event', 'struct')).toBe('Event');
    expect(names.typeName('event', 'union')).toBe('EventUnion');
    expect(names.typeName('event', 'union')).toBe('EventUnion2');
    expect(names.typeName('map', 'struct')).toBe('Map_');
    expect(names.typeName('task_info', 'struct')).toBe('TaskInfo');
  });
});
