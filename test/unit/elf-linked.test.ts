// Statically linked objects (issue 15 item 3): what `bpftool gen object` (libbpf's linker)
// writes parses into the programs and maps of its inputs. testdata/linked/build.sh makes the
// objects: a self-checking pair (weak, strong and static functions, variables and maps of
// both inputs; legacy map definitions of 20 and 28 bytes in one `maps` section), and links of
// committed testdata objects whose programs must come out as they are in their inputs — the
// same instructions, references, func_info and line_info — with the .BTF and .BTF.ext the
// linker merged. The kernel test (test/kernel/collection-linked.test.ts) loads and runs them.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PseudoSource, type Instruction } from '../../src/asm/index.js';
import { Datasec, Func, FuncLinkage, Var } from '../../src/btf/types.js';
import { parseCollectionSpec, type CollectionSpec } from '../../src/collection-spec.js';
import { readELF, SectionType } from '../../src/elf/index.js';
import { ParseError } from '../../src/errors.js';
import { MapType } from '../../src/types.js';

const testdata = join(import.meta.dirname, '../../testdata');
const read = (name: string): Uint8Array => new Uint8Array(readFileSync(join(testdata, name)));
const parse = (name: string): CollectionSpec => parseCollectionSpec(read(name));

/** The linked objects and the inputs each was linked from (testdata/linked/build.sh). */
const links: Record<string, string[]> = {
  selfcheck: ['linked/selfcheck_a.bpfel.o', 'linked/selfcheck_b.bpfel.o'],
  objects: ['elf_patterns.bpfel.o', 'elf_programs.bpfel.o', 'elf_globals.bpfel.o'],
  legacy: ['elf_legacy_maps.bpfel.o', 'elf_legacy_maps_ext.bpfel.o'],
  tracing: ['multi.bpfel.o', 'tracing.bpfel.o', 'printk.bpfel.o', 'core_relocs.bpfel.o'],
};

/** Function names in a linked program's instruction stream, in order. */
const functionsOf = (insns: readonly Instruction[]): string[] => insns.flatMap((i) => (i.symbol === undefined ? [] : [i.symbol]));

/**
 * An instruction as linking must leave it. Global data offsets move (the linker concatenates
 * each input's .rodata/.data/.bss), so a map value load keeps only its map.
 */
const shape = (i: Instruction): string => {
  const constant = i.isLoadImm64 && i.src === (PseudoSource.MapValue as number) ? '' : String(i.imm64);
  return `${i.opcode} ${i.dst} ${i.src} ${i.offset} ${constant} ${i.reference ?? ''} ${i.symbol ?? ''}`;
};

describe.each(Object.entries(links))('linked/%s.bpfel.o', (name, inputs) => {
  const object = `linked/${name}.bpfel.o`;

  it('parses, with every program and map of its inputs', () => {
    const spec = parse(object);
    const sources = inputs.map(parse);
    expect(Object.keys(spec.programs).sort()).toEqual(sources.flatMap((s) => Object.keys(s.programs)).sort());
    const userMaps = (s: CollectionSpec): string[] => Object.keys(s.maps).filter((m) => !m.startsWith('.'));
    expect(userMaps(spec).sort()).toEqual([...new Set(sources.flatMap(userMaps))].sort());
  });

  it('agrees with bpftool gen skeleton on program and map names (testdata/linked/NAME.skeleton.txt)', () => {
    const golden = readFileSync(join(testdata, `linked/${name}.skeleton.txt`), 'utf8');
    if (golden.startsWith('refused: ')) {
      // Debian's libbpf 1.1 refuses legacy "maps" sections, which we parse.
      expect(golden).toMatch(/legacy map definitions/);
      expect(Object.values(parse(object).maps).some((m) => m.sectionName === 'maps')).toBe(true);
      return;
    }
    const lines = golden.trim().split('\n');
    const of = (kind: string): string[] => lines.filter((l) => l.startsWith(`${kind} `)).map((l) => l.slice(kind.length + 1));
    const spec = parse(object);
    expect(Object.keys(spec.programs).sort()).toEqual(of('program'));
    expect(Object.keys(spec.maps).map((n) => n.replace(/^\./, '').replace(/\./g, '_')).sort()).toEqual(of('map'));
  });

  if (name === 'selfcheck') return;

  it('each program is its input program: the same instructions, references, func_info and source lines', () => {
    const spec = parse(object);
    for (const source of inputs.map(parse)) {
      for (const [prog, original] of Object.entries(source.programs)) {
        const linked = spec.programs[prog]!;
        expect(linked.instructions.map(shape), prog).toEqual(original.instructions.map(shape));
        // One `version` section for the whole output: an input's version reaches every program.
        const version = original.kernelVersion === undefined ? { kernelVersion: undefined } : {};
        expect({ ...linked, ...version, instructions: undefined, funcInfo: undefined, funcInfos: undefined, lineInfo: undefined, lineInfos: undefined, coreRelocations: undefined }, prog).toEqual({
          ...original,
          instructions: undefined,
          funcInfo: undefined,
          funcInfos: undefined,
          lineInfo: undefined,
          lineInfos: undefined,
          coreRelocations: undefined,
        });
        // Type ids change in merged BTF; what they name does not.
        const funcNames = (s: CollectionSpec, p: typeof linked): string[] => (p.funcInfos ?? []).map((f) => `${f.insnOffset} ${(s.btf!.typeById(f.typeId) as Func).name}`);
        expect(funcNames(spec, linked), prog).toEqual(funcNames(source, original));
        const lines = (p: typeof linked): string[] => (p.lineInfos ?? []).map((l) => `${l.insnOffset} ${l.fileName}:${l.lineNumber}:${l.column} ${l.line}`);
        expect(lines(linked), prog).toEqual(lines(original));
        const core = (s: CollectionSpec, p: typeof linked): string[] => (p.coreRelocations ?? []).map((r) => `${r.insnOffset} ${r.kind} ${r.accessor} ${String(s.btf!.typeById(r.typeId))}`);
        expect(core(spec, linked), prog).toEqual(core(source, original));
      }
    }
  });

  it('global data of several inputs: every variable keeps its value, at its offset in the merged section', () => {
    const spec = parse(object);
    for (const source of inputs.map(parse)) {
      for (const [v, original] of Object.entries(source.variables)) {
        const linked = spec.variables[v];
        if (linked === undefined) continue; // a static of a name an earlier input also has
        expect(linked.sectionName, v).toBe(original.sectionName);
        expect(linked.value, v).toEqual(original.value);
      }
    }
  });
});

describe('linked/selfcheck.bpfel.o: what the link resolved', () => {
  const spec = parse('linked/selfcheck.bpfel.o');

  it('each program carries the definitions that won, not the weak ones that lost', () => {
    expect(functionsOf(spec.programs.check_a!.instructions)).toEqual([
      'check_a',
      'weak_here_strong_there',
      'strong_here_weak_there',
      'weak_in_both',
      'hidden_in_a',
      'same_static',
      'defined_in_b',
      'same_static@selfcheck_b.c',
    ]);
    expect(functionsOf(spec.programs.check_b!.instructions)).toEqual(['check_b', 'weak_here_strong_there', 'strong_here_weak_there', 'weak_in_both', 'same_static@selfcheck_b.c']);
    // Each function is as long as its symbol says: the losers' code, left between functions
    // without a symbol, is in no program (the verifier refuses unreachable code).
    const elf = readELF(read('linked/selfcheck.bpfel.o'));
    const text = elf.sections.find((s) => s.name === '.text')!;
    const sized = elf.symbolsIn(text.index).filter((s) => s.size > 0);
    const covered = sized.reduce((n, s) => n + s.size, 0);
    expect(covered).toBeLessThan(text.size);
    const insns = spec.programs.check_a!.instructions;
    const start = insns.findIndex((i) => i.symbol === 'weak_here_strong_there');
    expect(insns[start]!.toString()).not.toMatch(/= \d{2}$/); // not a loser's `r0 = <line>`
    expect(insns.slice(start, insns.findIndex((i, k) => k > start && i.symbol !== undefined)).length).toBe(elf.symbols.find((s) => s.name === 'weak_here_strong_there')!.size / 8);
  });

  it('two static functions of one name: the second is named after its input, and each caller calls its own', () => {
    const insns = spec.programs.check_b!.instructions;
    const calls = insns.filter((i) => i.isFunctionCall).map((i) => i.reference);
    expect(calls).toContain('same_static@selfcheck_b.c');
    expect(calls).not.toContain('same_static');
    const fromB = spec.programs.check_a!.instructions;
    const definedInB = fromB.findIndex((i) => i.symbol === 'defined_in_b');
    expect(fromB.slice(definedInB).find((i) => i.isFunctionCall)!.reference).toBe('same_static@selfcheck_b.c');
  });

  it('BTF: both static variables of one name keep their own offsets; the hidden function is static', () => {
    const data = spec.btf!.typeByName('.data', Datasec);
    const vars = data.vars.map((v) => [(v.type as Var).name, v.offset]);
    expect(vars.filter(([n]) => n === 'same_static_var').map(([, o]) => o)).toEqual([8, 24]);
    expect(spec.variables.same_static_var!.offset).toBe(8);
    expect(spec.btf!.typeByName('hidden_in_a', Func).linkage).toBe(FuncLinkage.Static);
    expect(spec.btf!.typeByName('defined_in_b', Func).linkage).toBe(FuncLinkage.Global);
    // The winners' initial values: 1 each.
    expect([spec.variables.weak_var!.value, spec.variables.strong_var!.value, spec.variables.var_in_b!.value]).toEqual([1, 1, 1]);
  });

  it('legacy definitions of 20 and 28 bytes in one section, split at their symbols', () => {
    expect(spec.maps.legacy_a).toMatchObject({ sectionName: 'maps', type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 1 });
    expect(spec.maps.legacy_a!.extra).toBeUndefined();
    expect(spec.maps.legacy_b_hash).toMatchObject({ type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 8 });
    expect(Array.from(spec.maps.legacy_b_hash!.extra!)).toEqual([7, 0, 0, 0, 0, 0, 0, 0]); // id 7, pinning 0
    expect(spec.maps.legacy_b_array).toMatchObject({ type: MapType.Array, maxEntries: 3 });
    expect(spec.maps.legacy_b_array!.extra!.length).toBe(8);
    // The weak map and the extern one are the strong definitions.
    expect(spec.maps.shared).toMatchObject({ type: MapType.Array, maxEntries: 2 });
    expect(spec.maps.only_in_b).toMatchObject({ type: MapType.Array, maxEntries: 2 });
  });
});

describe('linked/legacy.bpfel.o: legacy definitions of 20 and 36 bytes', () => {
  it('splits the section at the symbols', () => {
    const spec = parse('linked/legacy.bpfel.o');
    expect(spec.maps.legacy_hash).toMatchObject({ type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 64 });
    expect(spec.maps.legacy_array!.extra).toBeUndefined();
    expect(spec.maps.ext_counts!.extra!.length).toBe(16);
    expect(spec.maps.ext_counts!.extra).toEqual(parse('elf_legacy_maps_ext.bpfel.o').maps.ext_counts!.extra);
  });
});

describe('legacy maps and function sizes: malformed symbols are ParseErrors', () => {
  /** selfcheck.bpfel.o with one symbol's st_size or st_value changed. */
  function withSymbol(name: string, field: 'size' | 'value', value: bigint): Uint8Array {
    const bytes = read('linked/selfcheck.bpfel.o');
    const elf = readELF(bytes);
    const symtab = elf.sections.find((s) => s.type === SectionType.SymTab)!;
    const sym = elf.symbols.find((s) => s.name === name)!;
    new DataView(bytes.buffer, bytes.byteOffset).setBigUint64(symtab.offset + sym.index * 24 + (field === 'size' ? 16 : 8), value, true);
    return bytes;
  }
  const fails = (bytes: Uint8Array, message: RegExp): void => {
    let err: unknown;
    try {
      parseCollectionSpec(bytes);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ParseError);
    expect((err as Error).message).toMatch(message);
  };

  it('a legacy definition too short, unaligned, past the section or over the next one', () => {
    fails(withSymbol('legacy_a', 'size', 12n), /^legacy map legacy_a: definition \[0, \+12\) is not a struct bpf_map_def/);
    fails(withSymbol('legacy_a', 'size', 22n), /is not a struct bpf_map_def \(4-byte aligned, at least 16 bytes\)/);
    fails(withSymbol('legacy_a', 'size', 24n), /^legacy map legacy_a: definition \[0, \+24\) overlaps the next one, legacy_b_hash at 20/);
    fails(withSymbol('legacy_b_array', 'size', 32n), /^legacy map legacy_b_array: definition \[48, \+32\) is past the end of the maps section \(76 bytes\)/);
    fails(withSymbol('legacy_b_array', 'value', 50n), /not a struct bpf_map_def/);
  });

  it('a legacy definition of size 0 reaches to the next one', () => {
    const spec = parseCollectionSpec(withSymbol('legacy_a', 'size', 0n));
    expect(spec.maps.legacy_a!.extra).toBeUndefined();
    const last = parseCollectionSpec(withSymbol('legacy_b_array', 'size', 0n));
    expect(last.maps.legacy_b_array!.extra!.length).toBe(8);
  });

  it('a function whose size is not whole instructions, runs past its section, or overlaps the next', () => {
    fails(withSymbol('weak_in_both', 'size', 12n), /^function weak_in_both in \.text: \[32, \+12\) is not whole instructions inside the section/);
    fails(withSymbol('defined_in_b', 'size', 1024n), /is not whole instructions inside the section/);
    fails(withSymbol('weak_in_both', 'size', 24n), /^function weak_in_both in \.text: its 24 bytes overlap function hidden_in_a at offset 48/);
  });
});
