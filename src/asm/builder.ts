/**
 * A small instruction builder, mostly for tests and hand-written programs: one function per
 * instruction form, jumps to named labels, and {@link assemble} to resolve the labels into
 * slot offsets.
 *
 * @example
 * ```ts
 * import { asm } from 'ebpf-ts';
 * const { Register: R } = asm;
 * const prog = asm.assemble([
 *   asm.mov64Imm(R.R0, 0),
 *   asm.jumpImm(asm.JumpOp.JEq, R.R1, 0, 'out'),
 *   asm.mov64Imm(R.R0, 42),
 *   asm.exit().withSymbol('out'),
 * ]);
 * ```
 *
 * @module
 */
import { ArgumentError } from '../errors.js';
import { slotOffsets } from './encoding.js';
import { Instruction } from './instruction.js';
import {
  ALUOp,
  AtomicOp,
  Class,
  Endianness,
  JumpOp,
  LoadImm64Opcode,
  Mode,
  Size,
  Source,
} from './opcode.js';
import { PseudoCall, PseudoSource } from './pseudo.js';
import type { Register } from './register.js';
import type { Helper } from './helper.js';

/** A jump target: a label resolved by {@link assemble}, or a raw slot offset. */
export type JumpTarget = string | number;

function alu(cls: Class.ALU | Class.ALU64, op: ALUOp, source: Source, dst: Register, src: Register, imm: number, offset = 0): Instruction {
  return new Instruction({ opcode: cls | op | source, dst, src, offset, constant: imm });
}

/** `dst = imm` (64-bit, immediate sign-extended). */
export function mov64Imm(dst: Register, imm: number): Instruction {
  return alu(Class.ALU64, ALUOp.Mov, Source.K, dst, 0, imm);
}

/** `dst = src` (64-bit). */
export function mov64Reg(dst: Register, src: Register): Instruction {
  return alu(Class.ALU64, ALUOp.Mov, Source.X, dst, src, 0);
}

/** `wdst = imm` (32-bit; the upper half of dst is zeroed). */
export function mov32Imm(dst: Register, imm: number): Instruction {
  return alu(Class.ALU, ALUOp.Mov, Source.K, dst, 0, imm);
}

/** `wdst = wsrc` (32-bit; the upper half of dst is zeroed). */
export function mov32Reg(dst: Register, src: Register): Instruction {
  return alu(Class.ALU, ALUOp.Mov, Source.X, dst, src, 0);
}

/** `dst = (s8|s16|s32)src`: sign-extending move, 64-bit (ISA v4, Linux 6.6). */
export function movSX64(dst: Register, src: Register, fromBits: 8 | 16 | 32): Instruction {
  return alu(Class.ALU64, ALUOp.Mov, Source.X, dst, src, 0, fromBits);
}

/** `wdst = (s8|s16)wsrc`: sign-extending move, 32-bit (ISA v4, Linux 6.6). */
export function movSX32(dst: Register, src: Register, fromBits: 8 | 16): Instruction {
  return alu(Class.ALU, ALUOp.Mov, Source.X, dst, src, 0, fromBits);
}

/**
 * 64-bit `dst op= imm`. Pass `signed: true` with `Div`/`Mod` for the ISA v4 signed variants
 * (`offset` = 1).
 */
export function alu64Imm(op: ALUOp, dst: Register, imm: number, signed = false): Instruction {
  return alu(Class.ALU64, op, Source.K, dst, 0, imm, signed ? 1 : 0);
}

/** 64-bit `dst op= src`; `signed` as for {@link alu64Imm}. */
export function alu64Reg(op: ALUOp, dst: Register, src: Register, signed = false): Instruction {
  return alu(Class.ALU64, op, Source.X, dst, src, 0, signed ? 1 : 0);
}

/** 32-bit `wdst op= imm`; `signed` as for {@link alu64Imm}. */
export function alu32Imm(op: ALUOp, dst: Register, imm: number, signed = false): Instruction {
  return alu(Class.ALU, op, Source.K, dst, 0, imm, signed ? 1 : 0);
}

/** 32-bit `wdst op= wsrc`; `signed` as for {@link alu64Imm}. */
export function alu32Reg(op: ALUOp, dst: Register, src: Register, signed = false): Instruction {
  return alu(Class.ALU, op, Source.X, dst, src, 0, signed ? 1 : 0);
}

/** `dst = -dst` (64-bit). */
export function neg64(dst: Register): Instruction {
  return alu(Class.ALU64, ALUOp.Neg, Source.K, dst, 0, 0);
}

/** `wdst = -wdst` (32-bit). */
export function neg32(dst: Register): Instruction {
  return alu(Class.ALU, ALUOp.Neg, Source.K, dst, 0, 0);
}

/** `dst = le16/32/64 dst` or `be…`: convert between host order and the given order. */
export function endian(order: Endianness, dst: Register, bits: 16 | 32 | 64): Instruction {
  return new Instruction({ opcode: Class.ALU | ALUOp.End | order, dst, constant: bits });
}

/** `dst = bswap16/32/64 dst`: unconditional byte swap (ALU64 `END`, ISA v4, Linux 6.6). */
export function bswap(dst: Register, bits: 16 | 32 | 64): Instruction {
  return new Instruction({ opcode: Class.ALU64 | ALUOp.End | Endianness.ToLE, dst, constant: bits });
}

/** `dst = value ll`: the 16-byte 64-bit immediate load. */
export function loadImm64(dst: Register, value: bigint | number): Instruction {
  return new Instruction({ opcode: LoadImm64Opcode, dst, constant: typeof value === 'bigint' ? value : BigInt(value) });
}

/** `dst = map` by fd (`BPF_PSEUDO_MAP_FD`): what a map reference becomes at load time. */
export function loadMapPtr(dst: Register, fd: number): Instruction {
  return new Instruction({ opcode: LoadImm64Opcode, dst, src: PseudoSource.MapFD, constant: BigInt(fd >>> 0) });
}

/**
 * `dst = &map_value + offset` by fd (`BPF_PSEUDO_MAP_VALUE`): the form global data takes; the
 * fd is in the low half of the constant, the offset in the high half.
 */
export function loadMapValue(dst: Register, fd: number, offset: number): Instruction {
  const constant = (BigInt(offset >>> 0) << 32n) | BigInt(fd >>> 0);
  return new Instruction({ opcode: LoadImm64Opcode, dst, src: PseudoSource.MapValue, constant });
}

/**
 * A map reference by name, to be replaced by the loader with the map's fd: `ld_imm64` with
 * `src` = `BPF_PSEUDO_MAP_FD`, constant 0 and {@link Instruction.reference} set to the name.
 */
export function loadMapByName(dst: Register, mapName: string): Instruction {
  return new Instruction({ opcode: LoadImm64Opcode, dst, src: PseudoSource.MapFD, constant: 0n, reference: mapName });
}

/** `dst = *(size *)(src + offset)`. */
export function loadMem(size: Size, dst: Register, src: Register, offset: number): Instruction {
  return new Instruction({ opcode: Class.LDX | Mode.MEM | size, dst, src, offset });
}

/** `dst = *(s8|s16|s32 *)(src + offset)`: sign-extending load (ISA v4, Linux 6.6). */
export function loadMemSX(size: Size.B | Size.H | Size.W, dst: Register, src: Register, offset: number): Instruction {
  return new Instruction({ opcode: Class.LDX | Mode.MEMSX | size, dst, src, offset });
}

/** `*(size *)(dst + offset) = src`. */
export function storeMem(size: Size, dst: Register, offset: number, src: Register): Instruction {
  return new Instruction({ opcode: Class.STX | Mode.MEM | size, dst, src, offset });
}

/** `*(size *)(dst + offset) = imm`. */
export function storeImm(size: Size, dst: Register, offset: number, imm: number): Instruction {
  return new Instruction({ opcode: Class.ST | Mode.MEM | size, dst, offset, constant: imm });
}

/** Legacy packet load `r0 = *(size *)skb[imm]` (socket filters; R6 must hold the skb). */
export function loadAbs(size: Size.B | Size.H | Size.W, imm: number): Instruction {
  return new Instruction({ opcode: Class.LD | Mode.ABS | size, constant: imm });
}

/** Legacy packet load `r0 = *(size *)skb[src + imm]`. */
export function loadInd(size: Size.B | Size.H | Size.W, src: Register, imm: number): Instruction {
  return new Instruction({ opcode: Class.LD | Mode.IND | size, src, constant: imm });
}

/**
 * An atomic operation on `*(size *)(dst + offset)` with `src` (instruction-set.rst, "Atomic
 * operations"): `op` is an {@link AtomicOp}, optionally or-ed with `AtomicOp.Fetch`.
 */
export function atomic(op: AtomicOp | number, size: Size.W | Size.DW, dst: Register, offset: number, src: Register): Instruction {
  return new Instruction({ opcode: Class.STX | Mode.ATOMIC | size, dst, src, offset, constant: op });
}

function jumpInsn(opcode: number, dst: Register, src: Register, imm: number, target: JumpTarget): Instruction {
  const insn = new Instruction({ opcode, dst, src, constant: imm });
  if (typeof target === 'string') {
    insn.reference = target;
    insn.offset = -1;
  } else {
    insn.offset = target;
  }
  return insn;
}

/** `goto target`. */
export function ja(target: JumpTarget): Instruction {
  return jumpInsn(Class.JMP | JumpOp.JA, 0, 0, 0, target);
}

/** `gotol target`: unconditional jump with a 32-bit distance in `imm` (ISA v4, Linux 6.6). */
export function gotol(target: JumpTarget): Instruction {
  const insn = new Instruction({ opcode: Class.JMP32 | JumpOp.JA });
  if (typeof target === 'string') {
    insn.reference = target;
    insn.constant = -1;
  } else {
    insn.constant = target;
  }
  return insn;
}

/** `if dst op imm goto target` (64-bit compare). */
export function jumpImm(op: JumpOp, dst: Register, imm: number, target: JumpTarget): Instruction {
  return jumpInsn(Class.JMP | op | Source.K, dst, 0, imm, target);
}

/** `if dst op src goto target` (64-bit compare). */
export function jumpReg(op: JumpOp, dst: Register, src: Register, target: JumpTarget): Instruction {
  return jumpInsn(Class.JMP | op | Source.X, dst, src, 0, target);
}

/** `if wdst op imm goto target` (32-bit compare). */
export function jump32Imm(op: JumpOp, dst: Register, imm: number, target: JumpTarget): Instruction {
  return jumpInsn(Class.JMP32 | op | Source.K, dst, 0, imm, target);
}

/** `if wdst op wsrc goto target` (32-bit compare). */
export function jump32Reg(op: JumpOp, dst: Register, src: Register, target: JumpTarget): Instruction {
  return jumpInsn(Class.JMP32 | op | Source.X, dst, src, 0, target);
}

/** `may_goto target`: a loop bound the verifier enforces (Linux 6.9). */
export function mayGoto(target: JumpTarget): Instruction {
  return jumpInsn(Class.JMP | JumpOp.JCond, 0, 0, 0, target);
}

/** `call helper`. */
export function call(helper: Helper | number): Instruction {
  return new Instruction({ opcode: Class.JMP | JumpOp.Call, src: PseudoCall.Helper, constant: helper });
}

/**
 * A BPF-to-BPF call (`src` = `BPF_PSEUDO_CALL`) to a function by name (resolved by
 * {@link assemble} or later by the linker; the constant stays -1 until then, as clang leaves
 * it) or by pc-relative slot offset.
 */
export function callFunction(target: JumpTarget): Instruction {
  const insn = new Instruction({ opcode: Class.JMP | JumpOp.Call, src: PseudoCall.Call, constant: -1 });
  if (typeof target === 'string') insn.reference = target;
  else insn.constant = target;
  return insn;
}

/** A kfunc call (`src` = `BPF_PSEUDO_KFUNC_CALL`): BTF id, and the fd_array index of its module BTF (0 for vmlinux). */
export function callKfunc(btfId: number, moduleIndex = 0): Instruction {
  return new Instruction({ opcode: Class.JMP | JumpOp.Call, src: PseudoCall.KfuncCall, offset: moduleIndex, constant: btfId });
}

/** `exit`: return R0. */
export function exit(): Instruction {
  return new Instruction({ opcode: Class.JMP | JumpOp.Exit });
}

/**
 * Resolve label references: every jump whose {@link Instruction.reference} names a symbol in
 * `insns` gets the slot distance to it (counting `ld_imm64` as two slots), and so does every
 * BPF-to-BPF call and `BPF_PSEUDO_FUNC` load whose target is in the list. Returns new
 * instructions; the input is not modified. A jump to an unknown label, or one that does not fit
 * the 16-bit offset, throws an `ArgumentError`. Calls to names not in the list are left for
 * the linker.
 */
export function assemble(insns: readonly Instruction[]): Instruction[] {
  const out = insns.map((insn) => insn.clone());
  const slots = slotOffsets(out);
  const symbols = new Map<string, number>();
  out.forEach((insn, i) => {
    if (insn.symbol === undefined) return;
    if (symbols.has(insn.symbol)) throw new ArgumentError(`assemble: symbol ${insn.symbol} defined twice (instruction ${i})`);
    symbols.set(insn.symbol, slots[i]!);
  });
  out.forEach((insn, i) => {
    if (insn.reference === undefined) return;
    const target = symbols.get(insn.reference);
    const distance = target === undefined ? undefined : target - (slots[i]! + 1);
    if (insn.isJump) {
      if (distance === undefined) throw new ArgumentError(`assemble: instruction ${i} jumps to unknown label ${insn.reference}`);
      if (!insn.isLongJump && (distance < -0x8000 || distance > 0x7fff)) {
        throw new ArgumentError(`assemble: jump from instruction ${i} to ${insn.reference} is ${distance} slots, too far for a 16-bit offset; use gotol`);
      }
      insn.jumpOffset = distance;
    } else if (distance !== undefined && (insn.isFunctionCall || (insn.isLoadImm64 && insn.src === (PseudoSource.Func as number)))) {
      insn.constant = insn.isLoadImm64 ? BigInt(distance) : distance;
    }
  });
  return out;
}
