// The CO-RE engine on hand-built BTF: what the compiled testdata cannot show (ENUM64,
// TYPE_MATCHES corner cases, ambiguous candidates, module BTF, big-endian bitfield shifts,
// poisoned ld_imm64) and every error path. Results on real objects are checked against
// libbpf in btf-core-libbpf.test.ts.
import { describe, expect, it } from 'vitest';
import { Instruction } from '../../src/asm/index.js';
import { COREKind } from '../../src/btf/core-kind.js';
import { COREError, coreRelocate, corePoisonHelperId, corePoisonMessage, findCandidates, findPoison } from '../../src/btf/core.js';
import { typesAreCompatible, typesMatch, fieldsAreCompatible } from '../../src/btf/core-compat.js';
import { isPoisoned } from '../../src/btf/core-patch.js';
import type { CORERelocation } from '../../src/btf/ext.js';
import { Spec } from '../../src/btf/spec.js';
import {
  Array as ArrayType,
  Const,
  Enum,
  Enum64,
  FuncProto,
  Fwd,
  Int,
  IntEncoding,
  Member,
  Pointer,
  Struct,
  Type,
  Typedef,
  Union,
} from '../../src/btf/types.js';

const s32 = (): Int => new Int('int', 4, IntEncoding.Signed);
const u32 = (): Int => new Int('unsigned int', 4);
const s64 = (): Int => new Int('long', 8, IntEncoding.Signed);
const u64 = (): Int => new Int('unsigned long', 8);

function specOf(...types: Type[]): Spec {
  const s = new Spec();
  for (const t of types) s.add(t);
  return s;
}

const mov = (imm: number): Instruction => new Instruction({ opcode: 0xb7, dst: 0, constant: imm }); // r0 = imm
const ldxw = (off: number): Instruction => new Instruction({ opcode: 0x61, dst: 0, src: 1, offset: off }); // r0 = *(u32 *)(r1 + off)
const ldxdw = (off: number): Instruction => new Instruction({ opcode: 0x79, dst: 0, src: 1, offset: off });
const ld64 = (imm: bigint): Instruction => new Instruction({ opcode: 0x18, dst: 0, constant: imm });
const exit = (): Instruction => new Instruction({ opcode: 0x95 });

function relo(local: Spec, type: Type, accessor: string, kind: number, insnOffset = 0): CORERelocation {
  return { insnOffset, typeId: local.typeId(type), accessor, kind: kind as CORERelocation['kind'] };
}

describe('field relocations', () => {
  const localFoo = new Struct('foo', 8, [new Member('a', s32(), 0), new Member('b', s32(), 32)]);
  const local = specOf(localFoo);

  it('patches a load offset and reports the candidate', () => {
    const target = specOf(new Struct('foo', 16, [new Member('pad', s64(), 0), new Member('b', s32(), 64)]));
    const insns = [ldxw(4), exit()];
    const { fixups, poisoned } = coreRelocate(insns, [relo(local, localFoo, '0:1', COREKind.FieldByteOffset)], local, [target]);
    expect(insns[0]!.offset).toBe(8);
    expect(fixups[0]).toMatchObject({ instruction: 0, local: 4n, target: 8n, poisoned: false, patch: { kind: 'mem-offset', from: 4n, to: 8n } });
    expect(fixups[0]!.description).toBe('<byte_off> [1] struct foo.b (0:1 @ offset 4) -> [1] struct foo.b (0:1 @ offset 8)');
    expect(poisoned).toEqual([]);
  });

  it('poisons a field the target lacks and explains it', () => {
    const target = specOf(new Struct('foo', 4, [new Member('a', s32(), 0)]));
    const insns = [mov(0), ldxw(4), exit()];
    const result = coreRelocate(insns, [relo(local, localFoo, '0:1', COREKind.FieldByteOffset, 8)], local, [target], { program: 'p' });
    expect(isPoisoned(insns[1]!)).toBe(true);
    expect(insns[1]!.imm).toBe(corePoisonHelperId);
    expect(result.poisoned).toEqual([{ instruction: 1, index: 0, reason: 'struct foo has no field b', description: expect.any(String), slots: 1 }]);
    expect(findPoison(result, 2)).toBeUndefined();
    expect(corePoisonMessage(findPoison(result, 1)!, 'p')).toBe(
      'CO-RE relocation failed: struct foo has no field b (program p, instruction 1)',
    );
  });

  it('says when the whole type is missing from the target', () => {
    const insns = [ldxw(4)];
    const { poisoned } = coreRelocate(insns, [relo(local, localFoo, '0:1', COREKind.FieldByteOffset)], local, [specOf(s32())]);
    expect(poisoned[0]!.reason).toMatch(/^struct foo not found in the target BTF/);
  });

  it('refuses to patch an instruction that does not hold the compiler value', () => {
    const target = specOf(new Struct('foo', 8, [new Member('a', s32(), 0), new Member('b', s32(), 32)]));
    const insns = [ldxw(12)];
    expect(() => coreRelocate(insns, [relo(local, localFoo, '0:1', COREKind.FieldByteOffset)], local, [target], { program: 'p' })).toThrow(
      /CO-RE relocation #0 .* of program p at instruction 0: .* has offset 12, but the relocation expects the compiler's value 4/,
    );
    expect(insns[0]!.offset).toBe(12); // untouched
  });

  it('changes load sizes for unsigned integers and poisons signed ones', () => {
    const l = new Struct('s', 8, [new Member('u', u32(), 0), new Member('i', s32(), 32)]);
    const t = new Struct('s', 16, [new Member('u', u64(), 0), new Member('i', s64(), 64)]);
    const ls = specOf(l);
    const insns = [ldxw(0), ldxw(4)];
    const { fixups } = coreRelocate(
      insns,
      [relo(ls, l, '0:0', COREKind.FieldByteOffset, 0), relo(ls, l, '0:1', COREKind.FieldByteOffset, 8)],
      ls,
      [specOf(t)],
    );
    expect(insns[0]!.opcode).toBe(0x79); // LDX|MEM|DW
    expect(fixups[0]!.patch.memorySize).toEqual({ from: 4, to: 8 });
    expect(fixups[1]!.poisoned).toBe(true);
    expect(fixups[1]!.reason).toMatch(/4 bytes locally but 8 bytes in the target .* only pointers and unsigned integers/);
  });

  it('rejects a load whose width is not the local field size', () => {
    const l = new Struct('s', 4, [new Member('u', u32(), 0)]);
    const ls = specOf(l);
    const t = new Struct('s', 8, [new Member('u', u64(), 0)]);
    expect(() => coreRelocate([ldxdw(0)], [relo(ls, l, '0:0', COREKind.FieldByteOffset)], ls, [specOf(t)])).toThrow(/accesses 8 bytes, but the field has 4/);
  });

  it('finds members through anonymous unions and typedef/const chains, and indexes flexible arrays', () => {
    const inner = new Struct('', 8, [new Member('x', s32(), 0), new Member('y', s32(), 32)]);
    const l = new Struct('n', 12, [new Member('h', s32(), 0), new Member('', new Union('', 8, [new Member('', inner, 0)]), 32)]);
    const flex = new Struct('fl', 4, [new Member('n', s32(), 0), new Member('data', new ArrayType(s32(), u32(), 0), 32)]);
    const ls = specOf(l, flex);
    const tInner = new Struct('', 8, [new Member('y', new Typedef('y_t', new Const(s32())), 0)]);
    const t = new Struct('n', 24, [new Member('pad', s64(), 0), new Member('', tInner, 64), new Member('h', s32(), 128)]);
    const tFlex = new Struct('fl', 8, [new Member('n', s64(), 0), new Member('data', new ArrayType(s32(), u32(), 0), 64)]);
    const insns = [ldxw(8), mov(24)];
    const { fixups } = coreRelocate(
      insns,
      [relo(ls, l, '0:1:0:1', COREKind.FieldByteOffset, 0), relo(ls, flex, '0:1:5', COREKind.FieldByteOffset, 8)],
      ls,
      [specOf(t, tFlex)],
    );
    expect(fixups[0]!.description).toMatch(/struct n\.y \(0:1:0 @ offset 8\)$/);
    expect(insns[0]!.offset).toBe(8);
    expect(insns[1]!.imm).toBe(8 + 5 * 4);
  });

  it('computes bitfield shifts for big-endian targets', () => {
    // A 5-bit field at bit 3 of a u32: window is the 4 bytes at 0.
    const l = new Struct('bf', 4, [new Member('f', u32(), 3, 5)], true);
    const ls = specOf(l);
    const run = (byteOrder: 'little' | 'big'): bigint => {
      const insns = [mov(0)];
      return coreRelocate(insns, [relo(ls, l, '0:0', COREKind.FieldLShiftU64)], ls, [specOf(new Struct('bf', 4, [new Member('f', u32(), 3, 5)], true))], { byteOrder })
        .fixups[0]!.target;
    };
    expect(run('little')).toBe(64n - (3n + 5n));
    expect(run('big')).toBe((8n - 4n) * 8n + 3n);
  });
});

describe('candidates', () => {
  const lfoo = new Struct('foo', 4, [new Member('x', s32(), 0)]);
  const local = specOf(lfoo);

  it('reports ambiguous candidates naming both', () => {
    const a = new Struct('foo___a', 4, [new Member('x', s32(), 0)]);
    const b = new Struct('foo___b', 8, [new Member('pad', s32(), 0), new Member('x', s32(), 32)]);
    const target = specOf(a, b);
    let error: unknown;
    try {
      coreRelocate([mov(0)], [relo(local, lfoo, '0:0', COREKind.FieldByteOffset)], local, [target]);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(COREError);
    const [ia, ib] = [target.typeId(a), target.typeId(b)];
    expect((error as Error).message).toContain(`ambiguous candidates for <byte_off> [1] struct foo.x (0:0 @ offset 0): [${ia}] struct foo___a puts it at bit 0, [${ib}] struct foo___b at bit 32`);
  });

  it('accepts several candidates that agree', () => {
    const target = specOf(new Struct('foo___a', 4, [new Member('x', s32(), 0)]), new Struct('foo', 4, [new Member('x', u32(), 0)]));
    const { fixups } = coreRelocate([mov(0)], [relo(local, lfoo, '0:0', COREKind.FieldByteOffset)], local, [target]);
    expect(fixups[0]!.candidate!.id).toBe(1);
  });

  it('searches module BTF only when vmlinux has no candidate', () => {
    const vmlinux = specOf(s32());
    const module = new Spec({ base: vmlinux });
    module.add(new Struct('foo', 8, [new Member('pad', s32(), 0), new Member('x', s32(), 32)]));
    expect(findCandidates(lfoo, [vmlinux, module]).map((c) => c.id)).toEqual([2]);
    const insns = [mov(0)];
    coreRelocate(insns, [relo(local, lfoo, '0:0', COREKind.FieldByteOffset)], local, [vmlinux, module]);
    expect(insns[0]!.imm).toBe(4);
    const vmlinuxWithFoo = specOf(new Struct('foo', 4, [new Member('x', s32(), 0)]));
    const module2 = new Spec({ base: vmlinuxWithFoo });
    module2.add(new Struct('foo', 8, [new Member('pad', s32(), 0), new Member('x', s32(), 32)]));
    expect(findCandidates(lfoo, [vmlinuxWithFoo, module2]).map((c) => c.spec)).toEqual([vmlinuxWithFoo]);
  });

  it('matches a local enum with a target ENUM64 (kind compatibility)', () => {
    const le = new Enum('e', 4, [{ name: 'A', value: 1 }]);
    const ls = specOf(le);
    const te = new Enum64('e', 8, [{ name: 'B', value: 2n }, { name: 'A', value: 0x1234_5678_9an }]);
    const insns = [ld64(1n), exit()];
    const { fixups } = coreRelocate(insns, [relo(ls, le, '0', COREKind.EnumvalValue)], ls, [specOf(te)]);
    expect(insns[0]!.imm64).toBe(0x1234_5678_9an);
    expect(fixups[0]!.patch.kind).toBe('ldimm64');
  });
});

describe('enum value relocations', () => {
  it('relocates ENUM64 values beyond 32 bits and signed values', () => {
    const le = new Enum64('big', 8, [{ name: 'HUGE', value: 1n << 40n }, { name: 'NEG', value: -2n }], true);
    const ls = specOf(le);
    const te = new Enum64('big', 8, [{ name: 'NEG', value: -5n }, { name: 'HUGE', value: 3n << 41n }], true);
    const insns = [ld64(1n << 40n), ld64(-2n)];
    coreRelocate(insns, [relo(ls, le, '0', COREKind.EnumvalValue, 0), relo(ls, le, '1', COREKind.EnumvalValue, 16)], ls, [specOf(te)]);
    expect(insns.map((i) => i.imm64)).toEqual([3n << 41n, -5n]);
  });

  it('poisons both slots of an ld_imm64 whose enumerator is gone, keeping slot positions', () => {
    const le = new Enum('e', 4, [{ name: 'A', value: 1 }, { name: 'GONE', value: 2 }]);
    const ls = specOf(le);
    const te = new Enum('e', 4, [{ name: 'A', value: 7 }]);
    const insns = [ld64(2n), exit()];
    const result = coreRelocate(insns, [relo(ls, le, '1', COREKind.EnumvalValue)], ls, [specOf(te)], { program: 'prog' });
    expect(insns).toHaveLength(3);
    expect(insns.slice(0, 2).every(isPoisoned)).toBe(true);
    expect(insns[2]!.isExit).toBe(true);
    expect(result.poisoned[0]).toMatchObject({ instruction: 0, reason: 'enum e has no value GONE' });
    // The verifier may complain about either slot.
    expect(findPoison(result, 1)).toBe(result.poisoned[0]);
    expect(corePoisonMessage(result.poisoned[0]!, 'prog')).toBe('CO-RE relocation failed: enum e has no value GONE (program prog, instruction 0)');
  });
});

describe('type relocations and compatibility rules', () => {
  it('TYPE_MATCHES is stricter than TYPE_EXISTS', () => {
    const l = new Struct('m', 8, [new Member('a', s32(), 0), new Member('b', new Int('short', 2, IntEncoding.Signed), 32)]);
    const ls = specOf(l);
    const t = new Struct('m', 16, [new Member('a', s32(), 0), new Member('b', s64(), 64)]);
    const insns = [mov(1), mov(1)];
    coreRelocate(insns, [relo(ls, l, '0', COREKind.TypeExists, 0), relo(ls, l, '0', COREKind.TypeMatches, 8)], ls, [specOf(t)]);
    expect(insns.map((i) => i.imm)).toEqual([1, 0]);
  });

  it('TYPE_MATCHES: forward declarations match behind pointers only, struct/union must agree', () => {
    const p = (t: Type): Pointer => new Pointer(t);
    expect(typesMatch(p(new Fwd('x', 'struct')), p(new Struct('x', 4)))).toBe(true);
    expect(typesMatch(p(new Fwd('x', 'union')), p(new Struct('x', 4)))).toBe(false);
    expect(typesMatch(new Fwd('x', 'struct'), new Struct('x', 4))).toBe(false);
    expect(typesMatch(p(new Struct('x', 4, [new Member('q', s32(), 0)])), p(new Fwd('x', 'struct')))).toBe(true);
    expect(typesMatch(s32(), u32())).toBe(false); // signedness
    expect(typesMatch(new Enum('e', 4, [{ name: 'A', value: 1 }]), new Enum('e', 4, [{ name: 'B', value: 0 }, { name: 'A', value: 9 }]))).toBe(true);
    expect(typesMatch(new Enum('e', 4, [{ name: 'A', value: 1 }]), new Enum('e', 8, [{ name: 'A', value: 1 }]))).toBe(false);
    expect(typesMatch(new ArrayType(s32(), u32(), 2), new ArrayType(s32(), u32(), 3))).toBe(false);
  });

  it('TYPE_EXISTS compares function prototypes and pointers recursively, not members', () => {
    const proto = (ret: Type, ...params: Type[]): FuncProto => new FuncProto(ret, params.map((type) => ({ name: '', type })));
    expect(typesAreCompatible(new Pointer(proto(s32(), s32())), new Pointer(proto(u64(), s64())))).toBe(true);
    expect(typesAreCompatible(new Pointer(proto(s32(), s32())), new Pointer(proto(s32())))).toBe(false);
    expect(typesAreCompatible(new Struct('a', 4, [new Member('x', s32(), 0)]), new Struct('a', 0))).toBe(true);
    expect(typesAreCompatible(new Pointer(s32()), new Pointer(new Struct('a', 0)))).toBe(false);
    expect(fieldsAreCompatible(new Enum('e___v1', 4), new Enum('e', 4))).toBe(true);
    expect(fieldsAreCompatible(new Enum('e', 4), new Enum('f', 4))).toBe(false);
    expect(fieldsAreCompatible(new Int('legacy', 4, 0, 3, 2), s32())).toBe(false);
  });

  it('TYPE_ID_TARGET is not validated (IDs move when objects are linked), TYPE_SIZE is', () => {
    const l = new Struct('t', 4, [new Member('a', s32(), 0)]);
    const ls = specOf(s64(), l);
    const target = specOf(new Struct('t', 12));
    const insns = [ld64(999n), mov(4)];
    coreRelocate(insns, [relo(ls, l, '0', COREKind.TypeIDTarget, 0), relo(ls, l, '0', COREKind.TypeSize, 16)], ls, [target]);
    expect(insns[0]!.imm64).toBe(1n);
    expect(insns[1]!.imm).toBe(12);
    expect(() => coreRelocate([mov(5)], [relo(ls, l, '0', COREKind.TypeSize)], ls, [target])).toThrow(/holds 5, but the relocation expects the compiler's value 4/);
  });
});

describe('malformed relocations are COREErrors', () => {
  const l = new Struct('foo', 4, [new Member('a', s32(), 0)]);
  const anonymous = new Struct('', 4, [new Member('a', s32(), 0)]);
  const local = specOf(l, anonymous);
  const target = specOf(new Struct('foo', 4, [new Member('a', s32(), 0)]));
  const cases: [string, CORERelocation, RegExp][] = [
    ['member index out of range', relo(local, l, '0:3', COREKind.FieldByteOffset), /has no member #3/],
    ['type relocation with an access', relo(local, l, '0:0', COREKind.TypeSize), /expected "0"/],
    ['garbage access string', relo(local, l, '0:x', COREKind.FieldByteOffset), /malformed access string/],
    ['anonymous root type', relo(local, anonymous, '0:0', COREKind.FieldByteOffset), /anonymous types/],
    ['enum kind on a struct', relo(local, l, '0', COREKind.EnumvalValue), /does not name an enumerator/],
    ['offset between instructions', { ...relo(local, l, '0:0', COREKind.FieldByteOffset), insnOffset: 4 }, /not the start of an instruction/],
    ['shift of a non-bitfield array element', relo(local, l, '1', COREKind.FieldLShiftU64), /cannot be applied to an array element/],
  ];
  for (const [what, r, message] of cases) {
    it(what, () => {
      expect(() => coreRelocate([mov(0), exit()], [r], local, [target], { program: 'p' })).toThrow(COREError);
      expect(() => coreRelocate([mov(0), exit()], [r], local, [target], { program: 'p' })).toThrow(message);
    });
  }

  it('an ALU instruction with a register operand cannot be relocated', () => {
    const insn = new Instruction({ opcode: 0x0f, dst: 0, src: 1 }); // r0 += r1
    expect(() => coreRelocate([insn], [relo(local, l, '0:0', COREKind.FieldByteOffset)], local, [target])).toThrow(/no immediate operand/);
  });
});
