/**
 * CPU sets from sysfs. Per-CPU maps hold one value slot per *possible* CPU (the kernel copies
 * values with `for_each_possible_cpu()`, see `bpf_percpu_hash_copy()` and
 * `bpf_percpu_array_copy()`), so user space must size its buffers by the possible-CPU count,
 * not by the online count or `os.cpus().length`. Perf event readers, on the other hand, open
 * one ring per *online* CPU.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { ArgumentError } from '../errors.js';

/** Path of the kernel's possible-CPU mask (`cpu_possible_mask`). */
export const possibleCPUsPath = '/sys/devices/system/cpu/possible';
/** Path of the kernel's online-CPU mask (`cpu_online_mask`). */
export const onlineCPUsPath = '/sys/devices/system/cpu/online';

/**
 * Parses the kernel's CPU list format (`cpulist_parse()`): comma-separated ids and inclusive
 * ranges, e.g. `"0-3,5,7-8"` → `[0, 1, 2, 3, 5, 7, 8]`. Whitespace around the list is ignored;
 * an empty list is empty.
 *
 * @throws a {@link ArgumentError} if `text` is not a CPU list.
 */
export function parseCPUList(text: string): number[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  const out: number[] = [];
  for (const part of trimmed.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (m === null) throw new ArgumentError(`not a CPU list: ${JSON.stringify(text)}`);
    const first = Number(m[1]);
    const last = m[2] === undefined ? first : Number(m[2]);
    if (last < first) throw new ArgumentError(`not a CPU list (descending range ${part}): ${JSON.stringify(text)}`);
    for (let cpu = first; cpu <= last; cpu++) out.push(cpu);
  }
  return out;
}

let possible: number | undefined;

/**
 * The number of possible CPUs (`num_possible_cpus()`), read once per process from
 * /sys/devices/system/cpu/possible. This is the number of value slots of a per-CPU map.
 *
 * @throws a {@link ArgumentError} if the file cannot be read or parsed (no sysfs: a container
 * without /sys mounted).
 */
export function possibleCPUs(): number {
  if (possible !== undefined) return possible;
  let text: string;
  try {
    text = readFileSync(possibleCPUsPath, 'utf8');
  } catch (err) {
    throw new ArgumentError(`cannot read ${possibleCPUsPath} (is sysfs mounted?)`, { cause: err });
  }
  const count = parseCPUList(text).length;
  if (count === 0) throw new ArgumentError(`${possibleCPUsPath} lists no CPUs`);
  possible = count;
  return possible;
}

/**
 * The ids of the online CPUs (from /sys/devices/system/cpu/online), read fresh on every call
 * since CPUs can be hot-plugged. Perf event arrays open one ring per online CPU.
 *
 * @throws a {@link ArgumentError} if the file cannot be read or parsed.
 */
export function onlineCPUs(): number[] {
  try {
    return parseCPUList(readFileSync(onlineCPUsPath, 'utf8'));
  } catch (err) {
    if (err instanceof ArgumentError) throw err;
    throw new ArgumentError(`cannot read ${onlineCPUsPath} (is sysfs mounted?)`, { cause: err });
  }
}

/**
 * Pretends the possible-CPU count is `count` (undefined: read sysfs again). Unit tests use it
 * to make per-CPU buffer layouts independent of the machine.
 */
export function overridePossibleCPUs(count: number | undefined): void {
  possible = count;
}
