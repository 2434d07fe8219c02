/**
 * `ebpf-ts usdt list <binary|pid>`: the USDT probes of a binary, or of a running process and
 * every shared library it maps, as `readelf -n` shows their notes, plus what attaching uses:
 * the file offsets of the probe and its semaphore.
 *
 * @module
 */
import { usdtProbes } from '../link/usdt.js';
import type { USDTProbe } from '../link/usdt-notes.js';
import { UsageError, type ParsedArgs } from './args.js';
import { printRecords, type CLIContext } from './output.js';

/** One probe location as `usdt list --json` prints it; addresses and offsets in hex. */
export interface USDTRecord {
  /** The file (absolute path). */
  readonly binary: string;
  readonly provider: string;
  readonly name: string;
  /** The probe's address, as readelf's Location (with the .stapsdt.base shift applied). */
  readonly location: string;
  /** The note's base address, as readelf's Base. */
  readonly base: string;
  /** The semaphore's address, as readelf's Semaphore (0x0 for none). */
  readonly semaphore: string;
  /** The argument specs, as readelf's Arguments. */
  readonly arguments: string;
  /** File offset of the probe (where the uprobe goes); null when no executable segment holds it. */
  readonly offset: string | null;
  /** File offset of the semaphore (ref_ctr_offset); null without a semaphore or outside the file. */
  readonly semaphoreOffset: string | null;
}

const hex = (n: bigint): string => `0x${n.toString(16)}`;

/** The records `usdt list` prints for `target` (a path, a name searched like uprobe targets, or a pid). */
export function usdtRecords(target: string): USDTRecord[] {
  const probes: USDTProbe[] = /^\d+$/.test(target) ? usdtProbes(Number(target)) : usdtProbes(target);
  return probes.map((p) => ({
    binary: p.binary,
    provider: p.provider,
    name: p.name,
    location: hex(p.location),
    base: hex(p.base),
    semaphore: hex(p.semaphore),
    arguments: p.arguments,
    offset: p.offset === undefined ? null : hex(p.offset),
    semaphoreOffset: p.semaphoreOffset === undefined || p.semaphoreOffset === 0n ? null : hex(p.semaphoreOffset),
  }));
}

/** Runs `ebpf-ts usdt list` (its help text and options are in commands.ts). */
export function runUsdtList(args: ParsedArgs, ctx: CLIContext): void {
  const target = args.positionals.target;
  if (target === undefined || target === '') throw new UsageError('usdt list needs a binary or a process id');
  const records = usdtRecords(target);
  const byPid = /^\d+$/.test(target);
  printRecords(
    ctx,
    args.options.json === true,
    records,
    [
      ...(byPid ? [{ title: 'BINARY' }] : []),
      { title: 'PROVIDER' },
      { title: 'NAME' },
      { title: 'LOCATION', right: true },
      { title: 'OFFSET', right: true },
      { title: 'SEMAPHORE', right: true },
      { title: 'ARGUMENTS' },
    ],
    (r) => [...(byPid ? [r.binary] : []), r.provider, r.name, r.location, r.offset ?? '-', r.semaphore === '0x0' ? '-' : r.semaphore, r.arguments],
  );
}
