/**
 * The 8-bit opcode of a BPF instruction and its fields.
 *
 * Layout (Documentation/bpf/standardization/instruction-set.rst, "Instruction encoding"): the
 * low three bits are the instruction class. For the load and store classes the remaining bits
 * are a size (bits 3–4) and a mode (bits 5–7); for the arithmetic and jump classes they are a
 * source bit (bit 3) and an operation (bits 4–7). Names follow include/uapi/linux/bpf.h and
 * bpf_common.h.
 *
 * @module
 */

/**
 * Instruction class: the low three bits of every opcode (instruction-set.rst, "Instruction
 * classes"). `JMP32` and `ALU64` reuse the slots of classic BPF's RET and MISC classes.
 */
export enum Class {
  /** Non-standard loads: the 16-byte 64-bit immediate load and legacy packet access. */
  LD = 0x00,
  /** Load from memory into a register. */
  LDX = 0x01,
  /** Store an immediate into memory. */
  ST = 0x02,
  /** Store a register into memory, and atomic operations. */
  STX = 0x03,
  /** 32-bit arithmetic; results are zero-extended to 64 bits. */
  ALU = 0x04,
  /** 64-bit wide jumps, calls and exit. */
  JMP = 0x05,
  /** Jumps that compare the low 32 bits of their operands. */
  JMP32 = 0x06,
  /** 64-bit arithmetic. */
  ALU64 = 0x07,
}

/** Access size of a load or store, bits 3–4 of the opcode ("Load and store instructions"). */
export enum Size {
  /** Word, 4 bytes. */
  W = 0x00,
  /** Half word, 2 bytes. */
  H = 0x08,
  /** Byte. */
  B = 0x10,
  /** Double word, 8 bytes. */
  DW = 0x18,
}

/** Mode of a load or store, bits 5–7 of the opcode. */
export enum Mode {
  /** 64-bit immediate (only with {@link Class.LD} and {@link Size.DW}). */
  IMM = 0x00,
  /** Legacy packet access at a constant offset (socket filters). */
  ABS = 0x20,
  /** Legacy packet access at a register-relative offset. */
  IND = 0x40,
  /** Regular memory access `*(size *)(reg + off)`. */
  MEM = 0x60,
  /** Sign-extending load (ISA v4, Linux 6.6). */
  MEMSX = 0x80,
  /** Atomic read-modify-write; the operation is in the immediate. */
  ATOMIC = 0xc0,
}

/** Source operand selector, bit 3 of arithmetic and jump opcodes. */
export enum Source {
  /** The 32-bit immediate is the source operand. */
  K = 0x00,
  /** The `src` register is the source operand. */
  X = 0x08,
}

/**
 * Arithmetic operation, bits 4–7 of an ALU/ALU64 opcode. Signed division and modulo, and the
 * sign-extending move, share the codes of `DIV`, `MOD` and `MOV` and are told apart by the
 * instruction's `offset` field (ISA v4; see {@link ALUOffset}).
 */
export enum ALUOp {
  /** `dst += src` */
  Add = 0x00,
  /** `dst -= src` */
  Sub = 0x10,
  /** `dst *= src` */
  Mul = 0x20,
  /** `dst /= src` (unsigned; signed with offset 1) */
  Div = 0x30,
  /** `dst |= src` */
  Or = 0x40,
  /** `dst &= src` */
  And = 0x50,
  /** `dst <<= src` */
  LSh = 0x60,
  /** `dst >>= src` (logical) */
  RSh = 0x70,
  /** `dst = -dst` */
  Neg = 0x80,
  /** `dst %= src` (unsigned; signed with offset 1) */
  Mod = 0x90,
  /** `dst ^= src` */
  Xor = 0xa0,
  /** `dst = src` (sign-extending with offset 8, 16 or 32) */
  Mov = 0xb0,
  /** `dst s>>= src` (arithmetic shift) */
  ArSh = 0xc0,
  /** Byte swap; the source bit selects the target byte order, the immediate the width. */
  End = 0xd0,
}

/**
 * Values of the `offset` field that select the ISA v4 variants of ALU operations
 * (instruction-set.rst, "Arithmetic instructions").
 */
export const ALUOffset = {
  /** `offset` of `DIV`/`MOD` that makes them signed (`s/=`, `s%=`). */
  Signed: 1,
  /** Valid `offset` values of a sign-extending `MOV` (`MOVSX`): the source width in bits. */
  MovSX: [8, 16, 32] as readonly number[],
} as const;

/**
 * Byte-swap direction, the source bit of an `END` opcode. In the `ALU64` class the same bit
 * pattern (`TO_LE`) means an unconditional swap (`bswap`, ISA v4).
 */
export enum Endianness {
  /** Convert between host order and little endian (`le16/32/64`). */
  ToLE = 0x00,
  /** Convert between host order and big endian (`be16/32/64`). */
  ToBE = 0x08,
}

/** Jump operation, bits 4–7 of a JMP/JMP32 opcode. */
export enum JumpOp {
  /** Unconditional jump (`goto`; `gotol` with a 32-bit offset in JMP32). */
  JA = 0x00,
  /** `==` */
  JEq = 0x10,
  /** unsigned `>` */
  JGT = 0x20,
  /** unsigned `>=` */
  JGE = 0x30,
  /** `&` (jump if any bit set) */
  JSet = 0x40,
  /** `!=` */
  JNE = 0x50,
  /** signed `>` */
  JSGT = 0x60,
  /** signed `>=` */
  JSGE = 0x70,
  /** Function call: helper, BPF-to-BPF or kfunc depending on `src`. */
  Call = 0x80,
  /** Return from the current function with R0 as result. */
  Exit = 0x90,
  /** unsigned `<` */
  JLT = 0xa0,
  /** unsigned `<=` */
  JLE = 0xb0,
  /** signed `<` */
  JSLT = 0xc0,
  /** signed `<=` */
  JSLE = 0xd0,
  /** Conditional pseudo jump `may_goto` (Linux 6.9), only in the JMP class. */
  JCond = 0xe0,
}

/**
 * Atomic operation, stored in the immediate of a `STX | ATOMIC` instruction
 * (instruction-set.rst, "Atomic operations"). `Fetch` may be or-ed into the four arithmetic
 * operations; `Xchg` and `CmpXchg` always fetch.
 */
export enum AtomicOp {
  /** `lock *(size *)(dst + off) += src` */
  Add = 0x00,
  /** `lock *(size *)(dst + off) |= src` */
  Or = 0x40,
  /** `lock *(size *)(dst + off) &= src` */
  And = 0x50,
  /** `lock *(size *)(dst + off) ^= src` */
  Xor = 0xa0,
  /** Modifier: the old value is returned in `src`. */
  Fetch = 0x01,
  /** Exchange: `src = xchg(dst + off, src)`. */
  Xchg = 0xe1,
  /** Compare and exchange with R0 as the expected value. */
  CmpXchg = 0xf1,
  /** Load-acquire (Linux 6.15): `dst = load_acquire(src + off)`. */
  LoadAcquire = 0x100,
  /** Store-release (Linux 6.15): `store_release(dst + off, src)`. */
  StoreRelease = 0x110,
}

/** The class of an opcode. */
export function opClass(opcode: number): Class {
  return (opcode & 0x07) as Class;
}

/** The size field of a load/store opcode. */
export function opSize(opcode: number): Size {
  return (opcode & 0x18) as Size;
}

/** The mode field of a load/store opcode. */
export function opMode(opcode: number): Mode {
  return (opcode & 0xe0) as Mode;
}

/** The source bit of an ALU/JMP opcode. */
export function opSource(opcode: number): Source {
  return (opcode & 0x08) as Source;
}

/** The operation of an ALU/JMP opcode (ALU or jump depending on the class). */
export function opOperation(opcode: number): number {
  return opcode & 0xf0;
}

/** True for the two arithmetic classes. */
export function isALUClass(cls: Class): boolean {
  return cls === Class.ALU || cls === Class.ALU64;
}

/** True for the two jump classes. */
export function isJumpClass(cls: Class): boolean {
  return cls === Class.JMP || cls === Class.JMP32;
}

/** True for the four load/store classes. */
export function isLoadStoreClass(cls: Class): boolean {
  return cls === Class.LD || cls === Class.LDX || cls === Class.ST || cls === Class.STX;
}

/** Number of bytes a load/store of this size moves. */
export function sizeBytes(size: Size): 1 | 2 | 4 | 8 {
  switch (size) {
    case Size.B:
      return 1;
    case Size.H:
      return 2;
    case Size.W:
      return 4;
    case Size.DW:
      return 8;
  }
}

/** The {@link Size} for a width in bytes; throws a RangeError for anything but 1, 2, 4, 8. */
export function sizeForBytes(bytes: number): Size {
  switch (bytes) {
    case 1:
      return Size.B;
    case 2:
      return Size.H;
    case 4:
      return Size.W;
    case 8:
      return Size.DW;
    default:
      throw new RangeError(`no BPF access size of ${bytes} bytes`);
  }
}

/** Compose an arithmetic opcode. */
export function aluOpcode(cls: Class.ALU | Class.ALU64, op: ALUOp, source: Source): number {
  return cls | op | source;
}

/** Compose a jump opcode. */
export function jumpOpcode(cls: Class.JMP | Class.JMP32, op: JumpOp, source: Source): number {
  return cls | op | source;
}

/** Compose a load/store opcode. */
export function memOpcode(cls: Class.LD | Class.LDX | Class.ST | Class.STX, mode: Mode, size: Size): number {
  return cls | mode | size;
}

/** The opcode of the 16-byte 64-bit immediate load (`BPF_LD | BPF_IMM | BPF_DW`, 0x18). */
export const LoadImm64Opcode = Class.LD | Mode.IMM | Size.DW;
