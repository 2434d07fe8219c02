/**
 * Applying a CO-RE result to an instruction (libbpf's `bpf_core_patch_insn`): the compiler
 * left the LOCAL value in the instruction — a memory offset, an ALU immediate or a 64-bit
 * immediate — and the relocation replaces it with the target's. Before patching, the
 * instruction must still hold the local value: anything else means the relocation record and
 * the code disagree (a linker or compiler bug), and patching would silently corrupt it.
 *
 * A relocation that cannot be satisfied "poisons" its instruction instead: it becomes a call
 * of helper 0xbad2310, which no kernel has. Unreachable code (guarded by
 * `bpf_core_field_exists()` and friends) is removed by the verifier; reachable code fails
 * with "invalid func unknown#195896080" at that instruction, which the loader turns into a
 * CO-RE message naming the relocation.
 *
 * @module
 */
import { Class, JumpOp, Mode, Size, Source, opClass, opMode, opSize, opSource } from '../asm/opcode.js';
import { Instruction } from '../asm/instruction.js';
import { BpfError } from '../errors.js';

/** The helper ID poisoned instructions call: 0xbad2310 ("bad relo"), as libbpf writes it. */
export const corePoisonHelperId = 0xbad2310;

/** The outcome of a relocation, before it is applied to an instruction. */
export interface COREResult {
  /** The value the compiler wrote (from the local types). */
  local: bigint;
  /** The value for the target. */
  target: bigint;
  /** The instruction must be poisoned (no candidate, or an unsafe load size change). */
  poison: boolean;
  /** Check that the instruction holds `local` before patching (off for bitfields, type IDs). */
  validate: boolean;
  /** Field size in the local types, for load/store size changes (0: not a memory field). */
  localSize: number;
  /** Field size in the target. */
  targetSize: number;
  /** The load/store size may not change: signed or non-integer field of another size. */
  unsafeSizeChange: boolean;
}

/** How an instruction was changed. */
export type COREPatchKind = 'alu-imm' | 'mem-offset' | 'ldimm64' | 'poison';

/** What {@link applyCOREResult} did. */
export interface COREPatch {
  /** Which field of the instruction changed. */
  kind: COREPatchKind;
  /** The value the instruction held before. */
  from: bigint;
  /** The value it holds now (0 for poison). */
  to: bigint;
  /** For loads/stores whose access size changed: bytes before and after. */
  memorySize?: {
    /** Load/store width the compiler emitted, in bytes. */
    from: number;
    /** Width after relocation, in bytes. */
    to: number;
  };
  /** Set when an unsafe load size change caused the poisoning. */
  unsafeSizeChange?: boolean;
}

/** An instruction does not hold what its CO-RE relocation expects, or cannot take the value. */
export class COREPatchError extends BpfError {}

const sizeBytes: Record<number, number> = { [Size.B]: 1, [Size.H]: 2, [Size.W]: 4, [Size.DW]: 8 };
const sizeByBytes: Record<number, Size> = { 1: Size.B, 2: Size.H, 4: Size.W, 8: Size.DW };

/** Turns `insn` into `call 0xbad2310` in place, keeping its symbol and line (`bpf_core_poison_insn`). */
export function poisonInstruction(insn: Instruction): void {
  insn.opcode = Class.JMP | JumpOp.Call;
  insn.dst = 0 as Instruction['dst'];
  insn.src = 0 as Instruction['src'];
  insn.offset = 0;
  insn.reference = undefined;
  insn.constant = corePoisonHelperId;
}

/** True for an instruction that {@link poisonInstruction} produced. */
export function isPoisoned(insn: Instruction): boolean {
  return insn.isCall && insn.src === 0 && insn.imm === corePoisonHelperId;
}

/**
 * Applies a result to one instruction. `describe` names the relocation in error messages.
 * Returns what changed; for a poisoned `ld_imm64` the caller must insert the second poisoned
 * slot after it (see {@link COREPatch}): libbpf poisons both halves so that the verifier
 * does not complain about the bare second half first.
 */
export function applyCOREResult(insn: Instruction, result: COREResult, describe: () => string): COREPatch {
  if (result.poison) {
    poisonInstruction(insn);
    return { kind: 'poison', from: 0n, to: 0n };
  }
  const cls = opClass(insn.opcode);
  switch (cls) {
    case Class.ALU:
    case Class.ALU64: {
      if (opSource(insn.opcode) !== Source.K) {
        throw new COREPatchError(`${describe()}: instruction \`${insn}\` has no immediate operand to relocate`);
      }
      // The kernel compares the s32 immediate widened to u64 (relo_core.c).
      const held = BigInt.asUintN(64, BigInt(insn.imm));
      if (result.validate && held !== result.local) {
        throw new COREPatchError(
          `${describe()}: instruction \`${insn}\` holds ${insn.imm}, but the relocation expects the compiler's value ${result.local} (to be patched to ${result.target})`,
        );
      }
      insn.constant = result.target;
      return { kind: 'alu-imm', from: held, to: result.target };
    }
    case Class.LDX:
    case Class.ST:
    case Class.STX: {
      const held = BigInt.asUintN(64, BigInt(insn.offset));
      if (result.validate && held !== result.local) {
        throw new COREPatchError(
          `${describe()}: instruction \`${insn}\` has offset ${insn.offset}, but the relocation expects the compiler's value ${result.local} (to be patched to ${result.target})`,
        );
      }
      if (result.target > 0x7fffn) {
        throw new COREPatchError(`${describe()}: offset ${result.target} does not fit the 16-bit offset of \`${insn}\``);
      }
      if (result.unsafeSizeChange) {
        // libbpf poisons rather than fails: the access may be in dead code.
        poisonInstruction(insn);
        return { kind: 'poison', from: 0n, to: 0n, unsafeSizeChange: true };
      }
      const patch: COREPatch = { kind: 'mem-offset', from: held, to: result.target };
      insn.offset = Number(result.target);
      if (result.localSize !== result.targetSize) {
        const current = sizeBytes[opSize(insn.opcode)]!;
        if (current !== result.localSize) {
          throw new COREPatchError(`${describe()}: \`${insn}\` accesses ${current} bytes, but the field has ${result.localSize}`);
        }
        const size = sizeByBytes[result.targetSize];
        if (size === undefined) {
          throw new COREPatchError(`${describe()}: the target field has ${result.targetSize} bytes, which no load or store can access`);
        }
        insn.opcode = opMode(insn.opcode) | size | cls;
        patch.memorySize = { from: result.localSize, to: result.targetSize };
      }
      return patch;
    }
    case Class.LD: {
      if (!insn.isLoadImm64 || insn.src !== 0 || insn.offset !== 0 || opMode(insn.opcode) !== Mode.IMM) {
        throw new COREPatchError(`${describe()}: \`${insn}\` is not a plain 64-bit immediate load`);
      }
      const held = BigInt.asUintN(64, insn.imm64);
      if (result.validate && held !== result.local) {
        throw new COREPatchError(
          `${describe()}: instruction \`${insn}\` holds ${held}, but the relocation expects the compiler's value ${result.local} (to be patched to ${result.target})`,
        );
      }
      insn.constant = result.target;
      return { kind: 'ldimm64', from: held, to: result.target };
    }
    default:
      throw new COREPatchError(`${describe()}: cannot relocate \`${insn}\` (only ALU immediates, loads, stores and ld_imm64 carry CO-RE values)`);
  }
}
