/**
 * The mappings of a `BPF_MAP_TYPE_RINGBUF` or `BPF_MAP_TYPE_USER_RINGBUF` map and their one
 * release, shared by `RingBufReader` and `UserRingBuf`: the consumer page, then the producer
 * page followed by the data area mapped twice (so that a record wrapping around the end reads
 * as one run), each side writable only for the party that writes it — the kernel refuses the
 * other (`ringbuf_map_mmap_kern()`, `ringbuf_map_mmap_user()`).
 *
 * @module
 */
import { SyscallError } from '../errors.js';
import type { Backend, Mapping } from '../sys/backend.js';
import { Errno } from '../sys/errno.js';
import { MAP_SHARED, PROT_READ, PROT_WRITE, SANDBOX_HINT } from '../internal/reader/mmap.js';

/**
 * What a ring buffer reader or writer owns (the record of its Owner, src/internal/owner.ts):
 * the mappings and, once they are made, what walks them.
 * @internal
 */
export interface HeldRing {
  readonly backend: Backend;
  readonly mappings: Mapping[];
  /** The consumer (reader) or producer (writer) over the mappings, once made. */
  walker: { stop(): void } | undefined;
}

/**
 * Stops the walker, then unmaps: for close(), a failed constructor and the safety net alike.
 * close() may come from inside a callback: the walk stops before the pages go, and a writer
 * discards what is still reserved.
 * @internal
 */
export function releaseRing({ backend: b, mappings, walker }: HeldRing): void {
  walker?.stop();
  for (const m of mappings) b.munmap(m);
}

/**
 * Maps the consumer page and the producer page with the data (twice) of the ring buffer map
 * `fd` of `size` data bytes into `held.mappings`; `writes` names the side this process writes.
 * Throws a {@link SyscallError} naming `kind` and `name` (the mappings made so far stay in
 * `held` for the owner to release).
 * @internal
 */
export function mapRing(held: HeldRing, fd: number, page: number, size: number, writes: 'consumer' | 'producer', kind: string, name: string): { consumer: Mapping; producer: Mapping } {
  const b = held.backend;
  const consumer = b.mmap(fd, page, writes === 'consumer' ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, 0);
  if (typeof consumer === 'number') throw mmapError(-consumer, 'consumer page', kind, name);
  held.mappings.push(consumer);
  const producer = b.mmap(fd, page + 2 * size, writes === 'producer' ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, page);
  if (typeof producer === 'number') throw mmapError(-producer, 'producer page and data', kind, name);
  held.mappings.push(producer);
  return { consumer, producer };
}

function mmapError(errno: number, what: string, kind: string, name: string): SyscallError {
  const hint =
    errno === Errno.EOPNOTSUPP
      ? SANDBOX_HINT
      : errno === Errno.EPERM
        ? 'needs CAP_BPF or CAP_SYS_ADMIN and a map created by this user'
        : undefined;
  return new SyscallError('mmap', errno, hint, `map the ${what} of ${kind} ${name}`);
}
