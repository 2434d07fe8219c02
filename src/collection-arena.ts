/**
 * The load step of an ARENA map (Linux 6.9): map the arena into this process right after it is
 * created, because the kernel resolves references to arena globals to the arena's user address
 * and refuses programs whose arena has none yet ("arena's user address must be set via
 * map_extra or mmap()"), then copy the `__arena` globals' initial bytes to its start. The
 * mapping is what `Collection.arenas` and the arena globals' {@link Variable}s read and write.
 *
 * @module
 */
import type { ELFMapSpec } from './elf/specs.js';
import { ArgumentError, BpfError } from './errors.js';
import { MAP_SHARED, PROT_READ, PROT_WRITE, pageSize } from './internal/reader/mmap.js';
import type { BpfMap } from './map.js';
import { backend } from './sys/select.js';

/**
 * Maps a freshly created arena (its whole `maxEntries` pages, read-write) and copies the
 * globals into it; registers the munmap in `releases`. Returns the memory, or undefined when
 * the arena has no globals and this runtime cannot map it (nothing needs the mapping then
 * except programs, which the kernel refuses without an address: its error says so).
 */
export function mapArena(map: BpfMap, m: ELFMapSpec, releases: (() => void)[]): Uint8Array | undefined {
  const data = m.arenaData;
  if ((m.mapExtra ?? 0n) !== 0n) {
    // map_extra fixes the arena's user address: mapping it would need MAP_FIXED at that address,
    // which our mmap() primitive does not take. Programs work without a mapping then.
    if (data !== undefined && data.length > 0) {
      throw new ArgumentError(`map ${m.name}: an arena with a fixed address (map_extra) cannot hold __arena globals here, as ebpf-ts maps arenas where the kernel chooses; leave map_extra 0`);
    }
    return undefined;
  }
  const length = map.maxEntries * pageSize();
  if (data !== undefined && data.length > length) {
    throw new ArgumentError(`map ${m.name}: its __arena globals need ${data.length} bytes, more than the arena's ${map.maxEntries} pages (${length} bytes)`);
  }
  const b = backend();
  const mapping = b.mmap(map.fd, length, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
  if (typeof mapping === 'number') {
    if (data === undefined || data.length === 0) return undefined;
    throw new BpfError(`map ${m.name}: mmap() of the arena failed, so its __arena globals cannot be initialised`, { errno: -mapping });
  }
  releases.push(() => b.munmap(mapping));
  const memory = new Uint8Array(mapping.buffer, 0, length);
  if (data !== undefined) memory.set(data);
  return memory;
}
