/**
 * `ebpf-ts btf list` (also `btf show`): the BTF objects in the kernel, like `bpftool btf
 * show` — the kernel's own (vmlinux, modules) and those loaded with programs and maps, with
 * the programs and maps using each and the processes holding it. Needs CAP_SYS_ADMIN and
 * Linux 5.4 (BPF_BTF_GET_NEXT_ID); names and the kernel flag need 5.11.
 *
 * @module
 */
import { BTFHandle } from '../btf-handle.js';
import type { Holder } from '../internal/bpf-holders.js';
import { BpfMap } from '../map.js';
import { Program } from '../prog.js';
import { objectIds } from '../sys/commands.js';
import type { ParsedArgs } from './args.js';
import { listCell, pidsCell, readObject, whereabouts } from './loaded.js';
import { printRecords, type CLIContext } from './output.js';

/** One BTF object as `btf list --json` prints it. */
export interface BTFRecord {
  /** Kernel id (vmlinux is usually 1). */
  readonly id: number;
  /** `vmlinux` or a module's name for kernel BTF; empty for BTF loaded by a program's loader. */
  readonly name: string;
  /** Size of the raw BTF in bytes. */
  readonly size: number;
  /** The kernel's own BTF. */
  readonly kernel: boolean;
  /** Programs whose BTF this is. */
  readonly progIds: number[];
  /** Maps whose BTF this is. */
  readonly mapIds: number[];
  /** Processes holding the BTF object. */
  readonly pids: Holder[];
}

/** Ids of the objects of `kind` by the BTF id each uses. */
function usersByBTF(kind: 'prog' | 'map'): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const id of objectIds(kind)) {
    const btfId = kind === 'prog' ? readObject(() => Program.fromId(id), (p) => p.info().btfId) : readObject(() => BpfMap.fromId(id), (m) => m.info().btfId);
    if (btfId === undefined || btfId === 0) continue;
    out.set(btfId, [...(out.get(btfId) ?? []), id]);
  }
  return out;
}

/** Every BTF object as `btf list --json` prints it. */
export function btfRecords(): BTFRecord[] {
  const w = whereabouts();
  const progs = usersByBTF('prog');
  const maps = usersByBTF('map');
  return objectIds('btf').flatMap((id) => {
    const info = readObject(() => BTFHandle.fromId(id), (h) => h.info());
    if (info === undefined) return [];
    return [{ id, name: info.name, size: info.size, kernel: info.kernelBTF, progIds: progs.get(id) ?? [], mapIds: maps.get(id) ?? [], pids: [...(w.holders.btf.get(id) ?? [])] }];
  });
}

/** Runs `ebpf-ts btf list` (its help text and options are in commands.ts). */
export function runBtfList(args: ParsedArgs, ctx: CLIContext): void {
  printRecords(
    ctx,
    args.options.json === true,
    btfRecords(),
    [{ title: 'ID', right: true }, { title: 'NAME' }, { title: 'SIZE', right: true }, { title: 'KERNEL' }, { title: 'PROG IDS' }, { title: 'MAP IDS' }, { title: 'PIDS' }],
    (b) => [String(b.id), b.name === '' ? '-' : b.name, `${b.size}B`, b.kernel ? 'yes' : 'no', listCell(b.progIds), listCell(b.mapIds), pidsCell(b.pids)],
  );
}
