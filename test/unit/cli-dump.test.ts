// The pieces of `prog dump xlated|jited` that need no kernel, on code shaped like what the
// kernel reports: a map load carries (map id, value offset), a helper call the distance from
// __bpf_call_base, a BPF-to-BPF call its pc-relative offset in `off`, a tail call the helper
// id; func_info and line_info point into the program's BTF. JITed code is split into
// functions, disassembled by objdump where installed (parsed from recorded output here), or
// printed in hex rows that end where a source line starts.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as asm from '../../src/asm/index.js';
import { encode, slotOffsets } from '../../src/asm/encoding.js';
import { Helper } from '../../src/asm/helper.js';
import { disassembleWithSource } from '../../src/cli/disasm.js';
import { formatJited, jitedFunctions } from '../../src/cli/jited.js';
import { SymbolsByAddress } from '../../src/cli/kernel-symbols.js';
import { objdumpMachine, parseObjdump } from '../../src/cli/objdump.js';
import { functionNames, hostByteOrder, xlatedInstructions, xlatedText, type XlatedNames } from '../../src/cli/xlated.js';
import { parseCollectionSpec } from '../../src/collection-spec.js';
import type { ProgramCode } from '../../src/internal/bpf-prog-code.js';

const callBase = 0xffffffff81000000n;
const symbols = new SymbolsByAddress([
  { name: '__bpf_call_base', address: callBase },
  { name: 'bpf_get_current_pid_tgid', address: callBase + 0x1000n },
  { name: '__htab_map_lookup_elem', address: callBase + 0x2000n },
  // Two names for one address: the helper's wins.
  { name: '__bpf_ktime_alias', address: callBase + 0x3000n },
  { name: 'bpf_ktime_get_ns', address: callBase + 0x3000n },
  { name: 'bpf_prog_active', address: 0xffffffff82000040n },
  { name: 'hidden', address: 0n },
]);

const names = (overrides: Partial<XlatedNames> = {}): XlatedNames => ({
  functions: new Map([
    [0, 'main'],
    [9, 'helper_fn'],
  ]),
  mapName: (id) => (id === 5 ? 'events' : undefined),
  symbols,
  callBase,
  kernelFuncName: (id) => (id === 777 ? 'bpf_task_acquire' : undefined),
  ...overrides,
});

/** What the kernel reports for a program: one ld_imm64 per map form, calls of each kind. */
function kernelStyleProgram(): asm.Instruction[] {
  const mapLoad = asm.loadMapPtr(asm.Register.R1, 5); // imm = map id, as bpf_insn_prepare_dump writes it
  const valueLoad = asm.loadMapValue(asm.Register.R2, 6, 8);
  const helper = asm.call(0x1000); // imm = function − __bpf_call_base
  const subprog = asm.callFunction(0);
  subprog.offset = 3; // the callee's distance (slot 5 + 1 + 3 = 9), kept in `off` by the kernel
  subprog.constant = 1; // … and the subprogram index in `imm`
  const tail = asm.call(Helper.TailCall);
  const kfunc = asm.callKfunc(777);
  const ksym = asm.loadImm64(asm.Register.R3, 0xffffffff82000040n);
  return [mapLoad, valueLoad, helper, subprog, asm.exit(), tail, kfunc, ksym, asm.exit()];
}

describe('xlated texts', () => {
  const insns = kernelStyleProgram();
  const slots = slotOffsets(insns);
  const text = xlatedText(names(), slots);
  const texts = insns.map((insn, i) => text(insn, i));

  it('names maps, helpers, kernel functions, callees, tail calls, kfuncs and kernel variables', () => {
    expect(slots).toEqual([0, 2, 4, 5, 6, 7, 8, 9, 11, 12]);
    expect(texts).toEqual([
      'r1 = map[id:5 events]',
      'r2 = map[id:6] + 8',
      'call bpf_get_current_pid_tgid',
      'call helper_fn',
      undefined,
      'call bpf_tail_call',
      'call bpf_task_acquire',
      'r3 = &bpf_prog_active ll',
      undefined,
    ]);
  });

  it('prefers a helper name among several for one address, and keeps the number when nothing resolves', () => {
    expect(text(asm.call(0x3000), 2)).toBe('call bpf_ktime_get_ns');
    const hidden = xlatedText(names({ callBase: undefined }), slots);
    expect(hidden(asm.call(0x2000), 2)).toBeUndefined();
    expect(hidden(asm.call(0), 2)).toBeUndefined();
    expect(text(asm.call(0x2000), 2)).toBe('call __htab_map_lookup_elem');
  });

  it('replaces the text in the listing, with and without raw bytes, leaving the other lines as disassembled', () => {
    for (const rawBytes of [true, false]) {
      const listing = disassembleWithSource(insns, { byteOrder: 'little', rawBytes, source: false, text });
      expect(listing).toContain(rawBytes ? '\t18 11 00 00 05 00 00 00 00 00 00 00 00 00 00 00\tr1 = map[id:5 events]\n' : '       0:\tr1 = map[id:5 events]\n');
      expect(listing).not.toContain('ld_pseudo');
      expect(listing).toMatch(/^ +6:\t(95 00 00 00 00 00 00 00\t)?exit$/m);
    }
  });
});

describe('xlated instructions from kernel records', () => {
  // A real object's BTF: its strings and FUNC types stand in for the program's loaded BTF.
  const spec = parseCollectionSpec(readFileSync('testdata/elf_patterns.bpfel.o'));
  const btf = spec.btf!;
  const offsets = btf.strings!.offsets();
  const funcId = (name: string): number => btf.typeId(btf.typeByName(name, 'func'));
  // Line texts keep their indentation in BTF.
  const line = [...offsets].find(([text]) => text.trim() === '__u64 pid_tgid = bpf_get_current_pid_tgid();')?.[1];
  const insns = [asm.mov64Reg(asm.Register.R6, asm.Register.R1), asm.call(0x1000), asm.callFunction(0), asm.exit(), asm.mov64Imm(asm.Register.R0, 1), asm.exit()];
  const code: ProgramCode = {
    xlated: encode(insns, hostByteOrder),
    jited: new Uint8Array(0),
    jitedFunctionAddresses: [],
    jitedFunctionLengths: [],
    funcInfo: [
      { insnOffset: 0, typeId: funcId('on_enter') },
      { insnOffset: 4, typeId: funcId('wanted') },
    ],
    lineInfo: [{ insnOffset: 1, fileNameOffset: offsets.get('./elf_patterns.bpf.c') ?? 0, lineOffset: line ?? 0, lineNumber: 80, column: 2 }],
    jitedLineAddresses: [],
    btfId: 9,
  };

  it('names functions from func_info and attaches source lines from line_info', () => {
    expect(line).toBeDefined();
    const decoded = xlatedInstructions(code, btf, 'on_enter');
    expect(decoded.map((i) => i.symbol)).toEqual(['on_enter', undefined, undefined, undefined, 'wanted', undefined]);
    expect(decoded[1]!.line).toMatchObject({ fileName: './elf_patterns.bpf.c', lineNumber: 80, column: 2 });
    expect(decoded[1]!.line!.lineText!.trim()).toBe('__u64 pid_tgid = bpf_get_current_pid_tgid();');
    expect(functionNames(code, btf, 'x')).toEqual(new Map([[0, 'on_enter'], [4, 'wanted']]));
  });

  it('without BTF the program name labels the start and lines fall back to nothing', () => {
    const decoded = xlatedInstructions({ ...code, funcInfo: [], lineInfo: [] }, undefined, 'prog');
    expect(decoded[0]!.symbol).toBe('prog');
    expect(decoded.every((i) => i.line === undefined)).toBe(true);
  });
});

describe('JITed code', () => {
  const bytes = Uint8Array.from({ length: 40 }, (_, i) => i);
  const code: ProgramCode = {
    xlated: new Uint8Array(0),
    jited: bytes,
    jitedFunctionAddresses: [0xffffffffc0000000n, 0xffffffffc0000100n],
    jitedFunctionLengths: [30, 10],
    funcInfo: [],
    lineInfo: [
      { insnOffset: 0, fileNameOffset: 0, lineOffset: 0, lineNumber: 10, column: 1 },
      { insnOffset: 3, fileNameOffset: 0, lineOffset: 0, lineNumber: 11, column: 1 },
      { insnOffset: 9, fileNameOffset: 0, lineOffset: 0, lineNumber: 20, column: 1 },
    ],
    jitedLineAddresses: [0xffffffffc0000000n, 0xffffffffc0000014n, 0xffffffffc0000102n],
    btfId: 0,
  };

  it('splits the code into functions and places each line in its function', () => {
    const fns = jitedFunctions(code, undefined, 'prog');
    expect(fns.map((f) => [f.name, f.address, f.bytes.byteLength])).toEqual([
      ['prog', 0xffffffffc0000000n, 30],
      ['subprog_1', 0xffffffffc0000100n, 10],
    ]);
    expect(fns[0]!.lines.map((l) => [l.offset, l.source.lineNumber])).toEqual([
      [0, 10],
      [20, 11],
    ]);
    expect(fns[1]!.lines.map((l) => l.offset)).toEqual([2]);
  });

  it('prints hex rows of at most 16 bytes that end where the next source line starts', () => {
    const text = formatJited(jitedFunctions(code, undefined, 'prog'), true);
    expect(text).toBe(
      [
        '',
        'ffffffffc0000000 <prog>:',
        '; ?:10',
        '       0:\t00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f',
        '      10:\t10 11 12 13',
        '; ?:11',
        '      14:\t14 15 16 17 18 19 1a 1b 1c 1d',
        '',
        'ffffffffc0000100 <subprog_1>:',
        '       0:\t1e 1f',
        '; ?:20',
        '       2:\t20 21 22 23 24 25 26 27',
        '',
      ].join('\n'),
    );
    expect(formatJited(jitedFunctions(code, undefined, 'prog'), false)).not.toContain(';');
  });

  it("reads objdump's listing, joining continuation lines, at the function's address", () => {
    const output = [
      '',
      '/tmp/code.bin:     file format binary',
      '',
      'Disassembly of section .data:',
      '',
      'ffffffffc0000000 <.data>:',
      'ffffffffc0000000:\t0f 1f 44 00 00       \tnopl   0x0(%rax,%rax,1)',
      'ffffffffc0000005:\t48 be 00 04 5b 86 81 \tmovabs $0xffff8881865b0400,%rsi',
      'ffffffffc000000c:\t88 ff ff ',
      'ffffffffc000000f:\te8 ca 7b 4a c1       \tcall   0xffffffff814a7bde',
      '',
    ].join('\n');
    expect(parseObjdump(output, 0xffffffffc0000000n)).toEqual([
      { offset: 0, bytes: Uint8Array.from([0x0f, 0x1f, 0x44, 0, 0]), text: 'nopl   0x0(%rax,%rax,1)' },
      { offset: 5, bytes: Uint8Array.from([0x48, 0xbe, 0, 4, 0x5b, 0x86, 0x81, 0x88, 0xff, 0xff]), text: 'movabs $0xffff8881865b0400,%rsi' },
      { offset: 15, bytes: Uint8Array.from([0xe8, 0xca, 0x7b, 0x4a, 0xc1]), text: 'call   0xffffffff814a7bde' },
    ]);
    expect(objdumpMachine('x64')).toBe('i386:x86-64');
    expect(objdumpMachine('arm64')).toBe('aarch64');
    expect(objdumpMachine('riscv64')).toBeUndefined();
  });
});
