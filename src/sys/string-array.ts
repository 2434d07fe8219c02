/**
 * Attr fields that point at an array of C strings (`const char **`), such as BPF_LINK_CREATE's
 * `kprobe_multi.syms`: the kernel reads `cnt` user pointers from the array, then each string.
 *
 * The backend patches only addresses it is told about (a {@link PointerList}), at offsets into
 * the attr's ArrayBuffer. So the attr and the array are laid out in one ArrayBuffer, the array
 * 8-aligned right after the attr's bytes, and every slot of the array is one more pointer
 * entry. The strings themselves share a second buffer (one allocation, NUL-terminated each),
 * so a list of thousands of names is two buffers for the backend, not thousands. Only the
 * attr's own bytes are sent as its size.
 *
 * ```
 *  ArrayBuffer A: | attr (size S) | pad to 8 | slot 0 | slot 1 | ... |   <- slots patched
 *  ArrayBuffer B: | "name0\0" | "name1\0" | ...                          <- what they point at
 * ```
 *
 * @module
 */
import type { PointerList } from './backend.js';
import { encodeAttr, hostLittleEndian, type AttrValues, type EncodedAttr, type Layout } from './attr.js';
import { dataView } from '../internal/bytes.js';

/**
 * Encodes `values` for `layout` like `encodeAttr`, with pointer field `field` set to an array
 * of pointers to `strings` (each NUL-terminated, UTF-8). The returned attr is a view of the
 * first `size` bytes of a larger buffer that also holds the array; pass it and the pointers to
 * the backend unchanged.
 *
 * @example
 * ```ts
 * const { attr, pointers } = encodeAttrWithStrings(LinkCreate, { prog_fd: 5, attach_type: 42, kprobe_multi_cnt: 2 }, 'kprobe_multi_syms', ['vfs_read', 'vfs_write']);
 * ```
 */
export function encodeAttrWithStrings<F extends string>(layout: Layout<F>, values: AttrValues<F>, field: NoInfer<F>, strings: readonly string[]): EncodedAttr {
  const f = layout.fields[field];
  if (f === undefined || f.kind !== 'ptr') throw new Error(`${layout.name}.${field} is not a pointer field`);
  // null counts toward the attr's size and writes nothing: the field's slot is patched below.
  const encoded = encodeAttr(layout, { ...values, [field]: null } as AttrValues<F>);
  const size = encoded.attr.byteLength;
  const arrayStart = (size + 7) & ~7;
  const whole = new Uint8Array(arrayStart + 8 * strings.length);
  whole.set(encoded.attr);
  const attr = whole.subarray(0, size);
  const slots = whole.subarray(arrayStart);

  const encoder = new TextEncoder();
  const bytes = strings.map((s) => encoder.encode(s));
  const table = new Uint8Array(bytes.reduce((n, b) => n + b.byteLength + 1, 0));
  const pointers: Array<number | Uint8Array | null> = [...encoded.pointers, f.offset, slots];
  let at = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    table.set(b, at);
    pointers.push(arrayStart + 8 * i, table.subarray(at, at + b.byteLength + 1));
    at += b.byteLength + 1;
  }
  return { attr, pointers: pointers as PointerList };
}

/** `values` as an array of native-endian u64s, for `__u64 *` attr fields (addresses, cookies, offsets). */
export function u64Array(values: readonly bigint[]): Uint8Array {
  const out = new Uint8Array(8 * values.length);
  const view = dataView(out);
  for (let i = 0; i < values.length; i++) view.setBigUint64(8 * i, BigInt.asUintN(64, values[i]!), hostLittleEndian);
  return out;
}
