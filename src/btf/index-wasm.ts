/**
 * The index pass over a little-endian BTF type section, as a tiny WebAssembly function.
 *
 * Why WebAssembly: the pass is one loop over every type record (the kernel's ~126k types and
 * ~600k member, parameter and enumerator records), and it runs exactly once per process. V8
 * interprets such a loop for most of its run before an optimised version is ready (on a busy
 * machine the optimising compiler thread may not even get a core), so in JavaScript it costs
 * 5–15 ms cold. WebAssembly is compiled ahead of the first call by V8's baseline compiler in
 * microseconds, and the same loop then runs at machine speed from its first iteration.
 *
 * The function only *accepts*: it performs the same checks as the checked JavaScript pass in
 * parse.ts (record bounds, known kinds, name offsets inside the string table, int encodings,
 * referenced type IDs below the type count) and returns -1 on anything odd, after which the
 * caller runs the checked pass to report the problem precisely. Where WebAssembly is not
 * available (`node --jitless`), {@link wasmIndex} returns undefined and the caller uses its
 * JavaScript loop.
 *
 * The per-kind layout rules are data, not code: a 20-entry table in the module's memory says
 * for each kind how long its fixed tail is, how long each of its `vlen` records is, and which
 * words are name offsets or type IDs. The module's code is assembled below from opcode
 * names; its logic, in pseudo code:
 *
 * ```
 * index(p, end, strLen, out, delta, maxTypes, n) -> count or -1
 *   maxRef = state.maxRef
 *   while p < end:
 *     if p + 12 > end: stop
 *     nameOff, info, sizeType = words at p
 *     if nameOff >= strLen: return -1
 *     e = table[(info >> 24) & 31]; if !(e & VALID): return -1
 *     maxName[kind] = max(maxName[kind], nameOff)
 *     recs = p + 12 + fixed(e); next = recs + (info & 0xffff) * stride(e)
 *     if next > end: stop
 *     if e & REF_SIZE: maxRef = max(maxRef, sizeType)
 *     if e & INT: bits = word[p+12] & 0xff; if bits > 128 or bits + offset > sizeType * 8: return -1
 *     if e & ARRAY: maxRef = max(maxRef, word[p+12], word[p+16])
 *     if e & NAMES: every record's first word < strLen, else return -1
 *     if e & REC_REF: maxRef = max(maxRef, every record's word at refAt(e))
 *     out[n] = p + delta; out[maxTypes + n] = nameOff; n++; p = next
 *   stop: state.p = p; state.maxRef = maxRef; return n
 * ```
 *
 * It stops before a record that does not fit below `end` and leaves where it stopped and the
 * largest type ID referenced so far in memory (and each kind's largest name offset: name lookups
 * search only the part of the string table where names of the kind asked for can be), so that
 * the caller can feed the section through
 * a small window and resume (a mapped vmlinux is not in the module's memory; copying its 3 MB
 * type section into fresh memory at once costs a page fault per 4 KiB). The caller checks the
 * rest: that the whole section was consumed (a record cut off by the section's end is an
 * error) and that every referenced ID exists.
 *
 * @module
 */
import { Buffer } from 'node:buffer';
import { Kind } from './types.js';

// The slice of the WebAssembly JS API used here (the project's `lib` setting has no DOM types,
// and @types/node does not declare WebAssembly).
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number }) => WasmMemory;
};

// Flags of a kind's table entry (bits 16–23); bits 0–7 hold the fixed tail length in bytes,
// 8–15 the length of one vlen record, 24–31 where in a record its type ID sits.
/** @internal */
export const VALID = 1;
/** @internal size_type is a type ID */
export const REF_SIZE = 2;
/** @internal the tail is an int encoding to check against size_type */
export const INT = 4;
/** @internal the tail starts with two type IDs (element, index) */
export const ARRAY = 8;
/** @internal each vlen record starts with a name offset */
export const NAMES = 16;
/** @internal each vlen record holds a type ID at refAt */
export const REC_REF = 32;

function entry(fixed: number, stride: number, flags: number, refAt = 0): number {
  return (fixed | (stride << 8) | ((flags | VALID) << 16) | (refAt << 24)) >>> 0;
}

/**
 * Layout rules per kind (include/uapi/linux/btf.h), as the module reads them. For `verified`
 * BTF the records inside a type are skipped over, not checked (see {@link WasmIndexOptions}).
 */
function kindTable(verified: boolean): Uint32Array {
  const t = new Uint32Array(32);
  t[Kind.Int] = entry(4, 0, INT);
  t[Kind.Pointer] = entry(0, 0, REF_SIZE);
  t[Kind.Array] = entry(12, 0, ARRAY);
  t[Kind.Struct] = entry(0, 12, NAMES | REC_REF, 4);
  t[Kind.Union] = entry(0, 12, NAMES | REC_REF, 4);
  t[Kind.Enum] = entry(0, 8, NAMES);
  t[Kind.Fwd] = entry(0, 0, 0);
  t[Kind.Typedef] = entry(0, 0, REF_SIZE);
  t[Kind.Volatile] = entry(0, 0, REF_SIZE);
  t[Kind.Const] = entry(0, 0, REF_SIZE);
  t[Kind.Restrict] = entry(0, 0, REF_SIZE);
  t[Kind.Func] = entry(0, 0, REF_SIZE);
  t[Kind.FuncProto] = entry(0, 8, REF_SIZE | NAMES | REC_REF, 4);
  t[Kind.Var] = entry(4, 0, REF_SIZE);
  t[Kind.Datasec] = entry(0, 12, REC_REF, 0);
  t[Kind.Float] = entry(0, 0, 0);
  t[Kind.DeclTag] = entry(4, 0, REF_SIZE);
  t[Kind.TypeTag] = entry(0, 0, REF_SIZE);
  t[Kind.Enum64] = entry(0, 12, NAMES);
  // Verified: only each record's kind and length are read (and its name checked); type IDs and
  // int encodings are checked on decode.
  if (verified) for (let k = 0; k < t.length; k++) t[k] = t[k]! & ~((~VALID & 0xff) << 16);
  return t;
}

/**
 * The module's bytes, as index-wasm-code.ts assembles them (the unit test checks that they are
 * the same; it prints the new text when the code changes). Kept as data because assembling it
 * runs only once per process, all of it in the interpreter: ~0.5 ms of a cold start.
 * @internal
 */
export const indexModule =
  'AGFzbQEAAAABDAFgB39/f39/f38BfwIPAQNlbnYGbWVtb3J5AgABAwIBAAcJAQVpbmRleAAACvQDAfEDAQl/QYABKAIEIQcC' +
  'QANAIABBDGogAUsNASAAKAIAIQ0gACgCBCEOIA0gAk8EQEF/DwsgDkEWdkH8AHEhCyALKAIAIQggCEGAgARxRQRAQX8PCyAL' +
  'KAKIASEPIAsgDSAPIA0gD0sbNgKIASAAQQxqIAhB/wFxaiEMIAwgDkH//wNxIAhBCHZB/wFxbGohCSAJIAFLDQEgCEGAgPgH' +
  'cQRAIAhBgIAIcQRAIAAoAgghCyALIAdLBEAgCyEHCwsgCEGAgBBxBEAgACgCDCELIAtB/wFxQYABSwRAQX8PCyALQf8BcSAL' +
  'QRB2Qf8BcWqtIAAoAgitQgOGVgRAQX8PCwsgCEGAgCBxBEAgACgCDCELIAsgB0sEQCALIQcLIAAoAhAhCyALIAdLBEAgCyEH' +
  'CwsgCEGAgMAAcQRAIAwhCgJAA0AgCiAJTw0BIAooAgAgAk8EQEF/DwsgCiAIQQh2Qf8BcWohCgwACwsLIAhBgICAAXEEQCAM' +
  'IQoCQANAIAogCU8NASAKIAhBGHZqKAIAIQsgCyAHSwRAIAshBwsgCiAIQQh2Qf8BcWohCgwACwsLCyADIAZBAnRqIQsgCyAA' +
  'IARqNgIAIAsgBUECdGogDTYCACAGQQFqIQYgCSEADAALC0GAASAANgIAQYABIAc2AgQgBgs=';

// Compiled once per process, on first use; false once compiling failed (no WebAssembly).
let compiled: object | false | undefined;

function compile(): object | undefined {
  if (compiled === undefined) {
    try {
      compiled = new WebAssembly.Module(Buffer.from(indexModule, 'base64'));
    } catch {
      compiled = false;
    }
  }
  return compiled === false ? undefined : compiled;
}

const tableBytes = 128;
/** @internal Where a call leaves where it stopped (u32) and the largest referenced ID (u32). */
export const stateAt = tableBytes;
/** @internal The largest name offset of each kind's types (32 u32s), after the state. */
export const maxNameAt = stateAt + 8;
const headBytes = maxNameAt + 128;
// The window a section that is not in the module's memory is copied through; doubled for a
// record that does not fit (one struct's members can take up to 786 KB).
const windowBytes = 256 * 1024;

type IndexFunction = (p: number, end: number, strLen: number, out: number, delta: number, maxTypes: number, n: number) => number;

/**
 * A WebAssembly memory with its instance: [kind table][state][output][window] for a section
 * copied through a window, [kind table][state][data][output] for bytes read into it by the
 * caller ({@link allocateBTF}).
 */
interface Arena {
  readonly memory: WasmMemory;
  readonly index: IndexFunction;
  /** Where the data starts and ends (the caller's bytes, or the window). */
  readonly dataAt: number;
  dataEnd: number;
  /** Where the output goes, and how many types it has room for. */
  readonly outAt: number;
  readonly maxTypes: number;
  /** Whether views of the output have been handed out (a second pass must not overwrite them). */
  used: boolean;
}

// Arenas handed out by allocateBTF, by their memory's buffer.
const arenas = new WeakMap<ArrayBuffer, Arena>();

/** An arena whose data region (`dataLength` bytes) comes before or after the output. */
function makeArena(dataLength: number, maxTypes: number, dataFirst: boolean): Arena | undefined {
  const mod = compile();
  if (mod === undefined) return undefined;
  const data = (dataLength + 3) & ~3;
  const dataAt = dataFirst ? headBytes : headBytes + maxTypes * 8;
  const outAt = dataFirst ? headBytes + data : headBytes;
  const total = headBytes + data + maxTypes * 8;
  if (total > 0x7fff_0000) return undefined;
  try {
    const memory = new WebAssembly.Memory({ initial: Math.ceil(total / 65536) || 1 });
    const instance = new WebAssembly.Instance(mod, { env: { memory } });
    const index = instance.exports.index as IndexFunction;
    return { memory, index, dataAt, dataEnd: dataAt + dataLength, outAt, maxTypes, used: false };
  } catch {
    return undefined;
  }
}

/**
 * A zeroed buffer of `size` bytes to read BTF into: when it is later parsed, the index pass
 * runs on it in place instead of copying its type section. A plain Uint8Array where
 * WebAssembly is unavailable.
 */
export function allocateBTF(size: number): Uint8Array {
  const arena = makeArena(size, Math.floor(size / 12), true);
  if (arena === undefined) return new Uint8Array(size);
  arenas.set(arena.memory.buffer, arena);
  return new Uint8Array(arena.memory.buffer, arena.dataAt, size);
}

/** What an index pass finds in a type section. */
export interface IndexResult {
  /** The byte offset (in the blob) of each type record, in ID order. */
  readonly offsets: Uint32Array;
  /** Each type's name offset. */
  readonly names: Uint32Array;
  /** The largest name offset among the types of each kind (32 entries, by kind number). */
  readonly maxNames: Uint32Array;
}

/** Options of {@link wasmIndex}. */
export interface WasmIndexOptions {
  /** Bytes of the window a section outside the module's memory is copied through (tests). */
  readonly window?: number;
  /**
   * The kernel checked this BTF when it loaded it (/sys/kernel/btf/*): check only what finding
   * each type relies on (record bounds, kinds, type names) and skip over the member, parameter
   * and enumerator records; referenced type IDs and names inside records are checked when their
   * type is decoded.
   */
  readonly verified?: boolean;
}

/**
 * Indexes the little-endian type section `bytes[start, end)`: the byte offset (in `bytes`)
 * and name offset of each type record, in ID order. Undefined when the input needs the checked
 * pass (anything invalid) or WebAssembly is unavailable. The results are views of the
 * module's memory, which they keep alive (the output, and the caller's bytes or the window).
 */
export function wasmIndex(
  bytes: Uint8Array,
  start: number,
  end: number,
  strLen: number,
  firstId: number,
  options: WasmIndexOptions = {},
): IndexResult | undefined {
  const length = end - start;
  const maxTypes = Math.floor(length / 12);
  const mine = arenas.get(bytes.buffer as ArrayBuffer);
  const table = kindTable(options.verified === true);
  let arena: Arena;
  let count: number;
  if (mine !== undefined && !mine.used && bytes.byteOffset >= mine.dataAt && bytes.byteOffset + bytes.byteLength <= mine.dataEnd) {
    // Read by allocateBTF's caller: index in place, in one call.
    arena = mine;
    new Uint32Array(arena.memory.buffer, 0, 32).set(table);
    new Uint32Array(arena.memory.buffer, maxNameAt, 32).fill(0);
    const sectionAt = bytes.byteOffset + start;
    const state = new Uint32Array(arena.memory.buffer, stateAt, 2);
    state[1] = 0;
    count = arena.index(sectionAt, sectionAt + length, strLen, arena.outAt, start - sectionAt, arena.maxTypes, 0);
    if (count < 0 || state[0] !== sectionAt + length) return undefined;
  } else {
    const made = makeArena(Math.min(length, Math.max(options.window ?? windowBytes, 12)), maxTypes, false);
    if (made === undefined) return undefined;
    arena = made;
    new Uint32Array(arena.memory.buffer, 0, 32).set(table);
    new Uint32Array(arena.memory.buffer, maxNameAt, 32).fill(0);
    const r = throughWindow(arena, bytes, start, end, strLen);
    if (r === undefined) return undefined;
    count = r;
  }
  const buffer = arena.memory.buffer;
  if (new Uint32Array(buffer, stateAt, 2)[1]! >= firstId + count) return undefined; // a reference past the last type
  arena.used = true;
  return {
    offsets: new Uint32Array(buffer, arena.outAt, count),
    names: new Uint32Array(buffer, arena.outAt + arena.maxTypes * 4, count),
    maxNames: new Uint32Array(buffer, maxNameAt, 32).slice(),
  };
}

/**
 * Feeds `bytes[start, end)` through the arena's window, resuming each call where the last one
 * stopped (before a record that did not fit), and grows the window when a single record does
 * not fit in it. Returns the count, or undefined when the input is invalid or cut short.
 */
function throughWindow(arena: Arena, bytes: Uint8Array, start: number, end: number, strLen: number): number | undefined {
  let at = start;
  let n = 0;
  new Uint32Array(arena.memory.buffer, stateAt, 2)[1] = 0;
  while (at < end) {
    let size = arena.dataEnd - arena.dataAt;
    const chunk = Math.min(size, end - at);
    const memory = new Uint8Array(arena.memory.buffer);
    memory.set(bytes.subarray(at, at + chunk), arena.dataAt);
    n = arena.index(arena.dataAt, arena.dataAt + chunk, strLen, arena.outAt, at - arena.dataAt, arena.maxTypes, n);
    if (n < 0) return undefined;
    const used = new Uint32Array(arena.memory.buffer, stateAt, 2)[0]! - arena.dataAt;
    if (used > 0) {
      at += used;
      continue;
    }
    // Nothing fitted: at the section's end that is a record cut off (invalid); before it, a
    // record bigger than the window, which then grows to twice its size.
    if (chunk === end - at) return undefined;
    size *= 2;
    const pages = Math.ceil((arena.dataAt + size) / 65536) - arena.memory.buffer.byteLength / 65536;
    try {
      if (pages > 0) arena.memory.grow(pages);
    } catch {
      return undefined;
    }
    arena.dataEnd = arena.dataAt + size;
  }
  return n;
}
