/**
 * `ebpf-ts map dump MAP`: every entry of a loaded map, keys and values decoded through the
 * map's BTF (read back from the kernel by BTF id) when it has types for them, hex bytes
 * otherwise, like `bpftool map dump`. Needs CAP_SYS_ADMIN.
 *
 * @module
 */
import { BpfError } from '../errors.js';
import { UsageError, type ParsedArgs } from './args.js';
import { entryRecord, entryText, openMap, type EntryRecord } from './map-entries.js';
import { toJSON, type CLIContext } from './output.js';

/** The error's first line, for an entry whose value could not be read. */
const reason = (err: unknown): string => (err instanceof Error ? err.message.split('\n')[0]! : String(err));

/** Runs `ebpf-ts map dump` (its help text and options are in commands.ts). */
export function runMapDump(args: ParsedArgs, ctx: CLIContext): void {
  const m = openMap(args.rest);
  try {
    if (m.rest.length > 0) throw new UsageError(`unexpected words after the map: ${m.rest.join(' ')}`);
    const entries: EntryRecord[] = [];
    const keys: Uint8Array[] = [];
    try {
      for (const key of m.map.keys()) keys.push(key);
    } catch (err) {
      // Queues, stacks, ring buffers, bloom filters: the kernel has no keys to walk.
      if (err instanceof BpfError && keys.length === 0) throw new BpfError(`${m.label} has no keys to walk: ${reason(err)}`, { errno: err.errno, cause: err });
      throw err;
    }
    for (const key of keys) {
      try {
        const value = m.map.lookup(key);
        if (value !== undefined) entries.push(entryRecord(m, key, value));
      } catch (err) {
        // Perf event arrays and socket maps hold fds the kernel will not hand back.
        entries.push(entryRecord(m, key, undefined, reason(err)));
      }
    }
    if (args.options.json === true) {
      ctx.out(toJSON(entries));
      return;
    }
    ctx.out(`${entries.map(entryText).join('')}Found ${entries.length} element${entries.length === 1 ? '' : 's'}\n`);
  } finally {
    m.map.close();
  }
}
