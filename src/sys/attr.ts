/**
 * A tiny description language for `union bpf_attr` and the info structs: a layout is a list of
 * named fields with offsets, sizes and the first kernel version that knows them. Encoding
 * allocates a zeroed buffer sized to the end of the last field the caller sets, which is what
 * the kernel's `bpf_check_uarg_tail_zero()` and old kernels' `size > sizeof(attr)` → E2BIG
 * checks want: never the whole union, never uninitialised bytes.
 *
 * @module
 */
import type { PointerList } from './backend.js';
import { dataView, hostLittleEndian } from '../internal/bytes.js';
import { BPF_F_TOKEN_FD } from '../internal/flags.js';
import { tokenInScope } from './token-scope.js';

export { hostLittleEndian } from '../internal/bytes.js';

/**
 * How a field is stored. `ptr` is a user pointer (`__aligned_u64`) that the backend fills with a
 * buffer's address; `name` is `char[BPF_OBJ_NAME_LEN]`; `bytes` a fixed byte array.
 */
export type FieldKind = 'u8' | 'u32' | 's32' | 'u64' | 'ptr' | 'name' | 'bytes';

/** One field of a layout. */
export interface Field {
  /** The UAPI name, e.g. `log_true_size`. */
  readonly name: string;
  /** Byte offset from the start of the struct. */
  readonly offset: number;
  /** Storage kind. */
  readonly kind: FieldKind;
  /** Size in bytes. */
  readonly size: number;
  /** First mainline kernel version that reads this field, e.g. `"6.4"`. */
  readonly since: string;
}

/** The value a caller may give a field. Pointers take a buffer or null; names take a string. */
export type FieldValue = number | bigint | Uint8Array | string | null | undefined;

/** A layout: one bpf() command's view of `union bpf_attr`, or an info struct. */
export interface Layout<F extends string = string> {
  /** The command or struct name, e.g. `BPF_PROG_LOAD` or `bpf_prog_info`. */
  readonly name: string;
  /** The bpf() command number (-1 for info structs). */
  readonly cmd: number;
  /** First kernel version with this command. */
  readonly since: string;
  /** Whether a successful call returns a new file descriptor. */
  readonly returnsFd: boolean;
  /** Fields by name. */
  readonly fields: { readonly [K in F]: Field };
  /** Fields in offset order. */
  readonly ordered: readonly Field[];
  /** End of the last field: the full size this library knows for the command. */
  readonly size: number;
  /**
   * For commands that accept a BPF token (6.9): the field for its fd and the flags field that
   * gets `BPF_F_TOKEN_FD`. {@link encodeAttr} fills both while a token is in scope.
   */
  readonly token?: { readonly fd: Field; readonly flags: Field };
}

const sizes: Record<FieldKind, number> = { u8: 1, u32: 4, s32: 4, u64: 8, ptr: 8, name: 16, bytes: 0 };

/** A field spec in a layout definition: `[offset, kind, since]` or `[offset, 'bytes', since, size]`. */
export type FieldSpec = readonly [offset: number, kind: FieldKind, since: string, size?: number];

/** Builds a layout from `{ field: [offset, kind, since] }`. */
export function defineLayout<F extends string>(
  name: string,
  cmd: number,
  since: string,
  spec: { readonly [K in F]: FieldSpec },
  options: { returnsFd?: boolean; token?: { readonly fd: NoInfer<F>; readonly flags: NoInfer<F> } } = {},
): Layout<F> {
  const fields = {} as { [K in F]: Field };
  for (const key of Object.keys(spec) as F[]) {
    const [offset, kind, fieldSince, explicitSize] = spec[key];
    const size = kind === 'bytes' ? (explicitSize ?? 0) : sizes[kind];
    fields[key] = { name: key, offset, kind, size, since: fieldSince };
  }
  const ordered = Object.values<Field>(fields).sort((a, b) => a.offset - b.offset);
  const size = ordered.reduce((end, f) => Math.max(end, f.offset + f.size), 0);
  const token = options.token === undefined ? undefined : { fd: fields[options.token.fd], flags: fields[options.token.flags] };
  return { name, cmd, since, returnsFd: options.returnsFd ?? false, fields, ordered, size, ...(token === undefined ? {} : { token }) };
}

/** An encoded attr ready for the backend. */
export interface EncodedAttr {
  /** Zeroed buffer, sized to the end of the last field set. */
  readonly attr: Uint8Array;
  /** Pointer fields for the backend to patch. */
  readonly pointers: PointerList;
}

/** Values for a layout's fields; unset (undefined) fields are left zero and not counted for size. */
export type AttrValues<F extends string> = { readonly [K in F]?: FieldValue };

/**
 * Encodes `values` for `layout`. The buffer ends at the end of the last field whose value is
 * not undefined, so a caller that sets `log_true_size: 0` on purpose still sends that field,
 * and a caller that does not mention it stays compatible with kernels before 6.4.
 */
export function encodeAttr<F extends string>(layout: Layout<F>, values: AttrValues<F>): EncodedAttr {
  if (layout.token !== undefined) values = withScopeToken(layout.token, values);
  let end = 0;
  for (const key in values) {
    if (values[key] === undefined) continue;
    const field = layout.fields[key];
    if (field === undefined) throw new Error(`${layout.name} has no field ${key}`);
    end = Math.max(end, field.offset + field.size);
  }
  const attr = new Uint8Array(end);
  const view = dataView(attr);
  const pointers: Array<number | Uint8Array | null> = [];
  for (const key in values) {
    const value = values[key];
    if (value === undefined) continue;
    writeField(view, attr, layout.fields[key], value, pointers);
  }
  return { attr, pointers };
}

/** `values` with the token in scope (if any) in `token.fd`, unless the caller set one. */
function withScopeToken<F extends string>(token: { readonly fd: Field; readonly flags: Field }, values: AttrValues<F>): AttrValues<F> {
  const scope = tokenInScope();
  const fields = values as Record<string, FieldValue>;
  if (scope === undefined || fields[token.fd.name] !== undefined) return values;
  const flags = Number(fields[token.flags.name] ?? 0);
  return { ...values, [token.fd.name]: scope.fd, [token.flags.name]: flags | BPF_F_TOKEN_FD };
}

function writeField(
  view: DataView,
  bytes: Uint8Array,
  field: Field,
  value: Exclude<FieldValue, undefined>,
  pointers: Array<number | Uint8Array | null>,
): void {
  const le = hostLittleEndian;
  switch (field.kind) {
    case 'u8':
      view.setUint8(field.offset, Number(value));
      return;
    case 'u32':
      view.setUint32(field.offset, Number(value) >>> 0, le);
      return;
    case 's32':
      view.setInt32(field.offset, Number(value) | 0, le);
      return;
    case 'u64':
      view.setBigUint64(field.offset, BigInt.asUintN(64, typeof value === 'bigint' ? value : BigInt(value as number)), le);
      return;
    case 'ptr':
      if (value !== null && !(value instanceof Uint8Array)) {
        throw new TypeError(`field ${field.name} takes a Uint8Array or null`);
      }
      // A zero-length buffer is passed as NULL: the kernel must not see a dangling address.
      if (value !== null && value.byteLength > 0) pointers.push(field.offset, value);
      return;
    case 'name': {
      const text = typeof value === 'string' ? new TextEncoder().encode(value) : (value as Uint8Array);
      // Keep the terminating NUL: the kernel rejects names without one.
      bytes.set(text.subarray(0, field.size - 1), field.offset);
      return;
    }
    case 'bytes':
      bytes.set((value as Uint8Array).subarray(0, field.size), field.offset);
      return;
  }
}

/** Reads one field from an encoded struct (for info structs and diagnostics). */
export function readField(bytes: Uint8Array, field: Field): number | bigint | string | Uint8Array {
  const view = dataView(bytes);
  const le = hostLittleEndian;
  if (field.offset + field.size > bytes.byteLength) return field.kind === 'u64' || field.kind === 'ptr' ? 0n : 0;
  switch (field.kind) {
    case 'u8':
      return view.getUint8(field.offset);
    case 'u32':
      return view.getUint32(field.offset, le);
    case 's32':
      return view.getInt32(field.offset, le);
    case 'u64':
    case 'ptr':
      return view.getBigUint64(field.offset, le);
    case 'name': {
      const raw = bytes.subarray(field.offset, field.offset + field.size);
      const nul = raw.indexOf(0);
      return new TextDecoder().decode(nul < 0 ? raw : raw.subarray(0, nul));
    }
    case 'bytes':
      return bytes.slice(field.offset, field.offset + field.size);
  }
}

/** The fields of `layout` that are non-zero in `attr` (pointer fields count when patched). */
export function fieldsSet(layout: Layout, attr: Uint8Array, pointers?: PointerList): Field[] {
  const patched = new Set<number>();
  if (pointers !== undefined) for (let i = 0; i < pointers.length; i += 2) patched.add(pointers[i] as number);
  return layout.ordered.filter((f) => {
    if (f.offset + f.size > attr.byteLength) return false;
    if (f.kind === 'ptr' && patched.has(f.offset)) return true;
    for (let i = f.offset; i < f.offset + f.size; i++) if (attr[i] !== 0) return true;
    return false;
  });
}

/** `name=value` pairs of the non-zero fields, for the syscall debug log. */
export function describeAttr(layout: Layout, attr: Uint8Array, pointers?: PointerList): string {
  const ptrs = new Map<number, Uint8Array | null>();
  if (pointers !== undefined) {
    for (let i = 0; i < pointers.length; i += 2) ptrs.set(pointers[i] as number, pointers[i + 1] as Uint8Array | null);
  }
  return fieldsSet(layout, attr, pointers)
    .map((f) => {
      if (f.kind === 'ptr') {
        const buf = ptrs.get(f.offset);
        return `${f.name}=<${buf == null ? 0 : buf.byteLength} bytes>`;
      }
      const v = readField(attr, f);
      return `${f.name}=${v instanceof Uint8Array ? Buffer.from(v).toString('hex') : typeof v === 'string' ? JSON.stringify(v) : String(v)}`;
    })
    .join(' ');
}

/** Decodes every field of an info struct into a plain object keyed by field name. */
export function decodeStruct<F extends string>(layout: Layout<F>, bytes: Uint8Array): Record<F, number | bigint | string | Uint8Array> {
  const out = {} as Record<F, number | bigint | string | Uint8Array>;
  for (const key of Object.keys(layout.fields) as F[]) out[key] = readField(bytes, layout.fields[key]);
  return out;
}
