/**
 * Getting a BTF file's bytes as cheaply as the kernel allows. The kernel's own BTF files
 * (/sys/kernel/btf/vmlinux and the modules') are mapped read-only where the kernel lets us
 * (vmlinux since Linux 6.16: about 0.3 ms for 5 MB). Otherwise the file is read with one
 * large read() request per call; sysfs still answers at most one page per read()
 * (kernfs_file_read_iter), so a 5 MB vmlinux takes ~1300 calls and several milliseconds, which
 * is what the mapping saves. Other files are read, never mapped: a mapped file that is
 * truncated while we hold it would crash the process with SIGBUS on the next access, and only
 * sysfs BTF is known not to change.
 *
 * @module
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { resolve } from 'node:path';
import { mapReadOnly } from '../internal/read-only-mapper.js';
import { allocateBTF } from './index-wasm.js';

/** Where the kernel exposes the BTF of vmlinux and of each module that has some. */
export const kernelBTFDir = '/sys/kernel/btf/';

/**
 * The whole file at `path`. Bytes from a mapping are read-only (the pages are the kernel's;
 * a write would fault) and live as long as the returned array is reachable. Throws the
 * `fs` error of open/read (ENOENT, EACCES, …).
 */
export function readBTFFile(path: string): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size > 0 && resolve(path).startsWith(kernelBTFDir)) {
      const mapped = mapReadOnly(fd, size);
      if (mapped !== undefined) return mapped;
    }
    // st_size 0 (procfs): read to the end, growing the buffer as it fills.
    return size > 0 ? readKnownSize(fd, size) : readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads `size` bytes into a buffer from {@link allocateBTF}, so that parsing indexes the types
 * in place. Each read() asks for everything that is left.
 */
function readKnownSize(fd: number, size: number): Uint8Array {
  const bytes = allocateBTF(size);
  let at = 0;
  while (at < size) {
    const n = readSync(fd, bytes, at, size - at, null);
    if (n === 0) break;
    at += n;
  }
  return at === size ? bytes : bytes.subarray(0, at);
}
