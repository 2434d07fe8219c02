import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Array as BtfArray,
  Const,
  Enum,
  Enum64,
  Func,
  FuncLinkage,
  FuncProto,
  Int,
  IntEncoding,
  Member,
  Pointer,
  Spec,
  Struct,
  Typedef,
  Union,
  VOID,
  Var,
  VarLinkage,
  dumpCHeader,
  formatDeclarator,
  formatType,
  formatTypeName,
  parseSpec,
} from '../../src/btf/index.js';
import { findTool, missingToolReason } from '../helpers/tools.js';
import { hasVmlinux, noVmlinuxReason, objectBTF, vmlinuxPath } from './btf-helpers.js';

const int = new Int('int', 4, IntEncoding.Signed);
const char = new Int('char', 1, IntEncoding.Signed | IntEncoding.Char);
const long = new Int('long', 8, IntEncoding.Signed);

describe('declarators', () => {
  const fn = new FuncProto(int, [{ name: 'a', type: int }]);
  it.each([
    ['pointer', new Pointer(char), 'p', 'char *p'],
    ['multi-dimensional array', new BtfArray(new BtfArray(int, int, 3), int, 2), 'm', 'int m[2][3]'],
    ['pointer to array', new Pointer(new BtfArray(int, int, 3)), 'p', 'int (*p)[3]'],
    ['array of function pointers', new BtfArray(new Pointer(fn), int, 4), 'fns', 'int (*fns[4])(int a)'],
    ['const pointer', new Const(new Pointer(char)), 'p', 'char *const p'],
    ['pointer to const', new Pointer(new Const(char)), 'p', 'const char *p'],
    ['function returning a function pointer', new FuncProto(new Pointer(fn), [{ name: '', type: char }]), 'f', 'int (*f(char))(int a)'],
    ['variadic prototype', new Pointer(new FuncProto(int, [{ name: 'fmt', type: new Pointer(char) }], true)), 'printk', 'int (*printk)(char *fmt, ...)'],
    ['no parameters', new Pointer(new FuncProto(VOID, [])), 'cb', 'void (*cb)(void)'],
  ])('%s', (_name, type, name, expected) => {
    expect(formatDeclarator(type, name)).toBe(expected);
  });

  it('type names as in a cast', () => {
    expect(formatTypeName(new Pointer(new Struct('task_struct', 0)))).toBe('struct task_struct *');
    expect(formatTypeName(new Pointer(fn))).toBe('int (*)(int a)');
  });
});

describe('definitions', () => {
  it('struct with bitfields, anonymous members and nested arrays', () => {
    const anon = new Union('', 8, [new Member('l', long, 0), new Member('p', new Pointer(VOID), 0)]);
    const s = new Struct('demo', 24, [
      new Member('a', int, 0, 3),
      new Member('b', int, 3, 5),
      new Member('', anon, 64),
      new Member('name', new BtfArray(char, int, 8), 128),
    ]);
    expect(formatType(s)).toBe(
      'struct demo {\n\tint a: 3;\n\tint b: 5;\n\tunion {\n\t\tlong l;\n\t\tvoid *p;\n\t};\n\tchar name[8];\n};',
    );
  });

  it('packed when a member sits below its natural alignment', () => {
    const s = new Struct('pk', 5, [new Member('c', char, 0), new Member('x', int, 8)]);
    expect(formatType(s)).toBe('struct pk {\n\tchar c;\n\tint x;\n} __attribute__((packed));');
  });

  it('explicit padding where an aligned member leaves a gap', () => {
    const s = new Struct('aligned', 128, [new Member('a', int, 0), new Member('b', int, 64 * 8)]);
    const lines = formatType(s).split('\n');
    expect(lines[1]).toBe('\tint a;');
    expect(lines[2]).toBe('\tint: 32;');
    expect(lines.filter((l) => l === '\tlong: 64;')).toHaveLength(7 + 7);
    expect(lines.at(-1)).toBe('};');
  });

  it('enums, enum64 and small enums', () => {
    expect(formatType(new Enum('e', 4, [{ name: 'A', value: -1 }, { name: 'B', value: 2 }], true))).toBe('enum e {\n\tA = -1,\n\tB = 2,\n};');
    expect(formatType(new Enum64('f', 8, [{ name: 'BIG', value: 1n << 40n }]))).toBe('enum f {\n\tBIG = 1099511627776ULL,\n};');
    expect(formatType(new Enum('small', 1, [{ name: 'S', value: 1 }]))).toBe('enum small {\n\tS = 1,\n} __attribute__((packed));');
    // pahole encodes `enum x;` (5.10's nf_nat_manip_type) as a named enum without values.
    expect(formatType(new Enum('fwd_only', 4, []))).toBe('enum fwd_only;');
  });

  it('typedefs, functions and variables', () => {
    expect(formatType(new Typedef('u32', new Int('unsigned int', 4)))).toBe('typedef unsigned int u32;');
    expect(formatType(new Typedef('handler_t', new Pointer(new FuncProto(int, [{ name: '', type: int }]))))).toBe(
      'typedef int (*handler_t)(int);',
    );
    expect(formatType(new Func('f', new FuncProto(int, [{ name: 'x', type: int }]), FuncLinkage.Static))).toBe('static int f(int x);');
    expect(formatType(new Var('counter', long, VarLinkage.Global))).toBe('long counter;');
  });

  it('testdata types print as written in the C source', () => {
    const spec = parseSpec(objectBTF('btf_kinds.bpfel.o').btf);
    expect(formatType(spec.typeByName('bits'))).toBe(
      'struct bits {\n\tunsigned int a: 3;\n\tint b: 5;\n\tunsigned long long c: 40;\n\t_Bool flag: 1;\n\tchar tail;\n};',
    );
    const nested = formatType(spec.typeByName('nested'));
    expect(nested).toContain('\tint matrix[2][3];\n');
    expect(nested).toContain('\tconst volatile char *name;\n');
    expect(nested).toContain('\tint (*callback)(int, const char *);\n');
    expect(nested).toContain('\tint (*vcallback)(int, ...);\n');
    expect(nested).toContain('\tstruct {\n\t\tint x;\n\t\tint y;\n\t} point;\n');
    expect(formatType(spec.typeByName('nested'), { typeTags: true })).toContain('\tint __attribute__((btf_type_tag("user"))) *uptr;\n');
    expect(formatType(spec.typeByName('helper'))).toBe('static int helper(struct nested *restrict n, int k);');
    expect(formatType(spec.typeByName('config_value'))).toBe('const volatile u64 config_value;');
  });
});

const clang = findTool('clang');

function compile(header: string, program: string): void {
  const dir = mkdtempSync(join(tmpdir(), 'btf-format-'));
  try {
    writeFileSync(join(dir, 'vmlinux.h'), header);
    writeFileSync(join(dir, 'prog.c'), program);
    execFileSync(clang!, ['-target', 'bpf', '-O2', '-g', '-Werror', '-c', 'prog.c', '-o', 'prog.o'], { cwd: dir, stdio: 'pipe' });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`clang rejected the header:\n${stderr.slice(0, 4000)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('header dump', () => {
  it('has guards, forward declarations and preserve_access_index', () => {
    const h = dumpCHeader(parseSpec(objectBTF('btf_kinds.bpfel.o').btf));
    expect(h.startsWith('#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n')).toBe(true);
    expect(h).toContain('#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)');
    expect(h).toContain('\nstruct opaque;\n');
    // struct bits is embedded by value in struct nested: its definition comes first.
    expect(h.indexOf('struct bits {')).toBeLessThan(h.indexOf('struct nested {'));
    expect(h.trimEnd().endsWith('#endif /* __VMLINUX_H__ */')).toBe(true);
  });

  it('renames clashing types and enumerators', () => {
    const spec = new Spec();
    spec.add(new Struct('dup', 4, [new Member('a', int, 0)]));
    spec.add(new Struct('dup', 8, [new Member('b', long, 0)]));
    spec.add(new Enum('e1', 4, [{ name: 'X', value: 1 }]));
    spec.add(new Enum('e2', 4, [{ name: 'X', value: 2 }]));
    const h = dumpCHeader(spec);
    expect(h).toContain('struct dup___2 {');
    expect(h).toContain('\tX___2 = 2,');
  });

  it('of the testdata object compiles with clang, layouts asserted', (ctx) => {
    if (clang === undefined) ctx.skip(missingToolReason('clang'));
    const h = dumpCHeader(parseSpec(objectBTF('btf_kinds.bpfel.o').btf), { assertLayout: true });
    compile(h, '#include "vmlinux.h"\nint f(struct nested *n) { return n->bits.b + n->matrix[1][2]; }\n');
  });

  it(`of ${vmlinuxPath} compiles with clang for a program using kernel types`, (ctx) => {
    if (clang === undefined) ctx.skip(missingToolReason('clang'));
    if (!hasVmlinux) ctx.skip(noVmlinuxReason);
    const h = dumpCHeader(parseSpec(readFileSync(vmlinuxPath)), { assertLayout: true });
    compile(
      h,
      '#include "vmlinux.h"\n' +
        'int f(struct task_struct *t, struct trace_event_raw_sys_enter *e, struct sock_common *sk)\n' +
        '{ return t->pid + e->args[0] + sk->skc_family; }\n',
    );
  }, 120_000);
});
