/**
 * The {@link Instruction} type: one eBPF instruction in decoded form, plus the metadata the
 * loader attaches while linking (symbol, reference, source line).
 *
 * The one wide instruction, the 64-bit immediate load (`ld_imm64`, opcode 0x18), occupies two
 * 8-byte slots on the wire (instruction-set.rst, "64-bit immediate instructions"). It is kept
 * here as ONE instruction with a 64-bit `bigint` constant, so that code walking a program
 * never sees a meaningless second half; {@link Instruction.slots} says how many raw slots an
 * instruction takes, which matters for jump offsets (they count slots, not instructions).
 *
 * @module
 */
import { ALUOp, Class, JumpOp, LoadImm64Opcode, Mode, opClass, opMode, opOperation, opSize, opSource, Size, Source } from './opcode.js';
import { PseudoCall, PseudoSource } from './pseudo.js';
import type { Register } from './register.js';
import { formatInstruction } from './format.js';

/** Where an instruction came from in the C source, as BTF line_info records it. */
export interface SourceLine {
  /** Source file name, when known. */
  fileName?: string;
  /** The text of the source line, when known. */
  lineText?: string;
  /** 1-based line number. */
  lineNumber: number;
  /** 1-based column, 0 when unknown. */
  column: number;
}

/** The fields an {@link Instruction} is built from; all but `opcode` default to zero/absent. */
export interface InstructionFields {
  /** The 8-bit opcode. */
  opcode: number;
  /** Destination register (4 bits). */
  dst?: Register | number;
  /** Source register, or a pseudo source (4 bits). */
  src?: Register | number;
  /** Signed 16-bit offset. */
  offset?: number;
  /** Immediate: signed 32-bit number, or the 64-bit value of an `ld_imm64`. */
  constant?: number | bigint;
  /** A symbol (function or label) that names this instruction. */
  symbol?: string;
  /** A symbol this instruction refers to (a map, a callee, a jump label). */
  reference?: string;
  /** Source line information. */
  line?: SourceLine;
}

/**
 * One decoded eBPF instruction.
 *
 * Fields are mutable because linking and CO-RE patch offsets and constants in place; use
 * {@link Instruction.clone} to keep an original. `constant` is normalised on every write: a
 * signed 64-bit `bigint` for `ld_imm64`, a signed 32-bit `number` for everything else.
 *
 * @example
 * ```ts
 * const insn = new Instruction({ opcode: 0xb7, dst: Register.R0, constant: 42 });
 * insn.toString(); // "r0 = 42"
 * ```
 */
export class Instruction {
  /** The 8-bit opcode: class, size/mode or source/operation. */
  opcode: number;
  /** Destination register (4 bits). */
  dst: Register;
  /** Source register, or a pseudo source for `ld_imm64` and `call` (4 bits). */
  src: Register;
  /** Signed 16-bit offset: memory displacement or jump distance in slots. */
  offset: number;
  /** A symbol (function or label) that starts at this instruction. */
  symbol: string | undefined;
  /** The symbol this instruction refers to: map name, callee, or jump label to resolve. */
  reference: string | undefined;
  /** Source line, from BTF line_info. */
  line: SourceLine | undefined;
  #constant: number | bigint = 0;

  /** Build an instruction; missing fields are zero, the constant is normalised (see {@link Instruction.constant}). */
  constructor(fields: InstructionFields) {
    this.opcode = fields.opcode & 0xff;
    this.dst = (fields.dst ?? 0) as Register;
    this.src = (fields.src ?? 0) as Register;
    this.offset = fields.offset ?? 0;
    this.constant = fields.constant ?? 0;
    this.symbol = fields.symbol;
    this.reference = fields.reference;
    this.line = fields.line;
  }

  /**
   * The immediate. A signed 64-bit `bigint` for `ld_imm64` (both halves combined), a signed
   * 32-bit `number` otherwise. Assigning any number or bigint wraps it to that width, the way
   * the wire format would.
   */
  get constant(): number | bigint {
    return this.#constant;
  }

  /** Store a constant, wrapped to the width this instruction's encoding has. */
  set constant(value: number | bigint) {
    if (this.isLoadImm64) {
      this.#constant = BigInt.asIntN(64, typeof value === 'bigint' ? value : BigInt(Math.trunc(value)));
    } else {
      this.#constant = typeof value === 'bigint' ? Number(BigInt.asIntN(32, value)) : Math.trunc(value) | 0;
    }
  }

  /** The low 32 bits of the constant as a signed number (the `imm` field of the first slot). */
  get imm(): number {
    const c = this.#constant;
    return typeof c === 'bigint' ? Number(BigInt.asIntN(32, c)) : c;
  }

  /** The constant as a signed 64-bit bigint, whatever the instruction. */
  get imm64(): bigint {
    const c = this.#constant;
    return typeof c === 'bigint' ? c : BigInt(c);
  }

  /** The instruction class. */
  get class(): Class {
    return opClass(this.opcode);
  }

  /** True for the 16-byte 64-bit immediate load. */
  get isLoadImm64(): boolean {
    return this.opcode === LoadImm64Opcode;
  }

  /** Raw 8-byte slots this instruction occupies: 2 for `ld_imm64`, else 1. */
  get slots(): 1 | 2 {
    return this.isLoadImm64 ? 2 : 1;
  }

  /** Encoded size in bytes: 16 for `ld_imm64`, else 8. */
  get byteLength(): 8 | 16 {
    return this.isLoadImm64 ? 16 : 8;
  }

  /** True for `exit`. */
  get isExit(): boolean {
    return this.opcode === (Class.JMP | JumpOp.Exit);
  }

  /** True for any `call` (helper, BPF-to-BPF or kfunc). */
  get isCall(): boolean {
    return this.opcode === (Class.JMP | JumpOp.Call);
  }

  /** True for a helper call. */
  get isHelperCall(): boolean {
    return this.isCall && this.src === (PseudoCall.Helper as number);
  }

  /** True for a BPF-to-BPF call (`src` = `BPF_PSEUDO_CALL`); the constant is pc-relative. */
  get isFunctionCall(): boolean {
    return this.isCall && this.src === (PseudoCall.Call as number);
  }

  /** True for a kfunc call (`src` = `BPF_PSEUDO_KFUNC_CALL`). */
  get isKfuncCall(): boolean {
    return this.isCall && this.src === (PseudoCall.KfuncCall as number);
  }

  /**
   * True for a jump that transfers control within the function: `goto`, `gotol`, conditional
   * jumps and `may_goto`; false for `call` and `exit`.
   */
  get isJump(): boolean {
    const cls = this.class;
    if (cls !== Class.JMP && cls !== Class.JMP32) return false;
    const op = opOperation(this.opcode);
    return op !== JumpOp.Call && op !== JumpOp.Exit;
  }

  /** True for `gotol`: the JMP32 `JA` whose distance is in the 32-bit immediate (ISA v4). */
  get isLongJump(): boolean {
    return this.opcode === (Class.JMP32 | JumpOp.JA);
  }

  /**
   * The jump distance in slots, relative to the next slot: the immediate for `gotol`, the
   * offset otherwise. Only meaningful when {@link Instruction.isJump} is true.
   */
  get jumpOffset(): number {
    return this.isLongJump ? this.imm : this.offset;
  }

  /** Set the jump distance in slots (into the immediate for `gotol`, else the offset). */
  set jumpOffset(value: number) {
    if (this.isLongJump) this.constant = value;
    else this.offset = value;
  }

  /** True for an `ld_imm64` of a map fd or map value (`BPF_PSEUDO_MAP_*`). */
  get isLoadFromMap(): boolean {
    if (!this.isLoadImm64) return false;
    const s = this.src as number;
    return s === PseudoSource.MapFD || s === PseudoSource.MapValue || s === PseudoSource.MapIdx || s === PseudoSource.MapIdxValue;
  }

  /** True for an ALU/ALU64 `mov` from an immediate or register (not sign-extending). */
  get isMov(): boolean {
    const cls = this.class;
    return (cls === Class.ALU || cls === Class.ALU64) && opOperation(this.opcode) === ALUOp.Mov && this.offset === 0;
  }

  /** True for a memory load (`LDX` with mode MEM or MEMSX). */
  get isLoadFromMemory(): boolean {
    const mode = opMode(this.opcode);
    return this.class === Class.LDX && (mode === Mode.MEM || mode === Mode.MEMSX);
  }

  /** True for a memory store of a register or immediate (`STX`/`ST` with mode MEM). */
  get isStoreToMemory(): boolean {
    const cls = this.class;
    return (cls === Class.ST || cls === Class.STX) && opMode(this.opcode) === Mode.MEM;
  }

  /** The access size of a load/store. */
  get size(): Size {
    return opSize(this.opcode);
  }

  /** The source bit of an ALU/JMP instruction. */
  get source(): Source {
    return opSource(this.opcode);
  }

  /** Attach a symbol (function or jump label) to this instruction and return it, for chaining. */
  withSymbol(name: string | undefined): this {
    this.symbol = name;
    return this;
  }

  /** Set the reference (map, callee or jump label) and return this instruction, for chaining. */
  withReference(name: string | undefined): this {
    this.reference = name;
    return this;
  }

  /** A copy with the given fields replaced (metadata included). */
  clone(overrides: Partial<InstructionFields> = {}): Instruction {
    return new Instruction({
      opcode: this.opcode,
      dst: this.dst,
      src: this.src,
      offset: this.offset,
      constant: this.#constant,
      symbol: this.symbol,
      reference: this.reference,
      line: this.line,
      ...overrides,
    });
  }

  /** True when opcode, registers, offset and constant are equal; metadata is ignored. */
  equals(other: Instruction): boolean {
    return (
      this.opcode === other.opcode &&
      this.dst === other.dst &&
      this.src === other.src &&
      this.offset === other.offset &&
      this.imm64 === other.imm64
    );
  }

  /** The instruction in llvm-objdump syntax, e.g. `r0 = 42` or `if w1 > 5 goto +3`. */
  toString(): string {
    return formatInstruction(this);
  }
}
