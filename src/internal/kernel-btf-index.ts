/**
 * The seam through which kernel BTF parsing reuses the index of an earlier process of this
 * boot. Indexing vmlinux's ~126k type records costs a fresh process a few milliseconds, yet the
 * result cannot change before the next boot: `features/` keeps it in the per-boot cache
 * directory (next to the probe answers) and registers a store here when it is loaded; `btf/`,
 * which may not reach `features/`, asks for it without knowing where it comes from. Without a
 * registered store every process indexes the file itself.
 *
 * @module
 */

/** Where each type record of a blob starts, its name, and each kind's largest name offset. */
export interface KernelBTFIndex {
  /** The byte offset (in the blob) of each type record, in ID order. */
  readonly offsets: Uint32Array;
  /** Each type's name offset. */
  readonly names: Uint32Array;
  /** The largest name offset among the types of each kind (32 entries, by kind number). */
  readonly maxNames: Uint32Array;
}

/** Keeps the index of the running kernel's vmlinux BTF for later processes of the boot. */
export interface KernelBTFIndexStore {
  /** The index stored for a vmlinux BTF of `blobLength` bytes, if any; checked by the caller. */
  load(blobLength: number): KernelBTFIndex | undefined;
  /** Stores the index of a vmlinux BTF of `blobLength` bytes; never throws. */
  save(blobLength: number, index: KernelBTFIndex): void;
}

let store: KernelBTFIndexStore | undefined;

/** Registers the store (undefined removes it). */
export function setKernelBTFIndexStore(next: KernelBTFIndexStore | undefined): void {
  store = next;
}

/** The registered store, if any. */
export function kernelBTFIndexStore(): KernelBTFIndexStore | undefined {
  return store;
}
