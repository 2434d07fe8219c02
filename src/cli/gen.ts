/**
 * `ebpf-ts gen <object.o>`: writes the TypeScript bindings module of a BPF object (types and
 * codecs from its BTF, `load<Name>()` with typed maps, programs, variables and readers). The
 * generator itself is `src/gen/`; this is its command line.
 *
 * @module
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Bindings } from '../gen/generate.js';
import { jsonOption, type Command } from './command.js';
import { toJSON } from './output.js';

/**
 * The `--type` words: the option may be repeated, and each value may hold several separated by
 * commas (`'struct event,stats=struct stats'`).
 *
 * @example
 * ```ts
 * splitTypes('struct event, events=struct event'); // ['struct event', 'events=struct event']
 * ```
 */
export function splitTypes(value: string | readonly string[] | undefined): string[] {
  return (typeof value === 'string' ? [value] : (value ?? []))
    .flatMap((v) => v.split(','))
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/**
 * Writes a module `generateBindings()` made (and its declarations, for JavaScript) and returns
 * the paths written.
 *
 * @example
 * ```ts
 * writeBindings(generateBindings('tracer.bpfel.o', { out: 'bpf/tracer.js' })); // ['bpf/tracer.js', 'bpf/tracer.d.ts']
 * ```
 */
export function writeBindings(b: Bindings): string[] {
  const files = [{ path: b.path, text: b.text }, ...(b.declarations !== undefined ? [b.declarations] : [])];
  for (const f of files) {
    mkdirSync(dirname(f.path), { recursive: true });
    writeFileSync(f.path, f.text);
  }
  return files.map((f) => f.path);
}

/** `ebpf-ts gen`. */
export const genCommand: Command = {
  words: ['gen'],
  summary: 'write typed TypeScript bindings (types, codecs, load<Name>()) for a BPF object',
  details:
    'Writes one module: an interface per struct, union and enum the maps, variables and --type reach\n' +
    '(integers up to 32 bits as number, 64-bit as bigint, char[N] as string), straight-line DataView\n' +
    'codecs, and load<Name>() returning the maps as TypedMap, the programs by name, the variables\n' +
    'typed and a typed reader per perf/ring buffer map. The object is loaded from next to the module\n' +
    '(both byte orders when x.bpfel.o and x.bpfeb.o are side by side) or embedded with --embed.\n' +
    "A reader's record type: --type 'events=struct event', else the map's __type(value, ...), else a\n" +
    "lone --type when the object has one reader map, else a struct named like the map ('events' →\n" +
    "'struct event').\n" +
    'A --out ending in .js writes JavaScript and its .d.ts (for projects without a TypeScript build;\n' +
    'needs the typescript package, 5.5+, when generating only).',
  options: [
    { name: 'out', type: 'string', valueName: 'FILE', description: 'the module to write (default: <name>.ts next to the object)' },
    { name: 'name', type: 'string', valueName: 'NAME', description: 'base of the generated names, loadNAME() (default: the object name)' },
    { name: 'type', type: 'string', repeatable: true, valueName: 'TYPE', description: "an extra type, 'struct event', or a reader's record type, 'events=struct event' (repeatable)" },
    { name: 'char-arrays', type: 'string', valueName: 'MODE', choices: ['string', 'bytes'], description: 'char[N] members as strings (up to the first NUL) or as bytes (Uint8Array)' },
    { name: 'bytes', type: 'string', repeatable: true, valueName: 'MEMBER', description: "a member kept as raw bytes, 'struct event.payload' (repeatable)" },
    { name: 'embed', type: 'boolean', description: 'embed the object in the module (bundlers, Electron asar)', default: false },
    { name: 'import-from', type: 'string', valueName: 'MODULE', description: "module the bindings import the runtime from (default 'ebpf-ts')" },
    jsonOption,
  ],
  positionals: [{ name: 'object', required: true, description: 'the BPF object (.o) compiled with clang -g' }],
  async run(args, ctx) {
    // Loaded on first use: the generator is most of the CLI's own code.
    const { generateBindings } = await import('../gen/generate.js');
    const object = args.positionals.object!;
    const importFrom = args.options['import-from'];
    const r = generateBindings(object, {
      out: args.options.out as string | undefined,
      name: args.options.name as string | undefined,
      types: splitTypes(args.options.type as readonly string[] | undefined),
      charArrays: args.options['char-arrays'] as 'string' | 'bytes' | undefined,
      bytes: splitTypes(args.options.bytes as readonly string[] | undefined),
      embed: args.options.embed === true,
      importFrom: typeof importFrom === 'string' ? importFrom : undefined,
    });
    const written = writeBindings(r);
    ctx.out(args.options.json === true ? toJSON({ object, out: r.path, ...(r.declarations !== undefined ? { declarations: r.declarations.path } : {}) }) : written.map((p) => `wrote ${p}\n`).join(''));
  },
};
