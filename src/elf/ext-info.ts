/**
 * `.BTF.ext` records (func_info, line_info, CO-RE relocations) follow the code when programs
 * are linked: the file keys them by ELF section and byte offset in that section, the kernel and
 * the CO-RE engine want them per program, relative to the linked program's start, covering
 * every appended subprogram copy (the kernel requires a func_info record for each subprogram,
 * check_btf_func()). Line info is also attached to the instructions, for disassembly with
 * source lines.
 *
 * @module
 */
import type { BTFExt, CORERelocation, FuncInfo, LineInfo } from '../btf/ext.js';
import type { CodeFunction } from './code.js';

/** The `.BTF.ext` records of one linked program, offsets in bytes from the program start. */
export interface ProgramExtInfo {
  /** One record per function in the program (entry and each appended subprogram). */
  readonly funcInfos: FuncInfo[];
  /** Source line records. */
  readonly lineInfos: LineInfo[];
  /** CO-RE relocation records, for the CO-RE engine to apply before load. */
  readonly coreRelocations: CORERelocation[];
}

/** Records of one section that fall inside `fn`, moved to `programOffset`. */
function within<T extends { insnOffset: number }>(records: readonly T[] | undefined, fn: CodeFunction, programOffset: number): T[] {
  if (records === undefined) return [];
  const end = fn.offset + fn.instructions.reduce((n, i) => n + i.byteLength, 0);
  return records.filter((r) => r.insnOffset >= fn.offset && r.insnOffset < end).map((r) => ({ ...r, insnOffset: r.insnOffset - fn.offset + programOffset }));
}

/**
 * Collects the records of every function in a linked program. `layout` maps function names to
 * their first slot in the program (from `linkProgram`).
 */
export function programExtInfo(ext: BTFExt, layout: ReadonlyMap<string, number>, functions: ReadonlyMap<string, CodeFunction>): ProgramExtInfo {
  const out: ProgramExtInfo = { funcInfos: [], lineInfos: [], coreRelocations: [] };
  for (const [name, slot] of layout) {
    const fn = functions.get(name);
    if (fn === undefined) continue;
    const section = fn.section.name;
    out.funcInfos.push(...within(ext.funcInfos.get(section), fn, slot * 8));
    out.lineInfos.push(...within(ext.lineInfos.get(section), fn, slot * 8));
    out.coreRelocations.push(...within(ext.coreRelocations.get(section), fn, slot * 8));
  }
  return out;
}

/** Sets `line` on the instructions of each function from the section's line_info records. */
export function attachLines(ext: BTFExt, functions: ReadonlyMap<string, CodeFunction>): void {
  for (const fn of functions.values()) {
    const records = ext.lineInfos.get(fn.section.name);
    if (records === undefined) continue;
    const bySlot = new Map<number, LineInfo>();
    for (const r of records) bySlot.set(r.insnOffset / 8, r);
    let slot = fn.offset / 8;
    for (const insn of fn.instructions) {
      const r = bySlot.get(slot);
      if (r !== undefined) insn.line = { fileName: r.fileName, lineText: r.line, lineNumber: r.lineNumber, column: r.column };
      slot += insn.slots;
    }
  }
}
