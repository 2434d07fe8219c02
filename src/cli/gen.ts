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
import type { ParsedArgs } from './args.js';
import { toJSON, type CLIContext } from './output.js';

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

/** Runs `ebpf-ts gen` (its help text and options are in commands.ts). */
export async function runGen(args: ParsedArgs, ctx: CLIContext): Promise<void> {
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
}
