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
import { UsageError } from './args.js';
import { jsonOption, type Command } from './command.js';
import { toJSON } from './output.js';

/** `ebpf-ts link`. */
export const linkCommand: Command = {
  words: ['link'],
  summary: 'link BPF objects into one, like bpftool gen object',
  details:
    'Resolves functions, variables and maps declared extern in one object against the object that\n' +
    'defines them (a strong definition beats __weak ones; among weak ones the first wins), keeps\n' +
    'static symbols per object, and merges .BTF and .BTF.ext. Conflicting definitions are an error\n' +
    'that names the symbol and both objects. (`ebpf-ts link list` lists the BPF links of the\n' +
    'running kernel instead.)',
  options: [jsonOption],
  positionals: [
    { name: 'out.o', required: true, description: 'the object to write' },
    { name: 'in.o', required: true, variadic: true, description: 'the objects to link, in order' },
  ],
  run(args, ctx) {
    const out = args.positionals['out.o']!;
    const inputs = args.rest;
    if (inputs.includes(out)) throw new UsageError(`${out} is both the output and an input`);
    const bytes = linkELF(inputs.map((name) => ({ name, bytes: new Uint8Array(readFileSync(name)) })));
    const spec = parseCollectionSpec(bytes);
    writeFileSync(out, bytes);
    const summary = { output: out, inputs, bytes: bytes.length, programs: Object.keys(spec.programs), maps: Object.keys(spec.maps) };
    if (args.options.json === true) ctx.out(toJSON(summary));
    else ctx.out(`wrote ${out} (${bytes.length} bytes): ${summary.programs.length} programs, ${summary.maps.length} maps\n`);
  },
};
