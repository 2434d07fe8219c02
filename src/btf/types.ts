/**
 * The BTF type model: one class per BTF kind. Types reference each other as objects, so the
 * whole graph (including cycles through pointers, e.g. `struct list_head`) can be walked
 * without IDs. IDs only exist relative to a {@link Spec}.
 *
 * Fields are mutable on purpose: a spec can be copied and edited (CO-RE fix-ups, sanitising
 * for old kernels) before it is marshalled again.
 *
 * @module
 */
import { ArgumentError, BpfError } from '../errors.js';

/** BTF kind numbers as defined by `include/uapi/linux/btf.h` (`BTF_KIND_*`). */
export const Kind = {
  /** BTF_KIND_UNKN: void (type id 0). */
  Void: 0,
  /** BTF_KIND_INT: an integer, char or bool. */
  Int: 1,
  /** BTF_KIND_PTR: a pointer. */
  Pointer: 2,
  /** BTF_KIND_ARRAY: a fixed-size array. */
  Array: 3,
  /** BTF_KIND_STRUCT. */
  Struct: 4,
  /** BTF_KIND_UNION. */
  Union: 5,
  /** BTF_KIND_ENUM: 32-bit enumerators. */
  Enum: 6,
  /** BTF_KIND_FWD: a forward declaration. */
  Fwd: 7,
  /** BTF_KIND_TYPEDEF. */
  Typedef: 8,
  /** BTF_KIND_VOLATILE. */
  Volatile: 9,
  /** BTF_KIND_CONST. */
  Const: 10,
  /** BTF_KIND_RESTRICT. */
  Restrict: 11,
  /** BTF_KIND_FUNC: a function (name, linkage). */
  Func: 12,
  /** BTF_KIND_FUNC_PROTO: a function signature. */
  FuncProto: 13,
  /** BTF_KIND_VAR: a global variable. */
  Var: 14,
  /** BTF_KIND_DATASEC: a data section. */
  Datasec: 15,
  /** BTF_KIND_FLOAT (Linux 5.13). */
  Float: 16,
  /** BTF_KIND_DECL_TAG (Linux 5.16). */
  DeclTag: 17,
  /** BTF_KIND_TYPE_TAG (Linux 5.17). */
  TypeTag: 18,
  /** BTF_KIND_ENUM64: 64-bit enumerators (Linux 6.0). */
  Enum64: 19,
} as const;

/** A BTF kind number (`BTF_KIND_*`). */
export type Kind = (typeof Kind)[keyof typeof Kind];

/** The lower-case name of a kind as used in messages and in `typeByName(name, kind)`. */
export type KindName =
  | 'void'
  | 'int'
  | 'pointer'
  | 'array'
  | 'struct'
  | 'union'
  | 'enum'
  | 'fwd'
  | 'typedef'
  | 'volatile'
  | 'const'
  | 'restrict'
  | 'func'
  | 'func_proto'
  | 'var'
  | 'datasec'
  | 'float'
  | 'decl_tag'
  | 'type_tag'
  | 'enum64';

const kindNames: readonly KindName[] = [
  'void',
  'int',
  'pointer',
  'array',
  'struct',
  'union',
  'enum',
  'fwd',
  'typedef',
  'volatile',
  'const',
  'restrict',
  'func',
  'func_proto',
  'var',
  'datasec',
  'float',
  'decl_tag',
  'type_tag',
  'enum64',
];

/** The name of a kind number (`4` → `"struct"`), or `"kind N"` for numbers BTF does not define. */
export function kindName(kind: number): string {
  return kindNames[kind] ?? `kind ${kind}`;
}

/** The kind number of a kind name (`"struct"` → `4`), or undefined. */
export function kindByName(name: string): Kind | undefined {
  const index = kindNames.indexOf(name as KindName);
  return index < 0 ? undefined : (index as Kind);
}

/**
 * The name without a CO-RE "flavor" suffix: `task_struct___v2` → `task_struct`. libbpf ignores
 * everything from the last `___` on when it matches local types against kernel types
 * (`bpf_core_essential_name_len`), which lets one object carry several layouts of a type.
 */
export function essentialName(name: string): string {
  const at = name.lastIndexOf('___');
  return at > 0 ? name.slice(0, at) : name;
}

/** Base class of every BTF type. */
export abstract class Type {
  /** The BTF kind number. */
  abstract readonly kind: Kind;
  /** The type's name; `""` for anonymous types and for kinds that never have one. */
  name = '';

  /** The kind as a lower-case name (`"struct"`). */
  get kindName(): KindName {
    return kindNames[this.kind]!;
  }

  /** A one-line description: kind, name and the facts that identify the type. Never recursive. */
  toString(): string {
    const name = this.name === '' ? '' : ` ${this.name}`;
    const detail = this.describe();
    return `${this.kindName}${name}${detail === '' ? '' : ` ${detail}`}`;
  }

  /** Kind-specific facts for {@link Type.toString}. */
  protected describe(): string {
    // One level of the referenced type, never more: the graph may be cyclic.
    const target = (this as unknown as Partial<Referrer>).type;
    if (target instanceof Type) return `-> ${target.kindName}${target.name === '' ? '' : ` ${target.name}`}`;
    return '';
  }
}

/** Types that point at exactly one other type (pointers, qualifiers, typedefs, vars, …). */
export interface Referrer {
  /** The type this one refers to. */
  type: Type;
}

/** The `void` type. BTF reserves type ID 0 for it; it is never encoded. */
export class Void extends Type {
  /** Always {@link Kind.Void}. */
  readonly kind = Kind.Void;
}

/** Bits of an integer's `BTF_INT_ENCODING`. */
export const IntEncoding = {
  /** Unsigned (no flag). */
  Unsigned: 0,
  /** `BTF_INT_SIGNED`. */
  Signed: 1,
  /** `BTF_INT_CHAR`: printed as a character. */
  Char: 2,
  /** `BTF_INT_BOOL`. */
  Bool: 4,
} as const;

/** A combination of {@link IntEncoding} flags. */
export type IntEncoding = number;

/** An integer (`BTF_KIND_INT`): size in bytes, encoding, and for legacy bitfields bits and offset. */
export class Int extends Type {
  /** Always {@link Kind.Int}. */
  readonly kind = Kind.Int;
  /** Size in bytes. */
  size: number;
  /** {@link IntEncoding} flags. */
  encoding: IntEncoding;
  /** Number of value bits (`BTF_INT_BITS`); usually `size * 8`. */
  bits: number;
  /** Bit offset of the value inside the storage (`BTF_INT_OFFSET`); usually 0. */
  offset: number;

  constructor(name: string, size: number, encoding: IntEncoding = IntEncoding.Unsigned, bits = size * 8, offset = 0) {
    super();
    this.name = name;
    this.size = size;
    this.encoding = encoding;
    this.bits = bits;
    this.offset = offset;
  }

  /** True if `BTF_INT_SIGNED` is set. */
  get signed(): boolean {
    return (this.encoding & IntEncoding.Signed) !== 0;
  }

  protected override describe(): string {
    const flags = [
      this.encoding & IntEncoding.Signed ? 'signed' : 'unsigned',
      this.encoding & IntEncoding.Char ? 'char' : '',
      this.encoding & IntEncoding.Bool ? 'bool' : '',
    ].filter((s) => s !== '');
    const bits = this.bits !== this.size * 8 || this.offset !== 0 ? ` bits=${this.bits} offset=${this.offset}` : '';
    return `size=${this.size} ${flags.join(',')}${bits}`;
  }
}

/** A pointer (`BTF_KIND_PTR`). */
export class Pointer extends Type implements Referrer {
  /** Always {@link Kind.Pointer}. */
  readonly kind = Kind.Pointer;
  /** The pointed-to type. */
  type: Type;

  constructor(target: Type) {
    super();
    this.type = target;
  }

  /** Alias of `type`: the pointed-to type. */
  get target(): Type {
    return this.type;
  }
}

/** A fixed-size array (`BTF_KIND_ARRAY`). Multi-dimensional arrays are arrays of arrays. */
export class Array extends Type {
  /** Always {@link Kind.Array}. */
  readonly kind = Kind.Array;
  /** The element type. */
  type: Type;
  /** The index type (compilers emit an integer such as `__ARRAY_SIZE_TYPE__`). */
  index: Type;
  /** The number of elements. */
  nelems: number;

  constructor(element: Type, index: Type, nelems: number) {
    super();
    this.type = element;
    this.index = index;
    this.nelems = nelems;
  }

  protected override describe(): string {
    return `[${this.nelems}] of ${this.type.kindName}${this.type.name === '' ? '' : ` ${this.type.name}`}`;
  }
}

/**
 * A member of a {@link Struct} or {@link Union}.
 *
 * Members of parsed types resolve their type on first access: decoding `struct task_struct`
 * then costs its own record, not the thousands of types reachable from it (the kernel's
 * BTF has ~126k). Assigning `type` replaces it like any field.
 */
export class Member {
  /** The member's name; `""` for anonymous struct/union members. */
  name: string;
  /** Offset from the start of the enclosing type, in bits. */
  offset: number;
  /** Width of a bitfield in bits, or 0 for an ordinary member (encoded when `kind_flag` is set). */
  bitfieldSize: number;
  #type: Type | undefined;
  #resolve: ((ref: number) => Type) | undefined;
  #ref = 0;

  constructor(name: string, type: Type, offset: number, bitfieldSize = 0) {
    this.name = name;
    this.#type = type;
    this.offset = offset;
    this.bitfieldSize = bitfieldSize;
  }

  /** The member's type. */
  get type(): Type {
    let t = this.#type;
    if (t === undefined) {
      t = this.#resolve!(this.#ref);
      this.#type = t;
      this.#resolve = undefined;
    }
    return t;
  }

  /** Replaces the member's type (a deferred type is then never resolved). */
  set type(type: Type) {
    this.#type = type;
    this.#resolve = undefined;
  }

  /**
   * A member whose type is `resolve(ref)`, called when the type is first read (used by the BTF
   * decoder: one `resolve` for all members, not a closure per member).
   */
  static deferred(name: string, offset: number, bitfieldSize: number, resolve: (ref: number) => Type, ref: number): Member {
    const m = new Member(name, VOID, offset, bitfieldSize);
    m.#type = undefined;
    m.#resolve = resolve;
    m.#ref = ref;
    return m;
  }
}

// util.inspect.custom, without importing node:util.
const inspectCustom = Symbol.for('nodejs.util.inspect.custom');

/** Common shape of structs and unions. */
export abstract class Composite extends Type {
  /** Size in bytes. */
  size: number;
  /** The members in declaration order. */
  members: Member[];
  /**
   * Whether members encode a bitfield size (`kind_flag`). Kept so that parsed BTF re-encodes
   * exactly; when false, marshal still sets the flag if any member has a bitfield size.
   */
  bitfieldEncoding: boolean;

  constructor(name: string, size: number, members: Member[] = [], bitfieldEncoding = false) {
    super();
    this.name = name;
    this.size = size;
    this.members = members;
    this.bitfieldEncoding = bitfieldEncoding;
  }

  /** The first member with this name, not looking into anonymous members. */
  member(name: string): Member | undefined {
    return this.members.find((m) => m.name === name);
  }

  protected override describe(): string {
    return `size=${this.size} members=${this.members.length}`;
  }

  /** Printing (`console.log`, `util.inspect`) shows the members: decode them first. */
  [inspectCustom](): this {
    void this.members;
    return this; // Node then formats the object as it would without this method
  }
}

/** A struct (`BTF_KIND_STRUCT`). */
export class Struct extends Composite {
  /** Always {@link Kind.Struct}. */
  readonly kind = Kind.Struct;
}

/** A union (`BTF_KIND_UNION`). */
export class Union extends Composite {
  /** Always {@link Kind.Union}. */
  readonly kind = Kind.Union;
}

/** An enumerator of an {@link Enum}: values fit 32 bits. */
export interface EnumValue {
  /** The enumerator's name. */
  name: string;
  /** The value; negative only when the enum is signed. */
  value: number;
}

/** An enum with 32-bit values (`BTF_KIND_ENUM`); `kind_flag` marks it signed. */
export class Enum extends Type {
  /** Always {@link Kind.Enum}. */
  readonly kind = Kind.Enum;
  /** Size in bytes (1, 2, 4 or 8). */
  size: number;
  /** True if values are signed (`kind_flag`, kernel 6.0+ BTF). */
  signed: boolean;
  /** The enumerators. */
  values: EnumValue[];

  constructor(name: string, size: number, values: EnumValue[] = [], signed = false) {
    super();
    this.name = name;
    this.size = size;
    this.values = values;
    this.signed = signed;
  }

  protected override describe(): string {
    return `size=${this.size}${this.signed ? ' signed' : ''} values=${this.values.length}`;
  }
}

/** An enumerator of an {@link Enum64}. */
export interface Enum64Value {
  /** The enumerator's name. */
  name: string;
  /** The value as a bigint: unsigned 64-bit, or signed when the enum is signed. */
  value: bigint;
}

/** An enum with 64-bit values (`BTF_KIND_ENUM64`, kernel 6.0+). */
export class Enum64 extends Type {
  /** Always {@link Kind.Enum64}. */
  readonly kind = Kind.Enum64;
  /** Size in bytes. */
  size: number;
  /** True if values are signed (`kind_flag`). */
  signed: boolean;
  /** The enumerators. */
  values: Enum64Value[];

  constructor(name: string, size: number, values: Enum64Value[] = [], signed = false) {
    super();
    this.name = name;
    this.size = size;
    this.values = values;
    this.signed = signed;
  }

  protected override describe(): string {
    return `size=${this.size}${this.signed ? ' signed' : ''} values=${this.values.length}`;
  }
}

/** What a {@link Fwd} declares. */
export type FwdKind = 'struct' | 'union';

/** A forward declaration (`BTF_KIND_FWD`): `struct foo;` or `union foo;` (`kind_flag`). */
export class Fwd extends Type {
  /** Always {@link Kind.Fwd}. */
  readonly kind = Kind.Fwd;
  /** Whether a struct or a union is declared. */
  fwdKind: FwdKind;

  constructor(name: string, fwdKind: FwdKind = 'struct') {
    super();
    this.name = name;
    this.fwdKind = fwdKind;
  }

  protected override describe(): string {
    return this.fwdKind;
  }
}

/** A typedef (`BTF_KIND_TYPEDEF`). */
export class Typedef extends Type implements Referrer {
  /** Always {@link Kind.Typedef}. */
  readonly kind = Kind.Typedef;
  /** The aliased type. */
  type: Type;

  constructor(name: string, type: Type) {
    super();
    this.name = name;
    this.type = type;
  }
}

/** The `volatile` qualifier (`BTF_KIND_VOLATILE`). */
export class Volatile extends Type implements Referrer {
  /** Always {@link Kind.Volatile}. */
  readonly kind = Kind.Volatile;
  /** The qualified type. */
  type: Type;

  constructor(type: Type) {
    super();
    this.type = type;
  }
}

/** The `const` qualifier (`BTF_KIND_CONST`). */
export class Const extends Type implements Referrer {
  /** Always {@link Kind.Const}. */
  readonly kind = Kind.Const;
  /** The qualified type. */
  type: Type;

  constructor(type: Type) {
    super();
    this.type = type;
  }
}

/** The `restrict` qualifier (`BTF_KIND_RESTRICT`). */
export class Restrict extends Type implements Referrer {
  /** Always {@link Kind.Restrict}. */
  readonly kind = Kind.Restrict;
  /** The qualified type. */
  type: Type;

  constructor(type: Type) {
    super();
    this.type = type;
  }
}

/** Linkage of a {@link Func} (`enum btf_func_linkage`). */
export const FuncLinkage = {
  /** `BTF_FUNC_STATIC`. */
  Static: 0,
  /** `BTF_FUNC_GLOBAL`. */
  Global: 1,
  /** `BTF_FUNC_EXTERN`. */
  Extern: 2,
} as const;

/** A {@link FuncLinkage} value. */
export type FuncLinkage = (typeof FuncLinkage)[keyof typeof FuncLinkage];

/** A function (`BTF_KIND_FUNC`): a name, a {@link FuncProto} and a linkage (`vlen`). */
export class Func extends Type implements Referrer {
  /** Always {@link Kind.Func}. */
  readonly kind = Kind.Func;
  /** The prototype; a {@link FuncProto} in valid BTF. */
  type: Type;
  /** The linkage. */
  linkage: FuncLinkage;

  constructor(name: string, proto: Type, linkage: FuncLinkage = FuncLinkage.Static) {
    super();
    this.name = name;
    this.type = proto;
    this.linkage = linkage;
  }

  protected override describe(): string {
    return `${['static', 'global', 'extern'][this.linkage] ?? `linkage=${this.linkage}`} ${super.describe()}`;
  }
}

/** A parameter of a {@link FuncProto}. */
export interface FuncParam {
  /** The parameter name; `""` in prototypes without names. */
  name: string;
  /** The parameter type. */
  type: Type;
}

/**
 * A function prototype (`BTF_KIND_FUNC_PROTO`). A variadic prototype is encoded with a last
 * parameter of type void and no name; here it is `variadic: true` and not in `params`.
 */
export class FuncProto extends Type {
  /** Always {@link Kind.FuncProto}. */
  readonly kind = Kind.FuncProto;
  /** The return type. */
  return: Type;
  /** The parameters, without the variadic marker. */
  params: FuncParam[];
  /** True if the function takes `...`. */
  variadic: boolean;

  constructor(returnType: Type, params: FuncParam[] = [], variadic = false) {
    super();
    this.return = returnType;
    this.params = params;
    this.variadic = variadic;
  }

  protected override describe(): string {
    return `params=${this.params.length}${this.variadic ? ' variadic' : ''}`;
  }
}

/** Linkage of a {@link Var} (`enum btf_var_linkage`: 0 static, 1 global, 2 extern). */
export const VarLinkage = {
  /** `BTF_VAR_STATIC`. */
  Static: 0,
  /** `BTF_VAR_GLOBAL_ALLOCATED`. */
  Global: 1,
  /** `BTF_VAR_GLOBAL_EXTERN`. */
  Extern: 2,
} as const;

/** A {@link VarLinkage} value. */
export type VarLinkage = (typeof VarLinkage)[keyof typeof VarLinkage];

/** A global variable (`BTF_KIND_VAR`). */
export class Var extends Type implements Referrer {
  /** Always {@link Kind.Var}. */
  readonly kind = Kind.Var;
  /** The variable's type. */
  type: Type;
  /** The linkage. */
  linkage: VarLinkage;

  constructor(name: string, type: Type, linkage: VarLinkage = VarLinkage.Static) {
    super();
    this.name = name;
    this.type = type;
    this.linkage = linkage;
  }

  protected override describe(): string {
    return `${['static', 'global', 'extern'][this.linkage] ?? `linkage=${this.linkage}`} ${super.describe()}`;
  }
}

/** A variable's place inside a {@link Datasec} (`struct btf_var_secinfo`). */
export class VarSecinfo {
  /** The variable (a {@link Var}, or a {@link Func} for extern functions in `.ksyms`). */
  type: Type;
  /** Byte offset in the section. */
  offset: number;
  /** Size in bytes. */
  size: number;

  constructor(type: Type, offset: number, size: number) {
    this.type = type;
    this.offset = offset;
    this.size = size;
  }
}

/** A data section (`BTF_KIND_DATASEC`): `.data`, `.bss`, `.rodata`, `.maps`, `.ksyms`, … */
export class Datasec extends Type {
  /** Always {@link Kind.Datasec}. */
  readonly kind = Kind.Datasec;
  /** Size of the section in bytes (0 until the ELF loader fixes it up). */
  size: number;
  /** The variables placed in the section. */
  vars: VarSecinfo[];

  constructor(name: string, size: number, vars: VarSecinfo[] = []) {
    super();
    this.name = name;
    this.size = size;
    this.vars = vars;
  }

  protected override describe(): string {
    return `size=${this.size} vars=${this.vars.length}`;
  }
}

/** A floating-point type (`BTF_KIND_FLOAT`). */
export class Float extends Type {
  /** Always {@link Kind.Float}. */
  readonly kind = Kind.Float;
  /** Size in bytes. */
  size: number;

  constructor(name: string, size: number) {
    super();
    this.name = name;
    this.size = size;
  }

  protected override describe(): string {
    return `size=${this.size}`;
  }
}

/**
 * A declaration tag (`BTF_KIND_DECL_TAG`, `__attribute__((btf_decl_tag("…")))`). `name` is the
 * tag's value; `componentIndex` is -1 for the tagged type itself, or the member / parameter
 * index it applies to.
 */
export class DeclTag extends Type implements Referrer {
  /** Always {@link Kind.DeclTag}. */
  readonly kind = Kind.DeclTag;
  /** The tagged type (struct, union, var, func or typedef). */
  type: Type;
  /** -1, or the index of the tagged member / parameter. */
  componentIndex: number;
  /**
   * `kind_flag`: the value is a whole C attribute to emit as `__attribute__((value))`
   * rather than a `btf_decl_tag` string (kernel 6.13+ BTF).
   */
  attribute: boolean;

  constructor(value: string, type: Type, componentIndex = -1, attribute = false) {
    super();
    this.name = value;
    this.type = type;
    this.componentIndex = componentIndex;
    this.attribute = attribute;
  }

  /** The tag's value (same as `name`). */
  get value(): string {
    return this.name;
  }

  protected override describe(): string {
    return `component=${this.componentIndex}${this.attribute ? ' attribute' : ''} ${super.describe()}`;
  }
}

/** A type tag (`BTF_KIND_TYPE_TAG`, e.g. `__user`, `__rcu`); `name` is the tag's value. */
export class TypeTag extends Type implements Referrer {
  /** Always {@link Kind.TypeTag}. */
  readonly kind = Kind.TypeTag;
  /** The tagged type. */
  type: Type;
  /**
   * `kind_flag`: the value is a C attribute such as `address_space(1)` to emit as
   * `__attribute__((value))` rather than a `btf_type_tag` string (kernel 6.13+ BTF).
   */
  attribute: boolean;

  constructor(value: string, type: Type, attribute = false) {
    super();
    this.name = value;
    this.type = type;
    this.attribute = attribute;
  }

  /** The tag's value (same as `name`). */
  get value(): string {
    return this.name;
  }

  protected override describe(): string {
    return `${this.attribute ? 'attribute ' : ''}${super.describe()}`;
  }
}

/** A constructor of one of the type classes, used to filter lookups by kind. */
export type TypeClass<T extends Type = Type> = abstract new (...args: never[]) => T;

/** True for types that only qualify another: const, volatile, restrict and type tags. */
export function isQualifier(type: Type): type is Const | Volatile | Restrict | TypeTag {
  return type instanceof Const || type instanceof Volatile || type instanceof Restrict || type instanceof TypeTag;
}

/**
 * How many links of typedef / qualifier chains a walk follows before it gives up. Parsed BTF
 * may contain cycles (`typedef a b; typedef b a;` is representable), and no real chain is
 * anywhere near this long.
 */
export const maxResolveDepth = 64;

/** Thrown by type walks that meet a chain longer than {@link maxResolveDepth} (a cycle). */
export class TypeCycleError extends BpfError {
  /** The type where the walk started. */
  readonly start: Type;

  constructor(start: Type, what: string) {
    super(`${what}: typedef/qualifier chain starting at ${start} is longer than ${maxResolveDepth} (a cycle?)`);
    this.start = start;
  }
}

/** Strips qualifiers (const, volatile, restrict, type tags). Throws {@link TypeCycleError} on a cycle. */
export function skipQualifiers(type: Type): Type {
  let t = type;
  for (let i = 0; i <= maxResolveDepth; i++) {
    if (!isQualifier(t)) return t;
    t = t.type;
  }
  throw new TypeCycleError(type, 'skipQualifiers');
}

/** Strips qualifiers and typedefs: `const u32` → `unsigned int`. Throws {@link TypeCycleError} on a cycle. */
export function skipQualifiersAndTypedefs(type: Type): Type {
  let t = type;
  for (let i = 0; i <= maxResolveDepth; i++) {
    if (!isQualifier(t) && !(t instanceof Typedef)) return t;
    t = (t as Referrer).type;
  }
  throw new TypeCycleError(type, 'skipQualifiersAndTypedefs');
}

/**
 * The size in bytes of a value of this type, following typedefs, qualifiers, vars and arrays
 * (multiplying element counts). Pointers are 8 bytes (BPF is 64-bit). Throws
 * {@link TypeCycleError} on cyclic chains and an `ArgumentError` for sizeless types (void,
 * functions, forward declarations).
 */
export function sizeof(type: Type): number {
  let t = type;
  let factor = 1;
  for (let i = 0; i <= maxResolveDepth; i++) {
    if (t instanceof Array) {
      factor *= t.nelems;
      t = t.type;
      continue;
    }
    if (t instanceof Typedef || t instanceof Var || isQualifier(t)) {
      t = (t as Referrer).type;
      continue;
    }
    if (t instanceof Pointer) return 8 * factor;
    if (t instanceof Int || t instanceof Composite || t instanceof Enum || t instanceof Enum64 || t instanceof Float || t instanceof Datasec) {
      return t.size * factor;
    }
    throw new ArgumentError(`sizeof: ${t} has no size`);
  }
  throw new TypeCycleError(type, 'sizeof');
}

/**
 * The types directly referenced by `type` (not recursive). Used for graph walks: adding a type
 * with its dependencies to a spec, copying, dumping C.
 */
export function children(type: Type): Type[] {
  if (type instanceof Composite) return type.members.map((m) => m.type);
  if (type instanceof Array) return [type.type, type.index];
  if (type instanceof FuncProto) return [type.return, ...type.params.map((p) => p.type)];
  if (type instanceof Datasec) return type.vars.map((v) => v.type);
  if ('type' in type && type.type instanceof Type) return [type.type];
  return [];
}

/**
 * Replaces every direct reference of `type` through `map` (used by copy and by decoders that
 * create placeholders before the referenced types exist).
 */
export function mapChildren(type: Type, map: (t: Type) => Type): void {
  if (type instanceof Composite) {
    for (const m of type.members) m.type = map(m.type);
  } else if (type instanceof Array) {
    type.type = map(type.type);
    type.index = map(type.index);
  } else if (type instanceof FuncProto) {
    type.return = map(type.return);
    for (const p of type.params) p.type = map(p.type);
  } else if (type instanceof Datasec) {
    for (const v of type.vars) v.type = map(v.type);
  } else if ('type' in type && type.type instanceof Type) {
    (type as unknown as Referrer).type = map(type.type);
  }
}

/** A shallow copy of one type: same referenced objects, fresh member / value / param lists. */
export function shallowCopy<T extends Type>(type: T): T {
  const copy = Object.create(Object.getPrototypeOf(type) as object) as T;
  Object.assign(copy, type);
  if (copy instanceof Composite) {
    copy.members = copy.members.map((m) => new Member(m.name, m.type, m.offset, m.bitfieldSize));
  } else if (copy instanceof Enum) {
    copy.values = copy.values.map((v) => ({ ...v }));
  } else if (copy instanceof Enum64) {
    copy.values = copy.values.map((v) => ({ ...v }));
  } else if (copy instanceof FuncProto) {
    copy.params = copy.params.map((p) => ({ ...p }));
  } else if (copy instanceof Datasec) {
    copy.vars = copy.vars.map((v) => new VarSecinfo(v.type, v.offset, v.size));
  }
  return copy;
}

/**
 * Deep-copies a set of types and everything they reference, keeping the graph's shape
 * (shared references stay shared, cycles stay cycles). Returns the mapping old → new.
 * Iterative, so deep graphs cannot overflow the stack.
 */
export function copyTypes(roots: Iterable<Type>, known?: Map<Type, Type>): Map<Type, Type> {
  const copies = known ?? new Map<Type, Type>();
  const pending: Type[] = [];
  const copyOf = (t: Type): Type => {
    let c = copies.get(t);
    if (c === undefined) {
      c = t instanceof Void ? t : shallowCopy(t);
      copies.set(t, c);
      if (c !== t) pending.push(c);
    }
    return c;
  };
  for (const root of roots) copyOf(root);
  while (pending.length > 0) mapChildren(pending.pop()!, copyOf);
  return copies;
}

/** The one `void` instance used by parsed specs for type ID 0. */
export const VOID: Void = new Void();
