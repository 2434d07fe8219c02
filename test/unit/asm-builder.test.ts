// The builder produces the bytes the spec defines, resolves labels to slot distances (counting
// ld_imm64 as two slots), and its output disassembles in llvm-objdump form.
import { describe, expect, it } from 'vitest';
import * as asm from '../../src/asm/index.js';

const { Register: R, Size, ALUOp, JumpOp, AtomicOp, Helper, Endianness } = asm;
const toHex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
const bytes = (insn: asm.Instruction, order: asm.ByteOrder = 'little'): string => toHex(asm.encode([insn], order));

describe('builder encodes known bytes', () => {
  const cases: [string, asm.Instruction, string][] = [
    ['mov64Imm(R0, 42)', asm.mov64Imm(R.R0, 42), 'b7 00 00 00 2a 00 00 00'],
    ['mov64Reg(R6, R1)', asm.mov64Reg(R.R6, R.R1), 'bf 16 00 00 00 00 00 00'],
    ['mov32Imm(R0, -1)', asm.mov32Imm(R.R0, -1), 'b4 00 00 00 ff ff ff ff'],
    ['mov32Reg(R0, R1)', asm.mov32Reg(R.R0, R.R1), 'bc 10 00 00 00 00 00 00'],
    ['movSX64(R1, R2, 16)', asm.movSX64(R.R1, R.R2, 16), 'bf 21 10 00 00 00 00 00'],
    ['alu64Imm(Add, R2, -4)', asm.alu64Imm(ALUOp.Add, R.R2, -4), '07 02 00 00 fc ff ff ff'],
    ['alu32Reg(Mul, R0, R3)', asm.alu32Reg(ALUOp.Mul, R.R0, R.R3), '2c 30 00 00 00 00 00 00'],
    ['alu64Reg(Div, R1, R2, signed)', asm.alu64Reg(ALUOp.Div, R.R1, R.R2, true), '3f 21 01 00 00 00 00 00'],
    ['neg32(R0)', asm.neg32(R.R0), '84 00 00 00 00 00 00 00'],
    ['endian(ToBE, R0, 32)', asm.endian(Endianness.ToBE, R.R0, 32), 'dc 00 00 00 20 00 00 00'],
    ['bswap(R1, 64)', asm.bswap(R.R1, 64), 'd7 01 00 00 40 00 00 00'],
    ['loadImm64(R3, 1n << 40n)', asm.loadImm64(R.R3, 1n << 40n), '18 03 00 00 00 00 00 00 00 00 00 00 00 01 00 00'],
    ['loadMapPtr(R1, 5)', asm.loadMapPtr(R.R1, 5), '18 11 00 00 05 00 00 00 00 00 00 00 00 00 00 00'],
    ['loadMapValue(R1, 5, 16)', asm.loadMapValue(R.R1, 5, 16), '18 21 00 00 05 00 00 00 00 00 00 00 10 00 00 00'],
    ['loadMem(W, R1, R6, 0)', asm.loadMem(Size.W, R.R1, R.R6, 0), '61 61 00 00 00 00 00 00'],
    ['loadMemSX(B, R1, R2, 3)', asm.loadMemSX(Size.B, R.R1, R.R2, 3), '91 21 03 00 00 00 00 00'],
    ['storeMem(W, R10, -4, R1)', asm.storeMem(Size.W, R.R10, -4, R.R1), '63 1a fc ff 00 00 00 00'],
    ['storeImm(DW, R10, -8, 0)', asm.storeImm(Size.DW, R.R10, -8, 0), '7a 0a f8 ff 00 00 00 00'],
    ['loadAbs(H, 12)', asm.loadAbs(Size.H, 12), '28 00 00 00 0c 00 00 00'],
    ['loadInd(B, R1, 0)', asm.loadInd(Size.B, R.R1, 0), '50 10 00 00 00 00 00 00'],
    ['atomic(Add|Fetch, DW, R2, 0, R1)', asm.atomic(AtomicOp.Add | AtomicOp.Fetch, Size.DW, R.R2, 0, R.R1), 'db 12 00 00 01 00 00 00'],
    ['atomic(CmpXchg, W, R1, 4, R2)', asm.atomic(AtomicOp.CmpXchg, Size.W, R.R1, 4, R.R2), 'c3 21 04 00 f1 00 00 00'],
    ['ja(2)', asm.ja(2), '05 00 02 00 00 00 00 00'],
    ['gotol(70000)', asm.gotol(70000), '06 00 00 00 70 11 01 00'],
    ['jumpImm(JEq, R2, 0, 10)', asm.jumpImm(JumpOp.JEq, R.R2, 0, 10), '15 02 0a 00 00 00 00 00'],
    ['jump32Imm(JLT, R0, 6, 3)', asm.jump32Imm(JumpOp.JLT, R.R0, 6, 3), 'a6 00 03 00 06 00 00 00'],
    ['jumpReg(JSGT, R3, R4, 1)', asm.jumpReg(JumpOp.JSGT, R.R3, R.R4, 1), '6d 43 01 00 00 00 00 00'],
    ['mayGoto(1)', asm.mayGoto(1), 'e5 00 01 00 00 00 00 00'],
    ['call(MapLookupElem)', asm.call(Helper.MapLookupElem), '85 00 00 00 01 00 00 00'],
    ['callFunction(-1)', asm.callFunction(-1), '85 10 00 00 ff ff ff ff'],
    ['callKfunc(100)', asm.callKfunc(100), '85 20 00 00 64 00 00 00'],
    ['exit()', asm.exit(), '95 00 00 00 00 00 00 00'],
  ];
  it.each(cases)('%s', (_name, insn, expected) => {
    expect(bytes(insn)).toBe(expected);
  });

  it('big-endian encoding of a builder instruction swaps nibbles and fields', () => {
    expect(bytes(asm.storeMem(Size.W, R.R10, -4, R.R1), 'big')).toBe('63 a1 ff fc 00 00 00 00');
    expect(bytes(asm.loadImm64(R.R3, 0x0102030405060708n), 'big')).toBe('18 30 00 00 05 06 07 08 00 00 00 00 01 02 03 04');
  });
});

describe('assemble', () => {
  it('resolves labels into slot distances, counting ld_imm64 as two slots', () => {
    const prog = asm.assemble([
      asm.mov64Reg(R.R6, R.R1).withSymbol('prog'),
      asm.jumpImm(JumpOp.JEq, R.R6, 0, 'out'),
      asm.loadImm64(R.R0, 0x123456789n),
      asm.ja('out'),
      asm.mov64Imm(R.R0, 1).withSymbol('dead'),
      asm.exit().withSymbol('out'),
      asm.jumpImm(JumpOp.JNE, R.R0, 0, 'prog'),
    ]);
    expect(prog[1]!.offset).toBe(4); // slots 2,3 (ld_imm64), 4 (ja), 5 (mov) skipped → 6
    expect(prog[3]!.offset).toBe(1);
    expect(prog[6]!.offset).toBe(-8);
  });

  it('resolves BPF-to-BPF calls to functions in the list and leaves others for the linker', () => {
    const prog = asm.assemble([
      asm.callFunction('helper_fn'),
      asm.callFunction('elsewhere'),
      asm.exit(),
      asm.mov64Imm(R.R0, 7).withSymbol('helper_fn'),
      asm.exit(),
    ]);
    expect(prog[0]!.constant).toBe(2);
    expect(prog[1]!.constant).toBe(-1);
    expect(prog[1]!.reference).toBe('elsewhere');
  });

  it('does not modify its input', () => {
    const input = [asm.ja('end'), asm.exit().withSymbol('end')];
    asm.assemble(input);
    expect(input[0]!.offset).toBe(-1);
  });

  it('rejects unknown labels, duplicate symbols, and jumps too far for 16 bits', () => {
    expect(() => asm.assemble([asm.ja('nowhere'), asm.exit()])).toThrow(/unknown label nowhere/);
    expect(() => asm.assemble([asm.exit().withSymbol('a'), asm.exit().withSymbol('a')])).toThrow(/defined twice/);
    const far = [asm.ja('end'), ...Array.from({ length: 0x8000 }, () => asm.mov64Imm(R.R0, 0)), asm.exit().withSymbol('end')];
    expect(() => asm.assemble(far)).toThrow(/use gotol/);
    const long = [asm.gotol('end'), ...far.slice(1)];
    expect(asm.assemble(long)[0]!.constant).toBe(0x8000);
  });

  it('keeps the map reference of loadMapByName for the loader', () => {
    const insn = asm.loadMapByName(R.R1, 'counters');
    expect(insn.reference).toBe('counters');
    expect(insn.isLoadFromMap).toBe(true);
    expect(bytes(insn)).toBe('18 11 00 00 00 00 00 00 00 00 00 00 00 00 00 00');
  });
});

describe('disassemble', () => {
  it('prints like llvm-objdump -d, with symbol headers and jump target labels', () => {
    const prog = asm.assemble([
      asm.mov64Imm(R.R0, 42).withSymbol('prog'),
      asm.jump32Imm(JumpOp.JGT, R.R1, 5, 'out'),
      asm.storeMem(Size.W, R.R10, -4, R.R1),
      asm.loadMapPtr(R.R1, 3),
      asm.exit().withSymbol('out'),
    ]);
    expect(asm.disassemble(prog, { sectionName: 'socket' })).toBe(
      [
        'Disassembly of section socket:',
        '',
        '0000000000000000 <prog>:',
        '       0:\tb7 00 00 00 2a 00 00 00\tr0 = 42',
        '       1:\t26 01 03 00 05 00 00 00\tif w1 > 5 goto +3 <out>',
        '       2:\t63 1a fc ff 00 00 00 00\t*(u32 *)(r10 - 4) = r1',
        '       3:\t18 11 00 00 03 00 00 00 00 00 00 00 00 00 00 00\tld_pseudo\tr1, 1, 3',
        '',
        '0000000000000028 <out>:',
        '       5:\t95 00 00 00 00 00 00 00\texit',
        '',
      ].join('\n'),
    );
  });

  it('annotates a target without its own symbol as symbol+offset', () => {
    const text = asm.disassemble(asm.assemble([asm.ja(1).withSymbol('f'), asm.exit(), asm.exit()]), { rawBytes: false });
    expect(text).toContain('       0:\tgoto +1 <f+0x10>');
  });

  it('can append source lines', () => {
    const insn = asm.exit().withSymbol('f');
    insn.line = { fileName: 'x.bpf.c', lineText: '  return 0;', lineNumber: 7, column: 2 };
    expect(asm.disassemble([insn], { rawBytes: false, sourceLines: true })).toContain('exit ; x.bpf.c:7 return 0;');
  });

  it('names helpers', () => {
    expect(asm.helperName(Helper.MapLookupElem)).toBe('bpf_map_lookup_elem');
    expect(asm.helperName(Helper.UserRingbufDrain)).toBe('bpf_user_ringbuf_drain');
    expect(Helper.UserRingbufDrain).toBe(209);
    expect(Helper.CgrpStorageDelete).toBe(211);
    expect(asm.helperByName('bpf_ringbuf_output')).toBe(Helper.RingbufOutput);
    expect(asm.helperByName('ktime_get_ns')).toBe(5);
    expect(asm.helperName(9999)).toBeUndefined();
  });
});
