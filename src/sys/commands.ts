/**
 * Typed wrappers for the bpf() commands shared by several kernel objects: element operations
 * (the hot path), object info, pinning, and id enumeration. Object-specific commands (map
 * creation, program load) live with their objects in src/map.ts and src/prog.ts.
 *
 * @module
 */
import { bpfCall, bpfCheck, bpfRaw } from './bpf.js';
import { encodeAttr, hostLittleEndian, type Layout } from './attr.js';
import type { PointerList } from './backend.js';
import {
  BtfGetFdById,
  BtfGetNextId,
  LinkGetFdById,
  LinkGetNextId,
  MapDeleteElem,
  MapGetFdById,
  MapGetNextId,
  MapGetNextKey,
  MapLookupAndDeleteElem,
  MapLookupElem,
  MapUpdateElem,
  ObjGet,
  ObjGetInfoByFd,
  ObjPin,
  ProgGetFdById,
  ProgGetNextId,
} from './layouts.js';
import { Errno, type ErrorContext } from './errno.js';
import { dataView } from '../internal/bytes.js';

/** The element commands that share `{map_fd, key, value, flags}`. */
export type ElemLayout =
  | typeof MapLookupElem
  | typeof MapUpdateElem
  | typeof MapDeleteElem
  | typeof MapGetNextKey
  | typeof MapLookupAndDeleteElem;

// Reused attrs, one per size. A fresh typed array handed to the native addon must first be
// moved off the V8 heap (napi_get_typedarray_info() materialises its backing store), which
// costs about as much as the syscall itself; these are materialised once. Safe to share:
// calls are synchronous and the kernel only reads element-op attrs.
const elemAttr16 = new Uint8Array(16);
const elemAttr24 = new Uint8Array(24);
const elemAttr32 = new Uint8Array(32);

/**
 * One element operation, returning the raw result (0 or `-errno`) so callers can treat ENOENT
 * as "absent" without an exception. Hand-encoded (not via {@link encodeAttr}) because it is
 * the hot path of every map access: 32 zeroed bytes, three fields, two pointers.
 *
 * Sizes follow the last field used: DELETE sends 16 bytes (map_fd, key), GET_NEXT_KEY 24
 * (map_fd, key, next_key), LOOKUP/UPDATE 32 (with flags).
 */
export function mapElem(
  layout: ElemLayout,
  fd: number,
  key: Uint8Array | null,
  value: Uint8Array | null,
  flags: number | bigint = 0,
): number {
  const size = layout === MapDeleteElem ? 16 : layout === MapGetNextKey ? 24 : 32;
  const attr = size === 16 ? elemAttr16 : size === 24 ? elemAttr24 : elemAttr32;
  attr.fill(0);
  writeU32(attr, 0, fd);
  if (size === 32 && flags !== 0) {
    const f = BigInt(flags);
    writeU32(attr, 24, Number(f & 0xffffffffn));
    writeU32(attr, 28, Number(f >> 32n));
  }
  const pointers: Array<number | Uint8Array | null> = [];
  if (key !== null && key.byteLength > 0) pointers.push(8, key);
  if (value !== null && size > 16) pointers.push(16, value);
  return bpfRaw(layout, attr, pointers);
}

function writeU32(bytes: Uint8Array, offset: number, value: number): void {
  if (hostLittleEndian) {
    bytes[offset] = value & 0xff;
    bytes[offset + 1] = (value >>> 8) & 0xff;
    bytes[offset + 2] = (value >>> 16) & 0xff;
    bytes[offset + 3] = (value >>> 24) & 0xff;
  } else {
    bytes[offset + 3] = value & 0xff;
    bytes[offset + 2] = (value >>> 8) & 0xff;
    bytes[offset + 1] = (value >>> 16) & 0xff;
    bytes[offset] = (value >>> 24) & 0xff;
  }
}

/**
 * BPF_OBJ_GET_INFO_BY_FD into a zeroed struct of `size` bytes. `infoPointers` are
 * `[offsetInInfo, buffer, ...]` for the struct's own output arrays (e.g. `map_ids`); `input` is
 * copied into the struct first, for the count fields that say how big those arrays are. Fields the
 * running kernel does not know stay zero, so callers can read every field by offset.
 *
 * The attr and the info struct share one ArrayBuffer (attr first) so the backend can patch
 * pointers inside the info struct too: see {@link PointerList}.
 */
export function objGetInfoByFd(
  fd: number,
  size: number,
  infoPointers: ReadonlyArray<number | Uint8Array | null> = [],
  ctx?: ErrorContext,
  input?: Uint8Array,
): Uint8Array {
  const attrSize = ObjGetInfoByFd.size;
  const whole = new Uint8Array(attrSize + size);
  const attr = whole.subarray(0, attrSize);
  const info = whole.subarray(attrSize);
  // Some info fields are inputs too: the capacity of an output array (`nr_map_ids` for
  // `map_ids`) is read from the caller's struct by bpf_prog_get_info_by_fd().
  if (input !== undefined) info.set(input.subarray(0, size));
  const view = dataView(whole);
  view.setUint32(0, fd, hostLittleEndian);
  view.setUint32(4, size, hostLittleEndian);
  const pointers: Array<number | Uint8Array | null> = [8, info];
  for (let i = 0; i < infoPointers.length; i += 2) {
    pointers.push(attrSize + (infoPointers[i] as number), infoPointers[i + 1] as Uint8Array | null);
  }
  bpfCheck(ObjGetInfoByFd, attr, pointers, ctx);
  return info;
}

/** BPF_OBJ_PIN: pins `fd` at `path` (on a bpffs mount). */
export function objPin(fd: number, path: string, ctx?: ErrorContext): void {
  bpfCall(ObjPin, { pathname: cString(path), bpf_fd: fd }, ctx);
}

/** BPF_OBJ_GET's attr values, shared by objGet and tryObjGet. */
function objGetValues(path: string, flags: number) {
  return { pathname: cString(path), bpf_fd: 0, file_flags: flags === 0 ? undefined : flags };
}

/** BPF_OBJ_GET: opens a pinned object; `flags` are BPF_F_RDONLY / BPF_F_WRONLY. */
export function objGet(path: string, flags = 0, ctx?: ErrorContext): number {
  return bpfCall(ObjGet, objGetValues(path, flags), ctx);
}

/**
 * BPF_OBJ_GET for walks where a refusal is an answer, not an error (a bpffs holds files that
 * are no objects): the fd, or -errno, without building an error.
 */
export function tryObjGet(path: string): number {
  const { attr, pointers } = encodeAttr(ObjGet, objGetValues(path, 0));
  return bpfRaw(ObjGet, attr, pointers);
}

/** A NUL-terminated UTF-8 copy of `text` for `char *` attr fields. */
export function cString(text: string): Uint8Array {
  const encoded = new TextEncoder().encode(text);
  const out = new Uint8Array(encoded.length + 1);
  out.set(encoded);
  return out;
}

/** The kinds of object with ids. */
export type ObjectKind = 'prog' | 'map' | 'btf' | 'link';

const nextIdLayouts: Record<ObjectKind, Layout<'start_id' | 'next_id'>> = {
  prog: ProgGetNextId,
  map: MapGetNextId,
  btf: BtfGetNextId,
  link: LinkGetNextId,
};
const fdByIdLayouts: Record<ObjectKind, Layout<'id' | 'next_id' | 'open_flags'>> = {
  prog: ProgGetFdById,
  map: MapGetFdById,
  btf: BtfGetFdById,
  link: LinkGetFdById,
};

/** Every id of `kind` currently loaded, ascending (BPF_*_GET_NEXT_ID until ENOENT). */
export function objectIds(kind: ObjectKind): number[] {
  const layout = nextIdLayouts[kind];
  const ids: number[] = [];
  let start = 0;
  for (;;) {
    const { attr } = encodeAttr(layout, { start_id: start, next_id: 0 });
    const r = bpfRaw(layout, attr);
    if (r === -Errno.ENOENT) return ids;
    if (r < 0) bpfCheck(layout, attr); // throws the typed error
    start = dataView(attr).getUint32(4, hostLittleEndian);
    ids.push(start);
  }
}

/** BPF_*_GET_FD_BY_ID: an fd for the object with `id`. */
export function fdById(kind: ObjectKind, id: number, ctx?: ErrorContext): number {
  // open_flags is sent (as 0) so the attr reaches offset 12, as the kernel's CHECK_ATTR wants.
  return bpfCall(fdByIdLayouts[kind], { id, next_id: 0, open_flags: 0 }, ctx);
}
