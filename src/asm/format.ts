/**
 * Text form of one instruction in the syntax `llvm-objdump -d` prints for BPF (LLVM's BPF
 * asm printer), so that our listings can be compared line for line with LLVM's.
 *
 * Where LLVM 14 has no syntax (ISA v4: sign-extending loads and moves, signed division,
 * `bswap`, `gotol`; `may_goto`; `addr_space_cast`; `BPF_ST` immediates; `BPF_JSET`; load-acquire and
 * store-release) the forms of later LLVM releases are used. Choices made to match LLVM 14:
 * loads and non-atomic stores name 64-bit registers (`r1 = *(u32 *)(r2 + 0)`) whatever the
 * size, `END` always names 64-bit registers, immediates are signed decimal, and an undecodable
 * encoding prints as `<unknown>`. One deliberate difference: 32-bit atomics name `w`
 * registers and are decoded from the immediate, which LLVM 14 only does with `-mattr=+alu32`
 * (without it, it prints `<unknown>` or mistakes a fetching add for a plain one).
 *
 * @module
 */
import { AtomicOp, ALUOp, Class, Endianness, JumpOp, Mode, opClass, opMode, opOperation, opSize, opSource, Size, Source } from './opcode.js';
import type { Instruction } from './instruction.js';

/** The text LLVM prints for an encoding it cannot decode. */
export const UnknownInstruction = '<unknown>';

const aluSymbols: Partial<Record<ALUOp, string>> = {
  [ALUOp.Add]: '+=',
  [ALUOp.Sub]: '-=',
  [ALUOp.Mul]: '*=',
  [ALUOp.Div]: '/=',
  [ALUOp.Or]: '|=',
  [ALUOp.And]: '&=',
  [ALUOp.LSh]: '<<=',
  [ALUOp.RSh]: '>>=',
  [ALUOp.Mod]: '%=',
  [ALUOp.Xor]: '^=',
  [ALUOp.ArSh]: 's>>=',
};

const jumpSymbols: Partial<Record<JumpOp, string>> = {
  [JumpOp.JEq]: '==',
  [JumpOp.JGT]: '>',
  [JumpOp.JGE]: '>=',
  [JumpOp.JSet]: '&',
  [JumpOp.JNE]: '!=',
  [JumpOp.JSGT]: 's>',
  [JumpOp.JSGE]: 's>=',
  [JumpOp.JLT]: '<',
  [JumpOp.JLE]: '<=',
  [JumpOp.JSLT]: 's<',
  [JumpOp.JSLE]: 's<=',
};

const atomicNames: Partial<Record<number, string>> = {
  [AtomicOp.Add]: 'add',
  [AtomicOp.Or]: 'or',
  [AtomicOp.And]: 'and',
  [AtomicOp.Xor]: 'xor',
};

const sizeNames: Record<Size, string> = {
  [Size.B]: '8',
  [Size.H]: '16',
  [Size.W]: '32',
  [Size.DW]: '64',
};

function reg(n: number, wide: boolean): string {
  return `${wide ? 'r' : 'w'}${n}`;
}

/** `+3`, `-2`, `+0`: jump distances always carry a sign in LLVM's syntax. */
function signed(n: number): string {
  return n < 0 ? `${n}` : `+${n}`;
}

/** `(r1 + 8)` / `(r10 - 4)`. */
function address(base: number, offset: number): string {
  return offset < 0 ? `(r${base} - ${-offset})` : `(r${base} + ${offset})`;
}

function formatALU(insn: Instruction): string {
  const op = opOperation(insn.opcode) as ALUOp;
  const wide = opClass(insn.opcode) === Class.ALU64;
  const dst = reg(insn.dst, wide);
  const fromReg = opSource(insn.opcode) === Source.X;
  const operand = fromReg ? reg(insn.src, wide) : `${insn.imm}`;
  switch (op) {
    case ALUOp.Neg:
      return `${dst} = -${dst}`;
    case ALUOp.Mov:
      if (insn.offset === 0) return `${dst} = ${operand}`;
      if (fromReg && (insn.offset === 8 || insn.offset === 16 || (wide && insn.offset === 32))) {
        return `${dst} = (s${insn.offset})${reg(insn.src, wide)}`;
      }
      // Arena pointer cast (6.9): imm holds the destination address space above the source's.
      if (fromReg && wide && insn.offset === 1) return `${dst} = addr_space_cast(${reg(insn.src, true)}, ${insn.imm >>> 16}, ${insn.imm & 0xffff})`;
      return UnknownInstruction;
    case ALUOp.Div:
    case ALUOp.Mod:
      if (insn.offset === 1) return `${dst} s${aluSymbols[op]} ${operand}`;
      if (insn.offset !== 0) return UnknownInstruction;
      return `${dst} ${aluSymbols[op]} ${operand}`;
    case ALUOp.End: {
      const bits = insn.imm;
      if (bits !== 16 && bits !== 32 && bits !== 64) return UnknownInstruction;
      const r = reg(insn.dst, true);
      if (wide) return fromReg ? UnknownInstruction : `${r} = bswap${bits} ${r}`;
      const kind = opSource(insn.opcode) === (Endianness.ToBE as number) ? 'be' : 'le';
      return `${r} = ${kind}${bits} ${r}`;
    }
    default: {
      const sym = aluSymbols[op];
      if (sym === undefined) return UnknownInstruction;
      return `${dst} ${sym} ${operand}`;
    }
  }
}

function formatJump(insn: Instruction): string {
  const cls = opClass(insn.opcode);
  const op = opOperation(insn.opcode) as JumpOp;
  const wide = cls === Class.JMP;
  switch (op) {
    case JumpOp.JA:
      return wide ? `goto ${signed(insn.offset)}` : `gotol ${signed(insn.imm)}`;
    case JumpOp.Call:
      return wide ? `call ${insn.imm}` : UnknownInstruction;
    case JumpOp.Exit:
      return wide ? 'exit' : UnknownInstruction;
    case JumpOp.JCond:
      return wide && insn.src === 0 ? `may_goto ${signed(insn.offset)}` : UnknownInstruction;
    default: {
      const sym = jumpSymbols[op];
      if (sym === undefined) return UnknownInstruction;
      const rhs = opSource(insn.opcode) === Source.X ? reg(insn.src, wide) : `${insn.imm}`;
      return `if ${reg(insn.dst, wide)} ${sym} ${rhs} goto ${signed(insn.offset)}`;
    }
  }
}

function formatLoad(insn: Instruction): string {
  const mode = opMode(insn.opcode);
  const size = opSize(insn.opcode);
  if (mode === Mode.IMM && size === Size.DW) {
    const c = insn.imm64;
    if (insn.src === 0) return `${reg(insn.dst, true)} = ${c} ll`;
    // LLVM's generic form for pseudo loads: destination, pseudo source, low immediate. The
    // high half (a map value offset) is appended when present so that no information is lost.
    const high = Number(BigInt.asIntN(32, c >> 32n));
    return `ld_pseudo\t${reg(insn.dst, true)}, ${insn.src}, ${insn.imm}${high === 0 ? '' : `, ${high}`}`;
  }
  if ((mode === Mode.ABS || mode === Mode.IND) && size !== Size.DW) {
    const index = mode === Mode.ABS ? `${insn.imm}` : insn.imm === 0 ? `r${insn.src}` : `r${insn.src} + ${insn.imm}`;
    return `r0 = *(u${sizeNames[size]} *)skb[${index}]`;
  }
  return UnknownInstruction;
}

function formatAtomic(insn: Instruction): string {
  const size = opSize(insn.opcode);
  const wide = size === Size.DW;
  const ptr = `*(u${sizeNames[size]} *)${address(insn.dst, insn.offset)}`;
  const bare = `${address(insn.dst, insn.offset).slice(1, -1)}`;
  const src = reg(insn.src, wide);
  const imm = insn.imm;
  if (imm === AtomicOp.LoadAcquire) return `${reg(insn.dst, wide)} = load_acquire((u${sizeNames[size]} *)${address(insn.src, insn.offset)})`;
  if (imm === AtomicOp.StoreRelease) return `store_release((u${sizeNames[size]} *)${address(insn.dst, insn.offset)}, ${src})`;
  if (size !== Size.W && size !== Size.DW) return UnknownInstruction;
  if (imm === AtomicOp.Xchg) return wide ? `${src} = xchg_64(${bare}, ${src})` : `${src} = xchg32_32(${bare}, ${src})`;
  if (imm === AtomicOp.CmpXchg) {
    const r0 = reg(0, wide);
    return wide ? `${r0} = cmpxchg_64(${bare}, ${r0}, ${src})` : `${r0} = cmpxchg32_32(${bare}, ${r0}, ${src})`;
  }
  const name = atomicNames[imm & ~AtomicOp.Fetch];
  if (name === undefined) return UnknownInstruction;
  if (imm & AtomicOp.Fetch) return `${src} = atomic_fetch_${name}((u${sizeNames[size]} *)${address(insn.dst, insn.offset)}, ${src})`;
  const sym = name === 'add' ? '+=' : name === 'or' ? '|=' : name === 'and' ? '&=' : '^=';
  return `lock ${ptr} ${sym} ${src}`;
}

function formatMemory(insn: Instruction): string {
  const cls = opClass(insn.opcode);
  const mode = opMode(insn.opcode);
  const size = opSize(insn.opcode);
  const bits = sizeNames[size];
  switch (cls) {
    case Class.LDX:
      if (mode === Mode.MEM) return `r${insn.dst} = *(u${bits} *)${address(insn.src, insn.offset)}`;
      if (mode === Mode.MEMSX && size !== Size.DW) return `r${insn.dst} = *(s${bits} *)${address(insn.src, insn.offset)}`;
      return UnknownInstruction;
    case Class.ST:
      if (mode === Mode.MEM) return `*(u${bits} *)${address(insn.dst, insn.offset)} = ${insn.imm}`;
      return UnknownInstruction;
    case Class.STX:
      if (mode === Mode.MEM) return `*(u${bits} *)${address(insn.dst, insn.offset)} = r${insn.src}`;
      if (mode === Mode.ATOMIC) return formatAtomic(insn);
      return UnknownInstruction;
    default:
      return UnknownInstruction;
  }
}

/**
 * One instruction as text in llvm-objdump's BPF syntax, e.g. `*(u32 *)(r10 - 4) = r1`,
 * `w0 += 1`, `if r1 > 5 goto +3`, `r1 = 0 ll`. Returns `<unknown>` for encodings that are not
 * valid instructions, as LLVM does. Jump target labels are added by the disassembler, which
 * knows the symbols.
 */
export function formatInstruction(insn: Instruction): string {
  switch (opClass(insn.opcode)) {
    case Class.ALU:
    case Class.ALU64:
      return formatALU(insn);
    case Class.JMP:
    case Class.JMP32:
      return formatJump(insn);
    case Class.LD:
      return formatLoad(insn);
    default:
      return formatMemory(insn);
  }
}
