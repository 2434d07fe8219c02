/**
 * BTF string tables: reading names by offset (with the split-BTF rule that offsets continue
 * the base table's) and building new, deduplicated tables for marshalling.
 *
 * @module
 */
import { Buffer } from 'node:buffer';
import { ParseError } from '../errors.js';

/**
 * A parsed string table. For split BTF, offsets below the base table's length are the base's
 * strings and the split blob's own strings start at `base.length` (as in the kernel's
 * `btf_name_by_offset` for module BTF).
 */
export class StringTable {
  /** The raw table (for a split table: only the split blob's own part). */
  readonly bytes: Uint8Array;
  /** The table this one continues, for split BTF. */
  readonly base: StringTable | undefined;
  /** The first offset that belongs to this table (the base table's total length). */
  readonly firstOffset: number;
  private readonly text: Buffer;
  private readonly cache = new Map<number, string>();

  /**
   * Checks the table's framing and wraps it. `where` is the absolute offset of the table in
   * the input, for error messages.
   */
  constructor(bytes: Uint8Array, base?: StringTable, where = 0) {
    // The kernel (btf_check_sec_info / btf_parse_str_sec) requires a non-empty table ending
    // in NUL; a base table must also start with the empty string at offset 0. With the
    // trailing NUL checked once, every in-range offset names a terminated string.
    if (base === undefined && (bytes.length === 0 || bytes[0] !== 0)) {
      throw new ParseError('BTF string table must start with an empty string', where);
    }
    if (bytes.length > 0 && bytes[bytes.length - 1] !== 0) {
      throw new ParseError('BTF string table is not NUL-terminated', where + bytes.length - 1);
    }
    this.bytes = bytes;
    this.base = base;
    this.firstOffset = base === undefined ? 0 : base.length;
    this.text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Total length including the base table: one past the largest valid offset. */
  get length(): number {
    return this.firstOffset + this.bytes.length;
  }

  /** True if `offset` names a string of this table or its base. */
  has(offset: number): boolean {
    return offset >= 0 && offset < this.length;
  }

  /** The string at `offset`. Throws {@link ParseError} when out of range. */
  get(offset: number): string {
    if (offset < this.firstOffset) {
      if (this.base !== undefined) return this.base.get(offset);
      // Offset 0 of a split table with no base cannot happen: firstOffset is 0 then.
    }
    const cached = this.cache.get(offset);
    if (cached !== undefined) return cached;
    const local = offset - this.firstOffset;
    if (local < 0 || local >= this.bytes.length) {
      throw new ParseError(`BTF string offset ${offset} is outside the string table (length ${this.length})`);
    }
    const end = this.bytes.indexOf(0, local);
    const s = end === local ? '' : this.text.toString('utf8', local, end);
    this.cache.set(offset, s);
    return s;
  }

  /**
   * The table holding `offset` and the string's start in its bytes (following the base chain
   * for split BTF). The offset must be valid.
   */
  locate(offset: number): [Uint8Array, number] {
    if (offset < this.firstOffset && this.base !== undefined) return this.base.locate(offset);
    return [this.bytes, offset - this.firstOffset];
  }

  /**
   * Every string start in this table (not the base) mapped to its offset, first occurrence
   * wins. Used to reuse the original layout when marshalling a parsed spec.
   */
  offsets(): Map<string, number> {
    const map = new Map<string, number>();
    let start = 0;
    const bytes = this.bytes;
    while (start < bytes.length) {
      let end = bytes.indexOf(0, start);
      if (end < 0) end = bytes.length;
      const s = this.text.toString('utf8', start, end);
      if (!map.has(s)) map.set(s, this.firstOffset + start);
      start = end + 1;
    }
    return map;
  }
}

/**
 * Builds a string table. Strings are deduplicated; offset 0 is the empty string. It can start
 * from an existing table's bytes so that an unmodified spec marshals to identical bytes.
 */
export class StringTableBuilder {
  private readonly chunks: Uint8Array[] = [];
  private readonly lookup: Map<string, number>;
  private readonly baseTable: StringTable | undefined;
  private length: number;
  private readonly firstOffset: number;

  /**
   * `initial`: reuse the strings (and exact bytes) of a parsed table. `base`: for split BTF,
   * strings found in the base table are referenced there and offsets continue after it.
   */
  constructor(options: { initial?: StringTable; base?: StringTable } = {}) {
    const { initial, base } = options;
    this.baseTable = base;
    this.firstOffset = base?.length ?? 0;
    if (initial !== undefined) {
      this.chunks.push(initial.bytes);
      this.length = initial.bytes.length;
      this.lookup = initial.offsets();
    } else {
      this.lookup = new Map();
      this.length = 0;
      if (base === undefined) {
        // Offset 0 must be the empty string in a base table.
        this.chunks.push(new Uint8Array(1));
        this.length = 1;
        this.lookup.set('', 0);
      }
    }
    if (base !== undefined) this.lookup.set('', 0);
  }

  private baseLookup: Map<string, number> | undefined;

  /** The offset of `s`, adding it if new. */
  add(s: string): number {
    const known = this.lookup.get(s);
    if (known !== undefined) return known;
    if (this.baseTable !== undefined) {
      this.baseLookup ??= collectAll(this.baseTable);
      const inBase = this.baseLookup.get(s);
      if (inBase !== undefined) {
        this.lookup.set(s, inBase);
        return inBase;
      }
    }
    const bytes = Buffer.from(`${s}\0`, 'utf8');
    if (bytes.indexOf(0) !== bytes.length - 1) throw new ParseError(`BTF string contains a NUL byte: ${JSON.stringify(s)}`);
    const offset = this.firstOffset + this.length;
    this.chunks.push(bytes);
    this.length += bytes.length;
    this.lookup.set(s, offset);
    return offset;
  }

  /** The table's bytes (without the base). */
  build(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

function collectAll(table: StringTable): Map<string, number> {
  const own = table.offsets();
  if (table.base === undefined) return own;
  const all = collectAll(table.base);
  for (const [s, off] of own) if (!all.has(s)) all.set(s, off);
  return all;
}
