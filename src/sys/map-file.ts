/**
 * Mapping a file read-only through the backend, for the parsing layers that may not import
 * `sys/` (see `internal/read-only-mapper.ts`): the kernel's BTF in /sys/kernel/btf/ costs one
 * `mmap()` (Linux 6.16+) instead of a read() per 4 KiB page.
 *
 * @module
 */
import type { Backend } from './backend.js';
import type { ReadOnlyMapper } from '../internal/read-only-mapper.js';
import { MAP_PRIVATE, PROT_READ } from '../internal/reader/mmap.js';

/**
 * A {@link ReadOnlyMapper} over the backend `get` returns (called on first use, so registering
 * the mapper does not load the backend). It declines — answering undefined, so that the caller
 * reads the file — when no backend loads, on the fake backend (it has no real pages), and when
 * `mmap()` fails: the kernel refuses (sysfs BTF before 6.16, module BTF, MAP_SHARED), or JS may
 * not alias foreign memory (EOPNOTSUPP from a V8 sandbox or a copying ffi-rs).
 *
 * The mapping is never unmapped explicitly: something may still hold a view of it, and the
 * native backend would detach it. The backends unmap the pages when the garbage collector
 * frees the ArrayBuffer (the addon's finalizer, ffi-rs's FinalizationRegistry).
 */
export function readOnlyMapperFor(get: () => Backend): ReadOnlyMapper {
  return (fd, length) => {
    if (length <= 0) return undefined;
    let b: Backend;
    try {
      b = get();
    } catch {
      return undefined;
    }
    if (b.kind === 'fake') return undefined;
    const m = b.mmap(fd, length, PROT_READ, MAP_PRIVATE, 0);
    if (typeof m === 'number') return undefined;
    return new Uint8Array(m.buffer, 0, length);
  };
}
