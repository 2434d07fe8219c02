/**
 * `ebpf-ts prog show [PROG]` (also `prog list`): the programs loaded in the kernel with the
 * facts `bpftool prog show` prints — type, name, tag, load time, sizes, memlock, map ids, BTF
 * id, the processes holding each program and the paths it is pinned at. Needs CAP_SYS_ADMIN
 * (the kernel hides object ids from everyone else).
 *
 * @module
 */
import { MAX_NAME_LENGTH, Program, type ProgramInfo } from '../prog.js';
import { readProgramCode } from '../internal/bpf-prog-code.js';
import type { Spec } from '../btf/spec.js';
import { programTypeName } from '../types.js';
import { btfSpecById } from '../btf-by-id.js';
import type { Holder } from '../internal/bpf-holders.js';
import type { ParsedArgs } from './args.js';
import { holdersAndPins, isoSeconds, listCell, loadedAt, memlockBytes, pidsCell, readObject, showRecords, whereaboutsOnFirstUse, type Whereabouts } from './loaded.js';
import { printRecords, type CLIContext } from './output.js';
import type { Candidate } from './selector.js';
import { objectIds } from '../sys/commands.js';

/**
 * The program's full name: the kernel keeps 15 characters, the BTF of a program loaded with
 * func_info names its main function in full (bpftool shows that one too). Falls back to the
 * kernel's name when there is no BTF or it disagrees.
 */
export function fullProgramName(prog: Program, info: ProgramInfo, btfCache: Map<number, Spec>): string {
  if (info.name.length < MAX_NAME_LENGTH || info.btfId === 0) return info.name;
  try {
    const first = readProgramCode(prog.fd, { btfRecords: true }).funcInfo[0];
    if (first === undefined) return info.name;
    const name = btfSpecById(info.btfId, btfCache).typeById(first.typeId).name;
    return name.startsWith(info.name) ? name : info.name;
  } catch {
    return info.name; // the name is a nicety; the kernel's is still right
  }
}

/** One program as `prog show --json` prints it. */
export interface ProgramRecord {
  /** Kernel id. */
  readonly id: number;
  /** UAPI type name without the prefix (`KPROBE`). */
  readonly type: string;
  /** The full name when BTF has it, else the kernel's (at most 15 characters). */
  readonly name: string;
  /** Hash of the instructions, 16 hex digits. */
  readonly tag: string;
  /** The license is GPL-compatible. */
  readonly gplCompatible: boolean;
  /** Load time, ISO 8601 UTC, null when the kernel does not say (before 4.15). */
  readonly loadedAt: string | null;
  /** The uid that loaded it. */
  readonly uid: number;
  /** Bytes of translated instructions. */
  readonly xlatedBytes: number;
  /** Bytes of JITed code (0: not JITed). */
  readonly jitedBytes: number;
  /** Bytes charged to memlock accounting (fdinfo), null when the kernel does not say. */
  readonly memlockBytes: number | null;
  /** Ids of the maps it uses. */
  readonly mapIds: number[];
  /** BTF object id, 0 without BTF. */
  readonly btfId: number;
  /** Instructions the verifier processed (5.16+, else 0). */
  readonly verifiedInstructions: number;
  /** Runs counted while kernel.bpf_stats_enabled was on. */
  readonly runCount: bigint;
  /** Run time counted while kernel.bpf_stats_enabled was on. */
  readonly runTimeNs: bigint;
  /** Processes holding the program. */
  readonly pids: Holder[];
  /** Paths the program is pinned at. */
  readonly pinned: string[];
}

function programRecord(id: number, where: () => Whereabouts, btfCache: Map<number, Spec>): ProgramRecord | undefined {
  const w = where(); // before the program is opened
  return readObject(
    () => Program.fromId(id),
    (prog) => {
      const p = prog.info();
      return {
        id: p.id,
        type: programTypeName(p.type),
        name: fullProgramName(prog, p, btfCache),
        tag: p.tag,
        gplCompatible: p.gplCompatible,
        loadedAt: p.loadTime === 0n ? null : isoSeconds(loadedAt(p.loadTime)),
        uid: p.createdByUid,
        xlatedBytes: p.xlatedLength,
        jitedBytes: p.jitedLength,
        memlockBytes: memlockBytes(prog.fd),
        mapIds: [...p.mapIds],
        btfId: p.btfId,
        verifiedInstructions: p.verifiedInstructions,
        runCount: p.runCount,
        runTimeNs: p.runTimeNs,
        ...holdersAndPins(w, 'prog', p.id),
      };
    },
  );
}

/** The programs `words` name (all without words) as `prog show --json` prints them. */
export function programRecords(words: readonly string[]): ProgramRecord[] {
  const w = whereaboutsOnFirstUse();
  const btfCache = new Map<number, Spec>();
  return showRecords(
    words,
    'prog',
    (id) => programRecord(id, w, btfCache),
    (r) => ({ id: r.id, names: [r.name, r.name.slice(0, MAX_NAME_LENGTH)], tag: r.tag }),
  );
}

/** Runs `ebpf-ts prog show` (its help text and options are in commands.ts). */
export function runProgShow(args: ParsedArgs, ctx: CLIContext): void {
  const programs = programRecords(args.rest);
  printRecords(
    ctx,
    args.options.json === true,
    programs,
    [
      { title: 'ID', right: true },
      { title: 'TYPE' },
      { title: 'NAME' },
      { title: 'TAG' },
      { title: 'GPL' },
      { title: 'LOADED AT' },
      { title: 'UID', right: true },
      { title: 'XLATED', right: true },
      { title: 'JITED', right: true },
      { title: 'MEMLOCK', right: true },
      { title: 'BTF', right: true },
      { title: 'MAP IDS' },
      { title: 'PIDS' },
      { title: 'PINNED' },
    ],
    (p) => [
      String(p.id),
      p.type,
      p.name,
      p.tag,
      p.gplCompatible ? 'yes' : 'no',
      p.loadedAt ?? '-',
      String(p.uid),
      String(p.xlatedBytes),
      String(p.jitedBytes),
      p.memlockBytes === null ? '-' : String(p.memlockBytes),
      p.btfId === 0 ? '-' : String(p.btfId),
      listCell(p.mapIds),
      pidsCell(p.pids),
      listCell(p.pinned),
    ],
  );
}

/** Every loaded program as a {@link Candidate} for a name or tag selector. */
export function programCandidates(btfCache: Map<number, Spec> = new Map()): Candidate[] {
  return objectIds('prog').flatMap(
    (id) =>
      readObject(
        () => Program.fromId(id),
        (prog) => {
          const info = prog.info();
          return { id, names: [fullProgramName(prog, info, btfCache), info.name], tag: info.tag };
        },
      ) ?? [],
  );
}
