// Hand-written encodings, with expected bytes derived from the instruction-set spec
// (Documentation/bpf/standardization/instruction-set.rst), for everything clang-14 cannot emit
// (ISA v4, may_goto, BPF_ST immediates, JSET, MOD, legacy packet loads, load-acquire /
// store-release, pseudo sources); plus exhaustive opcode round trips and malformed input.
import { describe, expect, it } from 'vitest';
import { ParseError } from '../../src/errors.js';
import {
  decode,
  encode,
  formatInstruction,
  Instruction,
  SlotMap,
  slotOffsets,
  UnknownInstruction,
  type ByteOrder,
} from '../../src/asm/index.js';

const hex = (s: string): Uint8Array => Uint8Array.from(s.split(/\s+/).filter(Boolean), (b) => parseInt(b, 16));
const toHex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');

/** Little-endian bytes to big-endian: opcode kept, register nibbles swapped, offset/imm reversed. */
function toBigEndian(le: Uint8Array): Uint8Array {
  const out = new Uint8Array(le.length);
  for (let p = 0; p < le.length; p += 8) {
    out[p] = le[p]!;
    out[p + 1] = ((le[p + 1]! & 0x0f) << 4) | (le[p + 1]! >> 4);
    out[p + 2] = le[p + 3]!;
    out[p + 3] = le[p + 2]!;
    for (let i = 0; i < 4; i++) out[p + 4 + i] = le[p + 7 - i]!;
  }
  return out;
}

// [description, little-endian bytes, text]
const vectors: [string, string, string][] = [
  // ISA v4 (Linux 6.6): sign-extending loads, BPF_LDX | BPF_MEMSX | size.
  ['ldxsb', '91 21 03 00 00 00 00 00', 'r1 = *(s8 *)(r2 + 3)'],
  ['ldxsh', '89 21 fe ff 00 00 00 00', 'r1 = *(s16 *)(r2 - 2)'],
  ['ldxsw', '81 a1 f8 ff 00 00 00 00', 'r1 = *(s32 *)(r10 - 8)'],
  // ISA v4: sign-extending moves, BPF_MOV with offset 8/16/32.
  ['movsx64 s8', 'bf 21 08 00 00 00 00 00', 'r1 = (s8)r2'],
  ['movsx64 s16', 'bf 21 10 00 00 00 00 00', 'r1 = (s16)r2'],
  ['movsx64 s32', 'bf 21 20 00 00 00 00 00', 'r1 = (s32)r2'],
  ['movsx32 s8', 'bc 21 08 00 00 00 00 00', 'w1 = (s8)w2'],
  ['movsx32 s16', 'bc 21 10 00 00 00 00 00', 'w1 = (s16)w2'],
  // ISA v4: signed division and modulo, BPF_DIV/BPF_MOD with offset 1.
  ['sdiv64 reg', '3f 21 01 00 00 00 00 00', 'r1 s/= r2'],
  ['smod64 imm', '97 01 01 00 03 00 00 00', 'r1 s%= 3'],
  ['sdiv32 imm', '34 01 01 00 f9 ff ff ff', 'w1 s/= -7'],
  ['smod32 reg', '9c 21 01 00 00 00 00 00', 'w1 s%= w2'],
  // ISA v4: unconditional byte swap, BPF_ALU64 | BPF_END | BPF_TO_LE, width in imm.
  ['bswap16', 'd7 01 00 00 10 00 00 00', 'r1 = bswap16 r1'],
  ['bswap32', 'd7 01 00 00 20 00 00 00', 'r1 = bswap32 r1'],
  ['bswap64', 'd7 01 00 00 40 00 00 00', 'r1 = bswap64 r1'],
  ['le16', 'd4 03 00 00 10 00 00 00', 'r3 = le16 r3'],
  ['be64', 'dc 03 00 00 40 00 00 00', 'r3 = be64 r3'],
  // ISA v4: gotol, BPF_JMP32 | BPF_JA with the distance in imm.
  ['gotol forward', '06 00 00 00 05 00 00 00', 'gotol +5'],
  ['gotol backward', '06 00 00 00 fd ff ff ff', 'gotol -3'],
  ['gotol far', '06 00 00 00 00 00 01 00', 'gotol +65536'],
  // may_goto (Linux 6.9): BPF_JMP | BPF_JCOND, src 0.
  ['may_goto', 'e5 00 02 00 00 00 00 00', 'may_goto +2'],
  // Forms LLVM 14 never emits.
  ['st imm w', '62 0a fc ff 05 00 00 00', '*(u32 *)(r10 - 4) = 5'],
  ['st imm dw', '7a 0a f0 ff f9 ff ff ff', '*(u64 *)(r10 - 16) = -7'],
  ['st imm b', '72 01 01 00 ff 00 00 00', '*(u8 *)(r1 + 1) = 255'],
  ['jset reg', '4d 21 01 00 00 00 00 00', 'if r1 & r2 goto +1'],
  ['jset32 imm', '46 01 ff ff 10 00 00 00', 'if w1 & 16 goto -1'],
  ['mod64', '9f 21 00 00 00 00 00 00', 'r1 %= r2'],
  ['mod32 imm', '94 01 00 00 07 00 00 00', 'w1 %= 7'],
  ['neg64', '87 01 00 00 00 00 00 00', 'r1 = -r1'],
  ['arsh32', 'c4 01 00 00 03 00 00 00', 'w1 s>>= 3'],
  ['jslt32 reg', 'ce 43 02 00 00 00 00 00', 'if w3 s< w4 goto +2'],
  ['jle imm', 'b5 01 00 00 e8 03 00 00', 'if r1 <= 1000 goto +0'],
  ['jsge imm', '75 01 03 00 fb ff ff ff', 'if r1 s>= -5 goto +3'],
  // Legacy packet access (socket filters).
  ['ld abs b', '30 00 00 00 0c 00 00 00', 'r0 = *(u8 *)skb[12]'],
  ['ld abs w', '20 00 00 00 00 00 00 00', 'r0 = *(u32 *)skb[0]'],
  ['ld ind h', '48 10 00 00 00 00 00 00', 'r0 = *(u16 *)skb[r1]'],
  ['ld ind b offset', '50 10 00 00 0e 00 00 00', 'r0 = *(u8 *)skb[r1 + 14]'],
  // Atomics (BPF_STX | BPF_ATOMIC), op in imm.
  ['atomic add64', 'db 21 08 00 00 00 00 00', 'lock *(u64 *)(r1 + 8) += r2'],
  ['atomic or32', 'c3 21 00 00 40 00 00 00', 'lock *(u32 *)(r1 + 0) |= w2'],
  ['atomic fetch and32', 'c3 21 00 00 51 00 00 00', 'w2 = atomic_fetch_and((u32 *)(r1 + 0), w2)'],
  ['atomic fetch xor64', 'db 21 f8 ff a1 00 00 00', 'r2 = atomic_fetch_xor((u64 *)(r1 - 8), r2)'],
  ['xchg64', 'db 21 00 00 e1 00 00 00', 'r2 = xchg_64(r1 + 0, r2)'],
  ['cmpxchg32', 'c3 21 04 00 f1 00 00 00', 'w0 = cmpxchg32_32(r1 + 4, w0, w2)'],
  // Load-acquire / store-release (Linux 6.15), imm 0x100 / 0x110; B and H sizes allowed.
  ['load_acquire64', 'db 10 00 00 00 01 00 00', 'r0 = load_acquire((u64 *)(r1 + 0))'],
  ['load_acquire8', 'd3 10 02 00 00 01 00 00', 'w0 = load_acquire((u8 *)(r1 + 2))'],
  ['store_release32', 'c3 21 00 00 10 01 00 00', 'store_release((u32 *)(r1 + 0), w2)'],
  // Calls: helper, BPF-to-BPF (BPF_PSEUDO_CALL), kfunc (BPF_PSEUDO_KFUNC_CALL).
  ['helper call', '85 00 00 00 0e 00 00 00', 'call 14'],
  ['bpf2bpf call', '85 10 00 00 fd ff ff ff', 'call -3'],
  ['kfunc call', '85 20 01 00 39 30 00 00', 'call 12345'],
  ['exit', '95 00 00 00 00 00 00 00', 'exit'],
  // ld_imm64: plain 64-bit constants and the pseudo sources.
  ['ld_imm64', '18 03 00 00 15 7c 4a 7f 00 00 00 00 b9 79 37 9e', 'r3 = -7046029254386353131 ll'],
  ['ld_imm64 max u32', '18 01 00 00 ff ff ff ff 00 00 00 00 00 00 00 00', 'r1 = 4294967295 ll'],
  ['ld_imm64 map fd', '18 11 00 00 07 00 00 00 00 00 00 00 00 00 00 00', 'ld_pseudo\tr1, 1, 7'],
  ['ld_imm64 map value', '18 21 00 00 07 00 00 00 00 00 00 00 10 00 00 00', 'ld_pseudo\tr1, 2, 7, 16'],
  ['ld_imm64 btf id', '18 31 00 00 2a 00 00 00 00 00 00 00 00 00 00 00', 'ld_pseudo\tr1, 3, 42'],
  ['ld_imm64 func', '18 42 00 00 05 00 00 00 00 00 00 00 00 00 00 00', 'ld_pseudo\tr2, 4, 5'],
  ['ld_imm64 map idx', '18 51 00 00 00 00 00 00 00 00 00 00 00 00 00 00', 'ld_pseudo\tr1, 5, 0'],
  ['ld_imm64 map idx value', '18 61 00 00 01 00 00 00 00 00 00 00 08 00 00 00', 'ld_pseudo\tr1, 6, 1, 8'],
];

describe.each(vectors)('%s', (_name, leHex, text) => {
  const le = hex(leHex);
  const be = toBigEndian(le);
  for (const [order, bytes] of [['little', le], ['big', be]] as [ByteOrder, Uint8Array][]) {
    it(`${order} endian: decodes to one instruction printing "${text.replace('\t', ' ')}" and re-encodes identically`, () => {
      const insns = decode(bytes, order);
      expect(insns).toHaveLength(1);
      expect(formatInstruction(insns[0]!)).toBe(text);
      expect(insns[0]!.toString()).toBe(text);
      expect(toHex(encode(insns, order))).toBe(toHex(bytes));
    });
  }
});

describe('field semantics', () => {
  it('ld_imm64 is one instruction with a 64-bit bigint constant taking two slots', () => {
    const [insn] = decode(hex('18 03 00 00 15 7c 4a 7f 00 00 00 00 b9 79 37 9e'), 'little');
    expect(insn!.isLoadImm64).toBe(true);
    expect(insn!.constant).toBe(-7046029254386353131n);
    expect(insn!.slots).toBe(2);
    expect(insn!.byteLength).toBe(16);
  });

  it('other instructions keep a signed 32-bit number constant', () => {
    const [insn] = decode(hex('b7 01 00 00 ff ff ff ff'), 'little');
    expect(insn!.constant).toBe(-1);
    insn!.constant = 0xffffffff; // wraps like the wire format
    expect(insn!.constant).toBe(-1);
    insn!.constant = 5n;
    expect(insn!.constant).toBe(5);
  });

  it('gotol keeps its distance in the immediate, regular jumps in the offset', () => {
    const [gotol, ja] = decode(hex('06 00 00 00 05 00 00 00 05 00 03 00 00 00 00 00'), 'little');
    expect(gotol!.isLongJump && gotol!.isJump).toBe(true);
    expect(gotol!.jumpOffset).toBe(5);
    expect(ja!.jumpOffset).toBe(3);
  });

  it('big-endian register byte has dst in the high nibble', () => {
    const [insn] = decode(hex('bf 12 00 00 00 00 00 00'), 'big');
    expect(insn!.dst).toBe(1);
    expect(insn!.src).toBe(2);
    const [le] = decode(hex('bf 12 00 00 00 00 00 00'), 'little');
    expect(le!.dst).toBe(2);
    expect(le!.src).toBe(1);
  });

  it('invalid encodings print <unknown> like LLVM but still round-trip', () => {
    const bad = hex(
      [
        'd7 01 00 00 11 00 00 00', // bswap of 17 bits
        'bc 21 20 00 00 00 00 00', // movsx32 from 32 bits
        '3f 21 02 00 00 00 00 00', // div with offset 2
        'f5 00 00 00 00 00 00 00', // jump op 0xf0
        '96 00 00 00 00 00 00 00', // exit in JMP32
        '99 21 00 00 00 00 00 00', // LDX MEMSX DW
        'e4 01 00 00 00 00 00 00', // ALU op 0xe0
      ].join(' '),
    );
    const insns = decode(bad, 'little');
    for (const insn of insns) expect(insn.toString()).toBe(UnknownInstruction);
    expect(toHex(encode(insns, 'little'))).toBe(toHex(bad));
  });
});

describe('every opcode round-trips in both byte orders', () => {
  const fields: [number, number, number, number][] = [
    [0, 0, 0, 0],
    [1, 10, -1, -1],
    [15, 7, 0x7fff, 0x7fffffff],
    [9, 15, -0x8000, -0x80000000],
  ];
  for (const order of ['little', 'big'] as ByteOrder[]) {
    it(`${order} endian: all 256 opcodes × register/offset/immediate extremes`, () => {
      const insns: Instruction[] = [];
      for (let opcode = 0; opcode < 256; opcode++) {
        for (const [dst, src, offset, imm] of fields) {
          const constant = opcode === 0x18 ? (BigInt(imm) << 32n) | BigInt(imm >>> 0) : imm;
          insns.push(new Instruction({ opcode, dst, src, offset, constant }));
        }
      }
      const bytes = encode(insns, order);
      const back = decode(bytes, order);
      expect(back).toHaveLength(insns.length);
      back.forEach((insn, i) => expect(insn.equals(insns[i]!), `${i}`).toBe(true));
      expect(toHex(encode(back, order))).toBe(toHex(bytes));
    });
  }
});

describe('malformed input gives ParseError with the offset', () => {
  function parseError(fn: () => unknown): ParseError {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(ParseError);
      return err as ParseError;
    }
    throw new Error('no error thrown');
  }

  it('length not a multiple of 8', () => {
    const err = parseError(() => decode(new Uint8Array(12), 'little'));
    expect(err.offset).toBe(8);
    expect(err.message).toMatch(/instruction 1/);
  });

  it('ld_imm64 cut off at the end', () => {
    const bytes = hex('b7 00 00 00 00 00 00 00 18 01 00 00 00 00 00 00');
    const err = parseError(() => decode(bytes, 'little'));
    expect(err.offset).toBe(8);
    expect(err.message).toMatch(/instruction 1: ld_imm64/);
  });

  it('ld_imm64 second slot with reserved fields set', () => {
    const bytes = hex('95 00 00 00 00 00 00 00 18 01 00 00 00 00 00 00 00 01 00 00 00 00 00 00');
    const err = parseError(() => decode(bytes, 'big', 0x40));
    expect(err.offset).toBe(0x40 + 16);
    expect(err.message).toMatch(/instruction 1/);
  });

  it('encode rejects fields that do not fit instead of truncating', () => {
    expect(() => encode([new Instruction({ opcode: 0xbf, dst: 16 })], 'little')).toThrow(/dst register 16/);
    expect(() => encode([new Instruction({ opcode: 0x79, offset: 0x8000 })], 'little')).toThrow(/offset 32768/);
  });
});

describe('slot offsets', () => {
  const insns = decode(
    hex(
      'b7 00 00 00 00 00 00 00 18 01 00 00 01 00 00 00 00 00 00 00 00 00 00 00 95 00 00 00 00 00 00 00',
    ),
    'little',
  );

  it('count ld_imm64 as two slots', () => {
    expect(slotOffsets(insns)).toEqual([0, 1, 3, 4]);
  });

  it('map both ways and refuse the middle of an ld_imm64', () => {
    const map = new SlotMap(insns);
    expect(map.slotCount).toBe(4);
    expect([0, 1, 2, 3].map((i) => map.slotOf(i))).toEqual([0, 1, 3, 4]);
    expect(map.indexOf(0)).toBe(0);
    expect(map.indexOf(1)).toBe(1);
    expect(map.indexOf(2)).toBeUndefined();
    expect(map.indexOf(3)).toBe(2);
    expect(map.indexOf(4)).toBe(3);
    expect(map.indexOf(5)).toBeUndefined();
    expect(map.indexOfByteOffset(24)).toBe(2);
    expect(map.indexOfByteOffset(12)).toBeUndefined();
  });
});
