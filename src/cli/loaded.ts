/**
 * What the `show` and `list` commands of loaded objects share: load times as wall-clock
 * dates, the processes holding each object and the paths it is pinned at (both gathered once
 * per command), and the kernel's memlock figure for an fd.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { objectHolders, type Holder, type HoldersByKind } from '../internal/bpf-holders.js';
import { fdinfoNumber, ownFdinfo } from '../internal/bpf-fdinfo.js';
import { pinnedObjects, type PinsByKind } from '../internal/bpf-pins.js';
import { objectIds, type ObjectKind } from '../sys/commands.js';
import { Errno } from '../sys/errno.js';
import { ArgumentError, SyscallError } from '../errors.js';
import { UsageError } from './args.js';
import { directId, matches, parseSelector, selectorText, type Candidate, type SelectableKind } from './selector.js';

/**
 * Wall-clock time of a `load_time` (ns since boot, CLOCK_BOOTTIME): the boot instant plus it.
 * The boot instant is /proc/stat's `btime` (whole seconds), the same in every run, so two
 * listings of one program print one time; now − /proc/uptime (what bpftool computes from
 * clock_gettime) moves by the read's jitter and flipped the rounded second between runs.
 */
export function loadedAt(loadTimeNs: bigint, now = Date.now()): Date {
  const btime = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1];
  const bootMs = btime !== undefined ? Number(btime) * 1000 : now - Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 1000;
  return new Date(Math.round(bootMs + Number(loadTimeNs / 1000n) / 1000));
}

/** bpftool prints local time without a zone name; an ISO string in UTC is unambiguous. */
export const isoSeconds = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Who holds and where is pinned each object, gathered before the command opens fds of its own. */
export interface Whereabouts {
  /** Processes holding each object. */
  readonly holders: HoldersByKind;
  /** Pinned paths of each object. */
  readonly pins: PinsByKind;
}

/**
 * Walks /proc and the bpffs mounts. Call it before opening any object: the holders walk would
 * otherwise list this process for every object it looked at.
 */
export function whereabouts(): Whereabouts {
  const holders = objectHolders();
  return { holders, pins: pinnedObjects() };
}

/**
 * {@link whereabouts} on the first call, the same answer after: a listing that finds nothing
 * to show (no objects, a selector that matches none) never walks /proc and bpffs. Call it
 * before opening the first object, as {@link whereabouts}.
 */
export function whereaboutsOnFirstUse(): () => Whereabouts {
  let w: Whereabouts | undefined;
  return () => (w ??= whereabouts());
}

/** The holders and pins of one object, ready for JSON. */
export function holdersAndPins(w: Whereabouts, kind: ObjectKind, id: number): { pids: Holder[]; pinned: string[] } {
  return { pids: [...(w.holders[kind].get(id) ?? [])], pinned: [...(w.pins[kind].get(id) ?? [])] };
}

/** `node(1234),bpftool(99)` for a table cell; `-` for none. */
export function pidsCell(pids: readonly Holder[]): string {
  return pids.length === 0 ? '-' : pids.map((h) => `${h.comm}(${h.pid})`).join(',');
}

/** A list cell: `a,b`, or `-` when empty. */
export function listCell(items: readonly (string | number)[]): string {
  return items.length === 0 ? '-' : items.join(',');
}

/**
 * Bytes the kernel charges the object behind `fd` to memlock accounting, from its fdinfo
 * (as bpftool reads it); null when the kernel does not print it.
 */
export function memlockBytes(fd: number): number | null {
  return fdinfoNumber(ownFdinfo(fd), 'memlock') ?? null;
}

/** `open()`, or undefined when the object vanished since its id was listed (ENOENT). */
export function openIfPresent<T>(open: () => T): T | undefined {
  try {
    return open();
  } catch (err) {
    if (err instanceof SyscallError && err.errno === Errno.ENOENT) return undefined;
    throw err;
  }
}

/**
 * Opens an object, reads from it and closes it again; undefined when it vanished since its id
 * was listed.
 */
export function readObject<T extends { close(): void }, R>(open: () => T, read: (object: T) => R): R | undefined {
  const object = openIfPresent(open);
  if (object === undefined) return undefined;
  try {
    return read(object);
  } finally {
    object.close();
  }
}

/**
 * The records a `show` command prints: every object of `kind`, or those `words` name (an id,
 * a pinned path, a name or tag). `recordOf` reads one object (undefined if it vanished),
 * `candidateOf` gives what a name or tag is matched against. Naming nothing that exists is
 * an error.
 */
export function showRecords<R>(words: readonly string[], kind: SelectableKind, recordOf: (id: number) => R | undefined, candidateOf: (r: R) => Candidate): R[] {
  if (words.length === 0) return objectIds(kind).flatMap((id) => recordOf(id) ?? []);
  const { selector, rest } = parseSelector(words, kind);
  if (rest.length > 0) throw new UsageError(`unexpected words after ${selectorText(selector)}: ${rest.join(' ')}`);
  const direct = directId(selector, kind);
  const records = (direct === undefined ? objectIds(kind) : [direct]).flatMap((id) => recordOf(id) ?? []).filter((r) => direct !== undefined || matches(selector, candidateOf(r)));
  if (records.length === 0) throw new ArgumentError(`no ${kind === 'prog' ? 'program' : 'map'} with ${selectorText(selector)}`);
  return records;
}
