/**
 * The seam through which kernel BTF parsing reuses the index of an earlier process of this
 * boot. Indexing vmlinux's ~126k type records costs a fresh process a few milliseconds, and
 * finding a name in them about one more, yet the result cannot change before the next boot:
 * `features/` keeps it in the per-boot cache directory (next to the probe answers) and
 * registers a store here when it is loaded; `btf/`, which may not reach `features/`, asks for
 * it without knowing where it comes from. Without a registered store every process indexes the
 * file itself.
 *
 * @module
 */

/**
 * What an earlier process kept of the vmlinux BTF index: where every `2^strideLog2`-th type
 * record starts, and a hash table of the types' essential names. Small enough to read at each
 * start (~0.5 MB for ~126k types, nearly all of it the name table), yet it finds any type by ID (a
 * walk of at most one stride of records) or by name (a probe or two). Nothing in it is taken
 * on trust: btf/parse.ts checks every part it uses against the BTF itself (see there).
 */
export interface KernelBTFIndex {
  /** The number of type records. */
  readonly count: number;
  /** log2 of the distance, in records, between two checkpoints. */
  readonly strideLog2: number;
  /**
   * The byte offset (in the blob) of type records 0, 2^strideLog2, 2·2^strideLog2, …, then
   * the type section's end.
   */
  readonly checkpoints: Uint32Array;
  /**
   * Open addressing over the FNV-1a hash of each named type's essential name (a power-of-two
   * length): a slot holds `hash >>> idBits << idBits | id` (idBits: the bit length of the ID
   * past the last type) or 0xffffffff when empty; a type is in the first free slot from
   * `hash & (length - 1)` on.
   */
  readonly names: Uint32Array;
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
