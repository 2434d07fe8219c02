/**
 * Code sections to functions: decodes every executable section, splits it at its `STT_FUNC`
 * symbols (a section may hold several programs; `.text` holds the subprograms they call), and
 * turns each relocation into a symbolic reference on the instruction it patches:
 *
 * - `ld_imm64` + `R_BPF_64_64` against a map definition → `src = BPF_PSEUDO_MAP_FD`,
 *   `reference` = map name;
 * - against global data → `src = BPF_PSEUDO_MAP_VALUE`, `reference` = the section's map,
 *   offset into the value in the upper half of the constant (the second slot's imm);
 * - against a function → `src = BPF_PSEUDO_FUNC` (callbacks for bpf_loop & co.),
 *   `reference` = the function;
 * - against an extern → the `.kconfig` map value, or a `.ksyms` symbol;
 * - `call` + `R_BPF_64_32` → a BPF-to-BPF call (`reference` = callee) or a kfunc call;
 * - against an undefined symbol that is no extern → a symbolic reference: the instruction
 *   keeps the symbol's name in `reference` (an `ld_imm64` stays a plain constant, a call a
 *   BPF-to-BPF call with no callee) until the user resolves it (references.ts).
 *
 * Calls between functions of one section that clang resolved itself (static functions) carry
 * no relocation; they get their `reference` from the target offset. Anything else is a
 * {@link ParseError} that names the relocation, symbol, section and instruction.
 *
 * @module
 */
import { decode } from '../asm/encoding.js';
import type { Instruction } from '../asm/instruction.js';
import { PseudoCall, PseudoSource } from '../asm/pseudo.js';
import { ParseError } from '../errors.js';
import type { SectionKind } from './classify.js';
import { RelocationType, SHN_UNDEF, SymbolBind, SymbolType } from './constants.js';
import { symbolName, type ELFFile, type ELFRelocation, type ELFSection } from './file.js';
import type { MapDefinitions } from './maps.js';
import type { ExternSpec } from './specs.js';
import { kconfigMapName } from './data.js';

/** One function of a code section, with references resolved to names. */
export interface CodeFunction {
  /** The symbol name. */
  readonly name: string;
  /** The section it lives in. */
  readonly section: ELFSection;
  /** Byte offset in the section. */
  readonly offset: number;
  /** Its instructions (the first carries `symbol` = {@link CodeFunction.name}). */
  readonly instructions: Instruction[];
  /** True when the section is a program section (not `.text`). */
  readonly isProgram: boolean;
}

/** What relocations can refer to, built from the non-code sections first. */
export interface ReferenceTargets {
  /** Kind of each section, by index. */
  readonly kinds: readonly SectionKind[];
  /** Map definitions (`.maps`, `maps`) and their offsets. */
  readonly maps: MapDefinitions;
  /** Global data sections by index → the name of their map (non-empty sections only). */
  readonly dataMaps: ReadonlyMap<number, string>;
  /** Externs by name. */
  readonly externs: ReadonlyMap<string, ExternSpec>;
}

interface SectionCode {
  section: ELFSection;
  instructions: Instruction[];
  /** Slot number of each instruction. */
  slots: number[];
  /** Instruction index by slot number (only slots where an instruction starts). */
  indexAtSlot: Map<number, number>;
  /** Function start slot → name. */
  functionAt: Map<number, string>;
  /** Function start slot → the slot after its last instruction, where the symbol has a size. */
  functionEnd: Map<number, number>;
  /** Slots in the section. */
  totalSlots: number;
}

/**
 * A name for every function symbol of the code sections, by symbol index: its own, unless a
 * function that comes first already has it. A statically linked object can hold several
 * static functions of one name, one per input (`static int helper(void)` in a.c and b.c):
 * global names are kept, and a later local of a taken name is called `name@file` after the
 * STT_FILE symbol it follows (the input it came from), or `name@N`.
 */
function functionNames(file: ELFFile, kinds: readonly SectionKind[]): Map<number, string> {
  const out = new Map<number, string>();
  const taken = new Set<string>();
  const isCode = (s: { type: number; name: string; sectionIndex: number }): boolean =>
    s.type === SymbolType.Func && s.name !== '' && (kinds[s.sectionIndex] === 'program' || kinds[s.sectionIndex] === 'text');
  for (const s of file.symbols) {
    if (!isCode(s) || s.bind === SymbolBind.Local) continue;
    out.set(s.index, s.name);
    taken.add(s.name);
  }
  let input: string | undefined;
  for (const s of file.symbols) {
    if (s.type === SymbolType.File) input = s.name;
    if (!isCode(s) || s.bind !== SymbolBind.Local) continue;
    let name = s.name;
    if (taken.has(name)) {
      name = input !== undefined && input !== '' ? `${s.name}@${input}` : `${s.name}@2`;
      for (let n = 2; taken.has(name); n++) name = `${s.name}@${n}`;
    }
    out.set(s.index, name);
    taken.add(name);
  }
  return out;
}

function relocationName(type: number): string {
  return RelocationType[type] ?? `relocation type ${type}`;
}

/** A sanitised function name for a program section that has no symbols (hand-written asm). */
function nameFromSection(name: string): string {
  return name.replace(/^\?/, '').replace(/[^A-Za-z0-9_]/g, '_');
}

/**
 * Decodes and splits every code section, resolving references. Returns the functions by name
 * in section order; program functions have {@link CodeFunction.isProgram} set.
 */
export function readFunctions(file: ELFFile, targets: ReferenceTargets): Map<string, CodeFunction> {
  const code = new Map<number, SectionCode>();
  const names = functionNames(file, targets.kinds);
  for (const section of file.sections) {
    const kind = targets.kinds[section.index];
    if ((kind !== 'program' && kind !== 'text') || section.size === 0) continue;
    const instructions = decode(section.data, file.byteOrder, section.offset);
    const slots: number[] = [];
    const indexAtSlot = new Map<number, number>();
    let slot = 0;
    instructions.forEach((insn, i) => {
      slots.push(slot);
      indexAtSlot.set(slot, i);
      slot += insn.slots;
    });
    const functionAt = new Map<number, string>();
    const functionEnd = new Map<number, number>();
    const funcs = file
      .symbolsIn(section.index)
      .filter((s) => s.type === SymbolType.Func && s.name !== '')
      .sort((a, b) => a.value - b.value);
    for (const f of funcs) {
      if (f.value % 8 !== 0 || !indexAtSlot.has(f.value / 8)) {
        throw new ParseError(`function ${f.name} in ${section.name}: offset ${f.value} is not the start of an instruction`, section.offset + Math.min(f.value, section.size));
      }
      if (f.size % 8 !== 0 || f.value + f.size > section.size) {
        throw new ParseError(`function ${f.name} in ${section.name}: [${f.value}, +${f.size}) is not whole instructions inside the section`, section.offset + Math.min(f.value, section.size));
      }
      if (functionAt.has(f.value / 8)) continue; // an alias: the first name stands
      functionAt.set(f.value / 8, names.get(f.index)!);
      if (f.size > 0) functionEnd.set(f.value / 8, (f.value + f.size) / 8);
    }
    if (functionAt.size === 0) {
      if (kind === 'text') continue; // nothing can call unnamed code
      functionAt.set(0, nameFromSection(section.name));
    }
    code.set(section.index, { section, instructions, slots, indexAtSlot, functionAt, functionEnd, totalSlots: slot });
  }

  for (const sc of code.values()) applyRelocations(file, sc, code, targets);

  const functions = new Map<string, CodeFunction>();
  for (const sc of code.values()) {
    const starts = [...sc.functionAt.keys()].sort((a, b) => a - b);
    const isProgram = targets.kinds[sc.section.index] === 'program';
    starts.forEach((start, k) => {
      const name = sc.functionAt.get(start)!;
      const from = sc.indexAtSlot.get(start)!;
      // A function ends where its symbol's size says; code between functions belongs to none
      // (a linked object keeps the code of the weak definitions that lost, without symbols).
      const next = k + 1 < starts.length ? starts[k + 1]! : sc.totalSlots;
      const end = sc.functionEnd.get(start) ?? next;
      if (end > next) {
        throw new ParseError(`function ${name} in ${sc.section.name}: its ${(end - start) * 8} bytes overlap function ${sc.functionAt.get(next)} at offset ${next * 8}`, sc.section.offset + start * 8);
      }
      const to = end === sc.totalSlots ? sc.instructions.length : sc.indexAtSlot.get(end);
      if (to === undefined) throw new ParseError(`function ${name} in ${sc.section.name}: its end (offset ${end * 8}) splits an instruction`, sc.section.offset + end * 8);
      const instructions = sc.instructions.slice(from, to);
      checkJumps(sc, name, from, to);
      instructions[0]!.symbol = name;
      if (functions.has(name)) {
        throw new ParseError(`function ${name} is defined twice (${functions.get(name)!.section.name} and ${sc.section.name})`, sc.section.offset + start * 8);
      }
      functions.set(name, { name, section: sc.section, offset: start * 8, instructions, isProgram });
    });
  }
  return functions;
}

/** Jumps must stay inside their function, or splitting at symbols would break the code. */
function checkJumps(sc: SectionCode, name: string, from: number, to: number): void {
  const first = sc.slots[from]!;
  const end = to < sc.slots.length ? sc.slots[to]! : sc.slots.length === 0 ? 0 : sc.slots[sc.slots.length - 1]! + sc.instructions[sc.instructions.length - 1]!.slots;
  for (let i = from; i < to; i++) {
    const insn = sc.instructions[i]!;
    if (!insn.isJump) continue;
    const target = sc.slots[i]! + 1 + insn.jumpOffset;
    if (target < first || target >= end || !sc.indexAtSlot.has(target)) {
      throw new ParseError(
        `${sc.section.name}: instruction ${i} (${insn}) of function ${name} jumps to slot ${target}, outside the function or into an instruction`,
        sc.section.offset + sc.slots[i]! * 8,
      );
    }
  }
}

function applyRelocations(file: ELFFile, sc: SectionCode, code: Map<number, SectionCode>, targets: ReferenceTargets): void {
  const relocated = new Set<number>();
  for (const rel of file.relocations(sc.section.index)) {
    const index = rel.offset % 8 === 0 ? sc.indexAtSlot.get(rel.offset / 8) : undefined;
    if (index === undefined) {
      throw new ParseError(
        `${relocationName(rel.type)} against ${symbolName(file, rel.symbol)} at offset ${rel.offset} of ${sc.section.name} does not point at the start of an instruction`,
        sc.section.offset + rel.offset,
      );
    }
    relocated.add(index);
    resolve(file, sc, index, rel, code, targets);
  }
  // Calls clang resolved itself (to static functions in the same section).
  sc.instructions.forEach((insn, i) => {
    if (relocated.has(i) || !insn.isFunctionCall) return;
    const target = sc.slots[i]! + 1 + insn.imm;
    const name = sc.functionAt.get(target);
    if (name === undefined) {
      throw new ParseError(`${sc.section.name}: instruction ${i} (${insn}) calls slot ${target}, which is not the start of a function`, sc.section.offset + sc.slots[i]! * 8);
    }
    insn.reference = name;
  });
}

function resolve(file: ELFFile, sc: SectionCode, index: number, rel: ELFRelocation, code: Map<number, SectionCode>, targets: ReferenceTargets): void {
  const insn = sc.instructions[index]!;
  const symbol = rel.symbol;
  const targetSection = symbol.sectionIndex === SHN_UNDEF ? undefined : file.sections[symbol.sectionIndex];
  const kind = targetSection === undefined ? undefined : targets.kinds[targetSection.index];
  // Formatted only on failure: printing the instruction loads the disassembler's chunk in dist/.
  const fail = (why: string): never => {
    const where = `${relocationName(rel.type)} against symbol ${symbolName(file, symbol)} (${targetSection === undefined ? 'undefined' : `section ${targetSection.name || targetSection.index}`}) at instruction ${index} of section ${sc.section.name} (${insn})`;
    throw new ParseError(`unsupported relocation: ${where}: ${why}`, sc.section.offset + rel.offset);
  };
  // REL entries carry the addend in the field they patch; RELA entries carry it explicitly.
  const addend = rel.addend !== undefined ? Number(rel.addend) : insn.imm;

  // A symbol no input defines and no extern section describes (inline asm's
  // `r0 = MY_CONST ll`, a call to a function only declared, an extern in an object without
  // BTF): the instruction keeps the name for the user to resolve before loading.
  const symbolic = (): void => {
    if (symbol.name === '') fail('an undefined symbol needs a name');
    if (symbol.bind === SymbolBind.Local) fail('an undefined symbol cannot be local');
    insn.reference = symbol.name;
  };

  if (insn.isLoadImm64) {
    if (rel.type !== RelocationType.R_BPF_64_64) fail('ld_imm64 needs R_BPF_64_64');
    if (symbol.sectionIndex === SHN_UNDEF) {
      const ext = targets.externs.get(symbol.name);
      if (ext === undefined) {
        symbolic();
        // A plain constant until resolved; the addend (`MY_CONST + 8`) stays in it.
        insn.src = PseudoSource.None as number;
        insn.constant = BigInt(addend);
        return;
      }
      if (ext.kind === 'kconfig') {
        insn.src = PseudoSource.MapValue as number;
        insn.reference = kconfigMapName;
        insn.constant = BigInt((ext.offset ?? 0) + (rel.addend !== undefined ? Number(rel.addend) : 0)) << 32n;
      } else {
        insn.src = (ext.typeless ? PseudoSource.None : PseudoSource.BTFID) as number;
        insn.reference = ext.name;
        insn.constant = 0n;
      }
      return;
    }
    switch (kind) {
      case 'btf-maps':
      case 'maps': {
        const offset = symbol.value + (symbol.type === SymbolType.Section ? addend : 0);
        const name = symbol.type === SymbolType.Section ? targets.maps.byOffset.get(symbol.sectionIndex)?.get(offset) : symbol.name;
        if (name === undefined || !targets.maps.maps.has(name)) fail(`no map definition at offset ${offset}`);
        insn.src = PseudoSource.MapFD as number;
        insn.reference = name;
        insn.constant = 0n;
        return;
      }
      case 'rodata':
      case 'data':
      case 'bss':
      case 'arena': {
        // Arena globals: the arena map's value address is the arena's user address (the
        // kernel's arena_map_direct_value_addr()), so the reference is the same shape.
        const map = targets.dataMaps.get(symbol.sectionIndex) ?? fail('the data section is empty');
        const offset = symbol.value + addend;
        if (offset < 0 || offset > targetSection!.size) fail(`offset ${offset} is outside the section (${targetSection!.size} bytes)`);
        insn.src = PseudoSource.MapValue as number;
        insn.reference = map;
        insn.constant = BigInt(offset) << 32n;
        return;
      }
      case 'program':
      case 'text': {
        // A function's address (a callback): the addend counts bytes.
        const target = code.get(symbol.sectionIndex) ?? fail('the code section is empty');
        const offset = symbol.value + addend;
        const name = offset % 8 === 0 ? target.functionAt.get(offset / 8) : undefined;
        if (name === undefined) fail(`offset ${offset} is not the start of a function`);
        insn.src = PseudoSource.Func as number;
        insn.reference = name;
        insn.constant = 0n;
        return;
      }
      default:
        return fail(`ld_imm64 cannot refer to a ${kind ?? 'special'} section`);
    }
  }

  if (insn.isCall) {
    if (rel.type !== RelocationType.R_BPF_64_32) fail('call needs R_BPF_64_32');
    if (symbol.sectionIndex === SHN_UNDEF) {
      const ext = targets.externs.get(symbol.name);
      if (ext === undefined) {
        symbolic();
        // A BPF-to-BPF call whose callee is named, not placed: `linkProgram` leaves it alone.
        insn.src = PseudoCall.Call as number;
        insn.constant = -1;
        return;
      }
      if (!ext.isFunction) fail('calls a .ksyms variable, not a kfunc');
      insn.src = PseudoCall.KfuncCall as number;
      insn.reference = symbol.name;
      return;
    }
    if (kind !== 'program' && kind !== 'text') fail('the callee is not in a code section');
    const target = code.get(symbol.sectionIndex) ?? fail('the code section is empty');
    if (symbol.value % 8 !== 0) fail(`symbol value ${symbol.value} is not instruction aligned`);
    // The immediate counts instructions relative to the symbol, minus one (libbpf's
    // "sym_off / 8 + imm + 1"); for function symbols clang writes -1.
    const slot = symbol.value / 8 + (rel.addend !== undefined ? Number(rel.addend) / 8 : insn.imm) + 1;
    const name = target.functionAt.get(slot) ?? fail(`slot ${slot} is not the start of a function`);
    insn.src = PseudoCall.Call as number;
    insn.reference = name;
    return;
  }
  fail('the instruction is neither ld_imm64 nor call');
}
