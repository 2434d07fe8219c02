/**
 * Symbolic references: instructions that name a symbol the object does not define. Inline
 * assembly writes them (`asm("%0 = MY_CONST ll" : "=r"(x))`), so does a call to a function
 * that is only declared (`int fwd(int);`), and so does any extern in an object compiled
 * without BTF, where nothing says what kind of extern it is. The ELF reader keeps the symbol's
 * name in the instruction's `reference` (code.ts); this module lists such references, resolves
 * them to what the user says the symbol is — a value, a map, a global variable, or another
 * program's code — and refuses to let an unresolved one reach the kernel, where a constant
 * load would silently read 0 and a call would jump nowhere.
 *
 * An instruction is a symbolic reference when its `reference` names nothing the loader
 * resolves by itself:
 * - an `ld_imm64` with `src` 0 (a plain constant) whose reference is no `.ksyms` extern;
 * - a BPF-to-BPF call or callback load (`BPF_PSEUDO_CALL`, `BPF_PSEUDO_FUNC`) whose callee is
 *   not a function of the program's instruction stream (no instruction carries its symbol).
 *
 * @module
 */
import type { ByteOrder } from '../asm/encoding.js';
import type { Instruction } from '../asm/instruction.js';
import { PseudoSource } from '../asm/pseudo.js';
import { marshalFuncInfos, marshalLineInfos, type CORERelocation, type FuncInfo, type LineInfo } from '../btf/ext.js';
import { ArgumentError, BpfError } from '../errors.js';
import { fixupFunctionReferences, isFunctionReference } from './link.js';
import type { ELFMapSpec, ELFProgramSpec, ExternSpec } from './specs.js';
import type { VariableSpec } from './variables.js';

/** One instruction that still refers to an undefined symbol by name. */
export interface SymbolicReference {
  /** The symbol's name (`MY_CONST`). */
  readonly name: string;
  /** The program whose instructions hold it. */
  readonly program: string;
  /** Index in the program's `instructions` (not the 8-byte slot). */
  readonly index: number;
  /**
   * `constant`: an `ld_imm64` (resolve it to a value, a map, a variable or a function);
   * `function`: a call or callback load (resolve it to a program's code).
   */
  readonly kind: 'constant' | 'function';
}

/**
 * What a symbolic reference is resolved to:
 * - a `number`/`bigint` or `{ value }`: the constant an `ld_imm64` loads (plus the addend the
 *   compiler left in it, usually 0, as a linker would add it);
 * - `{ map }`: the address of a map of the spec (`BPF_PSEUDO_MAP_FD`), or with `offset` an
 *   address inside its value (`BPF_PSEUDO_MAP_VALUE`);
 * - `{ variable }`: the address of a global variable of the spec (its section's map value at
 *   the variable's offset);
 * - `{ function }`: the code of a function of the spec — a program, or a subprogram a program
 *   carries — appended to each program that calls it (with the functions it calls, and its
 *   func_info, line_info and CO-RE records), as a BPF-to-BPF call — or, for an `ld_imm64`, a
 *   callback pointer (`BPF_PSEUDO_FUNC`).
 */
export type ReferenceTarget =
  | number
  | bigint
  | {
      /** The constant. */
      readonly value: number | bigint;
    }
  | {
      /** A map of the spec, by name. */
      readonly map: string;
      /** A byte offset into its value (a map value load); absent: the map itself. */
      readonly offset?: number;
    }
  | {
      /** A global variable of the spec, by name. */
      readonly variable: string;
    }
  | {
      /** A program of the spec, or a subprogram one carries, by name. */
      readonly function: string;
    };

/** The parts of a collection spec references are resolved against (a `CollectionSpec` is one). */
export interface ReferenceScope {
  /** Programs by name; resolving edits their instructions in place. */
  readonly programs: Record<string, ELFProgramSpec>;
  /** Maps by name. */
  readonly maps: Readonly<Record<string, ELFMapSpec>>;
  /** Global variables by name. */
  readonly variables: Readonly<Record<string, VariableSpec>>;
  /** Externs by name: their references are resolved by the loader, not by the user. */
  readonly externs: Readonly<Record<string, ExternSpec>>;
  /** Byte order of func_info/line_info records (the object's). */
  readonly byteOrder: ByteOrder;
}

/**
 * A program was loaded with an instruction that still names an undefined symbol. Resolve it
 * first with `CollectionSpec.resolveReference`.
 */
export class UnresolvedReferenceError extends BpfError {
  /** The symbol's name. */
  readonly symbol: string;
  /** The program. */
  readonly program: string;
  /** Index of the instruction in the program's instructions. */
  readonly instruction: number;

  constructor(ref: SymbolicReference, insn: Instruction) {
    const how = ref.kind === 'function' ? `{ function: NAME }, a program or a subprogram of the spec` : `a value, { map }, { variable } or { function }`;
    super(
      `program ${ref.program}: instruction ${ref.index} (${insn}) refers to ${ref.name}, which the object does not define: ` +
        `resolve it before loading with spec.resolveReference('${ref.name}', target), the target being ${how}`,
    );
    this.symbol = ref.name;
    this.program = ref.program;
    this.instruction = ref.index;
  }
}

/** True for a plain `ld_imm64` that names something other than an extern. */
function isSymbolicConstant(insn: Instruction, externs: Readonly<Record<string, ExternSpec>>): boolean {
  return insn.isLoadImm64 && insn.src === (PseudoSource.None as number) && insn.reference !== undefined && !Object.hasOwn(externs, insn.reference);
}

/** Names of the functions laid out in a program's instruction stream. */
function functionNames(insns: readonly Instruction[]): Set<string> {
  const out = new Set<string>();
  for (const insn of insns) if (insn.symbol !== undefined) out.add(insn.symbol);
  return out;
}

/**
 * The symbolic references of one program, in instruction order.
 *
 * @example
 * ```ts
 * symbolicReferences(spec.programs.prog, spec.externs);
 * // [{ name: 'MY_CONST', program: 'prog', index: 3, kind: 'constant' }]
 * ```
 */
export function symbolicReferences(program: ELFProgramSpec, externs: Readonly<Record<string, ExternSpec>>): SymbolicReference[] {
  const out: SymbolicReference[] = [];
  let functions: Set<string> | undefined;
  program.instructions.forEach((insn, index) => {
    if (insn.reference === undefined) return;
    if (isSymbolicConstant(insn, externs)) {
      out.push({ name: insn.reference, program: program.name, index, kind: 'constant' });
    } else if (isFunctionReference(insn)) {
      functions ??= functionNames(program.instructions);
      if (!functions.has(insn.reference)) out.push({ name: insn.reference, program: program.name, index, kind: insn.isLoadImm64 ? 'constant' : 'function' });
    }
  });
  return out;
}

/**
 * Throws {@link UnresolvedReferenceError} for the first symbolic reference of `program`; the
 * loader calls this before creating anything.
 *
 * @throws {@link UnresolvedReferenceError} naming the symbol, the program and the instruction.
 */
export function checkReferences(program: ELFProgramSpec, externs: Readonly<Record<string, ExternSpec>>): void {
  const ref = symbolicReferences(program, externs)[0];
  if (ref !== undefined) throw new UnresolvedReferenceError(ref, program.instructions[ref.index]!);
}

/** A target with its kind made explicit and its names checked against the scope. */
type Checked =
  | { kind: 'value'; value: bigint }
  | { kind: 'map'; map: ELFMapSpec; offset: number | undefined }
  | { kind: 'function'; name: string; source: ELFProgramSpec };

function checkTarget(scope: ReferenceScope, name: string, target: ReferenceTarget): Checked {
  const what = `reference ${name}`;
  const integer = (v: unknown): bigint => {
    if (typeof v === 'bigint') {
      if (v < -(1n << 63n) || v >= 1n << 64n) throw new ArgumentError(`${what}: ${v} does not fit 64 bits`);
      return v;
    }
    if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
    throw new ArgumentError(`${what}: ${String(v)} is not an integer (pass a bigint beyond 2^53)`);
  };
  if (typeof target === 'number' || typeof target === 'bigint') return { kind: 'value', value: integer(target) };
  if (typeof target !== 'object' || target === null) throw new ArgumentError(`${what}: the target must be a value, { map }, { variable } or { function }`);
  if ('value' in target) return { kind: 'value', value: integer(target.value) };
  if ('map' in target) {
    const map = Object.hasOwn(scope.maps, target.map) ? scope.maps[target.map] : undefined;
    if (map === undefined) throw new ArgumentError(`${what}: no map ${target.map} in the spec (it has ${Object.keys(scope.maps).join(', ') || 'none'})`);
    if (target.offset !== undefined && (!Number.isSafeInteger(target.offset) || target.offset < 0 || target.offset >= map.valueSize)) {
      throw new ArgumentError(`${what}: offset ${target.offset} is outside the ${map.valueSize}-byte value of map ${map.name}`);
    }
    return { kind: 'map', map, offset: target.offset };
  }
  if ('variable' in target) {
    const v = Object.hasOwn(scope.variables, target.variable) ? scope.variables[target.variable] : undefined;
    if (v === undefined) throw new ArgumentError(`${what}: no variable ${target.variable} in the spec`);
    const map = Object.hasOwn(scope.maps, v.sectionName) ? scope.maps[v.sectionName] : undefined;
    if (map === undefined) throw new ArgumentError(`${what}: variable ${v.name}'s map ${v.sectionName} is missing from the spec`);
    return { kind: 'map', map, offset: v.offset };
  }
  if ('function' in target) {
    const fn = target.function;
    // A program, or a subprogram some program carries (a .text function has no spec of its own).
    const source =
      (Object.hasOwn(scope.programs, fn) ? scope.programs[fn] : undefined) ?? Object.values(scope.programs).find((p) => p.instructions.some((i) => i.symbol === fn));
    if (source === undefined) throw new ArgumentError(`${what}: no function ${fn} in the spec (neither a program nor a subprogram of one)`);
    return { kind: 'function', name: fn, source };
  }
  throw new ArgumentError(`${what}: the target must be a value, { map }, { variable } or { function }`);
}

/**
 * Resolves every symbolic reference to `name` (in one program, or in all of them) to
 * `target`, and returns how many instructions changed. Everything is checked before anything
 * changes: a failed call leaves the spec as it was.
 *
 * @example
 * ```ts
 * resolveReference(spec, 'MY_CONST', 42n);
 * resolveReference(spec, 'MY_MAP', { map: 'counters' });
 * resolveReference(spec, 'fwd', { function: 'fwd_impl' }, { program: 'main' });
 * ```
 *
 * @throws {@link ArgumentError} when no instruction refers to `name` (the message lists the
 * names that are unresolved), when the target names nothing in the spec, or when the target
 * does not fit an instruction (a value or map for a call).
 */
export function resolveReference(scope: ReferenceScope, name: string, target: ReferenceTarget, options: { program?: string } = {}): number {
  if (options.program !== undefined && !Object.hasOwn(scope.programs, options.program)) {
    throw new ArgumentError(`no program ${options.program} in the spec (it has ${Object.keys(scope.programs).join(', ') || 'none'})`);
  }
  const programs = options.program === undefined ? Object.values(scope.programs) : [scope.programs[options.program]!];
  const found = programs.map((p) => ({ program: p, refs: symbolicReferences(p, scope.externs).filter((r) => r.name === name) }));
  const count = found.reduce((n, f) => n + f.refs.length, 0);
  if (count === 0) {
    const names = [...new Set(programs.flatMap((p) => symbolicReferences(p, scope.externs).map((r) => r.name)))];
    const where = options.program === undefined ? 'no program' : `program ${options.program}`;
    throw new ArgumentError(`${where} refers to an unresolved symbol ${name} (unresolved: ${names.length === 0 ? 'none' : names.join(', ')})`);
  }
  const checked = checkTarget(scope, name, target);
  for (const { program, refs } of found) {
    for (const ref of refs) {
      if (ref.kind === 'function' && checked.kind !== 'function') {
        throw new ArgumentError(`program ${program.name}: instruction ${ref.index} calls ${name}; resolve it to { function: NAME } (a program or a subprogram of the spec), not a ${checked.kind}`);
      }
      const insn = program.instructions[ref.index]!;
      if (checked.kind === 'map' && checked.offset === undefined && insn.imm64 !== 0n) {
        throw new ArgumentError(`program ${program.name}: instruction ${ref.index} loads ${name} + ${insn.imm64}; give the map an offset to point into its value`);
      }
    }
  }
  for (const { program, refs } of found) {
    if (refs.length === 0) continue;
    for (const ref of refs) resolveOne(program.instructions[ref.index]!, checked);
    if (checked.kind === 'function') appendFunction(program, checked.source, checked.name, scope.byteOrder);
  }
  return count;
}

/** Rewrites one instruction for its target (function offsets are fixed up after appending). */
function resolveOne(insn: Instruction, target: Checked): void {
  // The addend the compiler left (`MY_CONST + 8`); 0 for calls, whose -1 is no addend.
  const addend = insn.isLoadImm64 ? insn.imm64 : 0n;
  switch (target.kind) {
    case 'value':
      insn.constant = target.value + addend;
      insn.reference = undefined;
      return;
    case 'map':
      insn.reference = target.map.name;
      if (target.offset === undefined) {
        insn.src = PseudoSource.MapFD as number;
        insn.constant = 0n;
      } else {
        // The value offset travels in the second slot's imm; the loader puts the fd in the first.
        insn.src = PseudoSource.MapValue as number;
        insn.constant = BigInt.asUintN(32, BigInt(target.offset) + addend) << 32n;
      }
      return;
    case 'function':
      insn.reference = target.name;
      if (insn.isLoadImm64) {
        insn.src = PseudoSource.Func as number;
        insn.constant = 0n;
      }
      return;
  }
}

/** The functions of a linked program: name, first instruction index and byte offset. */
function segments(insns: readonly Instruction[]): { name: string; from: number; to: number; byteOffset: number; byteEnd: number }[] {
  const out: { name: string; from: number; to: number; byteOffset: number; byteEnd: number }[] = [];
  let bytes = 0;
  insns.forEach((insn, i) => {
    if (insn.symbol !== undefined) {
      const last = out[out.length - 1];
      if (last !== undefined) {
        last.to = i;
        last.byteEnd = bytes;
      }
      out.push({ name: insn.symbol, from: i, to: insns.length, byteOffset: bytes, byteEnd: -1 });
    }
    bytes += insn.byteLength;
  });
  const last = out[out.length - 1];
  if (last !== undefined) last.byteEnd = bytes;
  return out;
}

/**
 * Appends function `name` of `callee` (a program's entry or a subprogram it carries) and the
 * functions it reaches that `program` does not have yet, with their `.BTF.ext` records, and
 * fixes up every call and callback offset. A function already present is not copied again:
 * the verifier refuses code no call reaches.
 */
function appendFunction(program: ELFProgramSpec, callee: ELFProgramSpec, name: string, byteOrder: ByteOrder): void {
  const present = functionNames(program.instructions);
  const insns = [...program.instructions];
  let bytes = insns.reduce((n, i) => n + i.byteLength, 0);
  const moved: { from: number; to: number; delta: number }[] = [];
  const all = segments(callee.instructions);
  const byName = new Map(all.map((seg) => [seg.name, seg]));
  // `name` and what it calls, transitively, in order of first use (as linkProgram lays out).
  const wanted = [byName.get(name)!];
  for (let k = 0; k < wanted.length; k++) {
    const seg = wanted[k]!;
    for (let i = seg.from; i < seg.to; i++) {
      const insn = callee.instructions[i]!;
      const next = isFunctionReference(insn) ? byName.get(insn.reference!) : undefined;
      if (next !== undefined && !wanted.includes(next)) wanted.push(next);
    }
  }
  for (const seg of wanted) {
    if (present.has(seg.name)) continue;
    present.add(seg.name);
    moved.push({ from: seg.byteOffset, to: seg.byteEnd, delta: bytes - seg.byteOffset });
    for (let i = seg.from; i < seg.to; i++) insns.push(callee.instructions[i]!.clone());
    bytes += seg.byteEnd - seg.byteOffset;
  }
  const layout = new Map<string, number>();
  let slot = 0;
  for (const insn of insns) {
    if (insn.symbol !== undefined && !layout.has(insn.symbol)) layout.set(insn.symbol, slot);
    slot += insn.slots;
  }
  fixupFunctionReferences(insns, layout);
  program.instructions = insns;
  if (moved.length === 0) return;

  const carry = <T extends { insnOffset: number }>(mine: T[] | undefined, theirs: readonly T[] | undefined): T[] | undefined => {
    // Appended in layout order, so records stay sorted by offset as the kernel requires.
    if (mine === undefined) return undefined;
    const out = [...mine];
    for (const m of moved) {
      for (const r of theirs ?? []) if (r.insnOffset >= m.from && r.insnOffset < m.to) out.push({ ...r, insnOffset: r.insnOffset + m.delta });
    }
    return out;
  };
  if (program.funcInfos !== undefined && callee.funcInfos === undefined) {
    // The kernel wants a func_info record for every function once it has one for any
    // (check_btf_func()); without records for the appended code, load with none at all.
    delete program.funcInfos;
    delete program.funcInfo;
    delete program.lineInfos;
    delete program.lineInfo;
    delete program.funcInfoRecordSize;
    delete program.lineInfoRecordSize;
  } else {
    program.funcInfos = carry<FuncInfo>(program.funcInfos, callee.funcInfos);
    program.lineInfos = carry<LineInfo>(program.lineInfos, callee.lineInfos);
    if (program.funcInfos !== undefined) program.funcInfo = marshalFuncInfos(program.funcInfos, { byteOrder });
    if (program.lineInfos !== undefined) program.lineInfo = marshalLineInfos(program.lineInfos, { byteOrder });
  }
  const core = carry<CORERelocation>(program.coreRelocations ?? (callee.coreRelocations === undefined ? undefined : []), callee.coreRelocations);
  if (core !== undefined) program.coreRelocations = core;
}
