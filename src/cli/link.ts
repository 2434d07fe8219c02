/**
 * `ebpf-ts link <out.o> <in.o>...`: static linking, as `bpftool gen object` does it — one BPF
 * object from several, with externs resolved, weak definitions overridden and BTF merged
 * (elf/linker.ts). The output is checked by parsing it before it is written.
 *
 * @module
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseCollectionSpec } from '../collection-spec.js';
import { linkELF } from '../elf/linker.js';
import { UsageError, type ParsedArgs } from './args.js';
import { toJSON, type CLIContext } from './output.js';

/** Runs `ebpf-ts link` (its help text and options are in commands.ts). */
export function runLink(args: ParsedArgs, ctx: CLIContext): void {
  const out = args.positionals['out.o']!;
  const inputs = args.rest;
  if (inputs.includes(out)) throw new UsageError(`${out} is both the output and an input`);
  const bytes = linkELF(inputs.map((name) => ({ name, bytes: new Uint8Array(readFileSync(name)) })));
  const spec = parseCollectionSpec(bytes);
  writeFileSync(out, bytes);
  const summary = { output: out, inputs, bytes: bytes.length, programs: Object.keys(spec.programs), maps: Object.keys(spec.maps) };
  if (args.options.json === true) ctx.out(toJSON(summary));
  else ctx.out(`wrote ${out} (${bytes.length} bytes): ${summary.programs.length} programs, ${summary.maps.length} maps\n`);
}
