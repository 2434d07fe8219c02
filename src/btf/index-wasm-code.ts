/**
 * The code of the index pass in index-wasm.ts, assembled from opcode names: what its
 * `indexModule` bytes hold (test/unit/btf-index-wasm.test.ts checks that they match, and prints
 * the new bytes after a change here). Only tests load this file; at run time the bytes are data.
 *
 * @module
 */
import { ARRAY, INT, NAMES, REC_REF, REF_SIZE, VALID, maxNameAt, stateAt } from './index-wasm.js';

// --- A minimal WebAssembly assembler: just the opcodes the function uses. ---

const op = {
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  return: 0x0f,
  select: 0x1b,
  get: 0x20,
  set: 0x21,
  load: 0x28,
  store: 0x36,
  const: 0x41,
  eqz: 0x45,
  gtU: 0x4b,
  geU: 0x4f,
  i64GtU: 0x56,
  add: 0x6a,
  mul: 0x6c,
  and: 0x71,
  shl: 0x74,
  shrU: 0x76,
  i64ExtendU: 0xad,
  i64Shl: 0x86,
  i64Const: 0x42,
  void: 0x40,
  i32: 0x7f,
} as const;

// Code is built as nested arrays and flattened once per section (cheap even before V8 has
// optimised anything, unlike repeated spreading).
type Code = (number | Code)[];
const flat = (code: Code): number[] => (code as unknown[]).flat(Infinity) as number[];

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const section = (id: number, body: Code): Code => {
  const bytes = flat(body);
  return [id, uleb(bytes.length), bytes];
};
const vec = (items: Code[]): Code => [uleb(items.length), items];
const name = (s: string): Code => vec(Array.from(s).map((c) => [c.charCodeAt(0)]));

// Parameters and locals of `index`, by name.
const P = 0; // current record (byte address in memory)
const END = 1; // end of the type section in memory
const STRLEN = 2; // string table length: name offsets must be below it
const OUT = 3; // where the offsets go; the name offsets follow at OUT + 4 * MAXTYPES
const DELTA = 4; // added to a memory address to give the offset in the caller's blob
const MAXTYPES = 5; // capacity of each output array
const N = 6; // types indexed so far (by earlier calls over the same section)
const MAXREF = 7;
const E = 8; // the kind's table entry
const NEXT = 9; // the next record
const Q = 10; // walks the vlen records
const W = 11; // scratch word
const RECS = 12; // first vlen record
const NAME = 13; // the record's name offset
const INFO = 14; // the record's info word
const OLD = 15; // the kind's largest name offset so far

const get = (l: number): Code => [op.get, l];
const set = (l: number): Code => [op.set, l];
const i32 = (n: number): Code => [op.const, sleb(n | 0)];
// i32.load with 4-byte alignment hint and a constant offset.
const load = (offset = 0): Code => [op.load, 2, uleb(offset)];
const store = (offset = 0): Code => [op.store, 2, uleb(offset)];
const fail = (): Code => [i32(-1), op.return];
// maxRef = max(maxRef, value on the stack), unsigned.
const maxRefWith = (): Code => [
  set(W), get(W), get(MAXREF), op.gtU, op.if, op.void, get(W), set(MAXREF), op.end,
];
const flag = (f: number): Code => [get(E), i32(f << 16), op.and];

function indexBody(): Code {
  // Loop over the vlen records from RECS to NEXT by the kind's stride, running `each` (which
  // sees the record's address in Q).
  const records = (each: Code): Code => [
    get(RECS), set(Q),
    op.block, op.void, op.loop, op.void,
    get(Q), get(NEXT), op.geU, op.brIf, 1,
    each,
    get(Q), get(E), i32(8), op.shrU, i32(0xff), op.and, op.add, set(Q),
    op.br, 0,
    op.end, op.end,
  ];
  const code = [
    i32(stateAt), load(4), set(MAXREF),
    op.block, op.void, op.loop, op.void,
    // the end, or a record that does not fit: stop (few branches and each word read once: the
    // loop runs ~126k times on its baseline-compiled code, before V8 optimises it)
    get(P), i32(12), op.add, get(END), op.gtU, op.brIf, 1,
    get(P), load(0), set(NAME),
    get(P), load(4), set(INFO),
    get(NAME), get(STRLEN), op.geU, op.if, op.void, fail(), op.end,
    // e = table[kind]; W = kind * 4
    get(INFO), i32(22), op.shrU, i32(0x7c), op.and, set(W),
    get(W), load(0), set(E),
    flag(VALID), op.eqz, op.if, op.void, fail(), op.end,
    // maxName[kind] = max(maxName[kind], nameOff)
    get(W), load(maxNameAt), set(OLD),
    get(W), get(NAME), get(OLD), get(NAME), get(OLD), op.gtU, op.select, store(maxNameAt),
    // recs = p + 12 + fixed; next = recs + vlen * stride
    get(P), i32(12), op.add, get(E), i32(0xff), op.and, op.add, set(RECS),
    get(RECS), get(INFO), i32(0xffff), op.and,
    get(E), i32(8), op.shrU, i32(0xff), op.and, op.mul, op.add, set(NEXT),
    get(NEXT), get(END), op.gtU, op.brIf, 1,
    // the checks, skipped at once for a kind without any (every kind of verified BTF)
    get(E), i32(0xfe << 16), op.and, op.if, op.void,
    flag(REF_SIZE), op.if, op.void, get(P), load(8), maxRefWith(), op.end,
    // int: bits <= 128 and bits + offset <= size * 8 (in 64 bits: size is any u32)
    flag(INT), op.if, op.void,
    get(P), load(12), set(W),
    get(W), i32(0xff), op.and, i32(128), op.gtU, op.if, op.void, fail(), op.end,
    get(W), i32(0xff), op.and, get(W), i32(16), op.shrU, i32(0xff), op.and, op.add, op.i64ExtendU,
    get(P), load(8), op.i64ExtendU, op.i64Const, 3, op.i64Shl,
    op.i64GtU, op.if, op.void, fail(), op.end,
    op.end,
    flag(ARRAY), op.if, op.void,
    get(P), load(12), maxRefWith(), get(P), load(16), maxRefWith(),
    op.end,
    flag(NAMES), op.if, op.void,
    records([get(Q), load(0), get(STRLEN), op.geU, op.if, op.void, fail(), op.end]),
    op.end,
    flag(REC_REF), op.if, op.void,
    records([get(Q), get(E), i32(24), op.shrU, op.add, load(0), maxRefWith()]),
    op.end,
    op.end,
    // out[n] = p + delta; out[maxTypes + n] = nameOff; n++; p = next
    get(OUT), get(N), i32(2), op.shl, op.add, set(W),
    get(W), get(P), get(DELTA), op.add, store(0),
    get(W), get(MAXTYPES), i32(2), op.shl, op.add, get(NAME), store(0),
    get(N), i32(1), op.add, set(N),
    get(NEXT), set(P),
    op.br, 0,
    op.end, op.end,
    // where it stopped, and the largest referenced ID (the caller checks it against the count)
    i32(stateAt), get(P), store(0),
    i32(stateAt), get(MAXREF), store(4),
    get(N),
  ];
  const locals = vec([[9, op.i32]]); // MAXREF, E, NEXT, Q, W, RECS, NAME, INFO, OLD
  const body = flat([locals, code, op.end]);
  return [uleb(body.length), body];
}

/** The WebAssembly module of the index pass (see index-wasm.ts for its logic in pseudo code). */
export function indexModuleBytes(): Uint8Array {
  const params = Array<number>(7).fill(op.i32); // P … N
  return new Uint8Array(flat([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    section(1, vec([[0x60, vec(params.map((t) => [t])), vec([[op.i32]])]])),
    // (import "env" "memory" (memory 1)): the caller sizes the memory for each blob.
    section(2, vec([[name('env'), name('memory'), 0x02, 0x00, 0x01]])),
    section(3, vec([[0]])),
    section(7, vec([[name('index'), 0x00, 0x00]])),
    section(10, vec([indexBody()])),
  ]));
}

