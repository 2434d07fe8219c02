/**
 * CO-RE compatibility rules: when a target type may stand in for a local one. Three relations,
 * each with the kernel's and libbpf's semantics (tools/lib/bpf/relo_core.c, shared with the
 * kernel's in-kernel CO-RE via kernel/bpf/btf.c):
 *
 * - {@link fieldsAreCompatible} — a named member found in the target may replace the local
 *   one (`bpf_core_fields_are_compat`): loose, only the shape that matters for a load.
 * - {@link typesAreCompatible} — TYPE_EXISTS / TYPE_SIZE / TYPE_ID_TARGET
 *   (`__bpf_core_types_are_compat`): same kind after typedefs and modifiers, recursively
 *   through pointers, arrays and function prototypes, never into struct members.
 * - {@link typesMatch} — TYPE_MATCHES (`__bpf_core_types_match`): much stricter, every local
 *   member and enumerator must have a same-named counterpart, integers must agree in size and
 *   signedness, and pointers relax the struct/union/forward rules.
 *
 * All walks are bounded: the type graph may be cyclic.
 *
 * @module
 */
import { BpfError } from '../errors.js';
import {
  Array as ArrayType,
  Composite,
  Enum,
  Enum64,
  Float,
  FuncProto,
  Fwd,
  Int,
  Pointer,
  Struct,
  Type,
  Union,
  Void,
  essentialName,
  skipQualifiersAndTypedefs,
} from './types.js';

// relo_core.c caps both chain-following and recursion at 32 levels; deeper BTF is treated as
// an error rather than looped over.
const maxDepth = 32;

/** A compatibility walk hit the depth limit (cyclic or absurdly deep BTF). */
export class CORECompatDepthError extends BpfError {}

/** True for struct and union. */
export function isComposite(t: Type): t is Composite {
  return t instanceof Composite;
}

/** True for enum and enum64. */
export function isAnyEnum(t: Type): t is Enum | Enum64 {
  return t instanceof Enum || t instanceof Enum64;
}

/**
 * Kinds CO-RE treats as "the same" when looking for candidates (`btf_kind_core_compat`):
 * equal kinds, or any two enums (a local 32-bit enum may be an ENUM64 in the target).
 */
export function kindsCompatible(a: Type, b: Type): boolean {
  return a.kind === b.kind || (isAnyEnum(a) && isAnyEnum(b));
}

/** Length-independent flavor-less equality: `foo___a` and `foo` are the same name. */
function sameEssentialName(a: string, b: string): boolean {
  return essentialName(a) === essentialName(b);
}

/**
 * True if a target member type can replace a local member type (`bpf_core_fields_are_compat`):
 * any two composites; pointers and floats of any target; enums and forward declarations
 * with the same essential name or when either is anonymous; integers unless they are legacy
 * bitfield-style ints with a bit offset; arrays by element.
 */
export function fieldsAreCompatible(local: Type, target: Type): boolean {
  let l = local;
  let t = target;
  for (let depth = 0; depth < maxDepth; depth++) {
    l = skipQualifiersAndTypedefs(l);
    t = skipQualifiersAndTypedefs(t);
    if (isComposite(l) && isComposite(t)) return true;
    if (!kindsCompatible(l, t)) return false;
    if (l instanceof Pointer || l instanceof Float) return true;
    if (l instanceof Fwd || isAnyEnum(l)) {
      const ln = essentialName(l.name);
      const tn = essentialName(t.name);
      return ln === '' || tn === '' || ln === tn;
    }
    if (l instanceof Int) return l.offset === 0 && (t as Int).offset === 0;
    if (l instanceof ArrayType) {
      l = l.type;
      t = (t as ArrayType).type;
      continue;
    }
    return false;
  }
  throw new CORECompatDepthError(`CO-RE: type chain deeper than ${maxDepth} comparing ${local} with ${target}`);
}

/**
 * True if `target` is compatible with `local` for the type-based relocations TYPE_EXISTS,
 * TYPE_SIZE and TYPE_ID_TARGET (`__bpf_core_types_are_compat`). The caller has matched the
 * names already; struct/union/enum/fwd compare by kind only, integers reject legacy bit
 * offsets, pointers, arrays and function prototypes recurse.
 */
export function typesAreCompatible(local: Type, target: Type, level = maxDepth): boolean {
  if (!kindsCompatible(local, target)) return false;
  let l = local;
  let t = target;
  for (let depth = 0; depth < maxDepth; depth++) {
    l = skipQualifiersAndTypedefs(l);
    t = skipQualifiersAndTypedefs(t);
    if (!kindsCompatible(l, t)) return false;
    if (l instanceof Void || isComposite(l) || isAnyEnum(l) || l instanceof Fwd) return true;
    if (l instanceof Int) return l.offset === 0 && (t as Int).offset === 0;
    if (l instanceof Pointer) {
      l = l.type;
      t = (t as Pointer).type;
      continue;
    }
    if (l instanceof ArrayType) {
      l = l.type;
      t = (t as ArrayType).type;
      continue;
    }
    if (l instanceof FuncProto) {
      const tp = t as FuncProto;
      if (paramCount(l) !== paramCount(tp)) return false;
      for (let i = 0; i < l.params.length; i++) {
        if (level <= 0) throw new CORECompatDepthError(`CO-RE: function prototypes nested deeper than ${maxDepth}`);
        if (!typesAreCompatible(skipQualifiersAndTypedefs(l.params[i]!.type), skipQualifiersAndTypedefs(tp.params[i]!.type), level - 1)) {
          return false;
        }
      }
      l = l.return;
      t = tp.return;
      continue;
    }
    // Other kinds never reach CO-RE type relocations (libbpf warns "unexpected kind").
    return false;
  }
  throw new CORECompatDepthError(`CO-RE: type chain deeper than ${maxDepth} comparing ${local} with ${target}`);
}

// BTF counts the variadic marker as a parameter (vlen); our FuncProto keeps it as a flag.
function paramCount(p: FuncProto): number {
  return p.params.length + (p.variadic ? 1 : 0);
}

/**
 * Name rule of TYPE_MATCHES (`bpf_core_names_match`): an anonymous target matches only an
 * anonymous local; otherwise essential names must be equal.
 */
export function namesMatch(local: string, target: string): boolean {
  if (target === '') return local === '';
  return sameEssentialName(local, target);
}

/**
 * True if `target` matches `local` for TYPE_MATCHES (`__bpf_core_types_match`). `behindPointer`
 * is set once the walk has gone through a pointer: there a struct may match a forward
 * declaration of the same kind, and composites are not compared member by member.
 */
export function typesMatch(local: Type, target: Type, behindPointer = false, level = maxDepth): boolean {
  if (level <= 0) throw new CORECompatDepthError(`CO-RE: type_matches recursion deeper than ${maxDepth}`);
  let l = local;
  let t = target;
  for (let depth = 0; depth < maxDepth; depth++) {
    l = skipQualifiersAndTypedefs(l);
    t = skipQualifiersAndTypedefs(t);
    // Root-level typedef names were compared by the candidate search; here, after skipping
    // them, the underlying names must agree too.
    if (!namesMatch(l.name, t.name)) return false;
    if (l instanceof Void) return t instanceof Void;
    if (l instanceof Fwd) {
      const localUnion = l.fwdKind === 'union';
      if (t instanceof Fwd) return localUnion === (t.fwdKind === 'union');
      if (!behindPointer) return false;
      return (t instanceof Struct && !localUnion) || (t instanceof Union && localUnion);
    }
    if (isAnyEnum(l)) {
      if (!isAnyEnum(t)) return false;
      return enumsMatch(l, t);
    }
    if (isComposite(l)) {
      if (behindPointer) {
        if (l.kind === t.kind) return true;
        if (!(t instanceof Fwd)) return false;
        return (l instanceof Union) === (t.fwdKind === 'union');
      }
      if (l.kind !== t.kind) return false;
      return compositesMatch(l, t as Composite, behindPointer, level);
    }
    if (l instanceof Int) {
      if (!(t instanceof Int)) return false;
      return l.size === t.size && l.signed === t.signed;
    }
    if (l instanceof Pointer) {
      if (!(t instanceof Pointer)) return false;
      behindPointer = true;
      l = l.type;
      t = t.type;
      continue;
    }
    if (l instanceof ArrayType) {
      if (!(t instanceof ArrayType) || l.nelems !== t.nelems) return false;
      l = l.type;
      t = t.type;
      continue;
    }
    if (l instanceof FuncProto) {
      if (!(t instanceof FuncProto) || paramCount(l) !== paramCount(t)) return false;
      for (let i = 0; i < l.params.length; i++) {
        if (!typesMatch(l.params[i]!.type, t.params[i]!.type, behindPointer, level - 1)) return false;
      }
      l = l.return;
      t = t.return;
      continue;
    }
    return false;
  }
  throw new CORECompatDepthError(`CO-RE: type chain deeper than ${maxDepth} comparing ${local} with ${target}`);
}

// bpf_core_enums_match: same size, and every local enumerator name exists in the target
// (values may differ: that is what ENUMVAL_VALUE relocations are for).
function enumsMatch(l: Enum | Enum64, t: Enum | Enum64): boolean {
  if (l.size !== t.size || l.values.length > t.values.length) return false;
  return l.values.every((lv) => t.values.some((tv) => namesMatch(lv.name, tv.name)));
}

// bpf_core_composites_match: every local member has a same-named target member whose type
// matches; extra target members are fine, offsets are not compared.
function compositesMatch(l: Composite, t: Composite, behindPointer: boolean, level: number): boolean {
  if (l.members.length > t.members.length) return false;
  for (const lm of l.members) {
    let matched = false;
    for (const tm of t.members) {
      if (!namesMatch(lm.name, tm.name)) continue;
      if (typesMatch(lm.type, tm.type, behindPointer, level - 1)) {
        matched = true;
        break;
      }
    }
    if (!matched) return false;
  }
  return true;
}
