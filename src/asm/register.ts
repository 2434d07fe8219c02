/**
 * BPF registers (instruction-set.rst, "Registers and calling convention"): R0 holds return
 * values, R1–R5 arguments (clobbered by calls), R6–R9 are callee-saved, R10 is the read-only
 * frame pointer.
 *
 * @module
 */

/** A register number as it appears in the 4-bit `dst`/`src` fields. */
export enum Register {
  /** Return value of calls and of the program. */
  R0 = 0,
  /** First argument; the context pointer on program entry. */
  R1 = 1,
  /** Second argument. */
  R2 = 2,
  /** Third argument. */
  R3 = 3,
  /** Fourth argument. */
  R4 = 4,
  /** Fifth argument. */
  R5 = 5,
  /** Callee-saved. */
  R6 = 6,
  /** Callee-saved. */
  R7 = 7,
  /** Callee-saved. */
  R8 = 8,
  /** Callee-saved. */
  R9 = 9,
  /** Read-only frame pointer. */
  R10 = 10,
}

/** Alias of {@link Register.R10}, the frame pointer. */
export const RFP = Register.R10;

/**
 * The assembler name of a register: `r3`, or `w3` for its low 32 bits as 32-bit ALU and JMP32
 * instructions use it.
 */
export function registerName(reg: number, wide = true): string {
  return `${wide ? 'r' : 'w'}${reg}`;
}
