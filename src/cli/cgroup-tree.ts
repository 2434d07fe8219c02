/**
 * `ebpf-ts cgroup tree [root]` and `ebpf-ts cgroup show <cgroup>`: the BPF programs attached
 * to cgroups, like `bpftool cgroup tree` / `cgroup show` — for each cgroup v2 directory and
 * each cgroup hook, the programs BPF_PROG_QUERY lists, with their attach flags, names and the
 * link holding them (cgroup links of `link list`, matched by cgroup id, hook and program).
 *
 * @module
 */
import { statSync } from 'node:fs';
import { findCgroup2Mount, resolveCgroup } from '../internal/cgroup.js';
import { ArgumentError, AttachTargetError, BpfError } from '../errors.js';
import { BPF_F_ALLOW_MULTI, BPF_F_ALLOW_OVERRIDE } from '../internal/flags.js';
import { attachTypeName, targetKind } from '../link/attach-target.js';
import { listLinks } from '../link/link.js';
import { queryPrograms } from '../link/query.js';
import { AttachType } from '../types.js';
import type { ParsedArgs } from './args.js';
import { AttachPointNames, walkCgroups, type CgroupDir } from './attach-points.js';
import { printRecords, type CLIContext } from './output.js';

/** Every cgroup hook, in enum order. */
const cgroupHooks: readonly AttachType[] = Object.values(AttachType)
  .filter((v): v is AttachType => typeof v === 'number')
  .filter((v, i, all) => all.indexOf(v) === i && targetKind(v) === 'cgroup')
  .sort((a, b) => a - b);

/** One program at a cgroup hook, as `cgroup tree --json` prints it. */
export interface CgroupProgramRecord {
  /** The cgroup's directory. */
  readonly cgroup: string;
  /** The program's id. */
  readonly id: number;
  /** The hook, as libbpf names it (`cgroup_inet_egress`). */
  readonly attachType: string;
  /** `multi`, `override` or `none` (bpftool prints nothing for none); null in effective listings. */
  readonly attachFlags: string | null;
  /** The program's name, null when it is gone. */
  readonly name: string | null;
  /** The cgroup link holding it, null when it was attached with BPF_PROG_ATTACH (or in effective listings). */
  readonly linkId: number | null;
}

function flagsText(flags: number): string {
  if (flags & BPF_F_ALLOW_MULTI) return 'multi';
  if (flags & BPF_F_ALLOW_OVERRIDE) return 'override';
  return 'none';
}

/** `cgroupId:attachType:progId` → link id, for the cgroup links in the kernel. */
function cgroupLinks(): Map<string, number> {
  const out = new Map<string, number>();
  try {
    for (const l of listLinks()) {
      if (l.cgroup !== undefined) out.set(`${l.cgroup.cgroupId}:${l.cgroup.attachType}:${l.programId}`, l.id);
    }
  } catch {
    // Before 5.8 there are no link ids to list; every program then shows without a link.
  }
  return out;
}

/** The programs at every hook of `dir`. */
function programsOf(dir: CgroupDir, effective: boolean, names: AttachPointNames, links: Map<string, number>): CgroupProgramRecord[] {
  const out: CgroupProgramRecord[] = [];
  for (const hook of cgroupHooks) {
    let q: ReturnType<typeof queryPrograms>;
    try {
      q = queryPrograms(dir.path, hook, { effective });
    } catch (err) {
      // Hooks newer than the kernel answer EINVAL; a cgroup removed meanwhile is skipped.
      if (err instanceof BpfError) continue;
      throw err;
    }
    for (const p of q.programs) {
      out.push({
        cgroup: dir.path,
        id: p.id,
        attachType: attachTypeName(hook),
        attachFlags: effective ? null : flagsText(p.attachFlags ?? q.attachFlags),
        name: names.program(p.id)?.name ?? null,
        linkId: effective ? null : (links.get(`${dir.id}:${hook}:${p.id}`) ?? null),
      });
    }
  }
  return out;
}

function print(ctx: CLIContext, json: boolean, records: CgroupProgramRecord[]): void {
  printRecords(
    ctx,
    json,
    records,
    [{ title: 'CGROUP' }, { title: 'ID', right: true }, { title: 'ATTACH TYPE' }, { title: 'FLAGS' }, { title: 'NAME' }, { title: 'LINK' }],
    (r) => [r.cgroup, String(r.id), r.attachType, r.attachFlags ?? '-', r.name === null || r.name === '' ? '-' : r.name, r.linkId === null ? '-' : String(r.linkId)],
  );
}

function checkedRoot(target: string | undefined): CgroupDir[] {
  if (target === undefined) {
    const mount = findCgroup2Mount();
    if (mount === undefined) throw new AttachTargetError('cgroup', '(none)', 'no cgroup v2 hierarchy is mounted here (none in /proc/self/mountinfo): mount -t cgroup2 none /sys/fs/cgroup/unified');
    return walkCgroups(mount.mountPoint);
  }
  return walkCgroups(resolveCgroup(target));
}

/** Runs `ebpf-ts cgroup tree` (its help text and options are in commands.ts). */
export function runCgroupTree(args: ParsedArgs, ctx: CLIContext): void {
  const effective = args.options.effective === true;
  const dirs = checkedRoot(args.positionals.root);
  const names = new AttachPointNames();
  const links = effective ? new Map<string, number>() : cgroupLinks();
  print(ctx, args.options.json === true, dirs.flatMap((d) => programsOf(d, effective, names, links)));
}

/** Runs `ebpf-ts cgroup show` (its help text and options are in commands.ts). */
export function runCgroupShow(args: ParsedArgs, ctx: CLIContext): void {
  const target = args.positionals.cgroup!;
  if (target === '') throw new ArgumentError('the cgroup path is empty');
  const path = resolveCgroup(target);
  const dir = { path, id: statSync(path, { bigint: true }).ino };
  const effective = args.options.effective === true;
  print(ctx, args.options.json === true, programsOf(dir, effective, new AttachPointNames(), effective ? new Map() : cgroupLinks()));
}
