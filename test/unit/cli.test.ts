// The ebpf-ts CLI run in-process against the testdata objects: inspect and disasm facts
// cross-checked with the spec parser and with llvm-objdump's and bpftool's output recorded in
// testdata/golden; btf dump output diffed against bpftool's and compiled with clang (where
// installed); exit codes and one-line errors for bad input. Needs no
// kernel and no privileges (nothing here calls bpf()).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { disassemble } from '../../src/asm/disasm.js';
import { parseArgs, UsageError } from '../../src/cli/args.js';
import { formatTable } from '../../src/cli/table.js';
import { parseCollectionSpec } from '../../src/collection-spec.js';
import { ParseError } from '../../src/errors.js';
import { cli } from '../helpers/cli.js';
import { findTool, golden, missingToolReason } from '../helpers/tools.js';

const clang = findTool('clang');
const objects = readdirSync('testdata').filter((f) => /\.bpfe[lb]\.o$/.test(f)).sort().map((f) => `testdata/${f}`);
const tmp = mkdtempSync(join(tmpdir(), 'ebpf-ts-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('argument parsing', () => {
  const options = [
    { name: 'json', type: 'boolean', description: '', default: false },
    { name: 'raw', type: 'boolean', description: '', default: true },
    { name: 'format', type: 'string', description: '', default: 'raw', choices: ['raw', 'c'] },
  ] as const;
  const positionals = [
    { name: 'file', required: true, description: '' },
    { name: 'program', required: false, description: '' },
  ];

  it('reads --flag, --no-flag, --name value, --name=value and -- as the end of options', () => {
    const a = parseArgs(['--json', 'x.o', '--no-raw', '--format', 'c'], options, positionals);
    expect(a.options).toEqual({ json: true, raw: false, format: 'c' });
    expect(a.positionals).toEqual({ file: 'x.o', program: undefined });
    const b = parseArgs(['--format=raw', '--', '--odd-name.o'], options, positionals);
    expect(b.options.format).toBe('raw');
    expect(b.positionals.file).toBe('--odd-name.o');
  });

  it('rejects unknown options, missing and extra arguments and values outside the choices', () => {
    expect(() => parseArgs(['--nope', 'x'], options, positionals)).toThrow(UsageError);
    expect(() => parseArgs([], options, positionals)).toThrow(/missing argument <file>/);
    expect(() => parseArgs(['a', 'b', 'c'], options, positionals)).toThrow(/unexpected argument "c"/);
    expect(() => parseArgs(['x', '--format', 'yaml'], options, positionals)).toThrow(/not one of raw, c/);
    expect(() => parseArgs(['x', '--json=1'], options, positionals)).toThrow(/takes no value/);
  });

  it('lets --help win over every other check', () => {
    expect(parseArgs(['--nope', '-h'], options, positionals).help).toBe(true);
  });
});

describe('table printer', () => {
  it('pads columns, right-aligns numbers, leaves no trailing spaces and says (none) for no rows', () => {
    expect(formatTable([{ title: 'NAME' }, { title: 'N', right: true }, { title: 'NOTE' }], [['a', '10', ''], ['long', '2', 'x']])).toBe(
      'NAME   N  NOTE\na     10\nlong   2  x\n',
    );
    expect(formatTable([{ title: 'A' }], [])).toBe('A\n(none)\n');
  });
});

describe('inspect', () => {
  it.each(objects)('%s: --json lists the programs, maps and variables the spec parser finds', async (path) => {
    const spec = parseCollectionSpec(readFileSync(path));
    const r = await cli(['inspect', '--json', path]);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(Object.keys(j)).toEqual(['file', 'byteOrder', 'license', 'kernelVersion', 'sections', 'programs', 'maps', 'variables', 'externs', 'btf', 'relocations', 'coreRelocations']);
    expect(j.byteOrder).toBe(path.includes('bpfeb') ? 'big' : 'little');
    expect(j.programs.map((p: { name: string }) => p.name)).toEqual(Object.keys(spec.programs));
    for (const p of j.programs) {
      const s = spec.programs[p.name]!;
      expect(p.instructions).toBe(s.instructions.length);
      expect(p.section).toBe(s.sectionName);
      expect(p.attachTo).toBe(s.attachTo ?? null);
      expect(p.license).toBe(s.license);
    }
    expect(j.maps.map((m: { name: string }) => m.name)).toEqual(Object.keys(spec.maps));
    for (const m of j.maps) {
      expect(m.keySize).toBe(spec.maps[m.name]!.keySize);
      expect(m.valueSize).toBe(spec.maps[m.name]!.valueSize);
    }
    expect(j.variables.map((v: { name: string }) => v.name).sort()).toEqual(Object.keys(spec.variables).sort());
    if (spec.btf !== undefined) expect(j.btf.typeCount).toBe([...spec.btf.types()].length);
    const coreCount = Object.values(spec.programs).reduce((n, p) => n + (p.coreRelocations?.length ?? 0), 0);
    expect(j.coreRelocations.reduce((n: number, g: { relocations: unknown[] }) => n + g.relocations.length, 0)).toBe(coreCount);
  });

  it('arena globals (.addr_space.1) show their initial values, both byte orders', async () => {
    for (const path of ['testdata/arena.bpfel.o', 'testdata/arena.bpfeb.o']) {
      const j = JSON.parse((await cli(['inspect', '--json', path])).stdout);
      const values = Object.fromEntries(j.variables.map((v: { name: string; value: unknown }) => [v.name, v.value]));
      expect(values, path).toMatchObject({ counter: 40, table: [1, 2, 3, 4] });
    }
  });

  it('section names and sizes equal llvm-objdump -h (testdata/golden)', async () => {
    for (const path of ['testdata/elf_globals.bpfel.o', 'testdata/core_relocs.bpfeb.o', 'testdata/elf_maps.bpfel.o']) {
      const objdump = golden(path.replace(/^testdata\/(.*)\.o$/, '$1.objdump-h.txt'));
      const expected = [...objdump.matchAll(/^\s*(\d+)\s+(\S+)\s+([0-9a-f]+)\s/gm)]
        .filter((m) => m[1] !== '0')
        .map((m) => ({ name: m[2], size: parseInt(m[3]!, 16) }));
      const j = JSON.parse((await cli(['inspect', '--json', path])).stdout);
      expect(j.sections.map((s: { name: string; size: number }) => ({ name: s.name, size: s.size }))).toEqual(expected);
    }
  });

  it('program names are the FUNC symbols of program sections in llvm-readelf -s (testdata/golden)', async () => {
    const path = 'testdata/elf_programs.bpfel.o';
    const j = JSON.parse((await cli(['inspect', '--json', path])).stdout);
    const sections = new Map<number, string>(j.sections.map((s: { index: number; name: string }) => [s.index, s.name]));
    const programSections = new Set(j.sections.filter((s: { kind: string }) => s.kind === 'program').map((s: { index: number }) => s.index));
    const readelf = golden('elf_programs.bpfel.readelf-s.txt');
    const funcs = [...readelf.matchAll(/^\s*\d+:\s+[0-9a-f]+\s+\d+\s+FUNC\s+GLOBAL\s+\S+\s+(\d+)\s+(\S+)$/gm)]
      .filter((m) => programSections.has(Number(m[1])))
      .map((m) => m[2]);
    expect(funcs.length).toBeGreaterThan(10);
    expect(j.programs.map((p: { name: string }) => p.name).sort()).toEqual(funcs.sort());
    for (const p of j.programs) expect([...sections.values()]).toContain(p.section);
  });

  it('prints tables with the counts, names, attach targets, constants and CO-RE accesses', async () => {
    const g = await cli(['inspect', 'testdata/elf_globals.bpfel.o']);
    expect(g.code).toBe(0);
    expect(g.stdout).toMatch(/^Programs \(2\):$/m);
    expect(g.stdout).toMatch(/^  ksyms\s+tp_btf\/sched_switch\s+TRACING\s+TraceRawTP\s+sched_switch\s+9\s+GPL$/m);
    expect(g.stdout).toMatch(/^  threshold_ns\s+\.rodata\s+8\s+8\s+const volatile __u64\s+1000000$/m);
    expect(g.stdout).toMatch(/^  \.rodata\s+ARRAY\s+4B\s+datasec \.rodata \(78B\)\s+1\s+0x80\s+none$/m);
    expect(g.stdout).toMatch(/^  socket: 19 relocations$/m);
    const c = await cli(['inspect', 'testdata/core_relocs.bpfel.o']);
    expect(c.stdout).toContain('struct core_sample.arr[2].x (0:6:2:0 @ offset 64)');
    expect(c.stdout).toMatch(/core_enums: 7 CO-RE relocations/);
  });
});

describe('disasm', () => {
  const strip = (text: string): string =>
    text
      .split('\n')
      .filter((l) => !l.startsWith('; '))
      .join('\n');

  it.each(['testdata/elf_patterns.bpfel.o', 'testdata/elf_patterns.bpfeb.o'])('%s: is asm.disassemble plus source lines', async (path) => {
    const spec = parseCollectionSpec(readFileSync(path));
    for (const raw of [true, false]) {
      for (const [name, prog] of Object.entries(spec.programs)) {
        const r = await cli(['disasm', ...(raw ? [] : ['--no-raw']), path, name]);
        expect(r.code, r.stderr).toBe(0);
        const [header, ...rest] = r.stdout.split('\n');
        expect(header).toBe(`Disassembly of program ${name} (section ${prog.sectionName}):`);
        expect(strip(rest.join('\n'))).toBe(disassemble(prog.instructions, { byteOrder: spec.byteOrder, rawBytes: raw }));
        // Every source line line_info names appears, each right before an instruction.
        const lines = new Set(prog.instructions.flatMap((i) => (i.line?.lineText === undefined || i.line.lineText.trim() === '' ? [] : [i.line.lineText.trim()])));
        expect(lines.size).toBeGreaterThan(0);
        for (const text of lines) expect(r.stdout).toContain(`; ${text}\n`);
      }
    }
  });

  it('shows the C line above the instructions it produced', async () => {
    const r = await cli(['disasm', 'testdata/elf_patterns.bpfel.o', 'on_enter']);
    expect(r.stdout).toMatch(/; __u64 pid_tgid = bpf_get_current_pid_tgid\(\);\n\s+1:\t85 00 00 00 0e 00 00 00\tcall 14\n/);
  });

  it('--no-source gives exactly the disassembler listing; --json has one record per instruction', async () => {
    const path = 'testdata/minimal.bpfel.o';
    const spec = parseCollectionSpec(readFileSync(path));
    const r = await cli(['disasm', '--no-source', path]);
    expect(r.stdout).not.toMatch(/^; /m);
    const j = JSON.parse((await cli(['disasm', '--json', path])).stdout);
    expect(j.map((p: { name: string }) => p.name)).toEqual(Object.keys(spec.programs));
    expect(j[0].instructions).toHaveLength(Object.values(spec.programs)[0]!.instructions.length);
    expect(Object.keys(j[0].instructions[0])).toEqual(['index', 'symbol', 'text', 'bytes', 'source']);
  });

  it('an unknown program is an error naming the programs there are', async () => {
    const r = await cli(['disasm', 'testdata/minimal.bpfel.o', 'nope']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('ebpf-ts disasm: no program "nope" in this object (programs: accept_all)\n');
  });
});

describe('btf dump', () => {
  it('--format raw of an object is line for line what bpftool btf dump file prints (testdata/golden, every object)', async () => {
    // Objects built without BTF (-g0: golden.sh records no dump for them) have none to dump.
    const objects = readdirSync('testdata').filter((f) => f.endsWith('.bpfel.o') && !f.includes('nobtf'));
    expect(objects.length).toBeGreaterThan(20);
    for (const name of [...objects, ...objects.map((o) => o.replace('.bpfel.', '.bpfeb.'))]) {
      const ours = await cli(['btf', 'dump', `testdata/${name}`]);
      expect(ours.code, ours.stderr).toBe(0);
      // bpftool reads either byte order; its output does not depend on it.
      expect(ours.stdout, name).toBe(golden(name.replace(/\.bpfe[lb]\.o$/, '.bpfel.btf-dump.txt')));
    }
  });

  it('dumps raw BTF blobs as well as ELF objects', async () => {
    const elf = parseCollectionSpec(readFileSync('testdata/btf_kinds.bpfel.o'));
    expect(elf.btf).toBeDefined();
    const { findELFSection } = await import('../../src/btf/elf-section.js');
    const section = findELFSection(readFileSync('testdata/btf_kinds.bpfel.o'), '.BTF')!;
    const blob = join(tmp, 'kinds.btf');
    writeFileSync(blob, section.data);
    const fromBlob = await cli(['btf', 'dump', blob]);
    const fromELF = await cli(['btf', 'dump', 'testdata/btf_kinds.bpfel.o']);
    expect(fromBlob.stdout).toBe(fromELF.stdout);
    expect(fromELF.stdout).toContain("[37] ENUM 'color' encoding=UNSIGNED size=4 vlen=3\n\t'RED' val=4294967295\n");
    const j = JSON.parse((await cli(['btf', 'dump', '--json', blob])).stdout);
    expect(j.types.find((t: { name: string }) => t.name === 'bits')).toMatchObject({ kind: 'STRUCT', size: 8, vlen: 5 });
  });

  it.skipIf(clang === undefined)(`--format c of a testdata object compiles with clang -target bpf${clang === undefined ? ` (skipped: ${missingToolReason('clang')})` : ''}`, async () => {
    for (const path of ['testdata/btf_kinds.bpfel.o', 'testdata/core_relocs.bpfel.o', 'testdata/elf_patterns.bpfeb.o']) {
      const r = await cli(['btf', 'dump', '--format', 'c', path]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^#ifndef __VMLINUX_H__/);
      const header = join(tmp, 'types.h');
      writeFileSync(header, r.stdout);
      writeFileSync(join(tmp, 'use.c'), '#include "types.h"\nint use(void) { return 0; }\n');
      const cc = spawnSync(clang!, ['-target', 'bpf', '-O2', '-c', join(tmp, 'use.c'), '-o', join(tmp, 'use.o')], { encoding: 'utf8' });
      expect(cc.stderr, `${path}: ${cc.stderr}`).not.toMatch(/error/);
      expect(cc.status).toBe(0);
    }
  });
});

describe('errors and exit codes', () => {
  it('a corrupt object exits 1 with the ParseError message on one line, no stack', async () => {
    const bytes = new Uint8Array(readFileSync('testdata/minimal.bpfel.o'));
    const corrupt = bytes.slice(0, 200);
    let expected = '';
    try {
      parseCollectionSpec(corrupt);
    } catch (e) {
      expect(e).toBeInstanceOf(ParseError);
      expected = (e as Error).message;
    }
    expect(expected).not.toBe('');
    const path = join(tmp, 'corrupt.o');
    writeFileSync(path, corrupt);
    for (const cmd of [['inspect'], ['disasm']]) {
      const r = await cli([...cmd, path]);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(`ebpf-ts ${cmd[0]}: ${expected}\n`);
    }
    const b = await cli(['btf', 'dump', path]);
    expect(b.code).toBe(1);
    expect(b.stderr.split('\n')).toHaveLength(2);
  });

  it('EBPF_TS_DEBUG adds the stack trace', async () => {
    const path = join(tmp, 'garbage.o');
    writeFileSync(path, 'not an ELF file at all, just text');
    const quiet = await cli(['inspect', path]);
    expect(quiet.stderr).not.toMatch(/\n\s+at /);
    const debug = await cli(['inspect', path], { EBPF_TS_DEBUG: '1' });
    expect(debug.code).toBe(1);
    expect(debug.stderr).toMatch(/\n\s+at /);
  });

  it('a missing file exits 1 with the system error', async () => {
    const r = await cli(['inspect', join(tmp, 'missing.o')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ebpf-ts inspect: ENOENT: no such file or directory.*missing\.o'\n$/);
  });

  it('usage errors exit 2 and point at --help', async () => {
    for (const args of [[], ['frobnicate'], ['btf'], ['inspect'], ['inspect', '--bogus', 'x.o'], ['btf', 'dump', '--format', 'yaml'], ['probe', '--helpers', 'NOT_A_TYPE']]) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(/--help/);
    }
  });

  it('--help exists for every command and exits 0', async () => {
    const top = await cli(['--help']);
    expect(top.code).toBe(0);
    for (const cmd of [['inspect'], ['disasm'], ['btf', 'dump'], ['prog', 'list'], ['map', 'list'], ['feature', 'probe'], ['prog', 'show']]) {
      const r = await cli([...cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage: ebpf-ts ${cmd[0]}`));
      expect(r.stdout).toContain('--json');
      expect(top.stdout).toContain(cmd[0]);
    }
  });
});

describe('the executable', () => {
  it('package.json bin points at the built main, whose source starts with a shebang', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
    expect(pkg.bin).toEqual({ 'ebpf-ts': 'dist/cli/main.js' });
    expect(readFileSync('src/cli/main.ts', 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
  });
});
