/**
 * The CO-RE engine ("compile once, run everywhere"): rewrites the instructions clang marked
 * with `.BTF.ext` CO-RE relocations so that field offsets, sizes, existence checks, type IDs
 * and enum values match the TARGET kernel's BTF instead of the types the program was compiled
 * against. Pure computation over {@link Spec}s: no kernel needed.
 *
 * For each relocation (following libbpf's `bpf_core_calc_relo_insn`):
 * 1. the access string is resolved against the local type ({@link parseAccess});
 * 2. candidates are the target types with the same essential name (`task_struct___v2` →
 *    `task_struct`) and a compatible kind, searched in the first target spec (vmlinux or the
 *    custom BTF) and only when it has none, in the others (kernel modules), as libbpf does;
 * 3. each candidate is matched ({@link matchAccess} or the type rules of `core-compat.ts`);
 *    all matching candidates must agree, or the relocation is ambiguous (an error naming
 *    both);
 * 4. the result is patched into the instruction, after checking the instruction still holds
 *    the compiler's value; no candidate at all poisons the instruction for field offsets and
 *    enum values, and gives 0 for existence, size and ID queries.
 *
 * @module
 */
import { Instruction } from '../asm/instruction.js';
import { SlotMap } from '../asm/encoding.js';
import { ArgumentError, BpfError } from '../errors.js';
import { COREAccessError, describe, formatAccess, matchAccess, parseAccess, type COREAccessSpec } from './core-access.js';
import { isAnyEnum, kindsCompatible, typesAreCompatible, typesMatch } from './core-compat.js';
import { COREKind, coreKindName, isEnumvalKind, isFieldKind, isTypeKind } from './core-kind.js';
import { applyCOREResult, COREPatchError, corePoisonHelperId, poisonInstruction, type COREPatch, type COREResult } from './core-patch.js';
import type { CORERelocation } from './ext.js';
import type { ByteOrder } from './parse.js';
import type { Spec } from './spec.js';
import { Composite, Enum, Int, Kind, Pointer, Type, essentialName, sizeof, skipQualifiersAndTypedefs } from './types.js';

/** A target type that may correspond to a local one. */
export interface CORECandidate {
  /** The spec it belongs to (vmlinux, a module, or a custom BTF). */
  spec: Spec;
  /** The type. */
  type: Type;
  /** Its ID in `spec`. */
  id: number;
}

/**
 * Candidate lists remembered per local type, shared between relocations (and programs) of
 * one object. As in libbpf (`cand_cache` in `bpf_object__relocate_core`), a list shrinks to
 * the candidates that matched the last relocation that matched any: later relocations of the
 * same type then only see those. Create one per object and pass it to every
 * {@link coreRelocate} call of that object to get libbpf's results exactly.
 */
export class CORECandidateCache {
  /** Candidates by local type. */
  readonly lists = new Map<Type, CORECandidate[]>();
}

/** Options of {@link coreRelocate}. */
export interface CORERelocateOptions {
  /** Program name, used in messages. */
  program?: string;
  /** Shared candidate cache (see {@link CORECandidateCache}); a fresh one by default. */
  candidateCache?: CORECandidateCache;
  /**
   * Byte order of the target machine, for FIELD_LSHIFT_U64 (bitfield extraction depends on
   * which end of the loaded word the field sits). Defaults to the local spec's byte order,
   * i.e. the object's; libbpf uses the loader's host order, the same for native objects.
   */
  byteOrder?: ByteOrder;
  /**
   * Byte offset subtracted from each relocation's `insnOffset` to index `insns`: the
   * program's start in its ELF section. Default 0.
   */
  sectionOffset?: number;
  /**
   * More target specs, asked for only when a local type has no candidate in the first target:
   * the loaded kernel modules' BTF (`loadKernelModuleSpecs`), so that modules are parsed
   * only for programs that need one. Searched after `targets[1..]`.
   */
  moduleTargets?: () => readonly Spec[];
}

/** One applied relocation. */
export interface COREFixup {
  /** Position of the record in the `relos` array passed in (libbpf's "relo #N" within a section). */
  index: number;
  /** The record. */
  relocation: CORERelocation;
  /** Slot index of the patched instruction in the program: what verifier logs call "insn N". */
  instruction: number;
  /** The relocation kind. */
  kind: COREKind;
  /** Human-readable description: kind, local access, target (libbpf log style). */
  description: string;
  /** The compiler's (local) value. */
  local: bigint;
  /** The target's value (meaningless when poisoned). */
  target: bigint;
  /** True if the instruction was poisoned. */
  poisoned: boolean;
  /** Why, for poisoned instructions: "struct task_struct has no field foo". */
  reason?: string;
  /** The chosen candidate, if any. */
  candidate?: CORECandidate;
  /** What changed in the instruction. */
  patch: COREPatch;
}

/** A poisoned instruction, for turning a verifier failure into a CO-RE message. */
export interface COREPoison {
  /** Slot index of the poisoned instruction in the program. */
  instruction: number;
  /** Index of the relocation record. */
  index: number;
  /** Why the relocation failed: "struct task_struct has no field foo". */
  reason: string;
  /** The relocation's description. */
  description: string;
  /** Slots poisoned: 2 for an `ld_imm64` (both halves become calls), else 1. */
  slots: 1 | 2;
}

/** What {@link coreRelocate} did. */
export interface CORERelocateResult {
  /** Every relocation in input order. */
  fixups: COREFixup[];
  /** The poisoned instructions (a subset of `fixups`, by slot). */
  poisoned: COREPoison[];
}

/**
 * A relocation could not be computed or applied: malformed access string, ambiguous
 * candidates, or an instruction that does not hold the compiler's value.
 */
export class COREError extends BpfError {
  /** The program, when known. */
  readonly program: string | undefined;
  /** Index of the failing record. */
  readonly index: number;
  /** The failing record. */
  readonly relocation: CORERelocation;

  constructor(message: string, program: string | undefined, index: number, relocation: CORERelocation, cause?: unknown) {
    super(message, { cause });
    this.program = program;
    this.index = index;
    this.relocation = relocation;
  }
}

/**
 * Applies CO-RE relocations to a program's instructions, in place.
 *
 * - `insns`: the program (decoded; `ld_imm64` counts two slots). Poisoning a 16-byte
 *   `ld_imm64` replaces it with two `call 0xbad2310` instructions, so the array may grow;
 *   slot positions never move.
 * - `relos`: the records for this program; `insnOffset` is a byte offset into `insns` (after
 *   subtracting `options.sectionOffset`).
 * - `local`: the object's BTF; `targets`: the target BTF first (vmlinux or a custom file),
 *   then kernel module specs, which are searched only for types the first has no candidate
 *   for.
 *
 * Throws {@link COREError} for relocations that cannot be computed; a relocation without a
 * candidate is not an error (see {@link COREPoison} and {@link corePoisonMessage}).
 *
 * @example
 * ```ts
 * const { fixups, poisoned } = coreRelocate(prog.instructions, relos, objectBTF, [await loadKernelSpec()]);
 * ```
 */
export function coreRelocate(
  insns: Instruction[],
  relos: readonly CORERelocation[],
  local: Spec,
  targets: readonly Spec[],
  options: CORERelocateOptions = {},
): CORERelocateResult {
  if (targets.length === 0) throw new ArgumentError('coreRelocate: no target BTF given');
  const cache = options.candidateCache ?? new CORECandidateCache();
  const byteOrder = options.byteOrder ?? local.byteOrder;
  const base = options.sectionOffset ?? 0;
  const slots = new SlotMap(insns);
  const fixups: COREFixup[] = [];
  const poisoned: COREPoison[] = [];
  const secondHalves: Instruction[] = [];

  relos.forEach((relo, index) => {
    const what = `CO-RE relocation #${index} (${coreKindName(relo.kind) ?? `kind ${relo.kind}`} [${relo.typeId}] "${relo.accessor}")${
      options.program === undefined ? '' : ` of program ${options.program}`
    }`;
    const fail = (message: string, cause?: unknown): never => {
      throw new COREError(`${what}: ${message}`, options.program, index, relo, cause);
    };
    const rel = relo.insnOffset - base;
    const at = rel % 8 === 0 ? slots.indexOf(rel / 8) : undefined;
    if (at === undefined || at >= insns.length) fail(`instruction offset ${relo.insnOffset} is not the start of an instruction of this program`);
    const insn = insns[at!]!;
    const slot = rel / 8;

    let calc: Calculated;
    try {
      calc = calculate(relo, local, targets, cache, byteOrder, options.moduleTargets);
    } catch (e) {
      if (e instanceof COREError) throw e;
      if (e instanceof BpfError) fail(e.message.replace(/^CO-RE: /, ''), e);
      throw e;
    }
    const description = calc.description;
    const wasLoadImm64 = insn.isLoadImm64;
    let patch: COREPatch;
    try {
      patch = applyCOREResult(insn, calc.result, () => `${what} at instruction ${slot}`);
    } catch (e) {
      if (e instanceof COREPatchError) throw new COREError(e.message, options.program, index, relo, e);
      throw e;
    }
    const isPoison = patch.kind === 'poison';
    if (isPoison && wasLoadImm64) {
      const half = new Instruction({ opcode: 0 });
      poisonInstruction(half);
      secondHalves.push(insn);
      (insn as Instruction & { [secondHalf]?: Instruction })[secondHalf] = half;
    }
    const reason = patch.unsafeSizeChange === true ? calc.sizeReason : calc.reason;
    fixups.push({
      index,
      relocation: relo,
      instruction: slot,
      kind: relo.kind,
      description,
      local: calc.result.local,
      target: calc.result.target,
      poisoned: isPoison,
      ...(isPoison ? { reason: reason ?? 'no matching target' } : {}),
      ...(calc.candidate === undefined ? {} : { candidate: calc.candidate }),
      patch,
    });
    if (isPoison) poisoned.push({ instruction: slot, index, reason: reason ?? 'no matching target', description, slots: wasLoadImm64 ? 2 : 1 });
  });

  // Insert the second poisoned slot of each poisoned ld_imm64 (slot positions stay the same:
  // one 16-byte instruction becomes two 8-byte ones).
  if (secondHalves.length > 0) {
    for (let i = insns.length - 1; i >= 0; i--) {
      const half = (insns[i] as Instruction & { [secondHalf]?: Instruction })[secondHalf];
      if (half !== undefined) {
        delete (insns[i] as Instruction & { [secondHalf]?: Instruction })[secondHalf];
        insns.splice(i + 1, 0, half);
      }
    }
  }
  return { fixups, poisoned };
}

const secondHalf = Symbol('coreSecondHalf');

/**
 * The message for a verifier failure at a poisoned instruction:
 * "CO-RE relocation failed: struct X has no field Y (program P, instruction N)". The loader
 * calls this when the verifier log names helper {@link corePoisonHelperId} at an instruction
 * listed in {@link CORERelocateResult.poisoned}.
 */
export function corePoisonMessage(poison: COREPoison, program: string): string {
  return `CO-RE relocation failed: ${poison.reason} (program ${program}, instruction ${poison.instruction})`;
}

/**
 * Finds the poison entry for a verifier log line such as `invalid func unknown#195896080`
 * reported at instruction `instruction`, or undefined.
 */
export function findPoison(result: CORERelocateResult, instruction: number): COREPoison | undefined {
  return result.poisoned.find((p) => instruction >= p.instruction && instruction < p.instruction + p.slots);
}

export { corePoisonHelperId };

interface Calculated {
  result: COREResult;
  description: string;
  candidate?: CORECandidate;
  reason?: string;
  sizeReason?: string;
}

/**
 * Candidates for a local type: same essential name, CO-RE-compatible kind, named, in ID
 * order; from the first target, else from all others, then from `moduleTargets()` (called
 * only then), as `bpf_core_find_cands` searches vmlinux before the modules. Module specs
 * are split BTF: only their own types count, the base is the first target already.
 */
export function findCandidates(localType: Type, targets: readonly Spec[], moduleTargets?: () => readonly Spec[]): CORECandidate[] {
  const name = essentialName(localType.name);
  const collect = (spec: Spec): CORECandidate[] => {
    const first = spec.firstTypeId;
    return spec
      .idsByName(name, coreKinds(localType))
      .filter((id) => id >= first)
      .sort((a, b) => a - b)
      .map((id) => ({ spec, id, type: spec.typeById(id) }))
      .filter((c) => c.type.name !== '' && essentialName(c.type.name) === name && kindsCompatible(c.type, localType));
  };
  const main = collect(targets[0]!);
  if (main.length > 0) return main;
  const rest = targets.slice(1);
  if (moduleTargets !== undefined) rest.push(...moduleTargets());
  return rest.flatMap(collect);
}

// The kinds a CO-RE candidate of a local type may have (see kindsCompatible).
function coreKinds(local: Type): Kind[] {
  return local.kind === Kind.Enum || local.kind === Kind.Enum64 ? [Kind.Enum, Kind.Enum64] : [local.kind];
}

function calculate(
  relo: CORERelocation,
  local: Spec,
  targets: readonly Spec[],
  cache: CORECandidateCache,
  byteOrder: ByteOrder,
  moduleTargets?: () => readonly Spec[],
): Calculated {
  let localSpec: COREAccessSpec;
  try {
    localSpec = parseAccess(local, relo.typeId, relo.accessor, relo.kind);
  } catch (e) {
    if (e instanceof COREAccessError) throw e;
    throw new COREAccessError(`CO-RE: cannot resolve the local type [${relo.typeId}]: ${(e as Error).message}`, { cause: e });
  }
  const kindName = coreKindName(relo.kind)!;
  const localText = `<${kindName}> ${formatAccess(localSpec)}`;

  // TYPE_ID_LOCAL needs no target, and its value may have moved during linking, so it is
  // not validated (bpf_core_calc_relo_insn).
  if (relo.kind === COREKind.TypeIDLocal) {
    const id = BigInt(relo.typeId);
    return { result: plain(id, id, false), description: `${localText} -> local ID ${relo.typeId}` };
  }
  if (localSpec.root.name === '') {
    throw new COREAccessError(`CO-RE: ${kindName} relocations of anonymous types are not supported (libbpf refuses them too)`);
  }

  let candidates = cache.lists.get(localSpec.root);
  if (candidates === undefined) {
    candidates = findCandidates(localSpec.root, targets, moduleTargets);
    cache.lists.set(localSpec.root, candidates);
  }

  let chosen: { spec: COREAccessSpec; calc: Calculated; candidate: CORECandidate } | undefined;
  const matching: CORECandidate[] = [];
  let firstMismatch: string | undefined;
  for (const candidate of candidates) {
    const matched = matchCandidate(localSpec, candidate);
    if ('reason' in matched) {
      firstMismatch ??= matched.reason;
      continue;
    }
    const calc = calcRelocation(relo.kind, localSpec, matched, byteOrder);
    if (chosen === undefined) {
      chosen = { spec: matched, calc, candidate };
    } else if (isFieldKind(relo.kind) && matched.bitOffset !== chosen.spec.bitOffset) {
      throw new COREAccessError(
        `CO-RE: ambiguous candidates for ${localText}: [${chosen.candidate.id}] ${describe(chosen.candidate.type)} puts it at bit ${chosen.spec.bitOffset}, ` +
          `[${candidate.id}] ${describe(candidate.type)} at bit ${matched.bitOffset}`,
      );
    } else if (calc.result.poison !== chosen.calc.result.poison || calc.result.target !== chosen.calc.result.target) {
      const show = (c: Calculated): string => (c.result.poison ? 'failure' : String(c.result.target));
      throw new COREAccessError(
        `CO-RE: ambiguous candidates for ${localText}: [${chosen.candidate.id}] ${describe(chosen.candidate.type)} gives ${show(chosen.calc)}, ` +
          `[${candidate.id}] ${describe(candidate.type)} gives ${show(calc)}`,
      );
    }
    matching.push(candidate);
  }

  if (chosen !== undefined) {
    // Later relocations of this type only consider what matched here (libbpf prunes its cache).
    cache.lists.set(localSpec.root, matching);
    const { calc, spec, candidate } = chosen;
    return { ...calc, candidate, description: `${localText} -> ${formatAccess(spec)}` };
  }

  const reason =
    candidates.length === 0
      ? `${describe(localSpec.root)} not found in the target BTF${isTypeKind(relo.kind) ? '' : ` (for ${formatAccess(localSpec)})`}`
      : (firstMismatch ?? `no ${describe(localSpec.root)} in the target BTF fits`);
  const calc = calcRelocation(relo.kind, localSpec, undefined, byteOrder);
  return { ...calc, reason, description: `${localText} -> no matching target` };
}

function matchCandidate(local: COREAccessSpec, candidate: CORECandidate): COREAccessSpec | { reason: string } {
  if (isTypeKind(local.kind)) {
    const ok =
      local.kind === COREKind.TypeMatches ? typesMatch(local.root, candidate.type) : typesAreCompatible(local.root, candidate.type);
    if (!ok) {
      return {
        reason: `${describe(candidate.type)} in the target ${local.kind === COREKind.TypeMatches ? 'does not match' : 'is incompatible with'} the local ${describe(local.root)}`,
      };
    }
    return { spec: candidate.spec, root: candidate.type, rootId: candidate.id, kind: local.kind, accessors: [], raw: [], bitOffset: 0 };
  }
  return matchAccess(local, candidate.spec, candidate.type, candidate.id);
}

function plain(local: bigint, target: bigint, validate = true): COREResult {
  return { local, target, poison: false, validate, localSize: 0, targetSize: 0, unsafeSizeChange: false };
}

/** Field, type or enum value of one side; `undefined` spec means "no target". */
function calcRelocation(kind: COREKind, local: COREAccessSpec, target: COREAccessSpec | undefined, byteOrder: ByteOrder): Calculated {
  if (isFieldKind(kind)) {
    const l = fieldValue(kind, local, byteOrder);
    if (target === undefined && kind !== COREKind.FieldExists) {
      // bpf_core_calc_field_relo: only existence has an answer without a target.
      return { result: { ...plain(l.value, 0n, l.validate), poison: true }, description: '' };
    }
    const t = target === undefined ? { value: 0n, size: 0, type: undefined } : fieldValue(kind, target, byteOrder);
    const result: COREResult = {
      local: l.value,
      target: t.value,
      poison: false,
      validate: l.validate,
      localSize: l.size,
      targetSize: t.size,
      unsafeSizeChange: false,
    };
    let sizeReason: string | undefined;
    if (l.size !== t.size && l.type !== undefined && t.type !== undefined) {
      // bpf_core_calc_relo: a load may only change width when zero extension keeps the
      // value: pointers (32-bit kernels) and unsigned integers. Anything else is poisoned at
      // load/store instructions.
      const bothPointers = l.type instanceof Pointer && t.type instanceof Pointer;
      const bothUnsigned = l.type instanceof Int && t.type instanceof Int && l.type.encoding !== 1 && t.type.encoding !== 1;
      if (!bothPointers && !bothUnsigned) {
        result.unsafeSizeChange = true;
        sizeReason =
          `${formatAccess(local)} is ${l.size} bytes locally but ${t.size} bytes in the target (${describe(t.type)}); ` +
          'only pointers and unsigned integers can be loaded with another size';
      }
    }
    return { result, description: '', sizeReason };
  }
  if (isTypeKind(kind)) {
    const value = (s: COREAccessSpec | undefined): bigint => {
      if (s === undefined) return 0n;
      switch (kind) {
        case COREKind.TypeIDTarget:
          return BigInt(s.rootId);
        case COREKind.TypeExists:
        case COREKind.TypeMatches:
          return 1n;
        case COREKind.TypeSize:
          return BigInt(sizeOf(s.root, 'type size'));
        default:
          return 0n;
      }
    };
    // Type IDs change when objects are linked: libbpf does not check them.
    return { result: plain(value(local), value(target), kind !== COREKind.TypeIDTarget), description: '' };
  }
  if (isEnumvalKind(kind)) {
    const value = (s: COREAccessSpec | undefined): bigint | undefined => {
      if (kind === COREKind.EnumvalExists) return s === undefined ? 0n : 1n;
      if (s === undefined) return undefined;
      const acc = s.accessors[0]!;
      const e = acc.type;
      if (e instanceof Enum) {
        // The 32-bit value is widened as a signed number (btf_enum.val is __s32).
        return BigInt.asUintN(64, BigInt(e.values[acc.index]!.value | 0));
      }
      if (isAnyEnum(e)) return BigInt.asUintN(64, BigInt(e.values[acc.index]!.value));
      return undefined;
    };
    const l = value(local) ?? 0n;
    const t = value(target);
    if (t === undefined) return { result: { ...plain(l, 0n), poison: true }, description: '' };
    return { result: plain(l, t), description: '' };
  }
  throw new COREAccessError(`CO-RE: unknown relocation kind ${kind as number}`);
}

function sizeOf(t: Type, what: string): number {
  try {
    return sizeof(t);
  } catch (cause) {
    throw new COREAccessError(`CO-RE: ${what}: ${t} has no size`, { cause });
  }
}

/**
 * The value of a field relocation on one side (`bpf_core_calc_field_relo`), with the field's
 * size and type for load-size checks.
 */
function fieldValue(kind: COREKind, s: COREAccessSpec, byteOrder: ByteOrder): { value: bigint; size: number; type: Type | undefined; validate: boolean } {
  if (kind === COREKind.FieldExists) return { value: 1n, size: 0, type: undefined, validate: true };
  const acc = s.accessors[s.accessors.length - 1]!;
  if (acc.name === undefined) {
    // The access ends at an array element (or the root itself): offset and size only.
    if (kind === COREKind.FieldByteOffset) {
      return { value: BigInt(s.bitOffset / 8), size: sizeOf(acc.type, 'array element'), type: acc.type, validate: true };
    }
    if (kind === COREKind.FieldByteSize) {
      return { value: BigInt(sizeOf(acc.type, 'array element')), size: 0, type: undefined, validate: true };
    }
    throw new COREAccessError(`CO-RE: ${coreKindName(kind)} cannot be applied to an array element (${formatAccess(s)})`);
  }
  const holder = acc.type as Composite;
  const member = holder.members[acc.index]!;
  const fieldType = skipQualifiersAndTypedefs(member.type);
  const bitOff = s.bitOffset;
  let bitSize = member.bitfieldSize;
  const bitfield = bitSize > 0;
  let byteSize: number;
  let byteOff: number;
  if (bitfield) {
    // The smallest naturally aligned window, starting from the declared type's size, that
    // holds every bit of the field (what the BPF_CORE_READ_BITFIELD macros load).
    byteSize = sizeOf(fieldType, 'bitfield');
    byteOff = Math.floor(bitOff / 8 / byteSize) * byteSize;
    while (bitOff + bitSize - byteOff * 8 > byteSize * 8) {
      if (byteSize >= 8) throw new COREAccessError(`CO-RE: bitfield ${formatAccess(s)} cannot be read with a 64-bit load`);
      byteSize *= 2;
      byteOff = Math.floor(bitOff / 8 / byteSize) * byteSize;
    }
  } else {
    byteSize = sizeOf(fieldType, 'field');
    byteOff = Math.floor(bitOff / 8);
    bitSize = byteSize * 8;
  }
  // Bitfield offsets and sizes are ambiguous (the compiler may choose another window), so
  // they are not validated; signedness and the right shift are unambiguous.
  let validate = !bitfield;
  let value: number;
  let size = 0;
  let type: Type | undefined;
  switch (kind) {
    case COREKind.FieldByteOffset:
      value = byteOff;
      if (!bitfield) {
        size = byteSize;
        type = fieldType;
      }
      break;
    case COREKind.FieldByteSize:
      value = byteSize;
      break;
    case COREKind.FieldSigned:
      value = (isAnyEnum(fieldType) && fieldType.signed) || (fieldType instanceof Int && fieldType.signed) ? 1 : 0;
      validate = true;
      break;
    case COREKind.FieldLShiftU64:
      // Shift that moves the field's top bit to bit 63 of the u64 the window was loaded into.
      value = byteOrder === 'little' ? 64 - (bitOff + bitSize - byteOff * 8) : (8 - byteSize) * 8 + (bitOff - byteOff * 8);
      break;
    case COREKind.FieldRShiftU64:
      value = 64 - bitSize;
      validate = true;
      break;
    default:
      throw new COREAccessError(`CO-RE: unknown field relocation kind ${kind as number}`);
  }
  return { value: BigInt(value), size, type, validate };
}
