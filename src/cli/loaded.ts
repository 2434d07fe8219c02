/**
 * `ebpf-ts prog list` and `ebpf-ts map list`: the programs and maps loaded in the kernel,
 * with the columns `bpftool prog show` / `bpftool map show` print. Needs CAP_SYS_ADMIN
 * (the kernel hides object ids from everyone else).
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { listMaps } from '../map.js';
import { listPrograms } from '../prog.js';
import { mapTypeName, programTypeName } from '../types.js';
import { jsonOption, type Command } from './command.js';
import { toJSON } from './output.js';
import { formatTable, hex } from './table.js';

/**
 * Wall-clock time of a `load_time` (ns since boot, CLOCK_BOOTTIME). /proc/uptime counts
 * the same clock, so now − uptime is the boot instant; bpftool computes the same
 * difference from clock_gettime.
 */
export function loadedAt(loadTimeNs: bigint, now = Date.now()): Date {
  const uptimeSeconds = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  const bootMs = now - uptimeSeconds * 1000;
  return new Date(Math.round(bootMs + Number(loadTimeNs / 1000n) / 1000));
}

// bpftool prints local time without a zone name; an ISO string in UTC is unambiguous.
const iso = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** The `prog list` command. */
export const progListCommand: Command = {
  words: ['prog', 'list'],
  aliases: [['prog', 'show']],
  summary: 'List the BPF programs loaded in the kernel (like bpftool prog show). Needs CAP_SYS_ADMIN.',
  options: [jsonOption],
  positionals: [],
  run(args, ctx) {
    const programs = listPrograms().map((p) => ({
      id: p.id,
      type: programTypeName(p.type),
      name: p.name,
      tag: p.tag,
      gplCompatible: p.gplCompatible,
      loadedAt: p.loadTime === 0n ? null : iso(loadedAt(p.loadTime)),
      uid: p.createdByUid,
      xlatedBytes: p.xlatedLength,
      jitedBytes: p.jitedLength,
      mapIds: [...p.mapIds],
      btfId: p.btfId,
      verifiedInstructions: p.verifiedInstructions,
      runCount: p.runCount,
      runTimeNs: p.runTimeNs,
    }));
    if (args.options.json === true) {
      ctx.out(toJSON(programs));
      return;
    }
    ctx.out(
      formatTable(
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
          { title: 'BTF', right: true },
          { title: 'MAP IDS' },
        ],
        programs.map((p) => [
          String(p.id),
          p.type,
          p.name,
          p.tag,
          p.gplCompatible ? 'yes' : 'no',
          p.loadedAt ?? '-',
          String(p.uid),
          String(p.xlatedBytes),
          String(p.jitedBytes),
          p.btfId === 0 ? '-' : String(p.btfId),
          p.mapIds.length === 0 ? '-' : p.mapIds.join(','),
        ]),
      ),
    );
  },
};

/** The `map list` command. */
export const mapListCommand: Command = {
  words: ['map', 'list'],
  aliases: [['map', 'show']],
  summary: 'List the BPF maps in the kernel (like bpftool map show). Needs CAP_SYS_ADMIN.',
  options: [jsonOption],
  positionals: [],
  run(args, ctx) {
    const maps = listMaps().map((m) => ({
      id: m.id,
      type: mapTypeName(m.type),
      name: m.name,
      keySize: m.keySize,
      valueSize: m.valueSize,
      maxEntries: m.maxEntries,
      flags: m.flags,
      btfId: m.btfId,
      mapExtra: m.mapExtra,
    }));
    if (args.options.json === true) {
      ctx.out(toJSON(maps));
      return;
    }
    ctx.out(
      formatTable(
        [
          { title: 'ID', right: true },
          { title: 'TYPE' },
          { title: 'NAME' },
          { title: 'KEY', right: true },
          { title: 'VALUE', right: true },
          { title: 'MAX ENTRIES', right: true },
          { title: 'FLAGS' },
          { title: 'BTF', right: true },
        ],
        maps.map((m) => [String(m.id), m.type, m.name, `${m.keySize}B`, `${m.valueSize}B`, String(m.maxEntries), hex(m.flags), m.btfId === 0 ? '-' : String(m.btfId)]),
      ),
    );
  },
};
