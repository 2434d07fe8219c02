// BTF-attached tracing links (testdata/tracing.bpf.c): tp_btf, fentry, fexit and fmod_ret,
// attached with attachTracing and by section name, counted per thread group in a map.
//
// tp_btf programs load and attach on the host. The host kernel refuses trampoline programs
// (fentry/fexit/fmod_ret) with EPERM (lockdown), so those tests run in test:vm, e.g.
//   EBPF_TS_VM_TESTS=test/kernel/link-tracing.test.ts npm run test:vm -- 6.1
// and fail there instead of skipping.
import { getPriority, setPriority } from 'node:os';
import { describe, expect, it } from 'vitest';
import { loadKernelSpec } from '../../src/btf/kernel.js';
import { TypeNotFoundError } from '../../src/btf/errors.js';
import { loadCollection, type Collection } from '../../src/collection.js';
import { loadCollectionSpec, type CollectionSpec } from '../../src/collection-spec.js';
import { ArgumentError, NotSupportedError } from '../../src/errors.js';
import { kallsyms, ksyscallName } from '../../src/internal/kallsyms.js';
import { LinkType, listLinks, type Link } from '../../src/link/link.js';
import { attachTracing, tracingTargetBtfId } from '../../src/link/raw-tracepoint.js';
import { TracingTargetNotFoundError } from '../../src/link/tracing-target.js';
import { BpfMap } from '../../src/map.js';
import { kernelVersion } from '../../src/sys/kernel-version.js';
import { backend } from '../../src/sys/select.js';
import { AttachType, MapType, ProgramType } from '../../src/types.js';
import { callGetppid, counterMap, countingProgram, NR_GETPPID } from './link-helpers.js';
import { inEmulatedVM, kernelHasFunc, trampolineRefusal } from './helpers/kernel-features.js';

const object = new URL('../../testdata/tracing.bpfel.o', import.meta.url).pathname;
const root = process.getuid?.() === 0;
const noRoot = root ? '' : 'needs root for bpf()';
const refusal = root ? trampolineRefusal() : undefined;
const VM_ONLY = `runs in test:vm: this kernel refuses fentry/fexit/fmod_ret programs (${refusal})`;
if (noRoot !== '') console.warn(`skipping BTF tracing link tests: ${noRoot}`);
else if (refusal !== undefined) console.warn(`skipping fentry/fexit/fmod_ret tests: ${VM_ONLY}`);

// getppid's kernel function: on x86_64 __x64_sys_getppid is an alias of __do_sys_getppid and
// only the latter is in BTF; arm64 defines __arm64_sys_getppid itself.
const GETPPID_FN = root && kernelHasFunc('__do_sys_getppid') ? '__do_sys_getppid' : ksyscallName('getppid');

/** The object's spec with getppid's function for this architecture and our constants. */
async function tracingSpec(): Promise<CollectionSpec> {
  const spec = await loadCollectionSpec(object);
  for (const name of ['getppid_entry', 'getppid_exit']) spec.programs[name]!.attachTo = GETPPID_FN;
  return spec;
}

// The x86_64 syscall wrapper of getppid: a kallsyms name with no BTF FUNC of its own.
const aliasSkip = !root
  ? noRoot
  : process.arch !== 'x64'
    ? `x86_64 only (this is ${process.arch})`
    : kallsyms().get('__x64_sys_getppid') === undefined
      ? '/proc/kallsyms has no __x64_sys_getppid'
      : kernelHasFunc('__x64_sys_getppid')
        ? 'this kernel has a BTF FUNC __x64_sys_getppid'
        : '';

// process.ppid calls getppid(2) on every read (see callGetppid): read it once, before any
// program counts, so the tests' own reads do not add to the counts.
const PPID = BigInt(process.ppid);

const constants = { getppid_nr: BigInt(NR_GETPPID), deny_tgid: process.pid };

interface Hits {
  fentry: bigint;
  fexit: bigint;
  tpBtf: bigint;
  fmodRet: bigint;
  fexitRet: bigint;
}

/** This process's counters in `hits` (zeros while no program has run in it). */
function hitsOf(map: BpfMap): Hits {
  const key = new Uint8Array(4);
  new DataView(key.buffer).setUint32(0, process.pid, true);
  const v = map.lookup(key) as Uint8Array | undefined;
  if (v === undefined) return { fentry: 0n, fexit: 0n, tpBtf: 0n, fmodRet: 0n, fexitRet: 0n };
  const d = new DataView(v.buffer, v.byteOffset, v.byteLength);
  return {
    fentry: d.getBigUint64(0, true),
    fexit: d.getBigUint64(8, true),
    tpBtf: d.getBigUint64(16, true),
    fmodRet: d.getBigUint64(24, true),
    fexitRet: d.getBigInt64(32, true),
  };
}

/** A map to stand in for the object's `hits`, readable after the collection is closed. */
function ownHitsMap(): BpfMap {
  return BpfMap.create({ name: 'hits', type: MapType.Hash, keySize: 4, valueSize: 40, maxEntries: 1024 });
}

async function load(programs: string[], mapReplacements?: Record<string, BpfMap>): Promise<Collection> {
  return loadCollection(await tracingSpec(), { programs, constants, mapReplacements });
}

/** Runs `fn` and returns what it threw (failing the test if it did not throw). */
async function thrown(fn: () => unknown): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    return e as Error;
  }
  expect.fail('expected an error');
}

/** Calls setpriority(2) on this thread with its current value: a no-op unless refused. */
function renice(): void {
  setPriority(getPriority());
}

describe.skipIf(noRoot !== '')(`BTF tracing links on any kernel (backend ${root ? backend().kind : 'none'})`, () => {
  it('tp_btf/sys_enter through attachTracing counts this process\'s getppid calls exactly; info() names the tracepoint; close() stops the count', async () => {
    using coll = await load(['getppid_sys_enter']);
    const prog = coll.programs.getppid_sys_enter!;
    expect(prog.type).toBe(ProgramType.Tracing);
    const link = attachTracing(prog);
    callGetppid(100);
    expect(hitsOf(coll.maps.hits!).tpBtf).toBe(100n);
    // bpf_raw_tp_open() gives tp_btf programs a raw tracepoint link named after the event.
    const info = link.info();
    expect(info.type).toBe(LinkType.RawTracepoint);
    expect(info.rawTracepointName).toBe('sys_enter');
    expect(info.programId).toBe(prog.info().id);
    expect(listLinks().map((l) => l.id)).toContain(info.id);
    link.close();
    expect(link.closed).toBe(true);
    callGetppid(30);
    expect(hitsOf(coll.maps.hits!).tpBtf).toBe(100n);
    expect(listLinks().map((l) => l.id)).not.toContain(info.id);
  });

  it('tp_btf through Program.attach() and attachAll() (section name); closing the collection closes the link and the program stops', async () => {
    using hits = ownHitsMap();
    const coll = await load(['getppid_sys_enter'], { hits });
    let link: Link;
    try {
      const manual = coll.programs.getppid_sys_enter!.attach();
      callGetppid(10);
      expect(hitsOf(hits).tpBtf).toBe(10n);
      manual.close();
      const links = coll.attachAll();
      expect(Object.keys(links)).toEqual(['getppid_sys_enter']);
      link = links.getppid_sys_enter!;
      callGetppid(20);
      expect(hitsOf(hits).tpBtf).toBe(30n);
    } finally {
      coll.close();
    }
    expect(link.closed).toBe(true);
    callGetppid(20);
    expect(hitsOf(hits).tpBtf).toBe(30n);
  });

  it('attachTracing refuses a program that is not TRACING or LSM, and a cookie without attachType', async () => {
    using map = counterMap();
    using prog = countingProgram(ProgramType.RawTracepoint, map);
    expect(() => attachTracing(prog)).toThrow(ArgumentError);
    expect(() => attachTracing(prog)).toThrow(/needs a TRACING or LSM program; count_tgid is RAW_TRACEPOINT/);
    using coll = await load(['getppid_sys_enter']);
    expect(() => attachTracing(coll.programs.getppid_sys_enter!, { cookie: 1 })).toThrow(/cookie needs attachType/);
  });

  it('fentry on a function the kernel lacks: loadCollection and tracingTargetBtfId name it (TracingTargetNotFoundError)', async () => {
    const spec = await tracingSpec();
    spec.programs.getppid_entry!.attachTo = 'no_such_function_ebpf_ts';
    const err = await thrown(() => loadCollection(spec, { programs: ['getppid_entry'] }));
    expect(err).toBeInstanceOf(TracingTargetNotFoundError);
    expect(err).toBeInstanceOf(TypeNotFoundError);
    expect(err.message).toMatch(/^program getppid_entry: fentry target no_such_function_ebpf_ts is not in the kernel's BTF: no function no_such_function_ebpf_ts \(it may be inlined/);
    expect(() => tracingTargetBtfId('fentry', 'no_such_function_ebpf_ts')).toThrow(/^fentry target no_such_function_ebpf_ts is not in the kernel's BTF/);
    // A near miss gets suggestions from the kernel's BTF.
    const typo = await thrown(() => tracingTargetBtfId('fexit', 'do_unlinkatt'));
    expect((typo as TracingTargetNotFoundError).nearMatches).toContain('do_unlinkat');
    expect(typo.message).toMatch(/did you mean do_unlinkat/);
  });

  it.skipIf(aliasSkip !== '')(
    `fentry on __x64_sys_getppid (in kallsyms, an alias without BTF) says so and suggests __do_sys_getppid${aliasSkip === '' ? '' : ` — skipped: ${aliasSkip}`}`,
    () => {
      const err = (() => {
        try {
          tracingTargetBtfId('fentry', '__x64_sys_getppid');
        } catch (e) {
          return e as TracingTargetNotFoundError;
        }
        return undefined;
      })();
      expect(err).toBeInstanceOf(TracingTargetNotFoundError);
      expect(err!.message).toMatch(/\/proc\/kallsyms has __x64_sys_getppid but the BTF has no function of that name/);
      expect(err!.nearMatches[0]).toBe('__do_sys_getppid');
    },
  );

  it('tp_btf on a tracepoint written group/event: the error suggests the event alone', async () => {
    const spec = await tracingSpec();
    spec.programs.getppid_sys_enter!.attachTo = 'raw_syscalls/sys_enter';
    const err = await thrown(() => loadCollection(spec, { programs: ['getppid_sys_enter'], constants }));
    expect(err).toBeInstanceOf(TracingTargetNotFoundError);
    expect(err.message).toMatch(/^program getppid_sys_enter: tp_btf target raw_syscalls\/sys_enter is not in the kernel's BTF: there is no typedef btf_trace_raw_syscalls\/sys_enter/);
    expect(err.message).toMatch(/did you mean sys_enter\b/);
    expect(tracingTargetBtfId('tp_btf', 'sys_enter')).toBe(loadKernelSpec().idsByName('btf_trace_sys_enter')[0]);
  });

  it('trampolines (fentry/fexit/fmod_ret): the test:vm kernels load them, so their tests run there', () => {
    if (inEmulatedVM) expect(refusal, 'the Debian kernels of test:vm load fentry programs').toBeUndefined();
    if (refusal !== undefined) console.log(`this kernel: ${refusal}`);
  });
});

describe.skipIf(noRoot !== '' || refusal !== undefined)(`fentry, fexit and fmod_ret links (VM kernels)${root && refusal !== undefined ? ` — ${VM_ONLY}` : ''}`, () => {
  it(`fentry and fexit on ${GETPPID_FN} through attachTracing count exactly; fexit sees the return value (our ppid); close() stops them`, async () => {
    using coll = await load(['getppid_entry', 'getppid_exit']);
    const entry = attachTracing(coll.programs.getppid_entry!);
    const exit = attachTracing(coll.programs.getppid_exit!);
    callGetppid(100);
    let h = hitsOf(coll.maps.hits!);
    expect(h.fentry).toBe(100n);
    expect(h.fexit).toBe(100n);
    expect(h.fexitRet).toBe(PPID);
    entry.close();
    callGetppid(10);
    h = hitsOf(coll.maps.hits!);
    expect(h.fentry).toBe(100n);
    expect(h.fexit).toBe(110n);
    exit.close();
    callGetppid(10);
    expect(hitsOf(coll.maps.hits!)).toMatchObject({ fentry: 100n, fexit: 110n });
  });

  it('info() of fentry and fexit links: a tracing link with the attach type, and the target BTF id from 5.13', async () => {
    using coll = await load(['getppid_entry', 'getppid_exit']);
    using entry = attachTracing(coll.programs.getppid_entry!);
    using exit = attachTracing(coll.programs.getppid_exit!);
    const id = tracingTargetBtfId('fentry', GETPPID_FN);
    for (const [link, prog, attachType] of [
      [entry, coll.programs.getppid_entry!, AttachType.TraceFentry],
      [exit, coll.programs.getppid_exit!, AttachType.TraceFexit],
    ] as const) {
      const info = link.info();
      expect(info.type).toBe(LinkType.Tracing);
      expect(info.programId).toBe(prog.info().id);
      expect(info.tracingAttachType).toBe(attachType);
      if (kernelVersion().atLeast('5.13')) {
        expect(info.tracingTargetBtfId).toBe(id);
        expect(info.tracingTargetObjectId).toBeGreaterThan(0); // vmlinux's BTF object
      } else {
        // Linux 5.8–5.12 fill in only the attach type ("bpf: Return target info when a
        // tracing bpf_link is queried" came in 5.13): the ids are absent, not 0.
        expect(info.tracingTargetBtfId, `Linux ${kernelVersion()} reports no target of tracing links (5.13+)`).toBeUndefined();
        expect(info.tracingTargetObjectId).toBeUndefined();
      }
      expect(listLinks().map((l) => l.id)).toContain(info.id);
    }
  });

  it('Program.attach() sends fentry/ and fexit/ sections to attachTracing', async () => {
    using coll = await load(['getppid_entry', 'getppid_exit']);
    expect(coll.programs.getppid_entry!.attachment.sectionName).toBe('fentry/__do_sys_getppid');
    using entry = coll.programs.getppid_entry!.attach();
    using exit = coll.programs.getppid_exit!.attach();
    callGetppid(40);
    expect(hitsOf(coll.maps.hits!)).toMatchObject({ fentry: 40n, fexit: 40n, fexitRet: PPID });
    expect(entry.info().tracingAttachType).toBe(AttachType.TraceFentry);
    expect(exit.info().tracingAttachType).toBe(AttachType.TraceFexit);
  });

  it('attachAll() attaches all four programs; closing the collection closes the links and the programs stop', async () => {
    using hits = ownHitsMap();
    const coll = await load(['getppid_entry', 'getppid_exit', 'getppid_sys_enter', 'deny_setnice'], { hits });
    let ids: number[];
    try {
      const links = coll.attachAll();
      expect(Object.keys(links).sort()).toEqual(['deny_setnice', 'getppid_entry', 'getppid_exit', 'getppid_sys_enter']);
      ids = Object.values(links).map((l) => l.info().id);
      callGetppid(25);
      expect(hitsOf(hits)).toMatchObject({ fentry: 25n, fexit: 25n, tpBtf: 25n, fmodRet: 0n });
      expect(renice).toThrow(/EPERM|operation not permitted/i);
      expect(hitsOf(hits).fmodRet).toBe(1n);
    } finally {
      coll.close();
    }
    expect(Object.values(coll.links).every((l) => l.closed)).toBe(true);
    const live = new Set(listLinks().map((l) => l.id));
    expect(ids.filter((id) => live.has(id))).toEqual([]);
    callGetppid(25);
    renice();
    expect(hitsOf(hits)).toMatchObject({ fentry: 25n, fexit: 25n, tpBtf: 25n, fmodRet: 1n });
  });

  it('fmod_ret on security_task_setnice makes setpriority() fail with EPERM in this process while attached, and only then', async () => {
    using coll = await load(['deny_setnice']);
    renice();
    const link = attachTracing(coll.programs.deny_setnice!);
    expect(link.info()).toMatchObject({ type: LinkType.Tracing, tracingAttachType: AttachType.ModifyReturn });
    const err = (() => {
      try {
        renice();
      } catch (e) {
        return e as NodeJS.ErrnoException;
      }
      return undefined;
    })();
    expect(err?.code).toBe('ERR_SYSTEM_ERROR');
    expect((err as { info?: { code?: string } }).info?.code).toBe('EPERM');
    expect(hitsOf(coll.maps.hits!).fmodRet).toBe(1n);
    link.close();
    renice();
    expect(hitsOf(coll.maps.hits!).fmodRet).toBe(1n);
  });

  it('a cookie attaches through BPF_LINK_CREATE from Linux 5.19; older kernels answer NotSupportedError naming 5.19', async () => {
    using coll = await load(['getppid_entry']);
    const prog = coll.programs.getppid_entry!;
    if (!kernelVersion().atLeast('5.19')) {
      const err = await thrown(() => attachTracing(prog, { attachType: AttachType.TraceFentry, cookie: 7 }));
      expect(err).toBeInstanceOf(NotSupportedError);
      expect((err as NotSupportedError).minimumVersion).toBe('5.19');
      return;
    }
    using link = attachTracing(prog, { attachType: AttachType.TraceFentry, cookie: 7 });
    callGetppid(5);
    expect(hitsOf(coll.maps.hits!).fentry).toBe(5n);
    expect(link.info()).toMatchObject({ type: LinkType.Tracing, tracingAttachType: AttachType.TraceFentry });
  });
});
