/**
 * `ebpf-ts token list`: the bpffs mounts of this mount namespace that delegate bpf() to BPF
 * tokens (Linux 6.9), with what each delegates, as `bpftool token list` shows them. Inside a
 * container this says whether `loadCollection()` will find a token at /sys/fs/bpf.
 *
 * @module
 */
import { parseMountinfo, readMountinfo } from '../internal/mountinfo.js';
import type { ParsedArgs } from './args.js';
import { printRecords, type CLIContext } from './output.js';

/** One delegating bpffs mount, as `token list --json` prints it. */
export interface TokenMountRecord {
  /** Where the bpffs is mounted. */
  readonly mountPoint: string;
  /** The mount's `delegate_*` options as the kernel shows them: `any`, names joined by `:`, or a hex mask. */
  readonly cmds: string | null;
  readonly maps: string | null;
  readonly progs: string | null;
  readonly attachs: string | null;
}

/** The bpffs mounts in mountinfo text that carry at least one `delegate_*` option. */
export function tokenMounts(mountinfo: string): TokenMountRecord[] {
  const out: TokenMountRecord[] = [];
  for (const m of parseMountinfo(mountinfo, 'bpf')) {
    const options = new Map(m.superOptions.split(',').map((o) => [o.slice(0, o.indexOf('=') >>> 0), o.slice(o.indexOf('=') + 1)] as const));
    const get = (key: string): string | null => options.get(`delegate_${key}`) ?? null;
    const record = { mountPoint: m.mountPoint, cmds: get('cmds'), maps: get('maps'), progs: get('progs'), attachs: get('attachs') };
    if (record.cmds !== null || record.maps !== null || record.progs !== null || record.attachs !== null) out.push(record);
  }
  return out;
}

/** Runs `ebpf-ts token list` (its help text and options are in commands.ts). */
export function runTokenList(args: ParsedArgs, ctx: CLIContext): void {
  const records = tokenMounts(readMountinfo() ?? '');
  const json = args.options.json === true;
  if (!json && records.length === 0) {
    ctx.out('(no bpffs mount here delegates to BPF tokens: a privileged process mounts one with delegate_* options for a user namespace; see docs/loading.md)');
    return;
  }
  printRecords(
    ctx,
    json,
    records,
    [{ title: 'MOUNT' }, { title: 'CMDS' }, { title: 'MAPS' }, { title: 'PROGS' }, { title: 'ATTACHS' }],
    (r) => [r.mountPoint, r.cmds ?? '-', r.maps ?? '-', r.progs ?? '-', r.attachs ?? '-'],
  );
}
