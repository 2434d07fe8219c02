/**
 * BPF-to-BPF linking within one object: a program is loaded as one instruction stream, so each
 * program gets its own copy of every function it reaches (calls and callback references,
 * transitively), appended once after its body, and every call's pc-relative immediate is
 * computed for that layout. This is what libbpf does per program (bpf_object__reloc_code());
 * two programs calling the same subprogram each carry a copy. A call to a function the object
 * does not define (an undefined symbol) is left for the user to resolve.
 *
 * @module
 */
import type { Instruction } from '../asm/instruction.js';
import { PseudoSource } from '../asm/pseudo.js';
import type { CodeFunction } from './code.js';

/** True for instructions that refer to another function by name: calls and callback loads. */
export function isFunctionReference(insn: Instruction): boolean {
  return insn.reference !== undefined && (insn.isFunctionCall || (insn.isLoadImm64 && insn.src === (PseudoSource.Func as number)));
}

/** A program with its callees appended. */
export interface LinkedProgram {
  /** The program's instructions followed by every function it reaches, offsets fixed up. */
  instructions: Instruction[];
  /** Function name → the slot where its copy starts in {@link LinkedProgram.instructions}. */
  layout: Map<string, number>;
}

/**
 * The instructions of `entry` followed by each function it reaches, in order of first use,
 * with call and callback offsets fixed up. Instructions are copies: editing one program never
 * changes another. Returns the layout too (function name → first slot).
 */
export function linkProgram(entry: CodeFunction, functions: ReadonlyMap<string, CodeFunction>): LinkedProgram {
  const out: Instruction[] = entry.instructions.map((i) => i.clone());
  const layout = new Map<string, number>([[entry.name, 0]]);
  let slot = 0;
  for (const insn of out) slot += insn.slots;
  // `out` grows while we walk it: appended callees are scanned for their own callees.
  for (let i = 0; i < out.length; i++) {
    const insn = out[i]!;
    if (!isFunctionReference(insn)) continue;
    const name = insn.reference!;
    if (layout.has(name)) continue;
    const callee = functions.get(name);
    // No function of the object: a symbolic reference (an undefined symbol), resolved later.
    if (callee === undefined) continue;
    layout.set(name, slot);
    for (const c of callee.instructions) {
      const copy = c.clone();
      out.push(copy);
      slot += copy.slots;
    }
  }
  fixupFunctionReferences(out, layout);
  return { instructions: out, layout };
}

/**
 * Sets the pc-relative immediates of calls and callback loads from their `reference` and the
 * layout (the kernel counts both from the next instruction: `i + imm + 1`). References to
 * names the layout lacks are symbolic (see references.ts) and keep their immediate; loading
 * refuses them until resolved.
 */
export function fixupFunctionReferences(insns: Instruction[], layout: ReadonlyMap<string, number>): void {
  let slot = 0;
  for (const insn of insns) {
    if (isFunctionReference(insn)) {
      const target = layout.get(insn.reference!);
      if (target === undefined) {
        slot += insn.slots;
        continue;
      }
      const relative = target - (slot + 1);
      // ld_imm64's second slot must stay zero: only the low 32 bits carry the offset.
      insn.constant = insn.isLoadImm64 ? BigInt.asUintN(32, BigInt(relative)) : relative;
    }
    slot += insn.slots;
  }
}
