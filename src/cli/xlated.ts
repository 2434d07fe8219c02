/**
 * A loaded program's translated instructions made readable: decoded from what the kernel
 * reports, with function names and source lines from the program's BTF (func_info and
 * line_info, which the kernel keeps in step with the instructions it rewrote), and with the
 * kernel's own encodings put back into words — `ld_imm64` of a map becomes the map's id and
 * name, a call the helper or kernel function it reaches, a BPF-to-BPF call its callee.
 *
 * @module
 */
import { decode, slotOffsets } from '../asm/encoding.js';
import { helperName } from '../asm/helper.js';
import type { Instruction, SourceLine } from '../asm/instruction.js';
import { PseudoCall, PseudoSource } from '../asm/pseudo.js';
import type { Spec } from '../btf/spec.js';
import { Func } from '../btf/types.js';
import { hostLittleEndian } from '../internal/bytes.js';
import type { ProgramCode } from '../internal/bpf-prog-code.js';
import type { InstructionText } from './disasm.js';
import type { SymbolsByAddress } from './kernel-symbols.js';

/** The host's byte order, in which the kernel reports instructions. */
export const hostByteOrder = hostLittleEndian ? 'little' : 'big';

/** The name of the FUNC `typeId` of `btf`, or undefined. */
function funcName(btf: Spec | undefined, typeId: number): string | undefined {
  try {
    const t = btf?.typeById(typeId);
    return t instanceof Func ? t.name : undefined;
  } catch {
    return undefined;
  }
}

/** The string at `offset` of `btf`'s string table, or undefined. */
function btfString(btf: Spec | undefined, offset: number): string | undefined {
  try {
    return btf?.strings?.get(offset);
  } catch {
    return undefined;
  }
}

/** The function names of a program by their first slot: from func_info, else the program's name at 0. */
export function functionNames(code: ProgramCode, btf: Spec | undefined, programName: string): Map<number, string> {
  const names = new Map<number, string>();
  code.funcInfo.forEach((f, i) => names.set(f.insnOffset, funcName(btf, f.typeId) ?? (i === 0 ? programName : `func_${f.insnOffset}`)));
  if (!names.has(0)) names.set(0, programName);
  return names;
}

/** The source line of each line_info record of `code`, in record order. */
export function sourceLines(code: ProgramCode, btf: Spec | undefined): SourceLine[] {
  return code.lineInfo.map((l) => ({ fileName: btfString(btf, l.fileNameOffset), lineText: btfString(btf, l.lineOffset), lineNumber: l.lineNumber, column: l.column }));
}

/**
 * The translated instructions of `code`, each function's first instruction carrying its
 * name as symbol and each line_info record's instruction its source line.
 */
export function xlatedInstructions(code: ProgramCode, btf: Spec | undefined, programName: string): Instruction[] {
  const insns = decode(code.xlated, hostByteOrder);
  const slots = slotOffsets(insns);
  const bySlot = new Map(insns.map((insn, i) => [slots[i]!, insn]));
  for (const [slot, name] of functionNames(code, btf, programName)) {
    const insn = bySlot.get(slot);
    if (insn !== undefined) insn.symbol = name;
  }
  const lines = sourceLines(code, btf);
  code.lineInfo.forEach((l, k) => {
    const insn = bySlot.get(l.insnOffset);
    if (insn !== undefined) insn.line = lines[k];
  });
  return insns;
}

/** What {@link xlatedText} needs to name what instructions refer to. */
export interface XlatedNames {
  /** Function names by first slot ({@link functionNames}). */
  readonly functions: ReadonlyMap<number, string>;
  /** The name of map `id`, or undefined when it cannot be opened. */
  readonly mapName: (id: number) => string | undefined;
  /** Kernel symbols by address. */
  readonly symbols: SymbolsByAddress;
  /** The address of `__bpf_call_base`, undefined when hidden or unknown. */
  readonly callBase: bigint | undefined;
  /** The name of kernel BTF type `id` (kfuncs on architectures that keep the id in the call). */
  readonly kernelFuncName: (id: number) => string | undefined;
}

const signed = (n: number): string => (n < 0 ? `${n}` : `+${n}`);

function mapText(id: number, names: XlatedNames): string {
  const name = names.mapName(id);
  return `map[id:${id}${name === undefined || name === '' ? '' : ` ${name}`}]`;
}

/**
 * The text of a translated instruction where the kernel's encoding says more than the
 * disassembler can: map loads, calls, callback addresses; undefined for the others.
 * `slots` are the instructions' slot offsets.
 */
export function xlatedText(names: XlatedNames, slots: readonly number[]): InstructionText {
  return (insn, index) => {
    const slot = slots[index]!;
    const dst = `r${insn.dst}`;
    const src = insn.src as number;
    if (insn.isLoadImm64) {
      const high = Number(BigInt.asIntN(32, insn.imm64 >> 32n));
      // The kernel reports map references as (map id, offset into the value) whatever
      // form the loader used (fd, fd_array index).
      if (src === PseudoSource.MapFD) return `${dst} = ${mapText(insn.imm >>> 0, names)}`;
      if (src === PseudoSource.MapValue) return `${dst} = ${mapText(insn.imm >>> 0, names)} + ${high}`;
      if (src === PseudoSource.Func) {
        const target = slot + 1 + insn.imm;
        return `${dst} = &${names.functions.get(target) ?? `pc${signed(insn.imm)}`}`;
      }
      if (src === PseudoSource.None) {
        const sym = names.symbols.at(BigInt.asUintN(64, insn.imm64));
        return sym === undefined ? undefined : `${dst} = &${sym} ll`;
      }
      return undefined;
    }
    if (!insn.isCall) return undefined;
    if (src === PseudoCall.Call) {
      // The kernel keeps the callee's pc-relative offset in `off` (and its index in `imm`).
      return `call ${names.functions.get(slot + 1 + insn.offset) ?? `pc${signed(insn.offset)}`}`;
    }
    if (names.callBase !== undefined) {
      const sym = names.symbols.at(BigInt.asUintN(64, names.callBase + BigInt(insn.imm)));
      if (sym !== undefined) return `call ${sym}`;
    }
    if (src === PseudoCall.KfuncCall) {
      const name = names.kernelFuncName(insn.imm);
      return name === undefined ? undefined : `call ${name}`;
    }
    // Tail calls keep the helper's id; so does everything when addresses are hidden (imm 0).
    const helper = helperName(insn.imm);
    return helper === undefined ? undefined : `call ${helper}`;
  };
}
