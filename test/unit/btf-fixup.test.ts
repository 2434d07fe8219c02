// BTF fix-ups: what clang leaves incomplete in a .o, completed from the ELF facts (section
// sizes, symbol offsets, visibility), on hand-built specs and on testdata objects; and done
// by the time an object is parsed, leaving the load path nothing to complete. No kernel.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FixupError, fixupSpec, ksymPlaceholderName, type FixupSections } from '../../src/btf/fixup.js';
import { marshalSpec } from '../../src/btf/marshal.js';
import { parseSpec, Spec } from '../../src/btf/spec.js';
import {
  Datasec,
  Func,
  FuncLinkage,
  FuncProto,
  Int,
  IntEncoding,
  Var,
  VarLinkage,
  VarSecinfo,
} from '../../src/btf/types.js';
import { parseCollectionSpec } from '../../src/collection-spec.js';
import { fixupSections } from './helpers/btf-fixture.js';
import { readElf } from './helpers/elf-sections.js';

const testdata = join(import.meta.dirname, '..', '..', 'testdata');

function globalsObject(): { spec: Spec; sections: FixupSections } {
  const elf = readElf(join(testdata, 'elf_globals.bpfel.o'));
  return { spec: parseSpec(elf.sections.find((s) => s.name === '.BTF')!.data), sections: fixupSections(elf) };
}

function datasec(spec: Spec, name: string): Datasec {
  return spec.typeByName(name, Datasec);
}

describe('DATASEC sizes and VAR offsets', () => {
  it('fills sizes from the section headers and offsets from the symbol table, sorted by offset', () => {
    const { spec, sections } = globalsObject();
    expect(datasec(spec, '.data').size).toBe(0);
    const report = fixupSpec(spec, sections);
    for (const name of ['.data', '.bss', '.rodata', '.data.custom', '.rodata.custom', 'license']) {
      const sec = datasec(spec, name);
      expect(sec.size).toBe(sections.get(name)!.size);
      expect(report.datasecSizes.get(name)).toBe(sec.size);
      for (const v of sec.vars) {
        const sym = sections.get(name)!.symbols.get(v.type.name);
        if ((v.type as Var).linkage === VarLinkage.Global) expect(v.offset).toBe(sym);
        expect(v.offset + v.size).toBeLessThanOrEqual(sec.size);
      }
      const offsets = sec.vars.map((v) => v.offset);
      expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    }
    expect(report.varOffsets).toBeGreaterThan(0);
  });

  it('keeps the offsets of static variables (they are right in BTF already)', () => {
    const { spec, sections } = globalsObject();
    const before = datasec(spec, '.data').vars.find((v) => v.type.name === 'file_local')!.offset;
    fixupSpec(spec, sections);
    expect(datasec(spec, '.data').vars.find((v) => v.type.name === 'file_local')!.offset).toBe(before);
  });

  it('leaves a DATASEC that already has a size alone (a linked object)', () => {
    const spec = new Spec();
    const v = new Var('x', new Int('int', 4, IntEncoding.Signed), VarLinkage.Global);
    spec.add(new Datasec('.data', 16, [new VarSecinfo(v, 8, 4)]));
    fixupSpec(spec, new Map([['.data', { size: 64, symbols: new Map([['x', 0]]) }]]));
    expect(spec.typeByName('.data', Datasec).size).toBe(16);
    expect(spec.typeByName('.data', Datasec).vars[0]!.offset).toBe(8);
  });

  it('a size-0 DATASEC with no ELF section, or a global with no symbol, is a FixupError', () => {
    const spec = new Spec();
    const v = new Var('x', new Int('int', 4, IntEncoding.Signed), VarLinkage.Global);
    spec.add(new Datasec('.data', 0, [new VarSecinfo(v, 0, 4)]));
    expect(() => fixupSpec(spec.copy())).toThrow(FixupError);
    expect(() => fixupSpec(spec.copy(), new Map([['.data', { size: 4, symbols: new Map() }]]))).toThrow(/no symbol for global variable x/);
  });

  it('hidden globals become static, variables and functions', () => {
    const spec = new Spec();
    const int = new Int('int', 4, IntEncoding.Signed);
    const v = new Var('secret', int, VarLinkage.Global);
    const f = new Func('helper', new FuncProto(int, [{ name: 'a', type: int }]), FuncLinkage.Global);
    spec.add(new Datasec('.bss', 0, [new VarSecinfo(v, 0, 4)]));
    spec.add(f);
    const report = fixupSpec(spec, new Map([['.bss', { size: 4, symbols: new Map([['secret', { offset: 0, hidden: true }]]) }]]), {
      hiddenFunctions: ['helper'],
    });
    expect(v.linkage).toBe(VarLinkage.Static);
    expect(f.linkage).toBe(FuncLinkage.Static);
    expect(report.varLinkage).toContain('secret');
    expect(report.funcLinkage).toContain('helper');
  });
});

describe('externs', () => {
  it('.ksyms: functions swapped for one placeholder VAR and made global, vars become 4-byte int globals', () => {
    const { spec, sections } = globalsObject();
    const before = spec.typeCount;
    const report = fixupSpec(spec, sections);
    const ksyms = datasec(spec, '.ksyms');
    expect(ksyms.vars.map((v) => v.offset)).toEqual([0, 4, 8, 12]);
    expect(ksyms.size).toBe(16);
    const placeholder = spec.typeById(report.ksymPlaceholder!) as Var;
    expect(placeholder.name).toBe(ksymPlaceholderName);
    expect(placeholder.linkage).toBe(VarLinkage.Global);
    expect(ksyms.vars.filter((v) => v.type === placeholder)).toHaveLength(2);
    for (const v of ksyms.vars) {
      expect(v.type).toBeInstanceOf(Var);
      expect((v.type as Var).linkage).toBe(VarLinkage.Global);
      expect(((v.type as Var).type as Int).bits).toBe(32);
    }
    for (const name of ['bpf_rcu_read_lock', 'bpf_rcu_read_unlock']) expect(spec.typeByName(name, Func).linkage).toBe(FuncLinkage.Global);
    // IDs of existing types are unchanged; the placeholder is appended.
    expect(report.ksymPlaceholder).toBeGreaterThanOrEqual(before);
  });

  it('.kconfig: laid out at natural alignment in DATASEC order when the loader gives no layout', () => {
    const { spec, sections } = globalsObject();
    fixupSpec(spec, sections);
    const kconfig = datasec(spec, '.kconfig');
    expect(kconfig.vars.map((v) => [v.type.name, v.offset, v.size])).toEqual([
      ['LINUX_KERNEL_VERSION', 0, 4],
      ['CONFIG_HZ', 4, 4],
      ['LINUX_HAS_BPF_COOKIE', 8, 1],
      ['CONFIG_BPF_SYSCALL', 9, 1],
    ]);
    expect(kconfig.size).toBe(16);
    for (const v of kconfig.vars) expect((v.type as Var).linkage).toBe(VarLinkage.Global);
  });

  it('.kconfig: the loader’s layout wins when given', () => {
    const { spec, sections } = globalsObject();
    sections.set('.kconfig', { size: 24, symbols: new Map([['CONFIG_HZ', 16], ['LINUX_KERNEL_VERSION', 0], ['LINUX_HAS_BPF_COOKIE', 4], ['CONFIG_BPF_SYSCALL', 5]]) });
    fixupSpec(spec, sections);
    const kconfig = datasec(spec, '.kconfig');
    expect(kconfig.size).toBe(24);
    expect(kconfig.vars.map((v) => v.type.name)).toEqual(['LINUX_KERNEL_VERSION', 'LINUX_HAS_BPF_COOKIE', 'CONFIG_BPF_SYSCALL', 'CONFIG_HZ']);
  });

  it('extern FUNCs outside .ksyms become global and extern VARs allocated globals', () => {
    const spec = new Spec();
    const int = new Int('int', 4, IntEncoding.Signed);
    const f = new Func('kfunc', new FuncProto(int, [{ name: '', type: int }]), FuncLinkage.Extern);
    const v = new Var('ext', int, VarLinkage.Extern);
    spec.add(f);
    spec.add(v);
    const report = fixupSpec(spec);
    expect(f.linkage).toBe(FuncLinkage.Global);
    expect(v.linkage).toBe(VarLinkage.Global);
    expect(report.paramNames).toBe(1);
    expect((f.type as FuncProto).params[0]!.name).toBe('arg0');
  });
});

describe('FUNC_PROTO parameter names', () => {
  it('unnamed parameters of FUNCs get argN; named ones and the variadic marker are kept', () => {
    const spec = new Spec();
    const int = new Int('int', 4, IntEncoding.Signed);
    const proto = new FuncProto(int, [{ name: 'ctx', type: int }, { name: '', type: int }], true);
    spec.add(new Func('f', proto, FuncLinkage.Global));
    fixupSpec(spec);
    expect(proto.params.map((p) => p.name)).toEqual(['ctx', 'arg1']);
    expect(proto.variadic).toBe(true);
  });
});

describe('idempotence and IDs', () => {
  it('fixing a fixed spec changes nothing; type IDs of existing types never move', () => {
    const { spec, sections } = globalsObject();
    const names = [...spec.entries()].map(([id, t]) => [id, t.kindName, t.name]);
    fixupSpec(spec, sections);
    const once = marshalSpec(spec);
    const again = fixupSpec(spec, sections);
    expect(marshalSpec(spec)).toEqual(once);
    expect(again.varOffsets).toBe(0);
    for (const [id, kind, name] of names) {
      const t = spec.typeById(id as number);
      expect([t.kindName, t.name]).toEqual([kind, name]);
    }
  });
});

describe('done at parse time', () => {
  // Objects built without BTF (-g0) have nothing to fix up.
  const objects = readdirSync(testdata).filter((f) => /\.bpfe[lb]\.o$/.test(f) && !f.includes('nobtf')).sort();

  it.each(objects)('%s: the load path, which has no ELF facts, finds nothing left to fix up', (name) => {
    const spec = parseCollectionSpec(new Uint8Array(readFileSync(join(testdata, name)))).btf!;
    for (const [, t] of spec.entries()) if (t instanceof Datasec) expect(t.size, `DATASEC ${t.name}`).toBeGreaterThan(0);
    const copy = spec.copy();
    const before = marshalSpec(copy);
    const report = fixupSpec(copy);
    expect(marshalSpec(copy)).toEqual(before);
    expect([report.varOffsets, report.funcLinkage, report.varLinkage, report.paramNames]).toEqual([0, [], [], 0]);
  });
});
