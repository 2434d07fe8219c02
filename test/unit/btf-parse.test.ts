import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import {
  Array as BtfArray,
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
  IntEncoding,
  Kind,
  Pointer,
  Restrict,
  Struct,
  TypeTag,
  Typedef,
  Union,
  Var,
  VarLinkage,
  Volatile,
  Void,
  essentialName,
  parseSpec,
  sizeof,
  skipQualifiersAndTypedefs,
  type Spec,
} from '../../src/btf/index.js';
import { hasVmlinux, noVmlinuxReason, objectBTF, vmlinuxPath } from './btf-helpers.js';

const orders = ['bpfel', 'bpfeb'] as const;

describe.each(orders)('btf_kinds.%s.o', (arch) => {
  const { btf } = objectBTF(`btf_kinds.${arch}.o`);
  const spec = parseSpec(btf);

  it('detects the byte order from the magic', () => {
    expect(spec.byteOrder).toBe(arch === 'bpfel' ? 'little' : 'big');
  });

  it('parses ints with their encodings', () => {
    const int = spec.typeByName('int', Int);
    expect([int.size, int.encoding, int.bits, int.offset, int.signed]).toEqual([4, IntEncoding.Signed, 32, 0, true]);
    expect(spec.typeByName('_Bool', Int).encoding).toBe(IntEncoding.Bool);
    expect(spec.typeByName('unsigned char', Int).signed).toBe(false);
    expect(spec.typeByName('char', Int).size).toBe(1);
  });

  it('parses structs, bitfields (kind_flag), anonymous members and unions', () => {
    const bits = spec.typeByName('bits', Struct);
    expect(bits.bitfieldEncoding).toBe(true);
    expect(bits.members.map((m) => [m.name, m.offset, m.bitfieldSize])).toEqual([
      ['a', 0, 3],
      ['b', 3, 5],
      ['c', 8, 40],
      ['flag', 48, 1],
      ['tail', 56, 0],
    ]);
    const nested = spec.typeByName('nested', Struct);
    expect(nested.size).toBe(128);
    const point = nested.member('point')!.type as Struct;
    expect(point).toBeInstanceOf(Struct);
    expect(point.name).toBe('');
    expect(point.members.map((m) => m.name)).toEqual(['x', 'y']);
    const anon = nested.members[2]!;
    expect(anon.name).toBe('');
    expect(anon.type).toBeInstanceOf(Union);
    const value = spec.typeByName('value', Union);
    expect(value.members.map((m) => m.offset)).toEqual([0, 0, 0]);
  });

  it('parses multi-dimensional arrays, pointers, qualifiers and forward declarations', () => {
    const nested = spec.typeByName('nested', Struct);
    const matrix = nested.member('matrix')!.type as BtfArray;
    expect(matrix.nelems).toBe(2);
    expect((matrix.type as BtfArray).nelems).toBe(3);
    expect(sizeof(matrix)).toBe(24);
    const name = nested.member('name')!.type as Pointer;
    expect(name.target).toBeInstanceOf(Const);
    expect((name.target as Const).type).toBeInstanceOf(Volatile);
    const handle = nested.member('handle')!.type as Pointer;
    expect(handle.target).toBeInstanceOf(Fwd);
    expect((handle.target as Fwd).fwdKind).toBe('struct');
    const next = nested.member('next')!.type as Pointer;
    // The cycle nested -> next -> nested is the same object, not a copy.
    expect(next.target).toBe(nested);
    const anonUnion = nested.members[2]!.type as Union;
    expect((anonUnion.members[1]!.type as Pointer).target).toBeInstanceOf(Void);
  });

  it('parses type tags', () => {
    const uptr = spec.typeByName('nested', Struct).member('uptr')!.type as Pointer;
    const tag = uptr.target as TypeTag;
    expect(tag).toBeInstanceOf(TypeTag);
    expect(tag.value).toBe('user');
    expect(tag.type).toBe(spec.typeByName('int', Int));
  });

  it('parses function pointers, variadic prototypes, funcs and restrict', () => {
    const nested = spec.typeByName('nested', Struct);
    const cb = (nested.member('callback')!.type as Pointer).target as FuncProto;
    expect(cb).toBeInstanceOf(FuncProto);
    expect(cb.params).toHaveLength(2);
    expect(cb.variadic).toBe(false);
    const vcb = (nested.member('vcallback')!.type as Pointer).target as FuncProto;
    expect(vcb.variadic).toBe(true);
    expect(vcb.params).toHaveLength(1);
    const global = spec.typeByName('global_func', Func);
    expect(global.linkage).toBe(FuncLinkage.Global);
    expect((global.type as FuncProto).params[0]!.name).toBe('x');
    const helper = spec.typeByName('helper', Func);
    expect(helper.linkage).toBe(FuncLinkage.Static);
    expect((helper.type as FuncProto).params[0]!.type).toBeInstanceOf(Restrict);
  });

  it('parses decl tags with their component index', () => {
    const tags = [...spec].filter((t): t is DeclTag => t instanceof DeclTag);
    const byValue = Object.fromEntries(tags.map((t) => [t.value, t]));
    expect(byValue.bits_tag!.componentIndex).toBe(-1);
    expect(byValue.bits_tag!.type).toBe(spec.typeByName('bits', Struct));
    expect(byValue.member_tag!.componentIndex).toBe(0);
    expect(byValue.param_tag!.componentIndex).toBe(0);
    expect(byValue.param_tag!.type).toBe(spec.typeByName('helper', Func));
    expect(byValue.func_tag!.componentIndex).toBe(-1);
    expect(byValue.var_tag!.type).toBe(spec.typeByName('tagged_var', Var));
  });

  it('parses enums, floats, vars and datasecs', () => {
    const color = spec.typeByName('color', Enum);
    expect(color.values.map((v) => v.name)).toEqual(['RED', 'GREEN', 'BLUE']);
    // clang-14 emits -1 as an unsigned 32-bit value (no signed kind_flag yet).
    expect(color.values[0]!.value).toBe(0xffffffff);
    expect(spec.typeByName('big', Enum).size).toBe(8);
    expect(spec.typeByName('double', Float).size).toBe(8);
    const v = spec.typeByName('config_value', Var);
    expect(v.linkage).toBe(VarLinkage.Global);
    expect(skipQualifiersAndTypedefs(v.type)).toBe(spec.typeByName('unsigned long long', Int));
    const data = spec.typeByName('.data', Datasec);
    expect(data.vars.map((s) => s.type.name)).toEqual(['global_nested', 'small_data', 'global_float', 'tagged_var']);
    expect(data.vars[0]!.size).toBe(128);
    expect(spec.typeByName('.maps', Datasec).vars[0]!.type.name).toBe('nested_map');
  });

  it('covers every kind clang-14 emits', () => {
    const kinds = new Set([...spec].map((t) => t.kind));
    for (const k of [
      Kind.Int, Kind.Pointer, Kind.Array, Kind.Struct, Kind.Union, Kind.Enum, Kind.Fwd, Kind.Typedef,
      Kind.Volatile, Kind.Const, Kind.Restrict, Kind.Func, Kind.FuncProto, Kind.Var, Kind.Datasec,
      Kind.Float, Kind.DeclTag, Kind.TypeTag,
    ]) {
      expect(kinds.has(k), `kind ${k}`).toBe(true);
    }
  });
});

describe('both byte orders', () => {
  it('give the same type graph', () => {
    const el = parseSpec(objectBTF('btf_kinds.bpfel.o').btf);
    const eb = parseSpec(objectBTF('btf_kinds.bpfeb.o').btf);
    expect([...eb].map(String)).toEqual([...el].map(String));
  });
});

describe('lookups', () => {
  const spec = parseSpec(objectBTF('btf_kinds.bpfel.o').btf);

  it('typeByName filters by class or kind name', () => {
    expect(spec.typeByName('nested', 'struct')).toBe(spec.typeByName('nested', Struct));
    expect(spec.typeByName('u32', Typedef).type).toBe(spec.typeByName('unsigned int'));
  });

  it('typeByName throws typed errors for missing and ambiguous names', () => {
    expect(() => spec.typeByName('no_such_type')).toThrow(expect.objectContaining({ name: 'TypeNotFoundError' }));
    expect(() => spec.typeByName('nested', Union)).toThrow(/union nested not found/);
    const extra = new Struct('nested', 0);
    spec.copy(); // copying must not disturb lookups
    const s2 = spec.copy();
    s2.add(extra);
    expect(() => s2.typeByName('nested')).toThrow(expect.objectContaining({ name: 'AmbiguousTypeError' }));
  });

  it('anyTypesByName matches essential names (CO-RE flavors)', () => {
    expect(essentialName('flavored___v2')).toBe('flavored');
    expect(essentialName('___x')).toBe('___x');
    expect(spec.anyTypesByName('flavored').map((t) => t.name)).toEqual(['flavored___v2']);
    expect(spec.anyTypesByName('flavored___v9').map((t) => t.name)).toEqual(['flavored___v2']);
    expect(spec.anyTypesByName('missing')).toEqual([]);
  });

  it('typeById and typeId are inverse', () => {
    for (const [id, t] of spec.entries()) expect(spec.typeId(t)).toBe(id);
    expect(spec.typeById(0)).toBeInstanceOf(Void);
    expect(() => spec.typeById(100000)).toThrow(/ID 100000/);
    expect(() => spec.typeId(new Int('x', 4))).toThrow(/not part of this spec/);
  });

  it('copy is deep and independent', () => {
    const copy = spec.copy();
    const orig = spec.typeByName('bits', Struct);
    const mine = copy.typeByName('bits', Struct);
    expect(mine).not.toBe(orig);
    mine.members[0]!.name = 'renamed';
    expect(orig.members[0]!.name).toBe('a');
    expect(copy.typeId(mine)).toBe(spec.typeId(orig));
    // Edits made before copying are carried over.
    const c2 = copy.copy();
    expect(c2.typeByName('bits', Struct).members[0]!.name).toBe('renamed');
  });

  it('decodes a struct\'s members when they are first read, and they behave as a plain field', () => {
    const fresh = () => parseSpec(objectBTF('btf_kinds.bpfel.o').btf).typeByName('bits', Struct);
    const bits = fresh();
    expect(Object.getOwnPropertyDescriptor(bits, 'members')?.get).toBeTypeOf('function');
    // Before any read: an own, enumerable property all the same (copies and comparisons see it).
    expect(Object.keys(bits)).toContain('members');
    expect(bits).toEqual(spec.typeByName('bits', Struct));
    expect(JSON.stringify(fresh().members.map((m) => m.name))).toBe('["a","b","c","flag","tail"]');
    // Printing shows the members, not an accessor.
    const text = inspect(fresh(), { depth: 3 });
    expect(text).not.toContain('Getter');
    expect(text).toContain("name: 'flag'");
    // A write before the first read replaces them; the property is a data property after either.
    const replaced = fresh();
    replaced.members = [];
    expect(replaced.members).toEqual([]);
    expect(Object.getOwnPropertyDescriptor(replaced, 'members')).toMatchObject({ value: [], writable: true });
    const read = fresh();
    const first = read.members;
    expect(read.members).toBe(first);
    expect(Object.getOwnPropertyDescriptor(read, 'members')?.get).toBeUndefined();
    // Copies decode from the original.
    const copied = parseSpec(objectBTF('btf_kinds.bpfel.o').btf).copy().typeByName('bits', Struct);
    expect(copied.members.map((m) => m.name)).toEqual(['a', 'b', 'c', 'flag', 'tail']);
  });
});

describe.skipIf(!hasVmlinux)(`kernel BTF ${vmlinuxPath}`, () => {
  let spec: Spec;
  it('parses and finds the types programs use', () => {
    spec = parseSpec(readFileSync(vmlinuxPath));
    expect(spec.typeCount).toBeGreaterThan(10000);
    const task = spec.typeByName('task_struct', Struct);
    expect(task.member('pid')).toBeDefined();
    expect(spec.typeByName('trace_event_raw_sys_enter', Struct).member('args')).toBeDefined();
    expect(spec.typeByName('sock_common', Struct).size).toBeGreaterThan(0);
  });

  it('decodes lazily: a lookup does not decode the whole kernel', () => {
    expect(spec.decodedCount).toBeLessThan(spec.typeCount / 4);
  });

  it('walks task_struct fully without exploding (cycles are shared objects)', () => {
    const task = spec.typeByName('task_struct', Struct);
    const seen = new Set<unknown>();
    const stack: unknown[] = [task];
    while (stack.length > 0) {
      const t = stack.pop() as { members?: { type: unknown }[]; type?: unknown };
      if (seen.has(t)) continue;
      seen.add(t);
      if (t.members) for (const m of t.members) stack.push(m.type);
      if (t.type) stack.push(t.type);
    }
    expect(seen.size).toBeGreaterThan(100);
  });

  it('has enum64 and signed enums', () => {
    const enum64s = [...spec].filter((t): t is Enum64 => t instanceof Enum64);
    expect(enum64s.length).toBeGreaterThan(0);
    expect(enum64s.some((e) => e.values.some((v) => v.value > 0xffffffffn))).toBe(true);
    expect([...spec].some((t) => t instanceof Enum && t.signed)).toBe(true);
  });
});
