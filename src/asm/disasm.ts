/**
 * A disassembler whose listing reads like `llvm-objdump -d` on a BPF object: per instruction
 * the slot index, optionally the raw bytes (all 16 for `ld_imm64`, on one line), and the
 * instruction text; a `ADDRESS <symbol>:` header before each instruction that carries a
 * symbol; jump targets annotated with the symbol they land on (`<LBB0_2>`), or the nearest
 * preceding symbol plus a byte offset (`<prog+0x58>`), as llvm-objdump does. Loads and calls
 * that carry a reference (a map, a callee, an extern, an undefined symbol) are annotated with
 * its name the same way (`r1 = 0 ll <events>`, `call -1 <fwd>`).
 *
 * @module
 */
import { encodeInstruction, slotOffsets, SlotSize, type ByteOrder } from './encoding.js';
import { formatInstruction } from './format.js';
import type { Instruction } from './instruction.js';

/** Options of {@link disassemble}. */
export interface DisassembleOptions {
  /** Byte order for the raw-bytes column (default `'little'`). */
  byteOrder?: ByteOrder;
  /** Print the raw bytes column, like `llvm-objdump -d` (default true). */
  rawBytes?: boolean;
  /**
   * Section name: prints a `Disassembly of section NAME:` header, and names the listing's start
   * when its first instruction has no symbol (llvm-objdump falls back to the section symbol).
   */
  sectionName?: string;
  /** Append ` ; file:line` comments from {@link Instruction.line} (default false). */
  sourceLines?: boolean;
}

interface Label {
  slot: number;
  name: string;
}

/** The `<name>` or `<name+0xoff>` annotation for a jump target, as llvm-objdump prints it. */
function targetAnnotation(labels: readonly Label[], slot: number, totalSlots: number): string {
  if (slot < 0 || slot > totalSlots) return '';
  let best: Label | undefined;
  for (const label of labels) {
    if (label.slot <= slot && (best === undefined || label.slot >= best.slot)) best = label;
  }
  if (best === undefined) return '';
  const delta = (slot - best.slot) * SlotSize;
  return delta === 0 ? ` <${best.name}>` : ` <${best.name}+0x${delta.toString(16)}>`;
}

function hexBytes(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

/**
 * Disassemble instructions into an llvm-objdump style listing (one string, lines joined by
 * `\n`, ending with a newline).
 *
 * @example
 * ```ts
 * disassemble([mov64Imm(Register.R0, 42).withSymbol('prog'), exit()]);
 * // "\n0000000000000000 <prog>:\n       0:\tb7 00 00 00 2a 00 00 00\tr0 = 42\n       1:\t95 00 00 00 00 00 00 00\texit\n"
 * ```
 */
export function disassemble(insns: readonly Instruction[], options: DisassembleOptions = {}): string {
  const byteOrder = options.byteOrder ?? 'little';
  const rawBytes = options.rawBytes ?? true;
  const slots = slotOffsets(insns);
  const totalSlots = slots[insns.length]!;
  const labels: Label[] = [];
  insns.forEach((insn, i) => {
    if (insn.symbol !== undefined) labels.push({ slot: slots[i]!, name: insn.symbol });
  });
  if ((labels.length === 0 || labels[0]!.slot !== 0) && options.sectionName !== undefined) {
    labels.unshift({ slot: 0, name: options.sectionName });
  }

  const lines: string[] = [];
  if (options.sectionName !== undefined) lines.push(`Disassembly of section ${options.sectionName}:`);
  insns.forEach((insn, i) => {
    const slot = slots[i]!;
    const header = insn.symbol ?? (i === 0 && options.sectionName !== undefined ? options.sectionName : undefined);
    if (header !== undefined) {
      lines.push('', `${(slot * SlotSize).toString(16).padStart(16, '0')} <${header}>:`);
    }
    let text = formatInstruction(insn);
    if (insn.isJump && !text.startsWith('<')) {
      text += targetAnnotation(labels, slot + 1 + insn.jumpOffset, totalSlots);
    } else if (insn.reference !== undefined && (insn.isLoadImm64 || insn.isCall)) {
      // What the loader will put there (a map, a callee, a kernel symbol) or, for a symbolic
      // reference, the undefined symbol the user still has to resolve: llvm-objdump -r
      // prints the same name on the relocation line below.
      text += ` <${insn.reference}>`;
    }
    if (options.sourceLines === true && insn.line !== undefined) {
      const where = `${insn.line.fileName ?? ''}:${insn.line.lineNumber}`;
      text += ` ; ${where}${insn.line.lineText === undefined ? '' : ` ${insn.line.lineText.trim()}`}`;
    }
    const index = `${slot}`.padStart(8);
    lines.push(rawBytes ? `${index}:\t${hexBytes(encodeInstruction(insn, byteOrder))}\t${text}` : `${index}:\t${text}`);
  });
  return lines.join('\n') + '\n';
}
