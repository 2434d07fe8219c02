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
import type { ParsedArgs } from './args.js';
import { splitTypes } from './gen.js';
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

/** Runs `ebpf-ts build` (its help text and options are in commands.ts). */
export async function runBuild(args: ParsedArgs, ctx: CLIContext): Promise<void> {
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
}
