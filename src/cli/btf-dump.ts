/**
 * `ebpf-ts btf dump [--format c|raw] [file | id N]`: the types of a BTF blob — by default the
 * running kernel's (/sys/kernel/btf/vmlinux) — as a C header (`vmlinux.h` for CO-RE
 * programs) or as bpftool's raw type list. `file` may be raw BTF or an ELF file with a
 * `.BTF` section (a BPF object, a vmlinux image); `id N` is a BTF object loaded in the kernel
 * (as `btf list` shows them), read back from it.
 *
 * @module
 */
import { dumpCHeader } from '../btf/format.js';
import { loadKernelSpec } from '../btf/kernel.js';
import { rawDump, rawTypeRecord } from './btf-raw.js';
import { btfSpecById } from '../btf-by-id.js';
import { UsageError, type ParsedArgs } from './args.js';
import { toJSON, type CLIContext } from './output.js';

/** Runs `ebpf-ts btf dump` (its help text and options are in commands.ts). */
export function runBtfDump(args: ParsedArgs, ctx: CLIContext): void {
  const [first, second, ...extra] = args.rest;
  const byId = first === 'id';
  if (byId && (second === undefined || !/^\d+$/.test(second))) throw new UsageError('"id" needs a BTF object id (see ebpf-ts btf list)');
  if (extra.length > 0 || (!byId && second !== undefined)) throw new UsageError(`unexpected argument ${JSON.stringify(byId ? extra[0] : second)}`);
  const file = byId ? `id ${second}` : first;
  const spec = byId ? btfSpecById(Number(second)) : loadKernelSpec(first);
  if (args.options.json === true) {
    const types = [];
    for (const [id, t] of spec.entries()) {
      const r = rawTypeRecord(spec, id, t);
      types.push({ id: r.id, kind: r.kind, name: r.name, ...Object.fromEntries(r.fields), items: r.items.map((i) => ({ ...(i.name === undefined ? {} : { name: i.name }), ...Object.fromEntries(i.fields) })) });
    }
    ctx.out(toJSON({ source: file ?? 'kernel', types }));
    return;
  }
  if (args.options.format === 'c') {
    ctx.out(dumpCHeader(spec));
    return;
  }
  for (const chunk of rawDump(spec)) ctx.out(chunk);
}
