// Shared by the BTF fix-up/sanitise unit tests and the kernel BTF tests: a hand-built spec
// that uses every kind and flag sanitising can rewrite (so every rewrite is exercised on
// something real), and the ELF facts fix-ups need, read from a testdata object with the small
// test ELF reader.
import { Spec } from '../../../src/btf/spec.js';
import type { FixupSections } from '../../../src/btf/fixup.js';
import {
  Array as BTFArray,
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
  IntEncoding,
  Member,
  Pointer,
  Struct,
  TypeTag,
  Typedef,
  Var,
  VarLinkage,
  VarSecinfo,
  Volatile,
} from '../../../src/btf/types.js';
import type { ElfFile } from './elf-sections.js';

const STT_OBJECT = 1;
const STB_GLOBAL = 1;
const STB_WEAK = 2;

/** Every kind that sanitising touches, valid as-is for a current kernel. Host byte order. */
export function allKindsSpec(): Spec {
  const spec = new Spec({ byteOrder: new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 'little' : 'big' });
  const int = new Int('int', 4, IntEncoding.Signed);
  const u8 = new Int('unsigned char', 1);
  const long = new Int('long', 8, IntEncoding.Signed);
  const dbl = new Float('double', 8);
  const flt = new Float('float', 4);
  const e64 = new Enum64('big_enum', 8, [
    { name: 'BIG_A', value: 1n << 40n },
    { name: 'BIG_B', value: 2n },
  ]);
  const signedEnum = new Enum('signed_enum', 4, [
    { name: 'NEG', value: -1 },
    { name: 'POS', value: 7 },
  ], true);
  const tagged = new TypeTag('user', int);
  const taggedPtr = new Pointer(tagged);
  const point = new Struct('point', 32, [
    new Member('x', int, 0),
    new Member('f', flt, 32),
    new Member('d', dbl, 64),
    new Member('e', e64, 128),
    new Member('s', signedEnum, 192),
    new Member('bits', u8, 224, 3),
  ]);
  const withPtr = new Struct('holder', 16, [new Member('p', taggedPtr, 0), new Member('v', new Volatile(long), 64)]);
  const arr = new BTFArray(u8, int, 16);
  const proto = new FuncProto(int, [
    { name: 'a', type: int },
    { name: 'b', type: new Pointer(point) },
  ]);
  const globalFn = new Func('global_fn', proto, FuncLinkage.Global);
  const staticFn = new Func('static_fn', new FuncProto(long, [{ name: 'x', type: long }]), FuncLinkage.Static);
  // A function pointer type with unnamed and variadic parameters.
  const cb = new Typedef('callback_t', new Pointer(new FuncProto(int, [{ name: '', type: int }], true)));
  const counter = new Var('counter', long, VarLinkage.Global);
  const buf = new Var('buf', arr, VarLinkage.Global);
  const local = new Var('local', int, VarLinkage.Static);
  const data = new Datasec('.data', 32, [new VarSecinfo(counter, 0, 8), new VarSecinfo(buf, 8, 16), new VarSecinfo(local, 24, 4)]);
  const optional = new Var('maybe', int, VarLinkage.Global);
  const qmark = new Datasec('?.data.opt', 4, [new VarSecinfo(optional, 0, 4)]);
  for (const t of [int, point, withPtr, globalFn, staticFn, cb, data, qmark, new Const(signedEnum)]) spec.add(t);
  spec.add(new DeclTag('on_struct', point, -1));
  spec.add(new DeclTag('on_member', point, 1));
  spec.add(new DeclTag('on_var', counter, -1));
  spec.add(new DeclTag('on_func', globalFn, -1));
  spec.add(new DeclTag('on_param', globalFn, 0));
  spec.add(new DeclTag('on_typedef', cb, -1));
  return spec;
}

/**
 * The fix-up input for an object, from its section headers and symbol table: every section's
 * size and the global/weak object symbols defined in it.
 */
export function fixupSections(elf: ElfFile): FixupSections {
  const out: FixupSections = new Map();
  for (const s of elf.sections) if (s.name !== '') out.set(s.name, { size: s.size, symbols: new Map() });
  for (const sym of elf.symbols) {
    if (sym.type !== STT_OBJECT || (sym.bind !== STB_GLOBAL && sym.bind !== STB_WEAK)) continue;
    const section = elf.sections[sym.sectionIndex];
    if (section === undefined) continue;
    out.get(section.name)?.symbols.set(sym.name, sym.value);
  }
  return out;
}
