/**
 * The per-CPU rings of a perf event array, as both perf readers hold them ({@link PerfReader}
 * in ./reader.ts, {@link OverwritablePerfReader} in ./overwritable.ts): one
 * `PERF_COUNT_SW_BPF_OUTPUT` event per online CPU, its mmapped ring, its slot in the map, and
 * their one release.
 *
 * @module
 */
import { ArgumentError, SyscallError } from '../errors.js';
import type { BpfMap } from '../map.js';
import type { Backend, Mapping } from '../sys/backend.js';
import { hostLittleEndian } from '../sys/attr.js';
import { Errno } from '../sys/errno.js';
import { PERF_EVENT_IOC_ENABLE } from '../internal/perf-event.js';
import { MAP_SHARED, PROT_READ, PROT_WRITE, SANDBOX_HINT } from '../internal/reader/mmap.js';
import { dataView } from '../internal/bytes.js';
import { openBpfOutputEvent, type Wakeup } from './event.js';
import { PerfRing } from './ring.js';

/** One CPU's event and ring. */
export interface CPURingBase {
  readonly cpu: number;
  readonly fd: number;
  readonly mapping: Mapping;
  readonly ring: PerfRing;
}

/** What a perf reader owns: its rings (its own list, filled as they open) and their map slots. */
export interface HeldRings {
  readonly backend: Backend;
  readonly map: BpfMap;
  readonly rings: CPURingBase[];
}

/**
 * The size of each ring for a `perCpuBufferBytes` option: rounded up to a power-of-two
 * number of pages (perf_mmap() requires that); default 64 pages.
 * @throws {@link ArgumentError} for a size that is not a positive integer.
 */
export function ringPages(bytes: number | undefined, page: number, who: string): number {
  const want = bytes ?? 64 * page;
  if (!Number.isSafeInteger(want) || want < 1) throw new ArgumentError(`${who}: perCpuBufferBytes must be a positive integer, got ${want}`);
  let pages = 1;
  while (pages * page < want) pages *= 2;
  return pages;
}

/**
 * Checks that every online CPU has a slot in `map`.
 * @throws {@link ArgumentError} naming the `maxEntries` needed.
 */
export function checkSlots(map: BpfMap, cpus: readonly number[], who: string): void {
  for (const cpu of cpus) {
    if (cpu >= map.maxEntries) {
      throw new ArgumentError(`${who}: CPU ${cpu} is online but ${map.name} has only ${map.maxEntries} entries; create it with maxEntries >= ${cpus[cpus.length - 1]! + 1}`);
    }
  }
}

/**
 * Opens the BPF output event of `cpu`, maps its ring of `pages` data pages and enables it; the
 * caller puts it in the map ({@link installRing}). Everything opened is closed again on
 * failure.
 *
 * Writable (the default): we own data_tail, and the kernel never overwrites unread data.
 * `overwritable`: mapped read-only, which puts the ring in overwrite mode (perf_mmap(): no
 * VM_WRITE, no RING_BUFFER_WRITABLE), and written backward (`write_backward`).
 * @throws {@link SyscallError} from perf_event_open, mmap or the enable ioctl.
 */
export function openCPURing(b: Backend, cpu: number, pages: number, page: number, wakeup: Wakeup, overwritable = false): CPURingBase {
  const fd = openBpfOutputEvent(cpu, overwritable ? { ...wakeup, backward: true } : wakeup);
  let mapping: Mapping | undefined;
  try {
    const prot = overwritable ? PROT_READ : PROT_READ | PROT_WRITE;
    const m = b.mmap(fd, (1 + pages) * page, prot, MAP_SHARED, 0);
    if (typeof m === 'number') {
      throw new SyscallError('mmap', -m, mmapHint(-m), `map the perf ring of CPU ${cpu} (${pages} pages)`);
    }
    mapping = m;
    const ring = new PerfRing(cpu, m, page);
    const r = b.ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
    if (r < 0) throw new SyscallError('ioctl(PERF_EVENT_IOC_ENABLE)', -r, undefined, `enable the perf event of CPU ${cpu}`);
    return { cpu, fd, mapping: m, ring };
  } catch (err) {
    if (mapping !== undefined) b.munmap(mapping);
    b.close(fd);
    throw err;
  }
}

/**
 * Puts the event `fd` in `map` at index `cpu`: from then on `bpf_perf_event_output()` on that
 * CPU writes into its ring. `key` and `value` are 4-byte scratch buffers.
 */
export function installRing(map: BpfMap, cpu: number, fd: number, key: Uint8Array, value: Uint8Array): void {
  dataView(key).setUint32(0, cpu, hostLittleEndian);
  dataView(value).setUint32(0, fd, hostLittleEndian);
  map.update(key, value);
}

/** Empties the map's slot of `cpu`. */
export function deleteSlot(map: BpfMap, key: Uint8Array, cpu: number): void {
  dataView(key).setUint32(0, cpu, hostLittleEndian);
  map.delete(key);
}

/**
 * Releases every ring opened so far, for close(), a failed constructor and the safety net
 * alike (src/internal/owner.ts): stops the parsers (close() may be called from inside a
 * callback, and no parse loop may touch a ring once it is unmapped), takes each event out of
 * the map, unmaps the ring and closes the event.
 */
export function releaseRings({ backend: b, map, rings }: HeldRings): void {
  for (const r of rings) r.ring.stop();
  const key = new Uint8Array(4);
  for (const r of rings) {
    // Remove our event from the map so the kernel can free it now: the map holds its own
    // reference to the perf file (perf_event_fd_array_get_ptr()), released on delete.
    if (!map.closed) {
      try {
        deleteSlot(map, key, r.cpu);
      } catch {
        // The slot may hold someone else's event or the map may be gone: nothing to undo.
      }
    }
    b.munmap(r.mapping);
    b.close(r.fd);
  }
  rings.length = 0;
}

function mmapHint(errno: number): string | undefined {
  // perf_mmap(): beyond perf_event_mlock_kb per user, unprivileged users get EPERM.
  if (errno === Errno.EPERM) return 'the rings exceed kernel.perf_event_mlock_kb for this user: use smaller perCpuBufferBytes or CAP_IPC_LOCK';
  if (errno === Errno.ENOMEM) return 'out of memory for the ring: use smaller perCpuBufferBytes';
  if (errno === Errno.EOPNOTSUPP) return SANDBOX_HINT;
  if (errno === Errno.EINVAL) return 'the ring size must be a power-of-two number of pages';
  return undefined;
}
