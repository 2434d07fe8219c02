/**
 * `ebpf-ts build <prog.bpf.c>`: vmlinux.h, clang for both byte orders, then `gen` — the
 * flow is `src/gen/build.ts`; this is its command line, with `--watch` for development.
 *
 * @module
 */
import { watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { BuildResult } from '../gen/build.js';
import { BpfError } from '../errors.js';
import { splitTypes } from './gen.js';
import { jsonOption, type Command } from './command.js';
import { toJSON } from './output.js';
import type { CLIContext } from './output.js';

function report(ctx: CLIContext, json: boolean, r: BuildResult): void {
  if (json) {
    ctx.out(toJSON(r));
    return;
  }
  const lines = [...(r.vmlinux === undefined ? [] : [r.vmlinux]), ...Object.values(r.objects), r.module, ...(r.declarations === undefined ? [] : [r.declarations])].map((p) => `wrote ${p}\n`);
  ctx.out(lines.join(''));
}

/** `ebpf-ts build`. */
export const buildCommand: Command = {
  words: ['build'],
  summary: 'compile a .bpf.c for bpfel and bpfeb with clang and write its TypeScript bindings',
  details:
    'Writes vmlinux.h from the running kernel\'s BTF (or --kernel-btf) when the source includes it and\n' +
    'none is next to it, compiles with clang -target bpfel and bpfeb, -g -O2 -D__TARGET_ARCH_<arch>,\n' +
    'libbpf\'s headers from /usr/include/bpf (Debian: libbpf-dev) or --libbpf-include, then runs gen.\n' +
    'clang ($CLANG, else clang, clang-19 … clang-14) is needed here only, never at run time.',
  options: [
    { name: 'out', type: 'string', valueName: 'DIR', description: 'directory for vmlinux.h, the objects and the module (default: the source\'s)' },
    { name: 'name', type: 'string', valueName: 'NAME', description: 'base name of the outputs and of loadNAME() (default: the source name)' },
    { name: 'kernel-btf', type: 'string', valueName: 'FILE', description: 'BTF for vmlinux.h (default /sys/kernel/btf/vmlinux)' },
    { name: 'libbpf-include', type: 'string', valueName: 'DIR', description: 'directory holding bpf/bpf_helpers.h (default /usr/include)' },
    { name: 'cflags', type: 'string', valueName: 'FLAGS', description: 'extra clang flags, space-separated' },
    { name: 'type', type: 'string', repeatable: true, valueName: 'TYPE', description: "passed to gen: 'struct event' or 'events=struct event' (repeatable)" },
    { name: 'char-arrays', type: 'string', valueName: 'MODE', choices: ['string', 'bytes'], description: 'passed to gen: char[N] members as strings or bytes' },
    { name: 'bytes', type: 'string', repeatable: true, valueName: 'MEMBER', description: "passed to gen: a member kept as raw bytes, 'struct event.payload' (repeatable)" },
    { name: 'embed', type: 'boolean', description: 'passed to gen: embed the objects in the module', default: false },
    { name: 'js', type: 'boolean', description: 'write JavaScript bindings (NAME.js and NAME.d.ts; needs the typescript package) instead of NAME.ts', default: false },
    { name: 'watch', type: 'boolean', description: 'rebuild whenever the source changes (until interrupted)', default: false },
    jsonOption,
  ],
  positionals: [{ name: 'source', required: true, description: 'the BPF C source (.bpf.c)' }],
  async run(args, ctx) {
    const { buildObject } = await import('../gen/build.js'); // loaded on first use, as gen's
    const source = args.positionals.source!;
    const str = (k: string): string | undefined => (typeof args.options[k] === 'string' ? (args.options[k] as string) : undefined);
    const cflags = str('cflags');
    const build = (): BuildResult =>
      buildObject(source, {
        out: str('out'),
        name: str('name'),
        kernelBTF: str('kernel-btf'),
        libbpfInclude: str('libbpf-include'),
        cflags: cflags === undefined ? [] : cflags.split(/\s+/).filter((f) => f !== ''),
        types: splitTypes(args.options.type as readonly string[] | undefined),
        charArrays: str('char-arrays') as 'string' | 'bytes' | undefined,
        bytes: splitTypes(args.options.bytes as readonly string[] | undefined),
        embed: args.options.embed === true,
        js: args.options.js === true,
      });
    const json = args.options.json === true;
    report(ctx, json, build());
    if (args.options.watch !== true) return;
    ctx.err(`watching ${source} (Ctrl-C to stop)\n`);
    await new Promise<void>(() => {
      let timer: NodeJS.Timeout | undefined;
      // Editors save in several steps (truncate, write, rename): build once they settle.
      // The directory, not the file: a save by rename would end a watch on the file itself.
      watch(dirname(source), (_event, file) => {
        if (file !== basename(source)) return;
        clearTimeout(timer);
        timer = setTimeout(() => {
          try {
            report(ctx, json, build());
          } catch (e) {
            if (!(e instanceof BpfError)) throw e;
            ctx.err(`${e.message}\n`);
          }
        }, 200);
      });
    });
  },
};
