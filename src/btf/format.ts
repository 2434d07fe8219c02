/**
 * BTF → C. {@link formatType} prints one type as a C declaration, {@link dumpCHeader} prints a
 * whole spec as a header clang accepts (what `bpftool btf dump file … format c` produces as
 * vmlinux.h): forward declarations first, then enums, typedefs, structs and unions ordered so
 * that everything a definition needs by value (or by typedef name) comes before it.
 *
 * Layout fidelity: members are placed where BTF says. Where the natural C layout would put a
 * member elsewhere (an `__aligned` member, explicit padding), anonymous bitfields pad the
 * gap; where no padding can help (a member below its natural alignment), the struct is
 * `__attribute__((packed))`. The `assertLayout` option emits `_Static_assert`s so a compiler
 * proves the result.
 *
 * @module
 */
import {
  Array as ArrayType,
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
  Fwd,
  Int,
  Pointer,
  Restrict,
  Struct,
  Type,
  TypeCycleError,
  TypeTag,
  Typedef,
  Union,
  Var,
  VarLinkage,
  Void,
  Volatile,
  isQualifier,
  maxResolveDepth,
  skipQualifiers,
  sizeof,
  type Referrer,
} from './types.js';
import type { Spec } from './spec.js';

/** Options of {@link formatType} and {@link formatDeclarator}. */
export interface FormatOptions {
  /** One level of indentation (default a tab, like the kernel's style). */
  indent?: string;
  /** Emit `btf_type_tag` attributes (`__attribute__((btf_type_tag("user")))`); default false. */
  typeTags?: boolean;
}

/** Options of {@link dumpCHeader}. */
export interface DumpOptions extends FormatOptions {
  /** The include guard macro (default `__VMLINUX_H__`). */
  guard?: string;
  /** Wrap records in `preserve_access_index` for CO-RE (default true). */
  preserveAccessIndex?: boolean;
  /** Emit `_Static_assert`s on struct sizes and member offsets (default false). */
  assertLayout?: boolean;
}

/**
 * Formats a type as C. Named structs, unions and enums print their full definition, typedefs
 * their `typedef` line, functions a prototype, variables a declaration and forward
 * declarations `struct foo;`. Other types print as a type name (`int *`, `char [16]`,
 * `int (*)(void *)`).
 *
 * @example
 * ```ts
 * formatType(spec.typeByName('u32')); // "typedef unsigned int u32;"
 * ```
 */
export function formatType(type: Type, options: FormatOptions = {}): string {
  const f = new Formatter(options, defaultNames);
  return f.declaration(type);
}

/** A C declarator: `formatDeclarator(arrayOf16Chars, "comm")` → `"char comm[16]"`. */
export function formatDeclarator(type: Type, name: string, options: FormatOptions = {}): string {
  return new Formatter(options, defaultNames).decl(type, name, 0);
}

/** The C type name, as in a cast: `"struct task_struct *"`, `"int (*)(int)"`. */
export function formatTypeName(type: Type, options: FormatOptions = {}): string {
  return new Formatter(options, defaultNames).decl(type, '', 0);
}

/** How the formatter names types and enumerators (the header dump renames duplicates). */
interface Names {
  type(t: Type): string;
  enumerator(t: Enum | Enum64, index: number): string;
}

const defaultNames: Names = {
  type: (t) => t.name,
  enumerator: (t, i) => t.values[i]!.name,
};

/** Alignment in bytes a C compiler gives a type on a 64-bit target. */
function alignOf(t: Type, packed: (c: Composite) => boolean, depth = 0): number {
  if (depth > maxResolveDepth) throw new TypeCycleError(t, 'alignOf');
  if (t instanceof Typedef || isQualifier(t)) return alignOf((t as Referrer).type, packed, depth + 1);
  if (t instanceof Pointer) return 8;
  if (t instanceof ArrayType) return alignOf(t.type, packed, depth + 1);
  if (t instanceof Int || t instanceof Float || t instanceof Enum || t instanceof Enum64) {
    const s = t.size;
    return s >= 16 ? 16 : s >= 8 ? 8 : s >= 4 ? 4 : s >= 2 ? 2 : 1;
  }
  if (t instanceof Composite) {
    if (packed(t)) return 1;
    let a = 1;
    for (const m of t.members) a = Math.max(a, alignOf(m.type, packed, depth + 1));
    return a;
  }
  return 1;
}

function bitfieldWidth(m: { type: Type; bitfieldSize: number }): number {
  if (m.bitfieldSize > 0) return m.bitfieldSize;
  // Legacy (kind_flag = 0) bitfields put the width into the INT itself.
  const t = m.type;
  if (t instanceof Int && t.bits !== t.size * 8) return t.bits;
  return 0;
}

function safeSizeofBits(t: Type): number {
  try {
    return sizeof(t) * 8;
  } catch {
    return 0;
  }
}

class Formatter {
  private readonly tab: string;
  private readonly packedMemo = new Map<Composite, boolean>();
  private readonly inlining = new Set<Type>();

  constructor(
    private readonly options: FormatOptions,
    private readonly names: Names,
  ) {
    this.tab = options.indent ?? '\t';
  }

  /** Full declaration / definition of a top-level type. */
  declaration(t: Type): string {
    if (t instanceof Composite && t.name !== '') return `${this.compositeDef(t, 0)};`;
    // A named enum without values is pahole's encoding of a forward-declared enum (`enum x;`
    // in the source, e.g. nf_nat_manip_type in 5.10's vmlinux): `enum x {}` is not C, so it
    // stays a forward declaration, as bpftool prints it (btf_dump_emit_enum_fwd()).
    if ((t instanceof Enum || t instanceof Enum64) && t.name !== '' && t.values.length === 0) return `enum ${this.names.type(t)};`;
    if ((t instanceof Enum || t instanceof Enum64) && t.name !== '') return `${this.enumDef(t, 0)};`;
    if (t instanceof Enum || t instanceof Enum64) return `${this.enumDef(t, 0)};`;
    if (t instanceof Typedef) return `typedef ${this.decl(t.type, this.names.type(t), 0)};`;
    if (t instanceof Fwd) return `${t.fwdKind} ${this.names.type(t)};`;
    if (t instanceof Func) {
      const linkage = t.linkage === FuncLinkage.Static ? 'static ' : t.linkage === FuncLinkage.Extern ? 'extern ' : '';
      return `${linkage}${this.decl(t.type, t.name, 0)};`;
    }
    if (t instanceof Var) {
      const linkage = t.linkage === VarLinkage.Static ? 'static ' : t.linkage === VarLinkage.Extern ? 'extern ' : '';
      return `${linkage}${this.decl(t.type, t.name, 0)};`;
    }
    if (t instanceof Datasec) {
      const vars = t.vars.map((v) => `${this.tab}${v.type instanceof Var || v.type instanceof Func ? this.declaration(v.type) : String(v.type)} /* offset ${v.offset}, size ${v.size} */`);
      return `/* section ${t.name} (size ${t.size}) */\n${vars.join('\n')}`;
    }
    if (t instanceof DeclTag) {
      const what = t.attribute ? t.name : `btf_decl_tag(${JSON.stringify(t.name)})`;
      const on = t.componentIndex < 0 ? '' : ` (component ${t.componentIndex})`;
      return `/* __attribute__((${what})) on ${t.type}${on} */`;
    }
    return this.decl(t, '', 0);
  }

  /** `type` declared with `inner` (a name plus pointer / array / function parts). */
  decl(t: Type, inner: string, level: number, depth = 0): string {
    if (depth > maxResolveDepth * 4) throw new TypeCycleError(t, 'format');
    const join = (base: string): string => (inner === '' ? base : `${base} ${inner}`);
    if (t instanceof Void) return join('void');
    if (t instanceof Int || t instanceof Float) return join(t.name);
    // clang predefines __builtin_* typedefs with the BPF target's meaning (va_list is `void *`
    // there): spell out the kernel's definition instead so layouts stay the kernel's.
    if (t instanceof Typedef) return isBuiltin(t) ? this.decl(t.type, inner, level, depth + 1) : join(this.names.type(t));
    if (t instanceof Fwd) return join(`${t.fwdKind} ${this.names.type(t)}`);
    if (t instanceof Composite) {
      if (t.name !== '') return join(`${t instanceof Union ? 'union' : 'struct'} ${this.names.type(t)}`);
      return join(this.compositeDef(t, level));
    }
    if (t instanceof Enum || t instanceof Enum64) {
      if (t.name !== '') return join(`enum ${this.names.type(t)}`);
      return join(this.enumDef(t, level));
    }
    if (t instanceof Pointer) {
      const target = skipQualifiersSafe(t.type);
      const wrapped = target instanceof ArrayType || target instanceof FuncProto ? `(*${inner})` : `*${inner}`;
      return this.decl(t.type, wrapped, level, depth + 1);
    }
    if (t instanceof Const || t instanceof Volatile || t instanceof Restrict) {
      const q = t instanceof Const ? 'const' : t instanceof Volatile ? 'volatile' : 'restrict';
      if (skipQualifiersSafe(t.type) instanceof Pointer) return this.decl(t.type, inner === '' ? q : `${q} ${inner}`, level, depth + 1);
      const rest = this.decl(t.type, inner, level, depth + 1);
      // BTF can repeat a qualifier (`const const char` after typedef expansion by pahole).
      return rest.startsWith(`${q} `) ? rest : `${q} ${rest}`;
    }
    if (t instanceof TypeTag) {
      if (this.options.typeTags !== true) return this.decl(t.type, inner, level, depth + 1);
      const attr = t.attribute ? t.name : `btf_type_tag(${JSON.stringify(t.name)})`;
      return `${this.decl(t.type, '', level, depth + 1)} __attribute__((${attr}))${inner === '' ? '' : ` ${inner}`}`;
    }
    if (t instanceof ArrayType) return this.decl(t.type, `${inner}[${t.nelems}]`, level, depth + 1);
    if (t instanceof FuncProto) {
      const params = t.params.map((p) => this.decl(p.type, p.name, level, depth + 1));
      if (t.variadic) params.push('...');
      const list = params.length === 0 ? 'void' : params.join(', ');
      return this.decl(t.return, `${inner}(${list})`, level, depth + 1);
    }
    if (t instanceof Func || t instanceof Var) return this.decl(t.type, inner === '' ? t.name : inner, level, depth + 1);
    // Datasec and DeclTag have no C type; name them in a comment so output stays valid C.
    return join(`/* ${t} */ void`);
  }

  /** Whether a struct / union needs `__attribute__((packed))` to get BTF's offsets. */
  packed(c: Composite): boolean {
    const known = this.packedMemo.get(c);
    if (known !== undefined) return known;
    // Assume not packed while deciding: a struct cannot contain itself by value.
    this.packedMemo.set(c, false);
    const isPacked = (x: Composite): boolean => this.packed(x);
    let packed = false;
    let align = 1;
    for (const m of c.members) {
      const a = alignOf(m.type, isPacked);
      align = Math.max(align, a);
      if (bitfieldWidth(m) === 0 && m.offset % (a * 8) !== 0) packed = true;
    }
    if (c.size % align !== 0) packed = true;
    this.packedMemo.set(c, packed);
    return packed;
  }

  /** Alignment of a type under this formatter's packing decisions. */
  alignOf(t: Type): number {
    return alignOf(t, (c) => this.packed(c));
  }

  compositeDef(c: Composite, level: number): string {
    if (this.inlining.has(c)) throw new TypeCycleError(c, 'format (anonymous type contains itself)');
    this.inlining.add(c);
    try {
      const keyword = c instanceof Union ? 'union' : 'struct';
      const head = c.name === '' ? keyword : `${keyword} ${this.names.type(c)}`;
      if (c.members.length === 0 && c.size === 0) return `${head} {}`;
      const pad = this.tab.repeat(level + 1);
      const packed = this.packed(c);
      const lines: string[] = [];
      let cur = 0;
      const isStruct = c instanceof Struct;
      for (const m of c.members) {
        const width = bitfieldWidth(m);
        const typeBits = safeSizeofBits(m.type);
        if (isStruct) {
          let natural: number;
          if (width > 0) {
            natural = packed || typeBits === 0 || (cur % typeBits) + width <= typeBits ? cur : roundUp(cur, typeBits);
          } else {
            natural = roundUp(cur, packed ? 8 : this.alignOf(m.type) * 8);
          }
          if (m.offset > natural) lines.push(...padding(cur, m.offset, pad));
        }
        const bf = width > 0 ? `: ${width}` : '';
        lines.push(`${pad}${this.decl(m.type, m.name, level + 1)}${bf};`);
        const end = m.offset + (width > 0 ? width : typeBits);
        cur = isStruct ? end : Math.max(cur, end);
      }
      const align = packed ? 1 : this.alignOf(c);
      if (isStruct && c.size * 8 > roundUp(cur, align * 8)) lines.push(...padding(cur, c.size * 8, pad));
      const close = `${this.tab.repeat(level)}}${packed ? ' __attribute__((packed))' : ''}`;
      return `${head} {\n${lines.join('\n')}\n${close}`;
    } finally {
      this.inlining.delete(c);
    }
  }

  enumDef(e: Enum | Enum64, level: number): string {
    const head = e.name === '' ? 'enum' : `enum ${this.names.type(e)}`;
    const pad = this.tab.repeat(level + 1);
    const lines = e.values.map((v, i) => `${pad}${this.names.enumerator(e, i)} = ${enumValue(e, v.value)},`);
    // A 1- or 2-byte enum only gets its size back with `packed` (as bpftool emits it).
    const packed = e.size < 4 ? ' __attribute__((packed))' : '';
    if (lines.length === 0) return `${head} {}${packed}`;
    return `${head} {\n${lines.join('\n')}\n${this.tab.repeat(level)}}${packed}`;
  }
}

function enumValue(e: Enum | Enum64, value: number | bigint): string {
  if (e instanceof Enum) return String(value);
  const v = value as bigint;
  if (v >= -0x80000000n && v <= 0x7fffffffn) return String(v);
  return v < 0n ? `${v}LL` : `${v}ULL`;
}

function isBuiltin(t: Typedef): boolean {
  return t.name.startsWith('__builtin_');
}

function roundUp(v: number, to: number): number {
  return to <= 1 ? v : Math.ceil(v / to) * to;
}

function skipQualifiersSafe(t: Type): Type {
  try {
    return skipQualifiers(t);
  } catch {
    return t;
  }
}

/**
 * Anonymous bitfields covering bits [from, to). Each chunk stays inside one storage unit of its
 * type, so the compiler places it exactly at `from` (a bitfield only moves when it would
 * straddle a unit boundary); unnamed bitfields do not change the struct's alignment.
 */
function padding(from: number, to: number, pad: string): string[] {
  const out: string[] = [];
  let at = from;
  while (at < to) {
    const left = to - at;
    if (at % 64 === 0 && left >= 64) {
      out.push(`${pad}long: 64;`);
      at += 64;
    } else if (at % 32 === 0 && left >= 32) {
      out.push(`${pad}int: 32;`);
      at += 32;
    } else {
      const n = Math.min(left, 32 - (at % 32));
      out.push(`${pad}int: ${n};`);
      at += n;
    }
  }
  return out;
}

/**
 * Prints a whole spec as a C header: the `vmlinux.h` of a kernel when given its BTF. Functions,
 * variables and data sections are left out, as bpftool does. Same-named but different types
 * (vmlinux has a few) and clashing enumerators get a `___2`, `___3`… suffix, which CO-RE
 * ignores when matching names.
 */
export function dumpCHeader(spec: Spec, options: DumpOptions = {}): string {
  const all: Type[] = [];
  for (const t of spec) all.push(t);
  const names = assignNames(all);
  const f = new Formatter(options, names);
  const guard = options.guard ?? '__VMLINUX_H__';
  const out: string[] = [`#ifndef ${guard}`, `#define ${guard}`, ''];
  const pai = options.preserveAccessIndex !== false;
  if (pai) {
    out.push(
      '#ifndef BPF_NO_PRESERVE_ACCESS_INDEX',
      '#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)',
      '#endif',
      '',
    );
  }

  // Every struct / union gets a forward declaration, so pointers and prototypes can name
  // any record regardless of order (a tag first seen inside a prototype would be scoped to it).
  const declared = new Set<string>();
  for (const t of all) {
    if ((t instanceof Composite && t.name !== '') || t instanceof Fwd) {
      const kw = t instanceof Fwd ? t.fwdKind : t instanceof Union ? 'union' : 'struct';
      const line = `${kw} ${names.type(t)};`;
      if (!declared.has(line)) {
        declared.add(line);
        out.push(line);
      }
    }
  }
  out.push('');

  // Anonymous enums referenced by some type are printed inline there; the others (kernel
  // constants) stand alone.
  const referenced = new Set<Type>();
  for (const t of all) for (const c of childrenOf(t)) referenced.add(c);

  const roots: Type[] = [];
  for (const t of all) {
    if (t instanceof Typedef) {
      if (!isBuiltin(t)) roots.push(t);
    }
    else if ((t instanceof Composite || t instanceof Enum || t instanceof Enum64) && t.name !== '') roots.push(t);
    else if ((t instanceof Enum || t instanceof Enum64) && t.name === '' && !referenced.has(t)) roots.push(t);
  }
  const emitted = new Set<Type>();
  const visiting = new Set<Type>();
  for (const root of roots) {
    // Iterative post-order walk over "must be defined before" edges.
    const stack: { t: Type; deps: Type[]; i: number }[] = [];
    const enter = (t: Type): void => {
      if (emitted.has(t)) return;
      // A strong cycle cannot come from C; corrupt input gets the definition without it.
      if (visiting.has(t)) return;
      visiting.add(t);
      stack.push({ t, deps: strongDeps(t), i: 0 });
    };
    enter(root);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (top.i < top.deps.length) {
        enter(top.deps[top.i++]!);
        continue;
      }
      stack.pop();
      visiting.delete(top.t);
      emitted.add(top.t);
      out.push(f.declaration(top.t), '');
      if (options.assertLayout === true && top.t instanceof Composite) out.push(...layoutAsserts(top.t, names, f));
    }
  }

  if (pai) out.push('#ifndef BPF_NO_PRESERVE_ACCESS_INDEX', '#pragma clang attribute pop', '#endif', '');
  out.push(`#endif /* ${guard} */`, '');
  return out.join('\n');
}

function childrenOf(t: Type): Type[] {
  if (t instanceof Composite) return t.members.map((m) => m.type);
  if (t instanceof ArrayType) return [t.type];
  if (t instanceof FuncProto) return [t.return, ...t.params.map((p) => p.type)];
  if (t instanceof Datasec) return t.vars.map((v) => v.type);
  if ('type' in t && t.type instanceof Type) return [t.type];
  return [];
}

/**
 * Named types that must be printed before `t`'s definition: anything used by value, every
 * typedef name (a typedef must be declared before any use, even behind a pointer) and every
 * named enum. Named records behind pointers need only their forward declaration.
 */
function strongDeps(t: Type): Type[] {
  // [type, byValue]
  const work: [Type, boolean][] = [];
  if (t instanceof Composite) for (const m of t.members) work.push([m.type, true]);
  // `typedef struct foo foo_t;` is fine with an incomplete struct foo, and struct foo may well
  // use foo_t (`foo_t *next`): a typedef needs its target complete only through arrays and
  // inline (anonymous) definitions.
  else if (t instanceof Typedef) work.push([t.type, false]);
  const deps: Type[] = [];
  const added = new Set<Type>();
  const walkedByValue = new Set<Type>();
  const walkedByRef = new Set<Type>();
  const dep = (x: Type): void => {
    if (!added.has(x)) {
      added.add(x);
      deps.push(x);
    }
  };
  while (work.length > 0) {
    const [x, byValue] = work.pop()!;
    // Each type is walked at most once per mode, so even cyclic corrupt input ends.
    const walked = byValue ? walkedByValue : walkedByRef;
    if (walked.has(x)) continue;
    walked.add(x);
    if (x instanceof Typedef && isBuiltin(x)) {
      work.push([x.type, byValue]);
      continue;
    }
    if (x instanceof Typedef) {
      dep(x);
      // A typedef used by value needs what it names complete as well (`spinlock_t lock;`).
      if (byValue) work.push([x.type, true]);
      continue;
    }
    if ((x instanceof Enum || x instanceof Enum64) && x.name !== '') {
      dep(x);
      continue;
    }
    if (x instanceof Composite) {
      if (x.name !== '') {
        if (byValue) dep(x);
        continue;
      }
      for (const m of x.members) work.push([m.type, true]);
      continue;
    }
    if (x instanceof Pointer) work.push([x.type, false]);
    else if (x instanceof ArrayType) work.push([x.type, true]);
    else if (x instanceof FuncProto) {
      work.push([x.return, false]);
      for (const p of x.params) work.push([p.type, false]);
    } else if (isQualifier(x)) work.push([x.type, byValue]);
  }
  return deps;
}

function assignNames(all: Type[]): Names {
  const typeNames = new Map<Type, string>();
  const enumNames = new Map<Type, string[]>();
  const tags = new Map<string, number>();
  const ordinary = new Map<string, number>();
  const unique = (space: Map<string, number>, name: string): string => {
    const n = space.get(name);
    if (n === undefined) {
      space.set(name, 1);
      return name;
    }
    let k = n + 1;
    while (space.has(`${name}___${k}`)) k++;
    space.set(name, k);
    space.set(`${name}___${k}`, 1);
    return `${name}___${k}`;
  };
  // Definitions first so the unsuffixed name goes to a definition; forward declarations then
  // reuse a definition's name when one exists.
  const byTag = new Map<string, string>();
  for (const t of all) {
    if (t.name === '') continue;
    if (t instanceof Composite || t instanceof Enum || t instanceof Enum64) {
      const name = unique(tags, t.name);
      typeNames.set(t, name);
      if (!byTag.has(t.name)) byTag.set(t.name, name);
    } else if (t instanceof Typedef) {
      typeNames.set(t, unique(ordinary, t.name));
    }
  }
  for (const t of all) {
    if (t instanceof Fwd) typeNames.set(t, byTag.get(t.name) ?? (tags.set(t.name, 1), t.name));
    if (t instanceof Enum || t instanceof Enum64) {
      enumNames.set(
        t,
        t.values.map((v) => unique(ordinary, v.name)),
      );
    }
  }
  return {
    type: (t) => typeNames.get(t) ?? t.name,
    enumerator: (t, i) => enumNames.get(t)?.[i] ?? t.values[i]!.name,
  };
}

function layoutAsserts(c: Composite, names: Names, f: Formatter): string[] {
  if (c.name === '') return [];
  const kw = c instanceof Union ? 'union' : 'struct';
  const n = `${kw} ${names.type(c)}`;
  const out = [`_Static_assert(sizeof(${n}) == ${c.size}, "size of ${n}");`];
  for (const m of c.members) {
    if (m.name === '' || bitfieldWidth(m) > 0 || m.offset % 8 !== 0) continue;
    out.push(`_Static_assert(__builtin_offsetof(${n}, ${m.name}) == ${m.offset / 8}, "offset of ${n}.${m.name}");`);
  }
  void f;
  return out.concat('');
}
