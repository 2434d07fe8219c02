/**
 * Instructions to bytes and back, in either byte order.
 *
 * Wire format (instruction-set.rst, "Instruction encoding"): 8 bytes per slot — opcode (1),
 * registers (1), offset (2, signed), immediate (4, signed). The register byte holds two
 * nibbles whose order follows the ELF byte order: on little-endian targets `dst` is the low
 * nibble, on big-endian targets the high one (the kernel's `struct bpf_insn` bitfields
 * `dst_reg:4, src_reg:4` are laid out by the compiler in that order). `ld_imm64` takes two
 * slots; the second has opcode, registers and offset zero and carries the upper 32 bits of
 * the constant in its immediate.
 *
 * @module
 */
import { ArgumentError, ParseError } from '../errors.js';
import { Instruction } from './instruction.js';
import { LoadImm64Opcode } from './opcode.js';
import { dataView } from '../internal/bytes.js';

/** Byte order of an object file and of the instructions in it (`bpfel` / `bpfeb`). */
export type ByteOrder = 'little' | 'big';

/** Size of one raw instruction slot in bytes. */
export const SlotSize = 8;

/**
 * Decode a byte buffer holding consecutive instructions (an ELF program section).
 *
 * Unknown opcodes are kept, not rejected: the kernel decides what it accepts, and keeping them
 * lets a decode→encode round-trip reproduce any well-formed input byte for byte. What cannot
 * be an instruction stream at all throws a `ParseError` naming the instruction index and
 * byte offset: a length that is not a multiple of 8, an `ld_imm64` cut off at the end, or an
 * `ld_imm64` whose second slot has non-zero reserved fields (which the verifier rejects as
 * "invalid bpf_ld_imm64 insn").
 *
 * @param bytes the raw instructions
 * @param byteOrder the byte order of the object they came from
 * @param baseOffset added to byte offsets in error messages (the section's offset in a file)
 */
export function decode(bytes: Uint8Array, byteOrder: ByteOrder, baseOffset = 0): Instruction[] {
  if (bytes.byteLength % SlotSize !== 0) {
    const index = Math.floor(bytes.byteLength / SlotSize);
    throw new ParseError(
      `instructions: length ${bytes.byteLength} is not a multiple of ${SlotSize} (instruction ${index} truncated)`,
      baseOffset + index * SlotSize,
    );
  }
  const view = dataView(bytes);
  const little = byteOrder === 'little';
  const insns: Instruction[] = [];
  for (let pos = 0; pos < bytes.byteLength; pos += SlotSize) {
    const opcode = view.getUint8(pos);
    const regs = view.getUint8(pos + 1);
    const dst = little ? regs & 0x0f : regs >> 4;
    const src = little ? regs >> 4 : regs & 0x0f;
    const offset = view.getInt16(pos + 2, little);
    const imm = view.getInt32(pos + 4, little);
    if (opcode !== LoadImm64Opcode) {
      insns.push(new Instruction({ opcode, dst, src, offset, constant: imm }));
      continue;
    }
    const index = insns.length;
    if (pos + 2 * SlotSize > bytes.byteLength) {
      throw new ParseError(`instruction ${index}: ld_imm64 is missing its second 8-byte slot`, baseOffset + pos);
    }
    const next = pos + SlotSize;
    if (view.getUint8(next) !== 0 || view.getUint8(next + 1) !== 0 || view.getInt16(next + 2, little) !== 0) {
      throw new ParseError(
        `instruction ${index}: second slot of ld_imm64 must have zero opcode, registers and offset`,
        baseOffset + next,
      );
    }
    const high = view.getUint32(next + 4, little);
    const constant = (BigInt(high) << 32n) | BigInt(imm >>> 0);
    insns.push(new Instruction({ opcode, dst, src, offset, constant }));
    pos = next;
  }
  return insns;
}

function checkRange(insn: Instruction, index: number, field: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ArgumentError(`instruction ${index} (${insn.toString()}): ${field} ${value} out of range [${min}, ${max}]`);
  }
}

function writeSlot(
  view: DataView,
  pos: number,
  little: boolean,
  opcode: number,
  dst: number,
  src: number,
  offset: number,
  imm: number,
): void {
  view.setUint8(pos, opcode);
  view.setUint8(pos + 1, little ? (src << 4) | dst : (dst << 4) | src);
  view.setInt16(pos + 2, offset, little);
  view.setInt32(pos + 4, imm, little);
}

/** Total encoded size of the instructions in bytes. */
export function byteLength(insns: readonly Instruction[]): number {
  let n = 0;
  for (const insn of insns) n += insn.byteLength;
  return n;
}

/**
 * Encode instructions into the wire format. Registers must fit 4 bits and offsets 16 bits
 * (signed); a 32-bit constant is written as its low 32 bits. Throws an `ArgumentError` naming
 * the instruction otherwise, because silently truncating a field would change what the
 * program does.
 */
export function encode(insns: readonly Instruction[], byteOrder: ByteOrder): Uint8Array {
  const out = new Uint8Array(byteLength(insns));
  const view = dataView(out);
  const little = byteOrder === 'little';
  let pos = 0;
  insns.forEach((insn, index) => {
    checkRange(insn, index, 'opcode', insn.opcode, 0, 0xff);
    checkRange(insn, index, 'dst register', insn.dst, 0, 15);
    checkRange(insn, index, 'src register', insn.src, 0, 15);
    checkRange(insn, index, 'offset', insn.offset, -0x8000, 0x7fff);
    if (insn.isLoadImm64) {
      const value = BigInt.asUintN(64, insn.imm64);
      writeSlot(view, pos, little, insn.opcode, insn.dst, insn.src, insn.offset, Number(BigInt.asIntN(32, value)));
      writeSlot(view, pos + SlotSize, little, 0, 0, 0, 0, Number(BigInt.asIntN(32, value >> 32n)));
    } else {
      writeSlot(view, pos, little, insn.opcode, insn.dst, insn.src, insn.offset, insn.imm);
    }
    pos += insn.byteLength;
  });
  return out;
}

/** Encode one instruction (8 or 16 bytes). */
export function encodeInstruction(insn: Instruction, byteOrder: ByteOrder): Uint8Array {
  return encode([insn], byteOrder);
}

/**
 * The raw slot offset of every instruction (index `i` → slot of instruction `i`), plus one
 * final entry: the total slot count. Jump offsets, BTF func_info/line_info and ELF relocation
 * offsets (divided by 8) all count slots, while decoded programs index instructions.
 */
export function slotOffsets(insns: readonly Instruction[]): number[] {
  const out = new Array<number>(insns.length + 1);
  let slot = 0;
  for (let i = 0; i < insns.length; i++) {
    out[i] = slot;
    slot += insns[i]!.slots;
  }
  out[insns.length] = slot;
  return out;
}

/**
 * Maps instruction indices to raw slot offsets and back for one instruction list, in O(1)
 * after an O(n) set-up. Rebuild it after inserting or removing instructions.
 */
export class SlotMap {
  readonly #slots: number[];
  readonly #indexBySlot: Int32Array;

  constructor(insns: readonly Instruction[]) {
    this.#slots = slotOffsets(insns);
    const total = this.#slots[insns.length]!;
    this.#indexBySlot = new Int32Array(total + 1).fill(-1);
    for (let i = 0; i <= insns.length; i++) this.#indexBySlot[this.#slots[i]!] = i;
  }

  /** Number of raw slots the instructions occupy. */
  get slotCount(): number {
    return this.#slots[this.#slots.length - 1]!;
  }

  /** The slot offset of instruction `index` (`index === length` gives the end). */
  slotOf(index: number): number {
    const slot = this.#slots[index];
    if (slot === undefined) throw new RangeError(`instruction index ${index} out of range`);
    return slot;
  }

  /**
   * The instruction index starting at `slot`, or undefined when the slot is out of range or
   * is the second half of an `ld_imm64` (a jump or relocation there is malformed).
   */
  indexOf(slot: number): number | undefined {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.#indexBySlot.length) return undefined;
    const i = this.#indexBySlot[slot]!;
    return i < 0 ? undefined : i;
  }

  /** The instruction index at a byte offset in the encoded stream (e.g. an ELF relocation). */
  indexOfByteOffset(byteOffset: number): number | undefined {
    if (byteOffset % SlotSize !== 0) return undefined;
    return this.indexOf(byteOffset / SlotSize);
  }
}
