/**
 * `ebpf-ts map dump MAP`: every entry of a loaded map, keys and values decoded through the
 * map's BTF (read back from the kernel by BTF id) when it has types for them, hex bytes
 * otherwise, like `bpftool map dump`. Needs CAP_SYS_ADMIN.
 *
 * @module
 */
import { BpfError } from '../errors.js';
import { UsageError } from './args.js';
import { jsonOption, type Command } from './command.js';
import { entryRecord, entryText, openMap, type EntryRecord } from './map-entries.js';
import { toJSON } from './output.js';

/** The error's first line, for an entry whose value could not be read. */
const reason = (err: unknown): string => (err instanceof Error ? err.message.split('\n')[0]! : String(err));

/** The `map dump` command. */
export const mapDumpCommand: Command = {
  words: ['map', 'dump'],
  summary: 'Print every entry of a loaded map, decoded through its BTF when it has types (like bpftool map dump).',
  details:
    'MAP: an id ("5" or "id 5"), "name NAME" or "pinned PATH" (or just a path).\n' +
    'With BTF, keys and values print as JSON (integers beyond 2^53 exact, char arrays as strings); without it,\n' +
    'as hex bytes. Per-CPU maps print one value per possible CPU. --json gives "key" and "value" as hex and,\n' +
    'with BTF, "formatted": {"key", "value"}. Entries are walked with BPF_MAP_GET_NEXT_KEY: a map changing\n' +
    'meanwhile can show an entry twice or miss one.',
  options: [jsonOption],
  positionals: [{ name: 'map', required: true, variadic: true, description: 'which map' }],
  run(args, ctx) {
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
  },
};
