// Symbolic references (issue 15 item 2): relocations against undefined symbols that are no
// .kconfig/.ksyms extern keep the symbol's name on the instruction instead of failing the
// parse; the disassembler shows it; CollectionSpec.resolveReference turns it into a value, a
// map or variable address, or another function's code (appended with its subprograms and
// .BTF.ext records); an unresolved one is refused by name before loading. The kernel test
// (test/kernel/collection-references.test.ts) loads and runs what these resolve.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { disassemble, PseudoCall, PseudoSource } from '../../src/asm/index.js';
import { parseCollectionSpec, type CollectionSpec } from '../../src/collection-spec.js';
import { checkReferences, UnresolvedReferenceError } from '../../src/elf/index.js';
import { ArgumentError } from '../../src/errors.js';

const testdata = join(import.meta.dirname, '../../testdata');
const parse = (name: string): CollectionSpec => parseCollectionSpec(new Uint8Array(readFileSync(join(testdata, name))));
const orders = ['bpfel', 'bpfeb'] as const;

describe.each(orders)('elf_references.%s.o (with BTF)', (arch) => {
  const object = `elf_references.${arch}.o`;

  it('parses, each undefined symbol kept on its instruction', () => {
    const spec = parse(object);
    expect(spec.unresolvedReferences()).toEqual([
      { name: 'MY_CONST', program: 'refs_constant', index: 0, kind: 'constant' },
      { name: 'MY_MAP', program: 'refs_map', index: 2, kind: 'constant' },
      { name: 'MY_VARIABLE', program: 'refs_variable', index: 0, kind: 'constant' },
      { name: 'answer', program: 'refs_call', index: 0, kind: 'function' },
      { name: 'MY_CONST', program: 'refs_addend', index: 0, kind: 'constant' },
    ]);
    // A declared-only function is no kfunc: only .ksyms makes one.
    expect(spec.externs).toEqual({});
    const load = spec.programs.refs_constant!.instructions[0]!;
    expect(load).toMatchObject({ src: PseudoSource.None, reference: 'MY_CONST' });
    expect(load.imm64).toBe(0n);
    expect(spec.programs.refs_addend!.instructions[0]!.imm64).toBe(8n); // `MY_CONST + 8`
    const call = spec.programs.refs_call!.instructions[0]!;
    expect(call).toMatchObject({ src: PseudoCall.Call, reference: 'answer' });
    expect(call.constant).toBe(-1);
  });

  it('the disassembler names the symbol, as llvm-objdump -r does on the relocation line', () => {
    const spec = parse(object);
    expect(disassemble(spec.programs.refs_constant!.instructions, { rawBytes: false })).toContain('0:\tr1 = 0 ll <MY_CONST>\n');
    expect(disassemble(spec.programs.refs_call!.instructions, { rawBytes: false })).toContain('0:\tcall -1 <answer>\n');
    expect(disassemble(spec.programs.refs_addend!.instructions, { rawBytes: false })).toContain('0:\tr1 = 8 ll <MY_CONST>\n');
  });

  it('an unresolved reference is refused with the symbol, the program and the instruction', () => {
    const spec = parse(object);
    let err: unknown;
    try {
      checkReferences(spec.programs.refs_map!, spec.externs);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UnresolvedReferenceError);
    expect(err).toMatchObject({ symbol: 'MY_MAP', program: 'refs_map', instruction: 2 });
    expect((err as Error).message).toMatch(/^program refs_map: instruction 2 \(r1 = 0 ll\) refers to MY_MAP, which the object does not define: resolve it before loading with spec\.resolveReference\('MY_MAP', target\)/);
    expect(() => checkReferences(spec.programs.answer_impl!, spec.externs)).not.toThrow();
  });

  it('a value: the constant plus the addend, in every program that names it', () => {
    const spec = parse(object);
    expect(spec.resolveReference('MY_CONST', 0xfedcba9876543210n)).toBe(2);
    expect(spec.programs.refs_constant!.instructions[0]).toMatchObject({ reference: undefined, src: PseudoSource.None });
    expect(BigInt.asUintN(64, spec.programs.refs_constant!.instructions[0]!.imm64)).toBe(0xfedcba9876543210n);
    expect(spec.programs.refs_addend!.instructions[0]!.imm64).toBe(0xfedcba9876543218n - (1n << 64n));
    expect(spec.unresolvedReferences().map((r) => r.name)).toEqual(['MY_MAP', 'MY_VARIABLE', 'answer']);
    // { value } and plain numbers are the same.
    const other = parse(object);
    other.resolveReference('MY_CONST', { value: 3 }, { program: 'refs_constant' });
    expect(other.programs.refs_constant!.instructions[0]!.imm64).toBe(3n);
    expect(other.unresolvedReferences().filter((r) => r.name === 'MY_CONST').map((r) => r.program)).toEqual(['refs_addend']);
  });

  it('a map: a map fd load; with an offset, a map value load', () => {
    const spec = parse(object);
    spec.resolveReference('MY_MAP', { map: 'values' });
    expect(spec.programs.refs_map!.instructions[2]).toMatchObject({ src: PseudoSource.MapFD, reference: 'values' });
    const other = parse(object);
    other.resolveReference('MY_MAP', { map: '.data', offset: 4 });
    const insn = other.programs.refs_map!.instructions[2]!;
    expect(insn).toMatchObject({ src: PseudoSource.MapValue, reference: '.data' });
    expect(insn.imm64).toBe(4n << 32n);
  });

  it("a variable: a map value load at the variable's offset", () => {
    const spec = parse(object);
    spec.resolveReference('MY_VARIABLE', { variable: 'tally' });
    const insn = spec.programs.refs_variable!.instructions[0]!;
    expect(insn).toMatchObject({ src: PseudoSource.MapValue, reference: '.data' });
    expect(insn.imm64).toBe(BigInt(spec.variables.tally!.offset) << 32n);
  });

  it('a function: the program and its static subprogram appended once, calls fixed up, func_info and line_info carried', () => {
    const spec = parse(object);
    const callee = spec.programs.answer_impl!;
    const before = spec.programs.refs_call!.instructions.length;
    spec.resolveReference('answer', { function: 'answer_impl' });
    const p = spec.programs.refs_call!;
    expect(p.instructions.length).toBe(before + callee.instructions.length);
    expect(p.instructions.flatMap((i) => (i.symbol === undefined ? [] : [i.symbol]))).toEqual(['refs_call', 'answer_impl', 'half']);
    const text = disassemble(p.instructions, { rawBytes: false });
    expect(text).toContain(`0:\tcall ${before - 1} <answer_impl>\n`);
    // Each function's record moved with it; the kernel encoding was rebuilt.
    const startOf = (name: string): number => {
      let bytes = 0;
      for (const i of p.instructions) {
        if (i.symbol === name) return bytes;
        bytes += i.byteLength;
      }
      return -1;
    };
    expect(p.funcInfos!.map((f) => f.insnOffset)).toEqual([0, startOf('answer_impl'), startOf('half')]);
    expect(p.funcInfos!.map((f) => f.typeId)).toEqual([spec.programs.refs_call!.funcInfos![0]!.typeId, ...callee.funcInfos!.map((f) => f.typeId)]);
    expect(p.funcInfo!.length).toBe(3 * 8);
    expect(p.lineInfos!.length).toBe(parse(object).programs.refs_call!.lineInfos!.length + callee.lineInfos!.length);
    expect(p.lineInfo!.length).toBe(p.lineInfos!.length * 16);
    const offsets = p.lineInfos!.map((l) => l.insnOffset);
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    expect(spec.unresolvedReferences().map((r) => r.name)).not.toContain('answer');
  });

  it('a subprogram that only another program carries can be the function', () => {
    const spec = parse(object);
    spec.resolveReference('answer', { function: 'half' });
    const p = spec.programs.refs_call!;
    expect(p.instructions.flatMap((i) => (i.symbol === undefined ? [] : [i.symbol]))).toEqual(['refs_call', 'half']);
    expect(p.funcInfos!.length).toBe(2);
  });

  it('refuses what cannot be resolved, naming it, and changes nothing', () => {
    const spec = parse(object);
    const snapshot = (): string => JSON.stringify(Object.values(spec.programs).map((p) => [p.instructions.map(String), p.instructions.map((i) => i.reference), p.funcInfos]));
    const before = snapshot();
    expect(() => spec.resolveReference('NOPE', 1)).toThrow(new ArgumentError('no program refers to an unresolved symbol NOPE (unresolved: MY_CONST, MY_MAP, MY_VARIABLE, answer)'));
    expect(() => spec.resolveReference('MY_CONST', 1, { program: 'refs_map' })).toThrow(/^program refs_map refers to an unresolved symbol MY_CONST \(unresolved: MY_MAP\)$/);
    expect(() => spec.resolveReference('MY_CONST', 1, { program: 'nope' })).toThrow(/^no program nope in the spec/);
    expect(() => spec.resolveReference('answer', 42)).toThrow(/^program refs_call: instruction 0 calls answer; resolve it to \{ function: NAME \}/);
    expect(() => spec.resolveReference('answer', { map: 'values' })).toThrow(ArgumentError);
    expect(() => spec.resolveReference('MY_MAP', { map: 'nope' })).toThrow(/^reference MY_MAP: no map nope in the spec \(it has values, \.data\)$/);
    expect(() => spec.resolveReference('MY_MAP', { map: 'values', offset: 8 })).toThrow(/offset 8 is outside the 8-byte value of map values/);
    expect(() => spec.resolveReference('MY_VARIABLE', { variable: 'nope' })).toThrow(/no variable nope/);
    expect(() => spec.resolveReference('answer', { function: 'nope' })).toThrow(/no function nope in the spec/);
    expect(() => spec.resolveReference('MY_CONST', 1.5)).toThrow(/1\.5 is not an integer/);
    expect(() => spec.resolveReference('MY_CONST', 1n << 64n)).toThrow(/does not fit 64 bits/);
    // An addend needs an offset: `MY_CONST + 8` cannot be a map's fd.
    expect(() => spec.resolveReference('MY_CONST', { map: 'values' })).toThrow(/instruction 0 loads MY_CONST \+ 8; give the map an offset/);
    expect(snapshot()).toBe(before);
  });

  it('a copy keeps the references; resolving the copy leaves the original alone', () => {
    const spec = parse(object);
    const copy = spec.copy();
    expect(copy.unresolvedReferences()).toEqual(spec.unresolvedReferences());
    copy.resolveReference('answer', { function: 'answer_impl' });
    copy.resolveReference('MY_CONST', 1);
    expect(spec.unresolvedReferences().map((r) => r.name)).toContain('answer');
    expect(spec.programs.refs_call!.funcInfos!.length).toBe(1);
    expect(spec.programs.refs_constant!.instructions[0]!.reference).toBe('MY_CONST');
  });
});

describe.each(orders)('elf_references_nobtf.%s.o (no BTF)', (arch) => {
  const object = `elf_references_nobtf.${arch}.o`;

  it('parses: a __kconfig extern without BTF is a symbolic reference too, and so is a declared function', () => {
    const spec = parse(object);
    expect(spec.btf).toBeUndefined();
    expect(spec.externs).toEqual({});
    expect(spec.unresolvedReferences()).toEqual([
      { name: 'LINUX_KERNEL_VERSION', program: 'nobtf_kconfig', index: 0, kind: 'constant' },
      { name: 'MY_CONST', program: 'nobtf_constant', index: 0, kind: 'constant' },
      { name: 'twice', program: 'nobtf_call', index: 10, kind: 'function' },
    ]);
    expect(spec.maps.counts).toMatchObject({ keySize: 4, valueSize: 8, maxEntries: 1 });
  });

  it('resolves to a variable, a value and a subprogram; no func_info to carry', () => {
    const spec = parse(object);
    spec.resolveReference('LINUX_KERNEL_VERSION', { variable: 'kernel_version_stand_in' });
    spec.resolveReference('MY_CONST', 5);
    spec.resolveReference('twice', { function: 'twice_impl' });
    expect(spec.unresolvedReferences()).toEqual([]);
    const p = spec.programs.nobtf_call!;
    expect(p.funcInfos).toBeUndefined();
    expect(disassemble(p.instructions, { rawBytes: false })).toMatch(/11:\tcall 6 <twice_impl>\n/);
    for (const prog of Object.values(spec.programs)) expect(() => checkReferences(prog, spec.externs)).not.toThrow();
  });
});
