/**
 * `ebpf-ts gen <object.o>`: writes the TypeScript bindings module of a BPF object (types and
 * codecs from its BTF, `load<Name>()` with typed maps, programs, variables and readers). The
 * generator itself is `src/gen/`; this is its command line.
 *
 * @module
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { generateBindings } from '../gen/generate.js';
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
    "'struct event').",
  options: [
    { name: 'out', type: 'string', valueName: 'FILE', description: 'the module to write (default: <name>.ts next to the object)' },
    { name: 'name', type: 'string', valueName: 'NAME', description: 'base of the generated names, loadNAME() (default: the object name)' },
    { name: 'type', type: 'string', repeatable: true, valueName: 'TYPE', description: "an extra type, 'struct event', or a reader's record type, 'events=struct event' (repeatable)" },
    { name: 'embed', type: 'boolean', description: 'embed the object in the module (bundlers, Electron asar)', default: false },
    { name: 'import-from', type: 'string', valueName: 'MODULE', description: "module the bindings import the runtime from (default 'ebpf-ts')" },
    jsonOption,
  ],
  positionals: [{ name: 'object', required: true, description: 'the BPF object (.o) compiled with clang -g' }],
  run(args, ctx) {
    const object = args.positionals.object!;
    const importFrom = args.options['import-from'];
    const r = generateBindings(object, {
      out: args.options.out as string | undefined,
      name: args.options.name as string | undefined,
      types: splitTypes(args.options.type as readonly string[] | undefined),
      embed: args.options.embed === true,
      importFrom: typeof importFrom === 'string' ? importFrom : undefined,
    });
    mkdirSync(dirname(r.path), { recursive: true });
    writeFileSync(r.path, r.text);
    ctx.out(args.options.json === true ? toJSON({ object, out: r.path }) : `wrote ${r.path}\n`);
  },
};
