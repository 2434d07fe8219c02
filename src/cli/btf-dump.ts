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
import { jsonOption, type Command } from './command.js';
import { rawDump, rawTypeRecord } from './btf-raw.js';
import { btfSpecById } from '../btf-by-id.js';
import { UsageError } from './args.js';
import { toJSON } from './output.js';

/** The `btf dump` command. */
export const btfDumpCommand: Command = {
  words: ['btf', 'dump'],
  summary: "Print BTF types as a C header or as bpftool's raw list (default: the running kernel's BTF).",
  details:
    'ebpf-ts btf dump --format c > vmlinux.h   writes the header CO-RE programs include.\n' +
    'Without a file, /sys/kernel/btf/vmlinux is read (or a vmlinux image libbpf would also search);\n' +
    '"id N" dumps the loaded BTF object N (see btf list; needs CAP_SYS_ADMIN).\n' +
    '--json prints the raw records as objects; it ignores --format.',
  options: [
    { name: 'format', type: 'string', default: 'raw', choices: ['raw', 'c'], valueName: 'FMT', description: 'output format' },
    jsonOption,
  ],
  positionals: [{ name: 'file', required: false, variadic: true, description: 'raw BTF, an ELF object with a .BTF section, or "id N"' }],
  run(args, ctx) {
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
  },
};
