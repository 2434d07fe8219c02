// Kernel module BTF without a kernel: the fd_array a program's kfunc calls index, the module
// BTF fds a load opens and closes, how a resolved ksym is written into its instruction, the
// vmlinux-first search (ksyms, tracing targets, CO-RE candidates) and module:function names.
// The kernel side runs in test/kernel/module-btf.test.ts (test:vm).
import { describe, expect, it } from 'vitest';
import { Register } from '../../src/asm/register.js';
import { callKfunc, loadImm64 } from '../../src/asm/builder.js';
import { PseudoCall, PseudoSource } from '../../src/asm/pseudo.js';
import { findCandidates } from '../../src/btf/core.js';
import { Spec } from '../../src/btf/spec.js';
import { Func, FuncProto, Int, IntEncoding, Member, Struct, Var, VarLinkage, FuncLinkage } from '../../src/btf/types.js';
import { applyKsym, POISON_KFUNC, resolveKsym, UnresolvedExternError } from '../../src/collection-externs.js';
import type { ExternSpec } from '../../src/elf/specs.js';
import { FdArray, findInKernelBTF, ModuleBTFFds, splitModuleTarget } from '../../src/module-btf.js';
import { findTracingTarget } from '../../src/link/tracing-target.js';

const int = (): Int => new Int('int', 4, IntEncoding.Signed);

function fakeFds(): { fds: ModuleBTFFds; opened: string[]; closed: number[] } {
  const opened: string[] = [];
  const closed: number[] = [];
  const fds = new ModuleBTFFds((module) => {
    opened.push(module);
    const fd = 100 + opened.length;
    return { fd, close: () => closed.push(fd) };
  });
  return { fds, opened, closed };
}

describe('FdArray', () => {
  it('never hands out index 0 (vmlinux), reuses the index of an fd, and is absent when unused', () => {
    const a = new FdArray();
    expect(a.fds).toBeUndefined();
    expect(a.index(7)).toBe(1);
    expect(a.index(9)).toBe(2);
    expect(a.index(7)).toBe(1);
    expect(a.fds).toEqual([0, 7, 9]);
  });

  it('appends after a program’s own fd_array, even for an fd it has at index 0', () => {
    const a = new FdArray([7, 8]);
    expect(a.fds).toEqual([7, 8]);
    expect(a.index(8)).toBe(1);
    expect(a.index(7)).toBe(2);
    expect(a.fds).toEqual([7, 8, 7]);
  });

  it('refuses more entries than a 16-bit off can index', () => {
    const a = new FdArray();
    for (let fd = 1; fd <= 0x7fff; fd++) a.index(fd);
    expect(() => a.index(0x8000)).toThrow(/fd_array is full/);
  });
});

describe('ModuleBTFFds', () => {
  it('opens each module once and closes all of them once', () => {
    const { fds, opened, closed } = fakeFds();
    expect(fds.fd('veth')).toBe(101);
    expect(fds.fd('nf_conntrack')).toBe(102);
    expect(fds.fd('veth')).toBe(101);
    expect(opened).toEqual(['veth', 'nf_conntrack']);
    expect(fds.size).toBe(2);
    fds.close();
    fds.close();
    expect(closed).toEqual([101, 102]);
    expect(fds.size).toBe(0);
  });
});

describe('applyKsym', () => {
  it('a vmlinux kfunc keeps off 0 and opens nothing', () => {
    const { fds, opened } = fakeFds();
    const a = new FdArray();
    const insn = callKfunc(0);
    applyKsym(insn, { kind: 'btf', id: 1234 }, fds, a);
    expect(insn.constant).toBe(1234);
    expect(insn.offset).toBe(0);
    expect(opened).toEqual([]);
    expect(a.fds).toBeUndefined();
  });

  it('module kfuncs get the fd_array index of their module, one slot per module', () => {
    const { fds } = fakeFds();
    const a = new FdArray();
    const lookup = callKfunc(0);
    const release = callKfunc(0);
    const other = callKfunc(0);
    applyKsym(lookup, { kind: 'btf', id: 113426, module: 'nf_conntrack' }, fds, a);
    applyKsym(release, { kind: 'btf', id: 113418, module: 'nf_conntrack' }, fds, a);
    applyKsym(other, { kind: 'btf', id: 120000, module: 'veth' }, fds, a);
    expect([lookup.constant, lookup.offset]).toEqual([113426, 1]);
    expect([release.constant, release.offset]).toEqual([113418, 1]);
    expect([other.constant, other.offset]).toEqual([120000, 2]);
    expect(lookup.src).toBe(PseudoCall.KfuncCall);
    expect(a.fds).toEqual([0, 101, 102]);
  });

  it('a module variable puts the BTF fd in the second half of the ld_imm64', () => {
    const { fds } = fakeFds();
    const a = new FdArray();
    const insn = loadImm64(Register.R1, 0);
    applyKsym(insn, { kind: 'btf', id: 112996, module: 'x_tables' }, fds, a);
    expect(insn.src).toBe(PseudoSource.BTFID);
    expect(insn.imm).toBe(112996);
    expect(insn.imm64 >> 32n).toBe(101n);
    // Typed ksyms carry the fd itself, not an fd_array index.
    expect(a.fds).toBeUndefined();
    const vmlinux = loadImm64(Register.R1, 0);
    applyKsym(vmlinux, { kind: 'btf', id: 5 }, fds, a);
    expect(vmlinux.imm64).toBe(5n);
  });

  it('a weak kfunc nobody has becomes the dead-code poison call', () => {
    const { fds } = fakeFds();
    const insn = callKfunc(0);
    applyKsym(insn, { kind: 'missing' }, fds, new FdArray());
    expect(insn.src).toBe(PseudoCall.Helper);
    expect(insn.constant).toBe(POISON_KFUNC);
  });
});

// vmlinux with one function and one variable; a module (split BTF) with a function of the same
// name as vmlinux's, one of its own and a variable.
function kernel(): { vmlinux: Spec; veth: Spec; other: Spec } {
  const vmlinux = new Spec();
  const proto = new FuncProto(int(), []);
  vmlinux.add(new Func('do_thing', proto, FuncLinkage.Global));
  vmlinux.add(new Var('shared_var', int(), VarLinkage.Global));
  const veth = new Spec({ base: vmlinux });
  veth.add(new Func('do_thing', proto, FuncLinkage.Static));
  veth.add(new Func('veth_open', proto, FuncLinkage.Static));
  veth.add(new Struct('veth_priv', 8, [new Member('pad', int(), 0), new Member('peer', int(), 32)]));
  const other = new Spec({ base: vmlinux });
  other.add(new Func('veth_open', proto, FuncLinkage.Static));
  other.add(new Var('mod_var', int(), VarLinkage.Global));
  return { vmlinux, veth, other };
}

const ext = (name: string, isFunction: boolean, weak = false): ExternSpec => ({
  name,
  kind: 'ksym',
  weak,
  type: undefined,
  isFunction,
  typeless: false,
  offset: undefined,
  size: 0,
});

describe('vmlinux first, then modules', () => {
  it('resolveKsym finds kfuncs and variables in vmlinux before any module, and says what it searched', () => {
    const { vmlinux, veth, other } = kernel();
    let asked = 0;
    const modules = (): { name: string; spec: Spec }[] => {
      asked++;
      return [
        { name: 'other', spec: other },
        { name: 'veth', spec: veth },
      ];
    };
    const r = resolveKsym(ext('do_thing', true), () => vmlinux, 'p', modules);
    expect(r).toEqual({ kind: 'btf', id: vmlinux.idsByName('do_thing')[0] });
    expect(asked).toBe(0);
    const m = resolveKsym(ext('veth_open', true), () => vmlinux, 'p', modules);
    expect(m).toEqual({ kind: 'btf', id: other.idsByName('veth_open').at(-1), module: 'other' });
    expect(resolveKsym(ext('mod_var', false), () => vmlinux, 'p', modules)).toMatchObject({ kind: 'btf', module: 'other' });
    // A FUNC is no variable.
    expect(() => resolveKsym(ext('veth_open', false), () => vmlinux, 'p', modules)).toThrow(UnresolvedExternError);
    expect(resolveKsym(ext('nothing_here', true, true), () => vmlinux, 'p', modules)).toEqual({ kind: 'missing' });
    expect(() => resolveKsym(ext('nothing_here', true), () => vmlinux, 'p', modules)).toThrow(/nothing_here.*kernel's BTF used by program p, .*modprobe/);
  });

  it('findInKernelBTF limits the search to the module named by module:function', () => {
    const { vmlinux, veth, other } = kernel();
    const modules = (): { name: string; spec: Spec }[] => [
      { name: 'other', spec: other },
      { name: 'veth', spec: veth },
    ];
    const fn = (name: string) => (spec: Spec, from: number) => findTracingTarget(spec, 'fentry', name, from);
    expect(findInKernelBTF(vmlinux, modules, fn('veth_open'))?.module).toBe('other');
    const inVeth = findInKernelBTF(vmlinux, modules, fn('veth_open'), 'veth');
    expect(inVeth?.module).toBe('veth');
    expect(inVeth?.spec).toBe(veth);
    // Named module: vmlinux is not searched, and a module's base types do not count as its own.
    expect(findInKernelBTF(vmlinux, modules, fn('do_thing'), 'other')).toBeUndefined();
    expect(findInKernelBTF(vmlinux, modules, fn('do_thing'), 'veth')?.id).toBe(veth.idsByName('do_thing').at(-1));
    expect(findInKernelBTF(vmlinux, modules, fn('veth_open'), 'vmlinux')).toBeUndefined();
    expect(findInKernelBTF(vmlinux, modules, fn('do_thing'), 'vmlinux')?.module).toBeUndefined();
  });

  it('splitModuleTarget reads libbpf’s module:function form', () => {
    expect(splitModuleTarget('veth:veth_open')).toEqual({ module: 'veth', name: 'veth_open' });
    expect(splitModuleTarget('veth_open')).toEqual({ module: undefined, name: 'veth_open' });
    expect(splitModuleTarget(':x')).toEqual({ module: undefined, name: ':x' });
  });

  it('CO-RE asks for module specs only when vmlinux has no candidate', () => {
    const { vmlinux, veth } = kernel();
    const local = new Struct('veth_priv', 4, [new Member('peer', int(), 0)]);
    let asked = 0;
    const more = (): Spec[] => {
      asked++;
      return [veth];
    };
    const found = findCandidates(local, [vmlinux], more);
    expect(asked).toBe(1);
    expect(found.map((c) => c.spec)).toEqual([veth]);
    const withVmlinux = new Spec();
    withVmlinux.add(new Struct('veth_priv', 4, [new Member('peer', int(), 0)]));
    expect(findCandidates(local, [withVmlinux], more).map((c) => c.spec)).toEqual([withVmlinux]);
    expect(asked).toBe(1);
  });
});
