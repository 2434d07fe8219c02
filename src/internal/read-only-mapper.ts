/**
 * The seam through which the parsing layers map a file read-only. `btf/` may not reach `sys/`
 * (parsing never touches the kernel layer: test/unit/architecture.test.ts), yet mapping
 * /sys/kernel/btf/vmlinux needs the backend's `mmap()`. So `sys/select.ts` registers a mapper
 * here when it is loaded, and `btf/` asks for one without knowing where it comes from. Without
 * a registered mapper (only `btf/` imported, or the fake backend) callers read the file.
 *
 * @module
 */

/**
 * Maps `length` bytes of the open file `fd` with `PROT_READ`, `MAP_PRIVATE`, or answers
 * undefined when that is not possible (any reason: the caller then reads the file). The
 * returned bytes are never written to (a write would fault) and stay valid as long as they are
 * reachable: the pages are unmapped only when the garbage collector frees their ArrayBuffer.
 * Closing `fd` afterwards does not affect the mapping.
 */
export type ReadOnlyMapper = (fd: number, length: number) => Uint8Array | undefined;

let mapper: ReadOnlyMapper | undefined;

/** Registers the mapper used by {@link mapReadOnly} (undefined removes it). */
export function setReadOnlyMapper(next: ReadOnlyMapper | undefined): void {
  mapper = next;
}

/** The file's bytes through the registered mapper, or undefined (no mapper, or it declined). */
export function mapReadOnly(fd: number, length: number): Uint8Array | undefined {
  return mapper?.(fd, length);
}
