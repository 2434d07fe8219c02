/**
 * `ebpf-ts map show [MAP]` (also `map list`): the maps in the kernel with the facts
 * `bpftool map show` prints — type, name, sizes, flags, memlock, whether frozen, BTF id,
 * the processes holding each map and the paths it is pinned at. Needs CAP_SYS_ADMIN.
 *
 * @module
 */
import type { Holder } from '../internal/bpf-holders.js';
import { fdinfoNumber, ownFdinfo } from '../internal/bpf-fdinfo.js';
import { BpfMap } from '../map.js';
import { mapTypeName } from '../types.js';
import type { ParsedArgs } from './args.js';
import { holdersAndPins, listCell, pidsCell, readObject, showRecords, whereaboutsOnFirstUse, type Whereabouts } from './loaded.js';
import { printRecords, type CLIContext } from './output.js';
import type { Candidate } from './selector.js';
import { objectIds } from '../sys/commands.js';
import { hex } from './table.js';

/** One map as `map show --json` prints it. */
export interface MapRecord {
  /** Kernel id. */
  readonly id: number;
  /** UAPI type name without the prefix (`HASH`). */
  readonly type: string;
  /** The kernel's name (at most 15 characters). */
  readonly name: string;
  /** Key size in bytes. */
  readonly keySize: number;
  /** Value size in bytes. */
  readonly valueSize: number;
  /** max_entries. */
  readonly maxEntries: number;
  /** map_flags. */
  readonly flags: number;
  /** BTF object id, 0 without BTF. */
  readonly btfId: number;
  /** map_extra (bloom filter hashes, arena address). */
  readonly mapExtra: bigint;
  /** Bytes charged to memlock accounting (fdinfo), null when the kernel does not say. */
  readonly memlockBytes: number | null;
  /** BPF_MAP_FREEZE was called: user space can no longer write it (fdinfo, 5.2+). */
  readonly frozen: boolean;
  /** Processes holding the map. */
  readonly pids: Holder[];
  /** Paths the map is pinned at. */
  readonly pinned: string[];
}

function mapRecord(id: number, where: () => Whereabouts): MapRecord | undefined {
  const w = where(); // before the map is opened
  return readObject(
    () => BpfMap.fromId(id),
    (map) => {
      const m = map.info();
      const fdinfo = ownFdinfo(map.fd);
      return {
        id: m.id,
        type: mapTypeName(m.type),
        name: m.name,
        keySize: m.keySize,
        valueSize: m.valueSize,
        maxEntries: m.maxEntries,
        flags: m.flags,
        btfId: m.btfId,
        mapExtra: m.mapExtra,
        memlockBytes: fdinfoNumber(fdinfo, 'memlock') ?? null,
        frozen: fdinfoNumber(fdinfo, 'frozen') === 1,
        ...holdersAndPins(w, 'map', m.id),
      };
    },
  );
}

/** Every map as a {@link Candidate} for a name selector. */
export function mapCandidates(): Candidate[] {
  return objectIds('map').flatMap((id) => readObject(() => BpfMap.fromId(id), (map) => ({ id, names: [map.info().name] })) ?? []);
}

/** The maps `words` name (all without words) as `map show --json` prints them. */
export function mapRecords(words: readonly string[]): MapRecord[] {
  const w = whereaboutsOnFirstUse();
  return showRecords(words, 'map', (id) => mapRecord(id, w), (r) => ({ id: r.id, names: [r.name] }));
}

/** Runs `ebpf-ts map show` (its help text and options are in commands.ts). */
export function runMapShow(args: ParsedArgs, ctx: CLIContext): void {
  const maps = mapRecords(args.rest);
  printRecords(
    ctx,
    args.options.json === true,
    maps,
    [
      { title: 'ID', right: true },
      { title: 'TYPE' },
      { title: 'NAME' },
      { title: 'KEY', right: true },
      { title: 'VALUE', right: true },
      { title: 'MAX ENTRIES', right: true },
      { title: 'FLAGS' },
      { title: 'MEMLOCK', right: true },
      { title: 'BTF', right: true },
      { title: 'PIDS' },
      { title: 'PINNED' },
    ],
    (m) => [
      String(m.id),
      m.type,
      m.name,
      `${m.keySize}B`,
      `${m.valueSize}B`,
      String(m.maxEntries),
      `${hex(m.flags)}${m.frozen ? ' frozen' : ''}`,
      m.memlockBytes === null ? '-' : String(m.memlockBytes),
      m.btfId === 0 ? '-' : String(m.btfId),
      pidsCell(m.pids),
      listCell(m.pinned),
    ],
  );
}
