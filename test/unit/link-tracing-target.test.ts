// Resolving the targets of BTF-attached programs (fentry, fexit, fmod_ret, tp_btf, lsm, iter)
// in a kernel BTF, and the error when one is missing: on small specs built here, both as
// built (decoded types) and parsed from bytes (the raw path kernel BTF takes).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TypeNotFoundError } from '../../src/btf/errors.js';
import { marshalSpec } from '../../src/btf/marshal.js';
import { parseSpec, Spec } from '../../src/btf/spec.js';
import { Func, FuncProto, Int, IntEncoding, Pointer, Typedef, VOID } from '../../src/btf/types.js';
import { setKallsymsSource } from '../../src/internal/kallsyms.js';
import {
  findTracingTarget,
  nearTracingTargets,
  tracingKindOf,
  tracingTargetNotFound,
  TracingTargetNotFoundError,
} from '../../src/link/tracing-target.js';
import { AttachType } from '../../src/types.js';

function kernelLike(): Spec {
  const spec = new Spec();
  const long = new Int('long', 8, IntEncoding.Signed);
  const proto = new FuncProto(long, []);
  for (const name of ['__do_sys_getppid', 'do_unlinkat', 'do_unlinkat_cleanup', 'do_rmdir', 'bpf_lsm_file_open', 'bpf_iter_task', 'vfs_read']) {
    spec.add(new Func(name, proto));
  }
  // A CO-RE flavor of a name is a different function to the kernel.
  spec.add(new Func('vfs_write___v2', proto));
  spec.add(new Typedef('btf_trace_sys_enter', new Pointer(new FuncProto(VOID, []))));
  spec.add(new Typedef('btf_trace_sched_switch', new Pointer(new FuncProto(VOID, []))));
  // Not a typedef: must not satisfy tp_btf.
  spec.add(new Func('btf_trace_sys_exit', proto));
  return spec;
}

const specs: Array<[string, () => Spec]> = [
  ['built', kernelLike],
  ['parsed', () => parseSpec(marshalSpec(kernelLike()))],
];

describe.each(specs)('tracing targets in a %s spec', (_, make) => {
  const spec = make();
  const idOf = (name: string): number => spec.idsByName(name).find((id) => spec.typeById(id).name === name)!;

  it('finds each kind under the name the kernel looks up', () => {
    expect(findTracingTarget(spec, 'fentry', 'do_unlinkat')).toBe(idOf('do_unlinkat'));
    expect(findTracingTarget(spec, 'fexit', '__do_sys_getppid')).toBe(idOf('__do_sys_getppid'));
    expect(findTracingTarget(spec, 'fmod_ret', 'vfs_read')).toBe(idOf('vfs_read'));
    expect(findTracingTarget(spec, 'tp_btf', 'sys_enter')).toBe(idOf('btf_trace_sys_enter'));
    expect(findTracingTarget(spec, 'lsm', 'file_open')).toBe(idOf('bpf_lsm_file_open'));
    expect(findTracingTarget(spec, 'iter', 'task')).toBe(idOf('bpf_iter_task'));
  });

  it('does not take another kind, a flavor, or a name without its prefix', () => {
    expect(findTracingTarget(spec, 'tp_btf', 'sys_exit')).toBeUndefined(); // a FUNC, not a typedef
    expect(findTracingTarget(spec, 'fentry', 'vfs_write')).toBeUndefined(); // only vfs_write___v2
    expect(findTracingTarget(spec, 'fentry', 'file_open')).toBeUndefined();
    expect(findTracingTarget(spec, 'lsm', 'bpf_lsm_file_open')).toBeUndefined();
    expect(findTracingTarget(spec, 'fentry', 'btf_trace_sys_enter')).toBeUndefined();
  });

  it('suggests near names: typos, longer names, the function behind a syscall wrapper, the event of group/event', () => {
    expect(nearTracingTargets(spec, 'fentry', 'do_unlinkatt')[0]).toBe('do_unlinkat');
    expect(nearTracingTargets(spec, 'fentry', 'do_unlink')).toEqual(['do_unlinkat', 'do_unlinkat_cleanup']);
    expect(nearTracingTargets(spec, 'fentry', '__x64_sys_getppid')[0]).toBe('__do_sys_getppid');
    expect(nearTracingTargets(spec, 'fentry', '__arm64_sys_getppid')[0]).toBe('__do_sys_getppid');
    expect(nearTracingTargets(spec, 'tp_btf', 'raw_syscalls/sys_enter')).toEqual(['sys_enter']);
    expect(nearTracingTargets(spec, 'tp_btf', 'sched_swich')).toEqual(['sched_switch']);
    expect(nearTracingTargets(spec, 'lsm', 'file_opn')).toEqual(['file_open']);
    // Suggestions are of the same kind: sys_exit is a FUNC, not a tracepoint typedef.
    expect(nearTracingTargets(spec, 'tp_btf', 'sys_exi')).toEqual([]);
    expect(nearTracingTargets(spec, 'fentry', 'completely_unrelated_name')).toEqual([]);
  });
});

describe('TracingTargetNotFoundError', () => {
  let dir: string | undefined;
  afterEach(() => {
    setKallsymsSource();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  function kallsymsWith(...names: string[]): void {
    dir = mkdtempSync(join(tmpdir(), 'ebpf-ts-kallsyms-'));
    const file = join(dir, 'kallsyms');
    writeFileSync(file, names.map((n, i) => `ffffffff8100${(i + 1).toString(16).padStart(4, '0')} T ${n}\n`).join(''));
    setKallsymsSource(file, '/dev/null');
  }

  it('is a TypeNotFoundError naming the program, the kind, the target and the BTF name looked up', () => {
    kallsymsWith('do_unlinkat');
    const err = tracingTargetNotFound(kernelLike(), 'fentry', 'no_such_fn', 'my_prog');
    expect(err).toBeInstanceOf(TracingTargetNotFoundError);
    expect(err).toBeInstanceOf(TypeNotFoundError);
    expect(err).toMatchObject({ name: 'TracingTargetNotFoundError', tracingKind: 'fentry', target: 'no_such_fn', typeName: 'no_such_fn', kindName: 'func' });
    expect(err.message).toBe(
      "program my_prog: fentry target no_such_fn is not in the kernel's BTF: no function no_such_fn (it may be inlined into its callers, " +
        'static and optimised away, renamed in this kernel version, or in a kernel module, whose BTF was not searched)',
    );
  });

  it('says when kallsyms has the function but BTF does not (an alias), and suggests the real one', () => {
    kallsymsWith('__x64_sys_getppid', '__do_sys_getppid');
    const err = tracingTargetNotFound(kernelLike(), 'fexit', '__x64_sys_getppid');
    expect(err.message).toMatch(/^fexit target __x64_sys_getppid is not in the kernel's BTF: \/proc\/kallsyms has __x64_sys_getppid but the BTF has no function of that name/);
    expect(err.message).toMatch(/; did you mean __do_sys_getppid\?$/);
    expect(err.nearMatches[0]).toBe('__do_sys_getppid');
  });

  it('without a readable kallsyms, makes no claim about it', () => {
    kallsymsWith();
    expect(tracingTargetNotFound(kernelLike(), 'fentry', '__x64_sys_getppid').message).toMatch(/BTF: no function __x64_sys_getppid \(it may be inlined/);
  });

  it('explains the prefixes of tp_btf, lsm and iter targets', () => {
    kallsymsWith('sys_enter');
    const tp = tracingTargetNotFound(kernelLike(), 'tp_btf', 'raw_syscalls/sys_enter');
    expect(tp).toMatchObject({ typeName: 'btf_trace_raw_syscalls/sys_enter', kindName: 'typedef' });
    expect(tp.message).toMatch(/there is no typedef btf_trace_raw_syscalls\/sys_enter, so no tracepoint raw_syscalls\/sys_enter \(tp_btf takes the event name alone/);
    expect(tp.message).toMatch(/did you mean sys_enter\?$/);
    expect(tracingTargetNotFound(kernelLike(), 'lsm', 'security_file_open').message).toMatch(
      /there is no function bpf_lsm_security_file_open, so no LSM hook security_file_open \(LSM programs name the hook without its security_ prefix/,
    );
    expect(tracingTargetNotFound(kernelLike(), 'iter', 'tasks').message).toMatch(/no function bpf_iter_tasks, so no BPF iterator tasks; did you mean task\?/);
  });
});

it('tracingKindOf maps expected attach types to kinds', () => {
  expect(tracingKindOf(AttachType.TraceFentry)).toBe('fentry');
  expect(tracingKindOf(AttachType.TraceFexit)).toBe('fexit');
  expect(tracingKindOf(AttachType.ModifyReturn)).toBe('fmod_ret');
  expect(tracingKindOf(AttachType.TraceRawTP)).toBe('tp_btf');
  expect(tracingKindOf(AttachType.LSMMAC)).toBe('lsm');
  expect(tracingKindOf(AttachType.LSMCgroup)).toBe('lsm');
  expect(tracingKindOf(AttachType.TraceIter)).toBe('iter');
  expect(tracingKindOf(AttachType.CgroupInetEgress)).toBeUndefined();
  expect(tracingKindOf(undefined)).toBeUndefined();
});
