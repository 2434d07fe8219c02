/**
 * A compact index from essential type names to type IDs, built straight from the string
 * table's bytes: names are hashed without being decoded into JS strings, which is what makes
 * indexing the kernel's ~126k types cost milliseconds instead of a hundred. Collisions are
 * resolved by comparing the candidate's bytes with the query on lookup.
 *
 * @module
 */
import { Buffer } from 'node:buffer';
import type { StringTable } from './strings.js';

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/**
 * Length of the essential part of a NUL-terminated name starting at `start`: up to the last
 * `___` if there is one after the first byte (libbpf's `bpf_core_essential_name_len`).
 */
export function essentialLength(bytes: Uint8Array, start: number): number {
  let end = start;
  let cut = -1;
  while (end < bytes.length && bytes[end] !== 0) {
    if (bytes[end] === 0x5f && bytes[end + 1] === 0x5f && bytes[end + 2] === 0x5f && end > start) cut = end;
    end++;
  }
  return cut < 0 ? end - start : cut - start;
}

/** FNV-1a of `bytes[start, start + length)`: the hash of every name index here. */
export function hashBytes(bytes: Uint8Array, start: number, length: number): number {
  let h = FNV_OFFSET;
  for (let i = start, e = start + length; i < e; i++) h = Math.imul(h ^ bytes[i]!, FNV_PRIME);
  return h >>> 0;
}

/** Hash chains over the name offsets of one parsed blob's types. */
export class NameIndex {
  private readonly heads: Int32Array;
  private readonly next: Int32Array;
  private readonly hashes: Uint32Array;
  private readonly mask: number;

  /**
   * Indexes `nameOffsets` (one per type, index `i` is type `firstId + i`) whose strings live
   * in `strings`. Anonymous types (offset 0) are skipped.
   */
  constructor(
    private readonly strings: StringTable,
    private readonly nameOffsets: Uint32Array,
    private readonly firstId: number,
  ) {
    const n = nameOffsets.length;
    let size = 1024;
    while (size < n * 2) size *= 2;
    this.mask = size - 1;
    this.heads = new Int32Array(size).fill(-1);
    this.next = new Int32Array(n);
    this.hashes = new Uint32Array(n);
    let lastOff = -1;
    let lastHash = 0;
    // Walk backwards so each chain lists IDs in ascending order.
    for (let i = n - 1; i >= 0; i--) {
      const off = nameOffsets[i]!;
      if (off === 0) continue;
      let h: number;
      if (off === lastOff) {
        h = lastHash;
      } else {
        const [bytes, start] = strings.locate(off);
        h = hashBytes(bytes, start, essentialLength(bytes, start));
        lastOff = off;
        lastHash = h;
      }
      this.hashes[i] = h;
      const bucket = h & this.mask;
      this.next[i] = this.heads[bucket]!;
      this.heads[bucket] = i;
    }
  }

  /** IDs of types whose essential name is `essential` (which must already be essential). */
  lookup(essential: string): number[] {
    const query = new TextEncoder().encode(essential);
    const h = hashBytes(query, 0, query.length);
    const out: number[] = [];
    for (let i = this.heads[h & this.mask]!; i >= 0; i = this.next[i]!) {
      if (this.hashes[i] !== h) continue;
      const [bytes, start] = this.strings.locate(this.nameOffsets[i]!);
      if (essentialLength(bytes, start) !== query.length) continue;
      let same = true;
      for (let k = 0; same && k < query.length; k++) same = bytes[start + k] === query[k];
      if (same) out.push(this.firstId + i);
    }
    return out;
  }
}

/**
 * IDs of the types among `nameOffsets` whose essential name is `essential`, without hashing
 * every name: cheaper than building a {@link NameIndex} when only a few names are ever looked
 * up ({@link Spec} switches to the index once lookups become frequent). For a table without
 * a base the work is native: one `Buffer.indexOf` pass finds the string offsets (`\0name`
 * followed by a NUL or a flavor suffix) and `Uint32Array.indexOf` the types that use them, so a
 * cold process looks up a vmlinux name in about a millisecond (a JS loop over ~126k
 * offsets runs interpreted at first and takes over ten). With `maxNameOffset`, only names that
 * start at or before it are found (the caller knows that no type it wants has a name past it).
 */
export function scanNames(strings: StringTable, nameOffsets: Uint32Array, firstId: number, essential: string, maxNameOffset?: number): number[] {
  const query = Buffer.from(essential, 'utf8');
  const n = query.length;
  if (n === 0 || query.includes(0)) return [];
  if (strings.base !== undefined) return scanLoop(strings, nameOffsets, firstId, query);
  const table = Buffer.from(strings.bytes.buffer, strings.bytes.byteOffset, strings.bytes.byteLength);
  // `\0name` of a name starting at or before maxNameOffset ends before maxNameOffset + n.
  const searched = maxNameOffset === undefined ? table : table.subarray(0, Math.min(table.length, maxNameOffset + n));
  // One pass over the table for `\0name`: the string at the next offset is the name itself
  // when a NUL follows, a flavor of it when its essential part has exactly this length.
  const stringOffsets: number[] = [];
  const prefix = Buffer.concat([zero, query]);
  for (let at = searched.indexOf(prefix); at >= 0; at = searched.indexOf(prefix, at + 1)) {
    const start = at + 1;
    const next = table[start + n];
    if ((next === 0 || next === 0x5f) && essentialLength(strings.bytes, start) === n) {
      stringOffsets.push(start);
    }
  }
  const out: number[] = [];
  for (const off of stringOffsets) {
    for (let i = nameOffsets.indexOf(off); i >= 0; i = nameOffsets.indexOf(off, i + 1)) out.push(firstId + i);
  }
  return out.sort((a, b) => a - b);
}

const zero = Buffer.from([0]);

// The same search as a loop over the name offsets, for split tables (names may live in the
// base table or in the split part).
function scanLoop(strings: StringTable, nameOffsets: Uint32Array, firstId: number, query: Uint8Array): number[] {
  const out: number[] = [];
  const n = query.length;
  let lastOff = -1;
  let lastMatch = false;
  for (let i = 0; i < nameOffsets.length; i++) {
    const off = nameOffsets[i]!;
    if (off === 0) continue;
    if (off !== lastOff) {
      lastOff = off;
      const [bytes, start] = strings.locate(off);
      let k = 0;
      while (k < n && bytes[start + k] === query[k]) k++;
      // Equal so far: the name must end here, or continue with a flavor suffix that makes
      // exactly this prefix its essential name.
      lastMatch = k === n && (bytes[start + n] === 0 || essentialLength(bytes, start) === n);
    }
    if (lastMatch) out.push(firstId + i);
  }
  return out;
}

/** The slot value of an empty slot in a {@link buildNameTable} table (never a valid entry). */
export const emptySlot = 0xffffffff;

/**
 * The bit length of `endId` (one past the largest type ID): how many low bits of a
 * {@link buildNameTable} slot hold the ID, so that an all-ones ID is never a real one.
 */
export function idBitsFor(endId: number): number {
  return 32 - Math.clz32(endId);
}

/**
 * An open-addressing table of the essential names of the types among `nameOffsets` (index `i`
 * is type `firstId + i`; anonymous ones are left out), the form the per-boot vmlinux index keeps
 * (internal/kernel-btf-index.ts): each named type in the first free slot from `hash & mask` on,
 * as `(hash >>> idBits) << idBits | id`; at most ~55% full, so that a lookup probes one or two
 * slots. Undefined when the IDs leave too few bits for the hash (over 2^24 types).
 */
export function buildNameTable(strings: StringTable, nameOffsets: Uint32Array, firstId: number): Uint32Array | undefined {
  const n = nameOffsets.length;
  const idBits = idBitsFor(firstId + n);
  if (idBits > 24) return undefined;
  let named = 0;
  for (let i = 0; i < n; i++) if (nameOffsets[i] !== 0) named++;
  let size = 1024;
  while (size < named * 1.8) size *= 2;
  const mask = size - 1;
  // Int32: slot values stay small integers for V8 (an empty slot is -1, the same bits).
  const table = new Int32Array(size).fill(-1);
  let lastOff = -1;
  let lastHash = 0;
  for (let i = 0; i < n; i++) {
    const off = nameOffsets[i]!;
    if (off === 0) continue;
    if (off !== lastOff) {
      const [bytes, start] = strings.locate(off);
      lastHash = hashBytes(bytes, start, essentialLength(bytes, start));
      lastOff = off;
    }
    let j = lastHash & mask;
    while (table[j] !== -1) j = (j + 1) & mask;
    table[j] = ((lastHash >>> idBits) << idBits) | (firstId + i);
  }
  return new Uint32Array(table.buffer);
}
