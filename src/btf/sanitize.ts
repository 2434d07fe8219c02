/**
 * Sanitising: rewriting a (fixed-up) spec so that a kernel which lacks some BTF kinds or flags
 * still accepts it. Which features are missing is decided elsewhere, by probing the running
 * kernel (src/features/btf.ts); this module is the pure transform, so every variant can be
 * unit-tested and loaded on a kernel that has everything.
 *
 * Every replacement keeps the type's ID (map definitions, func_info and CO-RE records name
 * types by ID) and, where it matters, its size, so the layout of everything that embeds the
 * type is unchanged. The replacements follow libbpf's bpf_object__sanitize_btf():
 *
 * | missing feature (first kernel) | kind            | becomes                                    |
 * |--------------------------------|-----------------|--------------------------------------------|
 * | `func` (5.0)                   | FUNC_PROTO      | ENUM, one enumerator per parameter         |
 * | `func` (5.0)                   | FUNC            | TYPEDEF of the former prototype            |
 * | `globalFunc` (5.6)             | global FUNC     | static FUNC                                |
 * | `datasec` (5.2)                | VAR             | INT, 1 byte                                |
 * | `datasec` (5.2)                | DATASEC         | STRUCT, one member per variable            |
 * | `float` (5.13)                 | FLOAT           | anonymous STRUCT of the same size          |
 * | `declTag` (5.16)               | DECL_TAG        | INT, 1 byte                                |
 * | `typeTag` (5.17)               | TYPE_TAG        | anonymous CONST                            |
 * | `enum64` (6.0)                 | ENUM64          | UNION of 1-byte members, same size         |
 * | `signedEnum` (6.0)             | signed ENUM     | unsigned ENUM (same bits)                  |
 * | `qmarkDatasec`                 | DATASEC `?name` | DATASEC `_name`                            |
 *
 * Where libbpf's output would itself be rejected by a current kernel, we go one step further
 * (so the result loads everywhere): ENUM enumerators need a valid name (btf_enum_check_meta()),
 * so unnamed parameters and the variadic marker get one; a DECL_TAG left pointing at a type
 * that no longer takes tags (a FUNC turned TYPEDEF, a VAR turned INT) is turned into an INT.
 *
 * @module
 */
import type { Spec } from './spec.js';
import {
  Composite,
  Const,
  Datasec,
  DeclTag,
  Enum,
  Enum64,
  Float,
  Func,
  FuncLinkage,
  FuncProto,
  Int,
  Member,
  Struct,
  Type,
  TypeTag,
  Typedef,
  Union,
  Var,
  mapChildren,
} from './types.js';

/**
 * A BTF feature that kernels gained over time and that sanitising can hide:
 * - `func`: FUNC and FUNC_PROTO (Linux 5.0)
 * - `datasec`: VAR and DATASEC (Linux 5.2)
 * - `globalFunc`: FUNC with global linkage (Linux 5.6)
 * - `float`: FLOAT (Linux 5.13)
 * - `declTag`: DECL_TAG (Linux 5.16)
 * - `typeTag`: TYPE_TAG (Linux 5.17)
 * - `enum64`: ENUM64 (Linux 6.0)
 * - `signedEnum`: signed ENUM, the kind_flag of ENUM (Linux 6.0)
 * - `qmarkDatasec`: DATASEC names starting with `?` (libbpf 1.4's optional sections)
 */
export type BTFFeatureName =
  | 'func'
  | 'datasec'
  | 'globalFunc'
  | 'float'
  | 'declTag'
  | 'typeTag'
  | 'enum64'
  | 'signedEnum'
  | 'qmarkDatasec';

/** Every {@link BTFFeatureName}, oldest first. */
export const btfFeatureNames: readonly BTFFeatureName[] = [
  'func',
  'datasec',
  'globalFunc',
  'float',
  'declTag',
  'typeTag',
  'enum64',
  'signedEnum',
  'qmarkDatasec',
];

/** Name of the 1-byte INT that ENUM64 enumerators become members of (libbpf's name). */
export const enum64PlaceholderName = 'enum64_placeholder';

/** Prefix of names given to unnamed parameters when a FUNC_PROTO becomes an ENUM. */
export const sanitizedParamPrefix = 'param';

/**
 * Returns a copy of `spec` in which everything a kernel without `missing` features would
 * reject is replaced (see the module comment for the table). `spec` is not modified. Type IDs
 * are unchanged; at most one type is appended (the ENUM64 placeholder INT). With nothing
 * missing, the copy marshals to the same bytes as the input.
 *
 * Run after {@link fixupSpec}: sanitising assumes DATASECs and linkage are already valid.
 * When `func` is missing the loader must also drop func_info and line_info from program
 * loads (BPF_PROG_LOAD checks that func_info points at FUNCs).
 */
export function sanitizeSpec(spec: Spec, missing: Iterable<BTFFeatureName>): Spec {
  const lacks = new Set(missing);
  const out = spec.copy();
  if (lacks.size === 0) return out;
  const own = [...out.entries()];
  const replaced = new Map<Type, Type>();
  let placeholder: Int | undefined;
  const enum64Member = (): Int => (placeholder ??= new Int(enum64PlaceholderName, 1, 0, 8));

  for (const [, t] of own) {
    const next = replacement(t, lacks, out, enum64Member);
    if (next !== undefined && next !== t) replaced.set(t, next);
  }
  // A DECL_TAG may only tag a struct, union, var, func or typedef, and only structs, unions
  // and funcs have components (btf_decl_tag_resolve()). What the rewrite above left pointing
  // elsewhere would be rejected: it becomes an INT too.
  for (const [, t] of own) {
    if (!(t instanceof DeclTag) || replaced.has(t)) continue;
    const target = replaced.get(t.type) ?? t.type;
    const taggable = target instanceof Composite || target instanceof Func || target instanceof Var || target instanceof Typedef;
    const component = t.componentIndex < 0 || target instanceof Composite || target instanceof Func;
    if (!taggable || !component) replaced.set(t, new Int(t.name, 1, 0, 8));
  }
  if (replaced.size === 0) return out;

  // Replacement objects were built with references to the old objects: redirect every
  // reference (in untouched types and in the replacements) to the replacements.
  const redirect = (c: Type): Type => replaced.get(c) ?? c;
  for (const [id, t] of own) {
    const now = replaced.get(t);
    if (now !== undefined) out.replace(id, now);
    mapChildren(now ?? t, redirect);
  }
  if (placeholder !== undefined) out.add(placeholder);
  return out;
}

/**
 * The features whose absence would make {@link sanitizeSpec} change `spec` (its own types):
 * for the others, what the kernel lacks does not matter to this spec, and need not be probed.
 */
export function btfFeaturesUsed(spec: Spec): Set<BTFFeatureName> {
  const used = new Set<BTFFeatureName>();
  for (const [, t] of spec.entries()) {
    if (t instanceof Var) used.add('datasec');
    else if (t instanceof Datasec) {
      used.add('datasec');
      if (t.name.startsWith('?')) used.add('qmarkDatasec');
    } else if (t instanceof FuncProto) used.add('func');
    else if (t instanceof Func) {
      used.add('func');
      if (t.linkage !== FuncLinkage.Static) used.add('globalFunc');
    } else if (t instanceof Float) used.add('float');
    else if (t instanceof DeclTag) used.add('declTag');
    else if (t instanceof TypeTag) used.add('typeTag');
    else if (t instanceof Enum64) used.add('enum64');
    else if (t instanceof Enum && t.signed) {
      used.add('signedEnum');
      used.add('enum64');
    }
  }
  return used;
}

/** The replacement of one type, or undefined to keep it (possibly edited in place). */
function replacement(t: Type, lacks: Set<BTFFeatureName>, spec: Spec, enum64Member: () => Int): Type | undefined {
  if (t instanceof Var && lacks.has('datasec')) {
    // 1 byte: an INT as large as the variable could overrun a smaller member slot.
    return new Int(t.name, 1, 0, 8);
  }
  if (t instanceof Datasec) {
    if (lacks.has('datasec')) {
      const s = new Struct(t.name.replace(/[.?]/g, '_'), t.size);
      // Members keep the variable's name and point at the (former) VAR, now an INT.
      s.members = t.vars.map((v) => new Member(v.type.name, v.type, v.offset * 8));
      return s;
    }
    if (lacks.has('qmarkDatasec') && t.name.startsWith('?')) t.name = `_${t.name.slice(1)}`;
    return undefined;
  }
  if (t instanceof FuncProto && lacks.has('func')) {
    // An ENUM record has the FUNC_PROTO's shape (name, u32 pairs): each parameter becomes an
    // enumerator whose value is the parameter's type ID. The kernel enforces size 4.
    const values = t.params.map((p, i) => ({ name: p.name === '' ? `${sanitizedParamPrefix}${i}` : p.name, value: spec.typeId(p.type) }));
    if (t.variadic) values.push({ name: `${sanitizedParamPrefix}${t.params.length}`, value: 0 });
    const e = new Enum('', 4, values);
    e.name = t.name;
    return e;
  }
  if (t instanceof Func) {
    if (lacks.has('func')) return new Typedef(t.name, t.type);
    if (lacks.has('globalFunc') && t.linkage !== FuncLinkage.Static) t.linkage = FuncLinkage.Static;
    return undefined;
  }
  if (t instanceof Float && lacks.has('float')) {
    // Anonymous: C compilers reject a struct called `float`.
    return new Struct('', t.size);
  }
  if (t instanceof DeclTag && lacks.has('declTag')) return new Int(t.name, 1, 0, 8);
  if (t instanceof TypeTag && lacks.has('typeTag')) return new Const(t.type);
  if (t instanceof Enum64 && lacks.has('enum64')) {
    const member = enum64Member();
    return new Union(
      t.name,
      t.size,
      t.values.map((v) => new Member(v.name, member, 0)),
    );
  }
  if (t instanceof Enum && t.signed && (lacks.has('signedEnum') || lacks.has('enum64'))) {
    // Same bits, read as unsigned: the values stay what the program compiled against.
    t.signed = false;
    t.values = t.values.map((v) => ({ name: v.name, value: v.value >>> 0 }));
  }
  return undefined;
}
