/**
 * What the perf and ring buffer readers need to map their rings: the `mmap()` flags and the
 * system page size, which sizes both readers' mappings. Node has no `sysconf()`; the kernel
 * hands every process its page size in the auxiliary vector (`AT_PAGESZ`), so it is read from
 * /proc/self/auxv once per process.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { hostLittleEndian } from '../../sys/attr.js';

/** `mmap()` protection and flags from <sys/mman.h>. */
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 1;
export const MAP_PRIVATE = 2;

/**
 * The hint for EOPNOTSUPP from the backend's `mmap()`: its answer where JS may not alias the
 * pages (the V8 sandbox forbids ArrayBuffers over foreign memory; src/sys/backend-native.ts).
 */
export const SANDBOX_HINT = 'this runtime cannot map kernel memory into JS (V8 sandbox, e.g. Electron)';

/** `AT_PAGESZ` from <elf.h>. */
const AT_PAGESZ = 6n;

let cached: number | undefined;

/**
 * The page size in bytes (4096 on x86-64; 4, 16 or 64 KiB on arm64), from /proc/self/auxv;
 * 4096 if that cannot be read.
 * @internal
 */
export function pageSize(): number {
  if (cached !== undefined) return cached;
  cached = 4096;
  try {
    const auxv = readFileSync('/proc/self/auxv');
    // 64-bit auxv entries: { u64 type; u64 value; }, terminated by AT_NULL.
    for (let off = 0; off + 16 <= auxv.length; off += 16) {
      const type = hostLittleEndian ? auxv.readBigUInt64LE(off) : auxv.readBigUInt64BE(off);
      if (type === 0n) break;
      if (type === AT_PAGESZ) {
        cached = Number(hostLittleEndian ? auxv.readBigUInt64LE(off + 8) : auxv.readBigUInt64BE(off + 8));
        break;
      }
    }
  } catch {
    // No /proc: keep the common default.
  }
  return cached;
}
