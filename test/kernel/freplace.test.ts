// freplace (BPF_PROG_TYPE_EXT) against the running kernel: testdata/freplace_target.bpf.c is a
// tc program returning get_value(skb->len) + 1, with get_value(len) = len + 100; the extension
// in testdata/freplace.bpf.c returns len + 1000 instead. Test runs on a 64-byte packet show
// which one ran: 165 as loaded, 1065 while the link exists, 165 again after it closes.
// Kernels that refuse trampolines (the lockdown host answers EPERM, as for fentry) skip the
// attach tests; they run in test:vm:
//   EBPF_TS_VM_TESTS=test/kernel/freplace.test.ts npm run test:vm -- 6.12
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCollection, type Collection } from '../../src/collection.js';
import { loadCollectionSpec } from '../../src/collection-spec.js';
import { ArgumentError, SyscallError } from '../../src/errors.js';
import { attachProgram } from '../../src/link/auto.js';
import { attachFreplace, freplaceTargetBtfId, FreplaceTargetError } from '../../src/link/freplace.js';
import { LinkType } from '../../src/link/link.js';
import { Program } from '../../src/prog.js';
import { kernelVersion } from '../../src/sys/kernel-version.js';
import { Errno } from '../../src/sys/errno.js';
import { ProgramType } from '../../src/types.js';
import { inEmulatedVM } from './helpers/kernel-features.js';

const root = process.getuid?.() === 0;
const TD = join(import.meta.dirname, '..', '..', 'testdata');
const TARGET_OBJECT = join(TD, 'freplace_target.bpfel.o');
const EXT_OBJECT = join(TD, 'freplace.bpfel.o');
const kernel = `Linux ${kernelVersion()}`;
const packet = new Uint8Array(64);
const ORIGINAL = 64 + 100 + 1;
const REPLACED = 64 + 1000 + 1;

/** Loads the target object (one tc program). */
async function loadTarget(): Promise<Collection> {
  return loadCollection(TARGET_OBJECT);
}

/** Loads the extension for `target`'s get_value. */
async function loadExtension(target: Program): Promise<Collection> {
  return loadCollection(EXT_OBJECT, { freplaceTargets: { new_get_value: target } });
}

/** Why extensions cannot load here (probed once), or '' when they can. */
async function extensionRefusal(): Promise<string> {
  if (!root) return 'needs root for bpf()';
  const target = await loadTarget();
  try {
    const ext = await loadExtension(target.programs.freplace_target!);
    ext.close();
    return '';
  } catch (e) {
    if (e instanceof SyscallError && e.errno === Errno.EPERM) {
      return `runs in test:vm (6.12): ${kernel} refuses extension programs with EPERM, as it refuses fentry (lockdown)`;
    }
    throw e;
  } finally {
    target.close();
  }
}
const skip = await extensionRefusal();
if (skip !== '') console.warn(`skipping freplace attach tests: ${skip}`);

function caught(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected an exception');
}

describe.skipIf(!root)(`freplace targets (${kernel}): found in the target program's BTF, or a typed error`, () => {
  let target: Collection | undefined;
  afterAll(() => target?.close());

  it('the target runs as loaded: get_value(64) + 1 = 165', async () => {
    target = await loadTarget();
    expect(target.programs.freplace_target!.testRun({ data: packet }).retval).toBe(ORIGINAL);
  });

  it('get_value is a global function of the target: its BTF id; the entry function is one too', () => {
    const prog = target!.programs.freplace_target!;
    expect(freplaceTargetBtfId(prog, 'get_value')).toBeGreaterThan(0);
    expect(freplaceTargetBtfId(prog, 'freplace_target')).not.toBe(freplaceTargetBtfId(prog, 'get_value'));
  });

  it('a static function is a FreplaceTargetError that names it and lists the global ones', () => {
    const err = caught(() => freplaceTargetBtfId(target!.programs.freplace_target!, 'static_offset'));
    expect(err).toBeInstanceOf(FreplaceTargetError);
    expect(err).toMatchObject({ problem: 'static', function: 'static_offset', program: 'freplace_target', kind: 'program' });
    expect((err as FreplaceTargetError).globalFunctions).toEqual(['freplace_target', 'get_value']);
    expect((err as Error).message).toMatch(/^function static_offset of program freplace_target is static: the kernel replaces only global functions/);
  });

  it('a missing function is a FreplaceTargetError with close names', () => {
    const err = caught(() => freplaceTargetBtfId(target!.programs.freplace_target!, 'get_valu'));
    expect(err).toBeInstanceOf(FreplaceTargetError);
    expect(err).toMatchObject({ problem: 'missing', function: 'get_valu' });
    expect((err as Error).message).toBe('program freplace_target has no function get_valu; did you mean get_value?');
  });

  it('loading an extension without a target is an ArgumentError that says how to give one; a bad target too', async () => {
    const err = await loadCollection(EXT_OBJECT).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArgumentError);
    expect((err as Error).message).toMatch(/new_get_value \(freplace\/get_value\) replaces a function of another program.*freplaceTargets: \{ new_get_value: targetProgram \}/);
    const bad = await loadCollection(EXT_OBJECT, { freplaceTargets: { new_get_value: { program: target!.programs.freplace_target!, function: 'static_offset' } } }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(FreplaceTargetError);
  });

  it('attachFreplace refuses a program that is not EXT; auto-attach says to use attachFreplace', () => {
    const prog = target!.programs.freplace_target!;
    expect(() => attachFreplace(prog, prog, 'get_value')).toThrow(/attachFreplace needs an EXT \(freplace\) program; freplace_target is SCHED_CLS/);
    expect(() => attachProgram(prog, { sectionName: 'freplace/get_value' })).toThrow(/attachFreplace\(prog, targetProgram, functionName\)/);
  });
});

describe.skipIf(skip !== '')(`freplace${skip === '' ? '' : ` — ${skip}`}`, () => {
  it('attached, the target returns the extension\'s value (1065); closed, its own again (165); the link names its target', async () => {
    using target = await loadTarget();
    const prog = target.programs.freplace_target!;
    using ext = await loadExtension(prog);
    const replacement = ext.programs.new_get_value!;
    expect(replacement.type).toBe(ProgramType.Ext);
    expect(prog.testRun({ data: packet }).retval).toBe(ORIGINAL);
    const link = attachFreplace(replacement, prog, 'get_value');
    try {
      expect(prog.testRun({ data: packet }).retval).toBe(REPLACED);
      expect(prog.testRun({ data: packet }).retval).toBe(REPLACED);
      expect(ext.variables.calls!.get()).toBe(2n);
      const info = link.info();
      expect(info.type).toBe(LinkType.Tracing);
      if (kernelVersion().atLeast('5.13')) {
        expect(info.tracingTargetObjectId).toBe(prog.info().id);
        expect(info.tracingTargetBtfId).toBe(freplaceTargetBtfId(prog, 'get_value'));
      }
    } finally {
      link.close();
    }
    expect(prog.testRun({ data: packet }).retval).toBe(ORIGINAL);
    expect(ext.variables.calls!.get()).toBe(2n);
  });

  it('one extension, two targets at once (Linux 5.10+): each link replaces the function of its own target', async () => {
    using first = await loadTarget();
    using second = await loadTarget();
    const a = first.programs.freplace_target!;
    const b = second.programs.freplace_target!;
    using ext = await loadExtension(a);
    const replacement = ext.programs.new_get_value!;
    {
      using onB = attachFreplace(replacement, b, 'get_value');
      expect(a.testRun({ data: packet }).retval).toBe(ORIGINAL);
      expect(b.testRun({ data: packet }).retval).toBe(REPLACED);
      using onA = attachFreplace(replacement, a, 'get_value');
      expect(a.testRun({ data: packet }).retval).toBe(REPLACED);
      void onA;
      void onB;
    }
    expect(a.testRun({ data: packet }).retval).toBe(ORIGINAL);
    expect(b.testRun({ data: packet }).retval).toBe(ORIGINAL);
  });

  it('Program.load with attachProgFd and freplaceTargetBtfId (the low-level path) loads and attaches the same way', async () => {
    using target = await loadTarget();
    const prog = target.programs.freplace_target!;
    const spec = await loadCollectionSpec(EXT_OBJECT);
    // Only the instructions and BTF-less fields: a program without func_info cannot be an
    // extension (the verifier needs its prototype), so go through the collection loader.
    spec.programs.new_get_value!.attachProgFd = prog.fd;
    spec.programs.new_get_value!.attachBtfId = freplaceTargetBtfId(prog, 'get_value');
    using ext = await loadCollection(spec);
    using link = attachFreplace(ext.programs.new_get_value!, prog, 'get_value');
    expect(prog.testRun({ data: packet }).retval).toBe(REPLACED);
    void link;
    void inEmulatedVM;
  });
});
