/**
 * Reading raw BTF: the header, one validating pass over the type section that records where
 * each type starts, and a decoder that turns type records into {@link Type} objects on demand.
 *
 * The index pass checks everything a later decode relies on (record bounds, kinds, string
 * offsets, referenced type IDs), so decoding never fails and corrupt input is reported once,
 * up front, as a {@link ParseError} naming the type ID and byte offset.
 *
 * Layout (include/uapi/linux/btf.h):
 * ```
 * struct btf_header { u16 magic=0xeB9F; u8 version=1; u8 flags; u32 hdr_len;
 *                     u32 type_off, type_len, str_off, str_len; }   // offsets after hdr_len
 * struct btf_type   { u32 name_off; u32 info; u32 size_or_type; }   // + kind-specific tail
 * info: vlen bits 0-15, kind bits 24-28, kind_flag bit 31
 * ```
 *
 * @module
 */
import { Buffer } from 'node:buffer';
import { ParseError } from '../errors.js';
import { wasmIndex } from './index-wasm.js';
import { buildNameTable, emptySlot, essentialLength, hashBytes, idBitsFor } from './name-index.js';
import { StringTable } from './strings.js';
import {
  Array as ArrayType,
  Composite,
  Const,
  Datasec,
  DeclTag,
  Enum,
  Enum64,
  Float,
  Func,
  FuncProto,
  Fwd,
  Int,
  Kind,
  Member,
  Pointer,
  Restrict,
  Struct,
  Type,
  TypeTag,
  Typedef,
  Union,
  Var,
  VarSecinfo,
  Volatile,
  VOID,
  kindName,
  mapChildren,
  type FuncLinkage,
  type VarLinkage,
} from './types.js';
import { dataView } from '../internal/bytes.js';
import type { KernelBTFIndex } from '../internal/kernel-btf-index.js';

/** `BTF_MAGIC`. */
export const btfMagic = 0xeb9f;
/** Size of the version-1 header; `hdr_len` may be larger for future fields. */
export const btfHeaderSize = 24;
/** Size of `struct btf_type` without its kind-specific tail. */
export const btfTypeSize = 12;
/** The highest kind number this library understands (`BTF_KIND_ENUM64`). */
export const maxKind = Kind.Enum64;

/** Byte order of a BTF blob or ELF file. */
export type ByteOrder = 'little' | 'big';

/** The decoded `struct btf_header`. */
export interface BTFHeader {
  /** Format version (1). */
  version: number;
  /** Header flags (unused by the kernel so far, kept for round trips). */
  flags: number;
  /** Header length in bytes. */
  headerLength: number;
  /** Type section offset, relative to the end of the header. */
  typeOffset: number;
  /** Type section length. */
  typeLength: number;
  /** String section offset, relative to the end of the header. */
  stringOffset: number;
  /** String section length. */
  stringLength: number;
}

/** Detects the byte order from the magic number; undefined if it is not BTF. */
export function detectByteOrder(bytes: Uint8Array): ByteOrder | undefined {
  if (bytes.length < 2) return undefined;
  if (bytes[0] === 0x9f && bytes[1] === 0xeb) return 'little';
  if (bytes[0] === 0xeb && bytes[1] === 0x9f) return 'big';
  return undefined;
}

/** Reads and checks the header. Throws {@link ParseError} for anything inconsistent. */
export function parseHeader(bytes: Uint8Array): {
  /** The decoded header. */
  header: BTFHeader;
  /** The byte order the magic number was found in. */
  byteOrder: ByteOrder;
} {
  if (bytes.length < btfHeaderSize) {
    throw new ParseError(`BTF header truncated: ${bytes.length} bytes, need ${btfHeaderSize}`, 0);
  }
  const byteOrder = detectByteOrder(bytes);
  if (byteOrder === undefined) {
    throw new ParseError(`not BTF: bad magic 0x${((bytes[0]! << 8) | bytes[1]!).toString(16)}`, 0);
  }
  const view = dataView(bytes);
  const le = byteOrder === 'little';
  const header: BTFHeader = {
    version: bytes[2]!,
    flags: bytes[3]!,
    headerLength: view.getUint32(4, le),
    typeOffset: view.getUint32(8, le),
    typeLength: view.getUint32(12, le),
    stringOffset: view.getUint32(16, le),
    stringLength: view.getUint32(20, le),
  };
  if (header.version !== 1) throw new ParseError(`unsupported BTF version ${header.version}`, 2);
  if (header.headerLength < btfHeaderSize || header.headerLength > bytes.length) {
    throw new ParseError(`BTF hdr_len ${header.headerLength} out of range (file is ${bytes.length} bytes)`, 4);
  }
  const body = bytes.length - header.headerLength;
  if (header.typeOffset % 4 !== 0) throw new ParseError(`BTF type_off ${header.typeOffset} is not 4-byte aligned`, 8);
  if (header.typeOffset + header.typeLength > body) {
    throw new ParseError(
      `BTF type section [${header.typeOffset}, +${header.typeLength}) runs past the end of the data (${body} bytes after the header)`,
      8,
    );
  }
  if (header.stringOffset + header.stringLength > body) {
    throw new ParseError(
      `BTF string section [${header.stringOffset}, +${header.stringLength}) runs past the end of the data (${body} bytes after the header)`,
      16,
    );
  }
  const t0 = header.typeOffset;
  const t1 = t0 + header.typeLength;
  const s0 = header.stringOffset;
  const s1 = s0 + header.stringLength;
  if (header.typeLength > 0 && header.stringLength > 0 && t0 < s1 && s0 < t1) {
    throw new ParseError('BTF type and string sections overlap', 8);
  }
  return { header, byteOrder };
}

/**
 * The result of the index pass over one BTF blob: where every type starts, its name offset,
 * and a decoder for on-demand materialisation. Type IDs of this blob are `firstId ..
 * firstId + count - 1`; for split BTF, `firstId` continues the base's numbering.
 */
export class RawTypes {
  /**
   * The whole input blob. For kernel BTF it may be a read-only mapping of /sys/kernel/btf/*:
   * never write to it (that would fault).
   */
  readonly bytes: Uint8Array;
  /** Byte order of the blob. */
  readonly byteOrder: ByteOrder;
  /** The parsed header. */
  readonly header: BTFHeader;
  /** The exact header bytes, re-emitted by marshal for a byte-identical round trip. */
  readonly headerBytes: Uint8Array;
  /** The string table (chained to the base table for split BTF). */
  readonly strings: StringTable;
  /** The ID of the first type of this blob (1, or the base's type count for split BTF). */
  readonly firstId: number;
  // The whole index (offsets, name offsets, each kind's largest name offset): from the index
  // pass, or computed on first need when the spec started from a kept index.
  private whole: { offsets: Uint32Array; names: Uint32Array; maxNames?: Uint32Array } | undefined;
  // A kept index (ParseOptions.index) while nothing in it has proved wrong, and the record
  // offsets found from its checkpoints so far (0: not yet; no record starts at 0).
  private kept: KernelBTFIndex | undefined;
  private keptOffsets: Uint32Array | undefined;
  private readonly recordCount: number;
  private readonly sectionStart: number;
  private readonly sectionEnd: number;
  private readonly verified: boolean;
  private readonly view: DataView;
  private readonly le: boolean;

  /**
   * Parses and validates `bytes`. `base` is the decoder of the base blob for split BTF; its
   * types and strings are referenced, not copied. With `verified` (BTF the kernel checked when
   * it loaded it, as in /sys/kernel/btf/*) the index pass skips the records inside each type
   * (members, parameters, enumerators): decoding a type checks its own; `known` is then an
   * index an earlier process made of the same bytes, used instead of the index pass when its
   * shape fits (each part is checked against the bytes when it is used, see offsetOf and
   * keptNameIds). Made by the spec's parser (`parseBTF`, `loadKernelSpec`). @internal
   */
  constructor(bytes: Uint8Array, base?: { strings: StringTable; typeCount: number }, verified = false, known?: KernelBTFIndex) {
    const { header, byteOrder } = parseHeader(bytes);
    this.bytes = bytes;
    this.byteOrder = byteOrder;
    this.header = header;
    this.headerBytes = bytes.slice(0, header.headerLength);
    this.le = byteOrder === 'little';
    this.view = dataView(bytes);
    this.verified = verified;
    const strStart = header.headerLength + header.stringOffset;
    this.strings = new StringTable(bytes.subarray(strStart, strStart + header.stringLength), base?.strings, strStart);
    this.firstId = base === undefined ? 1 : base.typeCount;
    this.sectionStart = header.headerLength + header.typeOffset;
    this.sectionEnd = this.sectionStart + header.typeLength;
    if (known !== undefined && verified && base === undefined && this.fits(known)) {
      this.kept = known;
      this.keptOffsets = new Uint32Array(known.count);
    }
    // The last stride must end at the section's end: that checks the type count.
    if (this.kept !== undefined && this.walkStride(this.kept.checkpoints.length - 2)) {
      this.recordCount = this.kept.count;
      this.reusedIndex = true;
    } else {
      this.distrust();
      this.whole = this.index(verified);
      this.recordCount = this.whole.offsets.length;
      this.reusedIndex = false;
    }
  }

  /** Whether the index came from an earlier process (see ParseOptions.index). @internal */
  readonly reusedIndex: boolean;

  /** Each kind's largest name offset, when the index pass found them. @internal */
  get maxNameOffsets(): Uint32Array | undefined {
    return this.whole?.maxNames;
  }

  /** Absolute byte offset of each type record, indexed by `id - firstId`. */
  get offsets(): Uint32Array {
    return this.wholeIndex().offsets;
  }

  /** `name_off` of each type, indexed by `id - firstId`. */
  get nameOffsets(): Uint32Array {
    return this.wholeIndex().names;
  }

  private wholeIndex(): { offsets: Uint32Array; names: Uint32Array; maxNames?: Uint32Array } {
    if (this.whole === undefined) {
      const whole = this.index(this.verified);
      // A kept index of another type count cannot have passed fits(); stay consistent anyway.
      if (whole.offsets.length !== this.recordCount) throw new ParseError('BTF type count changed under a kept index');
      this.whole = whole;
    }
    return this.whole;
  }

  /**
   * Whether a kept index has the shape of one made of these bytes: its type count fits the
   * section, its first checkpoint is the section's start and its last the section's end, with
   * one checkpoint per stride between, and its name table is a power of two long. What its
   * checkpoints and names say is checked when they are used.
   */
  private fits(known: KernelBTFIndex): boolean {
    const { count, strideLog2, checkpoints, names } = known;
    if (!Number.isInteger(count) || count <= 0 || count * btfTypeSize > this.header.typeLength) return false;
    if (!Number.isInteger(strideLog2) || strideLog2 < 0 || strideLog2 > 16) return false;
    if (checkpoints.length !== Math.ceil(count / 2 ** strideLog2) + 1) return false;
    if (checkpoints[0] !== this.sectionStart || checkpoints[checkpoints.length - 1] !== this.sectionEnd) return false;
    if (names.length < 2 || (names.length & (names.length - 1)) !== 0 || names.length < count / 4) return false;
    return idBitsFor(this.firstId + count) <= 24;
  }

  /** Stops using a kept index that proved wrong: the whole index is computed from now on. */
  private distrust(): void {
    this.kept = undefined;
    this.keptOffsets = undefined;
  }

  /**
   * The byte offset of type `id`'s record (which must belong to this blob). From a kept index,
   * the records of the checkpoint's stride are walked (kind, length and name of each checked,
   * as the index pass does) and must end exactly at the next checkpoint; if they do not, the
   * kept index is dropped and the whole index computed.
   */
  offsetOf(id: number): number {
    const i = id - this.firstId;
    const found = this.keptOffsets;
    if (found !== undefined) {
      const at = found[i]!;
      if (at !== 0) return at;
      if (this.walkStride(i >>> this.kept!.strideLog2)) return found[i]!;
      this.distrust();
    }
    return this.wholeIndex().offsets[i]!;
  }

  // Fills keptOffsets for stride `s` from its checkpoint; false if the records do not fit.
  private walkStride(s: number): boolean {
    const { strideLog2, checkpoints, count } = this.kept!;
    const found = this.keptOffsets!;
    const first = s << strideLog2;
    const last = Math.min(count, first + (1 << strideLog2));
    const end = checkpoints[s + 1]!;
    const strLen = this.strings.length;
    let at = checkpoints[s]!;
    if (at < this.sectionStart || (at - this.sectionStart) % 4 !== 0) return false;
    for (let i = first; i < last; i++) {
      const next = this.recordEnd(at, end);
      if (next < 0 || this.view.getUint32(at, this.le) >= strLen) return false;
      found[i] = at;
      at = next;
    }
    return at === end;
  }

  // Where the record at `at` ends, or -1 for an unknown kind or one running past `end`.
  private recordEnd(at: number, end: number): number {
    if (at + btfTypeSize > end) return -1;
    const info = this.view.getUint32(at + 4, this.le);
    const tail = tailLength((info >>> 24) & 0x1f, info & 0xffff);
    return tail < 0 || at + btfTypeSize + tail > end ? -1 : at + btfTypeSize + tail;
  }

  /**
   * IDs of the types whose essential name is `essential`, from a kept index's name table, or
   * undefined without one (then the caller searches). Every slot probed is checked against the
   * BTF: a valid ID of a named type whose own name hashes to what the slot says; a slot that
   * fails drops the kept index (undefined). @internal
   */
  keptNameIds(essential: string): number[] | undefined {
    const table = this.kept?.names;
    if (table === undefined) return undefined;
    const query = Buffer.from(essential, 'utf8');
    const out: number[] = [];
    if (query.length === 0) return out;
    const h = hashBytes(query, 0, query.length);
    const endId = this.firstId + this.recordCount;
    const idBits = idBitsFor(endId);
    const idMask = 2 ** idBits - 1;
    const mask = table.length - 1;
    for (let j = h & mask, probes = 0; table[j] !== emptySlot; j = (j + 1) & mask) {
      const slot = table[j]!;
      const id = slot & idMask;
      if (id < this.firstId || id >= endId || ++probes > table.length) return this.distrustNames();
      const at = this.offsetOf(id);
      if (this.kept === undefined) return undefined; // its checkpoints proved wrong
      const nameOff = this.view.getUint32(at, this.le);
      if (nameOff === 0) return this.distrustNames();
      const [bytes, start] = this.strings.locate(nameOff);
      const length = essentialLength(bytes, start);
      const real = hashBytes(bytes, start, length);
      if (real >>> idBits !== slot >>> idBits) return this.distrustNames();
      if (real !== h || length !== query.length) continue;
      let same = true;
      for (let k = 0; same && k < length; k++) same = bytes[start + k] === query[k];
      if (same) out.push(id);
    }
    return out.sort((a, b) => a - b);
  }

  private distrustNames(): undefined {
    this.distrust();
    return undefined;
  }

  /**
   * What a later process of the boot can keep of this blob's index (see
   * internal/kernel-btf-index.ts): checkpoints every 2^strideLog2 records and the name table.
   * Undefined when the blob has too many types for the table. @internal
   */
  keptIndex(strideLog2 = 5): KernelBTFIndex | undefined {
    const { offsets, names } = this.wholeIndex();
    const table = buildNameTable(this.strings, names, this.firstId);
    if (table === undefined) return undefined;
    const n = offsets.length;
    const stride = 2 ** strideLog2;
    const checkpoints = new Uint32Array(Math.ceil(n / stride) + 1);
    for (let s = 0; s * stride < n; s++) checkpoints[s] = offsets[s * stride]!;
    checkpoints[checkpoints.length - 1] = this.sectionEnd;
    return { count: n, strideLog2, checkpoints, names: table };
  }

  /** Number of types in this blob (not counting void or base types). */
  get count(): number {
    return this.recordCount;
  }

  /** One past the largest type ID of this blob. */
  get endId(): number {
    return this.firstId + this.recordCount;
  }

  /** The kind of type `id` (which must belong to this blob). */
  kindOf(id: number): Kind {
    return ((this.view.getUint32(this.offsetOf(id) + 4, this.le) >>> 24) & 0x1f) as Kind;
  }

  /**
   * The largest name offset among this blob's types of `kinds`, or undefined when unknown: a
   * name lookup for those kinds need not search the string table past it (in the kernel's BTF,
   * the names of structs, unions, enums and typedefs all sit in the first half, before the
   * functions' names).
   */
  maxNameOffset(kinds: readonly Kind[]): number | undefined {
    const max = this.whole?.maxNames;
    if (max === undefined) return undefined;
    let m = 0;
    for (const k of kinds) m = Math.max(m, max[k] ?? 0);
    return m;
  }

  /** The name of type `id` (which must belong to this blob). */
  nameOf(id: number): string {
    return this.strings.get(this.view.getUint32(this.offsetOf(id), this.le));
  }

  private index(verified: boolean): { offsets: Uint32Array; names: Uint32Array; maxNames?: Uint32Array } {
    const { view, le, bytes } = this;
    const start = this.header.headerLength + this.header.typeOffset;
    const end = start + this.header.typeLength;
    const strLen = this.strings.length;
    // Fast paths for the common case (kernel BTF of a little-endian machine): they only
    // accept; on anything odd the checked pass below runs and reports the problem precisely.
    // WebAssembly for big sections (fast from its first iteration, see index-wasm.ts; setting
    // up an instance costs a few hundred microseconds, more than a small object's whole pass),
    // then whole words in host order.
    if (le && this.header.typeLength >= wasmIndexMinBytes) {
      const fast = wasmIndex(bytes, start, end, strLen, this.firstId, { verified });
      if (fast !== undefined) return fast;
    }
    const maxTypes = Math.floor(this.header.typeLength / btfTypeSize);
    const offsets = new Uint32Array(maxTypes);
    const names = new Uint32Array(maxTypes);
    if (le === hostIsLittleEndian && (bytes.byteOffset + start) % 4 === 0 && this.header.typeLength % 4 === 0) {
      const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2);
      const count = indexWords(words, start >>> 2, end >>> 2, strLen, this.firstId, offsets, names, verified);
      if (count >= 0) return { offsets: offsets.slice(0, count), names: names.slice(0, count) };
    }
    let n = 0;
    let at = start;
    // The largest referenced type ID and where it was seen; checked once the count is known.
    let maxRef = 0;
    let maxRefFrom = 0;
    let maxRefAt = 0;
    const ref = (id: number, from: number, where: number): void => {
      if (id > maxRef) {
        maxRef = id;
        maxRefFrom = from;
        maxRefAt = where;
      }
    };
    const checkName = (off: number, id: number, where: number, what: string): void => {
      if (off >= strLen) {
        throw new ParseError(`BTF type ${id}: ${what} name offset ${off} is past the end of the string table (${strLen} bytes)`, where);
      }
    };
    while (at < end) {
      const id = this.firstId + n;
      if (at + btfTypeSize > end) {
        throw new ParseError(`BTF type ${id} truncated: ${end - at} bytes left, need ${btfTypeSize}`, at);
      }
      const nameOff = view.getUint32(at, le);
      const info = view.getUint32(at + 4, le);
      const sizeType = view.getUint32(at + 8, le);
      const kind = (info >>> 24) & 0x1f;
      const vlen = info & 0xffff;
      checkName(nameOff, id, at, 'type');
      const tail = tailLength(kind, vlen);
      if (tail < 0) throw new ParseError(`BTF type ${id} has unknown kind ${kind}`, at + 4);
      const body = at + btfTypeSize;
      if (body + tail > end) {
        throw new ParseError(
          `BTF type ${id} (${kindName(kind)}, vlen ${vlen}) runs past the end of the type section: needs ${tail} more bytes, ${end - body} left`,
          at,
        );
      }
      switch (kind) {
        case Kind.Int: {
          const v = view.getUint32(body, le);
          const bits = v & 0xff;
          const offset = (v >>> 16) & 0xff;
          if (bits > 128 || bits + offset > sizeType * 8) {
            throw new ParseError(`BTF type ${id}: int with ${bits} bits at bit offset ${offset} does not fit ${sizeType} bytes`, body);
          }
          break;
        }
        case Kind.Pointer:
        case Kind.Typedef:
        case Kind.Volatile:
        case Kind.Const:
        case Kind.Restrict:
        case Kind.Func:
        case Kind.TypeTag:
        case Kind.Var:
        case Kind.DeclTag:
          ref(sizeType, id, at + 8);
          break;
        case Kind.Array:
          ref(view.getUint32(body, le), id, body);
          ref(view.getUint32(body + 4, le), id, body + 4);
          break;
        case Kind.Struct:
        case Kind.Union:
          for (let i = 0, p = body; i < vlen; i++, p += 12) {
            checkName(view.getUint32(p, le), id, p, `member ${i}`);
            ref(view.getUint32(p + 4, le), id, p + 4);
          }
          break;
        case Kind.Enum:
          for (let i = 0, p = body; i < vlen; i++, p += 8) checkName(view.getUint32(p, le), id, p, `enumerator ${i}`);
          break;
        case Kind.Enum64:
          for (let i = 0, p = body; i < vlen; i++, p += 12) checkName(view.getUint32(p, le), id, p, `enumerator ${i}`);
          break;
        case Kind.FuncProto:
          ref(sizeType, id, at + 8);
          for (let i = 0, p = body; i < vlen; i++, p += 8) {
            checkName(view.getUint32(p, le), id, p, `parameter ${i}`);
            ref(view.getUint32(p + 4, le), id, p + 4);
          }
          break;
        case Kind.Datasec:
          for (let i = 0, p = body; i < vlen; i++, p += 12) ref(view.getUint32(p, le), id, p);
          break;
      }
      offsets[n] = at;
      names[n] = nameOff;
      n++;
      at = body + tail;
    }
    const endId = this.firstId + n;
    if (maxRef >= endId) {
      throw new ParseError(`BTF type ${maxRefFrom} references type ID ${maxRef}, but the last type ID is ${endId - 1}`, maxRefAt);
    }
    return { offsets: offsets.slice(0, n), names: names.slice(0, n) };
  }

  /**
   * Decodes type `id` and what it references into objects, reusing `cache` so shared types
   * and cycles map to one object each (a spec keeps one decoder for all its lookups instead of
   * calling this for each type). `lookup` resolves IDs outside this blob (void and base types).
   */
  decode(id: number, cache: (Type | undefined)[], lookup: (id: number) => Type, onNew: (id: number, t: Type) => void): Type {
    return new TypeDecoder(this, cache, lookup, onNew).decode(id);
  }

  /**
   * `ref`, if it is a type ID of this blob or below. A referenced ID past the last type is
   * rejected by the index pass, except inside the records of verified BTF: those are checked
   * here, when their type is decoded. @internal
   */
  checkRef(ref: number): number {
    if (ref >= this.endId) throw new ParseError(`BTF type ID ${ref} is referenced, but the last type ID is ${this.endId - 1}`);
    return ref;
  }

  /**
   * Creates the object for one type record with void placeholders for its references and
   * appends the referenced IDs to `refs`, in the order {@link mapChildren} visits them. Members
   * resolve their types through `member` when first read. @internal
   */
  shell(id: number, refs: number[], member: (ref: number) => Type): Type {
    const { view, le } = this;
    const at = this.offsetOf(id);
    const name = this.strings.get(view.getUint32(at, le));
    const info = view.getUint32(at + 4, le);
    const sizeType = view.getUint32(at + 8, le);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const kindFlag = info >>> 31 === 1;
    const body = at + btfTypeSize;
    switch (kind) {
      case Kind.Int: {
        const v = view.getUint32(body, le);
        return new Int(name, sizeType, (v >>> 24) & 0x0f, v & 0xff, (v >>> 16) & 0xff);
      }
      case Kind.Pointer:
        refs.push(sizeType);
        return named(new Pointer(VOID), name);
      case Kind.Array:
        refs.push(view.getUint32(body, le), view.getUint32(body + 4, le));
        return named(new ArrayType(VOID, VOID, view.getUint32(body + 8, le)), name);
      case Kind.Struct:
      case Kind.Union: {
        const t = kind === Kind.Struct ? new Struct(name, sizeType, [], kindFlag) : new Union(name, sizeType, [], kindFlag);
        // Members (their names, Member objects) are decoded when first read: most structs a
        // lookup reaches are only passed through (a member's type, a pointer's target).
        if (vlen > 0) deferMembers(t, () => this.members(body, vlen, kindFlag, member));
        return t;
      }
      case Kind.Enum: {
        const values = new Array<{ name: string; value: number }>(vlen);
        for (let i = 0, p = body; i < vlen; i++, p += 8) {
          values[i] = {
            name: this.strings.get(view.getUint32(p, le)),
            value: kindFlag ? view.getInt32(p + 4, le) : view.getUint32(p + 4, le),
          };
        }
        return new Enum(name, sizeType, values, kindFlag);
      }
      case Kind.Enum64: {
        const values = new Array<{ name: string; value: bigint }>(vlen);
        for (let i = 0, p = body; i < vlen; i++, p += 12) {
          const raw = (BigInt(view.getUint32(p + 8, le)) << 32n) | BigInt(view.getUint32(p + 4, le));
          values[i] = { name: this.strings.get(view.getUint32(p, le)), value: kindFlag ? BigInt.asIntN(64, raw) : raw };
        }
        return new Enum64(name, sizeType, values, kindFlag);
      }
      case Kind.Fwd:
        return new Fwd(name, kindFlag ? 'union' : 'struct');
      case Kind.Typedef:
        refs.push(sizeType);
        return new Typedef(name, VOID);
      case Kind.Volatile:
        refs.push(sizeType);
        return named(new Volatile(VOID), name);
      case Kind.Const:
        refs.push(sizeType);
        return named(new Const(VOID), name);
      case Kind.Restrict:
        refs.push(sizeType);
        return named(new Restrict(VOID), name);
      case Kind.Func:
        refs.push(sizeType);
        return new Func(name, VOID, vlen as FuncLinkage);
      case Kind.FuncProto: {
        refs.push(sizeType);
        const params: { name: string; type: Type }[] = [];
        let variadic = false;
        for (let i = 0, p = body; i < vlen; i++, p += 8) {
          const pname = view.getUint32(p, le);
          const ptype = view.getUint32(p + 4, le);
          // btf.rst: a trailing parameter with name_off 0 and type 0 marks `...`.
          if (i === vlen - 1 && pname === 0 && ptype === 0) {
            variadic = true;
            break;
          }
          refs.push(ptype);
          params.push({ name: this.strings.get(pname), type: VOID });
        }
        return named(new FuncProto(VOID, params, variadic), name);
      }
      case Kind.Var:
        refs.push(sizeType);
        return new Var(name, VOID, view.getUint32(body, le) as VarLinkage);
      case Kind.Datasec: {
        const vars: VarSecinfo[] = new Array<VarSecinfo>(vlen);
        for (let i = 0, p = body; i < vlen; i++, p += 12) {
          refs.push(view.getUint32(p, le));
          vars[i] = new VarSecinfo(VOID, view.getUint32(p + 4, le), view.getUint32(p + 8, le));
        }
        return new Datasec(name, sizeType, vars);
      }
      case Kind.Float:
        return new Float(name, sizeType);
      case Kind.DeclTag:
        refs.push(sizeType);
        return new DeclTag(name, VOID, view.getInt32(body, le), kindFlag);
      case Kind.TypeTag:
        refs.push(sizeType);
        return new TypeTag(name, VOID, kindFlag);
      default:
        // The index pass rejected unknown kinds already.
        throw new ParseError(`BTF type ${id} has unknown kind ${kind}`, at + 4);
    }
  }

  // The members of the struct or union whose `vlen` member records start at `body`.
  private members(body: number, vlen: number, kindFlag: boolean, member: (ref: number) => Type): Member[] {
    const { view, le } = this;
    const members: Member[] = new Array<Member>(vlen);
    for (let i = 0, p = body; i < vlen; i++, p += 12) {
      const off = view.getUint32(p + 8, le);
      const ref = view.getUint32(p + 4, le);
      members[i] = kindFlag
        ? Member.deferred(this.strings.get(view.getUint32(p, le)), off & 0xffffff, off >>> 24, member, ref)
        : Member.deferred(this.strings.get(view.getUint32(p, le)), off, 0, member, ref);
    }
    return members;
  }
}

/**
 * Turns one blob's type records into {@link Type} objects on demand, into a spec's `cache` (by
 * ID) so that shared types and cycles map to one object each. Struct and union members are the
 * exception: their types are decoded when first read (see {@link Member}), so decoding stops at
 * composites instead of pulling in everything they reach. Work is iterative (a queue of types
 * whose references are not filled in yet), so deep graphs such as `struct task_struct` cannot
 * overflow the stack. A spec keeps one for its lifetime: nothing here is rebuilt per type.
 */
export class TypeDecoder {
  /** Resolves a member's type ID when the member's type is first read. */
  readonly member: (ref: number) => Type;

  /**
   * `lookup` resolves IDs outside the blob (void and base types); `onNew` is told of every type
   * decoded.
   */
  constructor(
    private readonly raw: RawTypes,
    private readonly cache: (Type | undefined)[],
    private readonly lookup: (id: number) => Type,
    private readonly onNew: (id: number, t: Type) => void,
  ) {
    this.member = (ref) => (ref < raw.firstId ? (ref === 0 ? VOID : lookup(ref)) : (cache[ref] ?? this.decode(raw.checkRef(ref))));
  }

  /** Type `id` of the blob (decoded with what it references, or from the cache). */
  decode(id: number): Type {
    const pending: { type: Type; refs: number[] }[] = [];
    const root = this.get(id, pending);
    while (pending.length > 0) {
      const { type, refs } = pending.pop()!;
      let i = 0;
      mapChildren(type, () => this.get(refs[i++]!, pending));
    }
    return root;
  }

  private get(ref: number, pending: { type: Type; refs: number[] }[]): Type {
    const raw = this.raw;
    if (ref < raw.firstId) return ref === 0 ? VOID : this.lookup(ref);
    const known = this.cache[ref];
    if (known !== undefined) return known;
    const refs: number[] = [];
    const t = raw.shell(raw.checkRef(ref), refs, this.member);
    this.cache[ref] = t;
    this.onNew(ref, t);
    if (refs.length > 0) pending.push({ type: t, refs });
    return t;
  }
}

// Bytes after the 12-byte header of a record of `kind` with `vlen` records; -1 for a kind this
// library does not know.
function tailLength(kind: number, vlen: number): number {
  switch (kind) {
    case Kind.Int:
    case Kind.Var:
    case Kind.DeclTag:
      return 4;
    case Kind.Array:
      return 12;
    case Kind.Struct:
    case Kind.Union:
    case Kind.Enum64:
    case Kind.Datasec:
      return vlen * 12;
    case Kind.Enum:
    case Kind.FuncProto:
      return vlen * 8;
    case Kind.Pointer:
    case Kind.Typedef:
    case Kind.Volatile:
    case Kind.Const:
    case Kind.Restrict:
    case Kind.Func:
    case Kind.TypeTag:
    case Kind.Fwd:
    case Kind.Float:
      return 0;
    default:
      return -1;
  }
}

// Type sections from this size on are indexed by WebAssembly (kernel and big module BTF).
const wasmIndexMinBytes = 256 * 1024;

const hostIsLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * The index pass over a type section already in host byte order, on 32-bit words: the same
 * checks as the general pass (record bounds, kinds, name offsets, int encodings, the largest
 * referenced ID), with plain locals and typed-array reads so V8 optimises it early (the
 * kernel's ~126k types are indexed in a few milliseconds). Fills `offsets` (byte offsets
 * into the blob) and `names`; returns the type count, or -1 if anything is wrong.
 */
function indexWords(
  words: Uint32Array,
  startWord: number,
  endWord: number,
  strLen: number,
  firstId: number,
  offsets: Uint32Array,
  names: Uint32Array,
  verified: boolean,
): number {
  let w = startWord;
  let n = 0;
  let maxRef = 0;
  while (w < endWord) {
    if (w + 3 > endWord) return -1;
    const nameOff = words[w]!;
    const info = words[w + 1]!;
    const sizeType = words[w + 2]!;
    if (nameOff >= strLen) return -1;
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const body = w + 3;
    let tail = 0;
    switch (kind) {
      case Kind.Int: {
        tail = 1;
        if (body + 1 > endWord) return -1;
        const v = words[body]!;
        const bits = v & 0xff;
        if (bits > 128 || bits + ((v >>> 16) & 0xff) > sizeType * 8) return -1;
        break;
      }
      case Kind.Pointer:
      case Kind.Typedef:
      case Kind.Volatile:
      case Kind.Const:
      case Kind.Restrict:
      case Kind.Func:
      case Kind.TypeTag:
        if (sizeType > maxRef) maxRef = sizeType;
        break;
      case Kind.Var:
      case Kind.DeclTag:
        tail = 1;
        if (sizeType > maxRef) maxRef = sizeType;
        break;
      case Kind.Array: {
        tail = 3;
        if (body + 3 > endWord) return -1;
        const a = words[body]!;
        const b = words[body + 1]!;
        if (a > maxRef) maxRef = a;
        if (b > maxRef) maxRef = b;
        break;
      }
      case Kind.Struct:
      case Kind.Union:
      case Kind.FuncProto: {
        // Records of (name_off, type, …): 3 words for members, 2 for parameters.
        tail = kind === Kind.FuncProto ? vlen * 2 : vlen * 3;
        if (body + tail > endWord) return -1;
        if (kind === Kind.FuncProto && sizeType > maxRef) maxRef = sizeType;
        if (verified) break;
        const m = namedRefs(words, body, body + tail, tail === vlen * 2 ? 2 : 3, strLen);
        if (m < 0) return -1;
        if (m > maxRef) maxRef = m;
        break;
      }
      case Kind.Enum:
      case Kind.Enum64:
        tail = kind === Kind.Enum ? vlen * 2 : vlen * 3;
        if (body + tail > endWord) return -1;
        if (!verified && namedRefs(words, body, body + tail, kind === Kind.Enum ? 2 : 3, strLen, false) < 0) return -1;
        break;
      case Kind.Datasec: {
        tail = vlen * 3;
        if (body + tail > endWord) return -1;
        if (verified) break;
        // Secinfos are (type, offset, size): reuse the walk with "type" in the name slot.
        for (let p = body, e = body + tail; p < e; p += 3) {
          const t = words[p]!;
          if (t > maxRef) maxRef = t;
        }
        break;
      }
      case Kind.Fwd:
      case Kind.Float:
        break;
      default:
        return -1;
    }
    if (body + tail > endWord) return -1;
    offsets[n] = w * 4;
    names[n] = nameOff;
    n++;
    w = body + tail;
  }
  return maxRef >= firstId + n ? -1 : n;
}

/**
 * Checks the name offsets of `(name_off, type, …)` records in `words[from..to)` (`stride`
 * words each) and returns the largest type ID they reference (0 with `refs` false), or -1 for
 * a name past the string table. Its own small function so V8 compiles it early: in a cold
 * process this loop over the kernel's ~600k members dominates the index pass.
 */
function namedRefs(words: Uint32Array, from: number, to: number, stride: number, strLen: number, refs = true): number {
  let max = 0;
  for (let p = from; p < to; p += stride) {
    if (words[p]! >= strLen) return -1;
    if (refs) {
      const t = words[p + 1]!;
      if (t > max) max = t;
    }
  }
  return max;
}

// Composites whose members are decoded on first access, and how (see deferMembers).
const pendingMembers = new WeakMap<Composite, () => Member[]>();

function settle(c: Composite, members: Member[]): void {
  pendingMembers.delete(c);
  Object.defineProperty(c, 'members', { value: members, writable: true, enumerable: true, configurable: true });
}

// One accessor for every deferred composite: the first read decodes, any write replaces; both
// leave `members` an ordinary data property again.
const deferredMembers: PropertyDescriptor = {
  get(this: Composite): Member[] {
    const members = pendingMembers.get(this)!();
    settle(this, members);
    return members;
  },
  set(this: Composite, members: Member[]): void {
    settle(this, members);
  },
  enumerable: true,
  configurable: true,
};

/**
 * Makes `composite.members` the result of `decode()`, called when the members are first read
 * (used by the BTF decoder: reaching a struct through a member or pointer then costs its own
 * record, not a name and a {@link Member} for each of its members until someone asks). The
 * property stays an own, enumerable one, so copies, comparisons and JSON see the members.
 */
function deferMembers(composite: Composite, decode: () => Member[]): void {
  pendingMembers.set(composite, decode);
  Object.defineProperty(composite, 'members', deferredMembers);
}

// Kinds that are anonymous in valid BTF may still carry a name in odd input; keep it so the
// round trip stays exact.
function named<T extends Type>(t: T, name: string): T {
  if (name !== '') t.name = name;
  return t;
}
