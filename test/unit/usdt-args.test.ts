// USDT argument specs without a kernel: real spec strings (the fixtures' notes for x86-64 and
// arm64, and notes of libpython3.11, libstdc++ and gcc-12 from Debian 12) parsed and encoded as
// libbpf's struct __bpf_usdt_arg_spec, the value bpf_usdt_arg() then computes, the byte layout
// of struct __bpf_usdt_spec, x86-64 pt_regs offsets checked against the running kernel's BTF,
// and a typed error naming the spec and the reason for every form usdt.bpf.h cannot fetch.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadKernelSpec } from '../../src/btf/kernel.js';
import { Struct } from '../../src/btf/types.js';
import { ArgumentError } from '../../src/errors.js';
import { parseUSDTArgument, parseUSDTArguments, USDTArgumentError, type USDTArch } from '../../src/link/usdt-args.js';
import { readUSDTFile } from '../../src/link/usdt-notes.js';
import {
  decodeUSDTSpec,
  encodeUSDTArgument,
  encodeUSDTSpec,
  PT_REGS_OFFSETS,
  USDT_SPEC_SIZE,
  USDTArgType,
  usdtArgValue,
  type USDTArgSpec,
} from '../../src/link/usdt-spec.js';
import { usdtFixture } from '../helpers/readelf-notes.js';

const { Const, Reg, RegDeref } = USDTArgType;
const u64 = (n: bigint): bigint => BigInt.asUintN(64, n);
type Row = [spec: string, argType: USDTArgType, regOff: number, valOff: bigint, signed: boolean, bitshift: number];

function encode(spec: string, arch: USDTArch, location = 0x1000n, symbols: Record<string, bigint> = {}): USDTArgSpec {
  return encodeUSDTArgument(parseUSDTArgument(spec, arch), { arch, location, symbolAddress: (s) => symbols[s] });
}

// x86-64 pt_regs: bp 32, bx 40, r8 72, ax 80, cx 88, dx 96, si 104, di 112, ip 128, sp 152.
const X86: Row[] = [
  // testdata/usdt/target
  ['-4@%edi', Reg, 112, 0n, true, 32],
  ['-4@%eax', Reg, 80, 0n, true, 32],
  ['-8@%rdx', Reg, 96, 0n, true, 0],
  ['1@%cl', Reg, 88, 0n, false, 56],
  ['-2@%si', Reg, 104, 0n, true, 48],
  ['8@%r8', Reg, 72, 0n, false, 0],
  ['-4@-4(%rbp)', RegDeref, 32, u64(-4n), true, 32],
  ['-8@-16(%rbp)', RegDeref, 32, u64(-16n), true, 0],
  ['2@-18(%rbp)', RegDeref, 32, u64(-18n), false, 48],
  ['-1@-19(%rbp)', RegDeref, 32, u64(-19n), true, 56],
  ['-4@$5', Const, 0, 5n, true, 32],
  ['-4@$-7', Const, 0, u64(-7n), true, 32],
  ['-8@$1234567890123', Const, 0, 1234567890123n, true, 0],
  ['1@$-56', Const, 0, u64(-56n), false, 56],
  ['-8@%r10', Reg, 56, 0n, true, 0],
  ['-8@%r11', Reg, 48, 0n, true, 0],
  ['-8@%rbx', Reg, 40, 0n, true, 0],
  // libpython3.11, libstdc++, gcc-12
  ['-4@112(%rsp)', RegDeref, 152, 112n, true, 32],
  ['8@%r12', Reg, 24, 0n, false, 0],
  ['8@%r14', Reg, 8, 0n, false, 0],
  ['8@%rbp', Reg, 32, 0n, false, 0],
  ['8@%rsi', Reg, 104, 0n, false, 0],
  ['8@-80(%rbx)', RegDeref, 40, u64(-80n), false, 0],
  ['-4@%edx', Reg, 96, 0n, true, 32],
  // Other forms the syntax allows.
  ['8@(%rdi)', RegDeref, 112, 0n, false, 0],
  ['4@0x10(%r15)', RegDeref, 0, 16n, false, 32],
  ['-2@%r13w', Reg, 16, 0n, true, 48],
  ['1@%dil', Reg, 112, 0n, false, 56],
  ['4@$0x20', Const, 0, 32n, false, 32],
  ['8f@-8(%rbp)', RegDeref, 32, u64(-8n), false, 0],
];

// arm64 pt_regs (user_pt_regs): x0..x30 at 8 × n, sp 248.
const ARM64: Row[] = [
  // testdata/usdt/target-arm64
  ['-4@[sp, 44]', RegDeref, 248, 44n, true, 32],
  ['-8@[sp, 32]', RegDeref, 248, 32n, true, 0],
  ['2@[sp, 30]', RegDeref, 248, 30n, false, 48],
  ['-1@[sp, 29]', RegDeref, 248, 29n, true, 56],
  ['-4@x0', Reg, 0, 0n, true, 32],
  ['-8@x1', Reg, 8, 0n, true, 0],
  ['1@x3', Reg, 24, 0n, false, 56],
  ['8@x5', Reg, 40, 0n, false, 0],
  ['-8@[x3]', RegDeref, 24, 0n, true, 0],
  ['-4@5', Const, 0, 5n, true, 32],
  ['-4@-7', Const, 0, u64(-7n), true, 32],
  ['-8@1234567890123', Const, 0, 1234567890123n, true, 0],
  ['1@-56', Const, 0, u64(-56n), false, 56],
  // Other forms the syntax allows.
  ['8@[x19, -16]', RegDeref, 152, u64(-16n), false, 0],
  ['-4@[x29, #24]', RegDeref, 232, 24n, true, 32],
  ['-4@w2', Reg, 16, 0n, true, 32],
  ['8@x30', Reg, 240, 0n, false, 0],
  ['8@sp', Reg, 248, 0n, false, 0],
  ['8@xzr', Const, 0, 0n, false, 0],
  ['4@#9', Const, 0, 9n, false, 32],
];

describe('USDT argument specs → struct __bpf_usdt_arg_spec', () => {
  it.each(X86)('x86-64 %s', (spec, argType, regOff, valOff, signed, bitshift) => {
    expect(encode(spec, 'x86_64')).toEqual({ argType, regOff, valOff, signed, bitshift });
  });

  it.each(ARM64)('arm64 %s', (spec, argType, regOff, valOff, signed, bitshift) => {
    expect(encode(spec, 'arm64')).toEqual({ argType, regOff, valOff, signed, bitshift });
  });

  it('parsed forms keep what was written', () => {
    expect(parseUSDTArgument('-4@-20(%RBP)', 'x86_64')).toEqual({ spec: '-4@-20(%RBP)', size: 4, signed: true, float: false, location: { kind: 'memory', register: 'rbp', offset: -20n } });
    expect(parseUSDTArgument('8@ebpf_ts_counter+8(%rip)', 'x86_64').location).toEqual({ kind: 'symbol', register: 'rip', symbol: 'ebpf_ts_counter', offset: 8n });
    expect(parseUSDTArgument('4@8(%rax,%rbx,4)', 'x86_64').location).toEqual({ kind: 'indexed', register: 'rax', index: 'rbx', scale: 4, offset: 8n });
    expect(parseUSDTArgument('4@[x0, x1, lsl #2]', 'arm64').location).toEqual({ kind: 'indexed', register: 'x0', index: 'x1', scale: 4, offset: 0n });
    expect(parseUSDTArgument('8f@%xmm0', 'x86_64')).toMatchObject({ float: true, signed: false, size: 8 });
    expect(parseUSDTArguments('', 'x86_64')).toEqual([]);
    expect(parseUSDTArguments('  -8@x1   -4@[sp, 60] ', 'arm64').map((a) => a.spec)).toEqual(['-8@x1', '-4@[sp, 60]']);
  });

  it('a %rip-relative symbol becomes the instruction pointer (the probe address at a uprobe) plus symbol − probe', () => {
    // target: ebpf_ts:global at 0x1307, ebpf_ts_counter at 0x4010.
    expect(encode('-8@ebpf_ts_counter(%rip)', 'x86_64', 0x1307n, { ebpf_ts_counter: 0x4010n })).toEqual({ argType: RegDeref, regOff: 128, valOff: 0x2d09n, signed: true, bitshift: 0 });
    expect(encode('-4@ebpf_ts_small-4(%rip)', 'x86_64', 0x5000n, { ebpf_ts_small: 0x4000n })).toMatchObject({ valOff: u64(-0x1004n), bitshift: 32 });
  });

  it('every note of the fixtures parses and encodes, but for arm64 GCC\'s :lo12: relocation', () => {
    for (const [file, arch] of [['target', 'x86_64'], ['target-nopie', 'x86_64'], ['libusdtfixture.so', 'x86_64'], ['target-arm64', 'arm64']] as const) {
      for (const p of readUSDTFile(usdtFixture(file)).probes) {
        const run = (): Uint8Array => encodeUSDTSpec(parseUSDTArguments(p.arguments, arch, p.name), 0n, { arch, location: p.location, symbolAddress: () => 0x4010n, probe: p.name });
        if (arch === 'arm64' && p.name === 'global') expect(run).toThrow(/"-4@\[x0, #:lo12:\.LANCHOR1\]" of global: #:lo12:\.LANCHOR1 is a relocation operator/);
        else expect(decodeUSDTSpec(run()).args).toHaveLength(p.arguments === '' ? 0 : p.arguments.split(/ (?![^[]*\])/).length);
      }
    }
  });
});

describe('what bpf_usdt_arg() computes from the encoding', () => {
  const value = (spec: string, fetched: bigint, arch: USDTArch = 'x86_64'): bigint => usdtArgValue(encode(spec, arch), fetched);

  it('narrows with sign or zero extension, and constants carry their own value', () => {
    expect(value('-4@%eax', 0xdeadbeef_fffffffen)).toBe(-2n);
    expect(value('4@%eax', 0xdeadbeef_fffffffen)).toBe(0xfffffffen);
    expect(value('1@$-56', 0n)).toBe(200n);
    expect(value('-1@$-56', 0n)).toBe(-56n);
    expect(value('-4@$-7', 0x1234n)).toBe(-7n);
    expect(value('-8@$1234567890123', 0n)).toBe(1234567890123n);
    expect(value('2@-18(%rbp)', 0x11112222_3333fffan)).toBe(0xfffan);
    expect(value('-1@-19(%rbp)', 0xffn)).toBe(-1n);
    expect(value('-8@x1', 0xffffffff_ffffff9cn, 'arm64')).toBe(-100n);
    expect(value('8@%r8', 0xffffffff_ffffffffn)).toBe(0xffffffff_ffffffffn);
  });
});

describe('struct __bpf_usdt_spec', () => {
  it('args at 16-byte strides, usdt_cookie at 192, arg_cnt at 200, 208 bytes, host byte order', () => {
    const bytes = encodeUSDTSpec(parseUSDTArguments('-4@%edi 8@-16(%rbp) 1@$-56', 'x86_64'), 0xfeedn, { arch: 'x86_64', location: 0n });
    expect(bytes.byteLength).toBe(USDT_SPEC_SIZE);
    const view = new DataView(bytes.buffer);
    const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
    expect([view.getBigUint64(0, le), view.getUint32(8, le), view.getInt16(12, le), view.getUint8(14), view.getInt8(15)]).toEqual([0n, 1, 112, 1, 32]);
    expect([view.getBigUint64(16, le), view.getUint32(24, le), view.getInt16(28, le), view.getUint8(30), view.getInt8(31)]).toEqual([u64(-16n), 2, 32, 0, 0]);
    expect([view.getBigUint64(32, le), view.getUint32(40, le), view.getInt16(44, le), view.getUint8(46), view.getInt8(47)]).toEqual([u64(-56n), 0, 0, 0, 56]);
    expect(bytes.subarray(48, 192).every((b) => b === 0)).toBe(true);
    expect(view.getBigUint64(192, le)).toBe(0xfeedn);
    expect(view.getInt16(200, le)).toBe(3);
    expect(decodeUSDTSpec(bytes)).toEqual({ cookie: 0xfeedn, args: [encode('-4@%edi', 'x86_64'), encode('8@-16(%rbp)', 'x86_64'), encode('1@$-56', 'x86_64')] });
  });

  const vmlinux = '/sys/kernel/btf/vmlinux';
  it.skipIf(process.arch !== 'x64' || !existsSync(vmlinux))(
    `x86-64 register offsets are offsetof(struct pt_regs, …) of the running kernel ${process.arch !== 'x64' ? '(skipped: not an x86-64 machine)' : !existsSync(vmlinux) ? '(skipped: no /sys/kernel/btf/vmlinux)' : ''}`,
    () => {
      const ptRegs = loadKernelSpec().typeByName('pt_regs', 'struct') as Struct;
      const field = (n: string): number => ptRegs.members.find((m) => m.name === n)!.offset / 8;
      const regs = PT_REGS_OFFSETS.x86_64;
      for (const [ours, kernel] of [['rax', 'ax'], ['rbx', 'bx'], ['rcx', 'cx'], ['rdx', 'dx'], ['rsi', 'si'], ['rdi', 'di'], ['rbp', 'bp'], ['rsp', 'sp'], ['rip', 'ip'], ['r8', 'r8'], ['r15', 'r15']]) {
        expect(regs.get(ours!), ours).toBe(field(kernel!));
      }
    },
  );
});

describe('specs usdt.bpf.h cannot fetch are USDTArgumentErrors naming the spec and why', () => {
  const cases: Array<[string, USDTArch, RegExp]> = [
    ['-4@-4(%rbp,%rax,4)', 'x86_64', /scaled-index addressing \(base rbp, index rax × 4\) has no encoding/],
    ['4@[x0, x1]', 'arm64', /scaled-index addressing/],
    ['8f@%xmm1', 'x86_64', /xmm1 is a floating-point\/vector register, which pt_regs does not hold/],
    ['8f@d0', 'arm64', /d0 is a floating-point\/vector register/],
    ['1@%ah', 'x86_64', /ah is the high byte of a register/],
    ['8@%fs:0x28', 'x86_64', /segment-relative operands/],
    ['4@%foo', 'x86_64', /register foo is not one pt_regs holds on x86_64/],
    ['3@%eax', 'x86_64', /size 3 is not 1, 2, 4 or 8 bytes/],
    ['%eax', 'x86_64', /not of the form \[-\]SIZE@OPERAND/],
    ['4@eax', 'x86_64', /not an x86-64 operand this reader knows/],
    ['4@sym(%rbx)', 'x86_64', /the address of sym relative to %rbx is unknown/],
    ['4@missing(%rip)', 'x86_64', /symbol missing is not in the probed file's symbol tables/],
    ['-4@[x0, #:lo12:.LANCHOR1]', 'arm64', /relocation operator/],
    ['4@$abc', 'x86_64', /constant \$abc is not an integer/],
  ];
  it.each(cases)('%s (%s)', (spec, arch, why) => {
    let caught: unknown;
    try {
      encode(spec, arch);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(USDTArgumentError);
    expect(caught).toBeInstanceOf(ArgumentError);
    expect((caught as USDTArgumentError).spec).toBe(spec);
    expect((caught as Error).message).toMatch(why);
    expect((caught as Error).message.startsWith(`USDT argument ${JSON.stringify(spec)}: `)).toBe(true);
  });

  it('more than 12 arguments, and an architecture whose syntax is unknown', () => {
    expect(() => parseUSDTArguments(Array.from({ length: 13 }, () => '8@%rax').join(' '), 'x86_64')).toThrow(/13 arguments, more than the 12/);
    expect(() => parseUSDTArguments('8@%rax', 'riscv' as USDTArch)).toThrow(/syntax of riscv is not known/);
  });
});
