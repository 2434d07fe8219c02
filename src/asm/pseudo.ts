/**
 * Values of the `src` field that change the meaning of an instruction (include/uapi/linux/bpf.h,
 * the comments above `BPF_PSEUDO_MAP_FD` and `BPF_PSEUDO_CALL`). The loader rewrites the
 * compiler's plain instructions into these forms when it resolves relocations.
 *
 * @module
 */

/** `src` of a 64-bit immediate load (`ld_imm64`): what the 64-bit constant means. */
export enum PseudoSource {
  /** A plain 64-bit constant. */
  None = 0,
  /** `imm` is a map fd; the kernel loads the map's address. */
  MapFD = 1,
  /** `imm` is a map fd, the second half's `imm` an offset into the map's value (global data). */
  MapValue = 2,
  /** `imm` is a BTF type id of a kernel variable (typed ksym, Linux 5.10). */
  BTFID = 3,
  /** `imm` is the relative instruction offset of a BPF function (callbacks, Linux 5.13). */
  Func = 4,
  /** Like {@link MapFD} but `imm` indexes `fd_array` (Linux 5.14). */
  MapIdx = 5,
  /** Like {@link MapValue} but `imm` indexes `fd_array` (Linux 5.14). */
  MapIdxValue = 6,
}

/** `src` of a `call` instruction: whom the call targets. */
export enum PseudoCall {
  /** A helper function; `imm` is its id (see `Helper`). */
  Helper = 0,
  /** A BPF-to-BPF call; `imm` is the pc-relative offset of the callee (Linux 4.16). */
  Call = 1,
  /** A kernel function; `imm` is its BTF id, `offset` the module BTF fd index (Linux 5.13). */
  KfuncCall = 2,
}
