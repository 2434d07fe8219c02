// Multi-probe links against the running kernel: uprobe_multi (6.6) on testdata/uprobe/target,
// which runs on the host, and kprobe_multi (5.18 with CONFIG_FPROBE) on syscall functions,
// which runs in test:vm (the host has neither kprobes nor CONFIG_FPROBE; Debian's 6.1 lacks
// CONFIG_FPROBE, 5.10 predates kprobe_multi, 6.12 has it):
//   EBPF_TS_VM_TESTS=test/kernel/link-multi.test.ts npm run test:vm -- 6.12
// testdata/multi.bpf.c counts every run by (process, entry or return, attach cookie) and sums
// the first argument at entry and the return value at return, so the tests check exact figures.
import { openSync, readSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import * as asm from '../../src/asm/index.js';
import { loadCollection, type Collection } from '../../src/collection.js';
import { ArgumentError, NotSupportedError, SymbolNotFoundError, SyscallError } from '../../src/errors.js';
import { attachProgram } from '../../src/link/auto.js';
import { Executable } from '../../src/link/executable.js';
import { kallsyms, ksyscallName } from '../../src/internal/kallsyms.js';
import { attachKprobeMulti, kprobeMultiFeature, kprobeMultiFunctions } from '../../src/link/kprobe-multi.js';
import { kprobeSupport } from '../../src/link/kprobe.js';
import { Link, LinkType, listLinks } from '../../src/link/link.js';
import { attachUprobeMulti, uprobeMultiFeature } from '../../src/link/uprobe-multi.js';
import { Program } from '../../src/prog.js';
import { kernelVersion } from '../../src/sys/kernel-version.js';
import { backend } from '../../src/sys/select.js';
import { AttachType, ProgramType } from '../../src/types.js';
import { callGetppid, ensureTracefs } from './link-helpers.js';
import { expectVersionedFeature, inEmulatedVM } from './helpers/kernel-features.js';
import { runTarget, startWaitingTarget, TARGET } from './helpers/uprobe-target.js';

const root = process.getuid?.() === 0;
const TESTDATA = join(import.meta.dirname, '..', '..', 'testdata');
const OBJECT = join(TESTDATA, 'multi.bpfel.o');
const UPROBE_OBJECT = join(TESTDATA, 'uprobe.bpfel.o');
const FN = 'ebpf_ts_uprobe_add';
const kernel = `Linux ${kernelVersion()}`;

if (root) ensureTracefs();
const noRoot = root ? '' : 'needs root for bpf()';
if (noRoot !== '') console.warn(`skipping multi-probe kernel tests: ${noRoot}`);
const uprobeMulti = root ? uprobeMultiFeature.check() : undefined;
const kprobeMulti = root ? kprobeMultiFeature.check() : undefined;
const haveUprobeMulti = uprobeMulti?.supported === true;
const haveKprobeMulti = kprobeMulti?.supported === true;
const why = (r: typeof kprobeMulti): string => (r === undefined || r.supported === true ? '' : r.reason);

// The committed fixture is an x86-64 executable (testdata/uprobe/build.sh rebuilds it).
const uprobeSkip =
  noRoot !== ''
    ? noRoot
    : process.arch !== 'x64'
      ? `testdata/uprobe/target is an x86-64 binary; run testdata/uprobe/build.sh on this ${process.arch} machine`
      : !haveUprobeMulti
        ? `${kernel} has no uprobe_multi (${why(uprobeMulti)}); the NotSupportedError is checked above`
        : '';
const kprobeSkip =
  noRoot !== ''
    ? noRoot
    : haveKprobeMulti
      ? ''
      : inEmulatedVM
        ? `${kernel} has no kprobe_multi (${why(kprobeMulti)}); the NotSupportedError is checked above`
        : `runs in test:vm: this kernel has no kprobe_multi (${why(kprobeMulti)})`;
if (uprobeSkip !== '' && noRoot === '') console.warn(`skipping uprobe_multi attach tests: ${uprobeSkip}`);
if (kprobeSkip !== '' && noRoot === '') console.warn(`skipping kprobe_multi attach tests: ${kprobeSkip}`);

interface Stats {
  count: bigint;
  sum: bigint;
}

/** Σ i for i = 1..n: the sum of first arguments; plus 1000 each for the return values. */
const argSum = (n: number): bigint => BigInt((n * (n + 1)) / 2);
const retSum = (n: number): bigint => argSum(n) + 1000n * BigInt(n);

/** Makes `n` getuid(2) calls: Node's process.getuid() calls getuid() each time (checked with strace). */
function callGetuid(n: number): void {
  let sink = 0;
  for (let i = 0; i < n; i++) sink ^= process.getuid!();
  if (sink === -1) console.log(sink);
}

let coll: Collection | undefined;

/** The counter of (pid, entry/return, cookie), or undefined if the program never ran for it. */
function stats(pid: number, cookie: bigint | number = 0, isReturn = false): Stats | undefined {
  const key = new Uint8Array(16);
  const k = new DataView(key.buffer);
  k.setUint32(0, pid, true);
  k.setUint32(4, isReturn ? 1 : 0, true);
  k.setBigUint64(8, BigInt(cookie), true);
  const v = coll!.maps.multi_stats!.lookup(key) as Uint8Array | undefined;
  if (v === undefined) return undefined;
  const d = new DataView(v.buffer, v.byteOffset);
  return { count: d.getBigUint64(0, true), sum: d.getBigUint64(8, true) };
}

/** Every counter of process `pid`, as `entry/cookie` or `return/cookie` → count. */
function countsOf(pid: number): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  for (const [key, value] of coll!.maps.multi_stats!.entries()) {
    const k = new DataView((key as Uint8Array).buffer, (key as Uint8Array).byteOffset);
    if (k.getUint32(0, true) !== pid) continue;
    const v = new DataView((value as Uint8Array).buffer, (value as Uint8Array).byteOffset);
    out[`${k.getUint32(4, true) === 1 ? 'return' : 'entry'}/${k.getBigUint64(8, true)}`] = v.getBigUint64(0, true);
  }
  return out;
}

function clearStats(): void {
  const map = coll!.maps.multi_stats!;
  for (const key of [...map.keys()]) map.delete(key as Uint8Array);
}

function caught(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected an exception');
}

/** `r0 = 0; exit` as a KPROBE program loaded with `attachType`. */
function trivialProgram(attachType?: AttachType): Program {
  return Program.load({ name: 'trivial', type: ProgramType.Kprobe, attachType, license: 'GPL', instructions: [asm.mov64Imm(asm.Register.R0, 0), asm.exit()] });
}

// multi.bpf.c calls bpf_get_attach_cookie (5.15); every kernel with a multi-probe link has it.
beforeAll(async () => {
  if (haveUprobeMulti || haveKprobeMulti) coll = await loadCollection(OBJECT);
});
afterAll(() => coll?.close());

describe.skipIf(noRoot !== '')(`multi-probe links: what this kernel can do (${kernel}, backend ${root ? backend().kind : 'none'})`, () => {
  it('uprobe_multi from 6.6 (the probe agrees with the version)', () => {
    expectVersionedFeature(uprobeMulti!, '6.6', 'CONFIG_UPROBES');
  });

  it('kprobe_multi from 5.18, where the kernel has CONFIG_FPROBE; in test:vm 6.12 has it, 6.1 lacks CONFIG_FPROBE, 5.10 predates it', () => {
    expectVersionedFeature(kprobeMulti!, '5.18', 'CONFIG_FPROBE');
    if (kprobeMulti!.supported === false && kernelVersion().atLeast('5.18')) {
      // Not the version: the config. The probe says so without a version.
      expect(kprobeMulti!.minimumVersion).toBeUndefined();
      expect(kprobeMulti!.reason).toMatch(/EOPNOTSUPP.*CONFIG_FPROBE/);
    }
    if (inEmulatedVM) {
      if (kernelVersion().atLeast('6.12')) expect(kprobeMulti).toEqual({ supported: true });
      else if (kernelVersion().atLeast('6.1')) expect(kprobeMulti).toMatchObject({ supported: false, minimumVersion: undefined });
      else expect(kprobeMulti).toMatchObject({ supported: false, minimumVersion: '5.18' });
    }
  });

  it.skipIf(haveUprobeMulti)(`without uprobe_multi, attachUprobeMulti is a NotSupportedError that names 6.6${haveUprobeMulti ? ' — skipped: this kernel has it' : ''}`, () => {
    using prog = trivialProgram(AttachType.TraceUprobeMulti);
    const err = caught(() => attachUprobeMulti(prog, TARGET, { symbols: [FN] }));
    expect(err).toBeInstanceOf(NotSupportedError);
    expect((err as NotSupportedError).minimumVersion).toBe('6.6');
    expect((err as Error).message).toMatch(/uprobe_multi link .*\(requires Linux 6\.6 or later\); attach each place with attachUprobe instead/);
  });

  it.skipIf(haveKprobeMulti)(`without kprobe_multi, attachKprobeMulti is a NotSupportedError that says why${haveKprobeMulti ? ' — skipped: this kernel has it' : ''}`, () => {
    using prog = trivialProgram(AttachType.TraceKprobeMulti);
    const err = caught(() => attachKprobeMulti(prog, { symbols: [ksyscallName('getppid')] }));
    expect(err).toBeInstanceOf(NotSupportedError);
    const message = (err as Error).message;
    if (!kernelVersion().atLeast('5.18')) {
      expect((err as NotSupportedError).minimumVersion).toBe('5.18');
      expect(message).toMatch(/requires Linux 5\.18 or later\); attach each function with attachKprobe instead/);
      return;
    }
    expect(message).toMatch(/CONFIG_FPROBE/);
    const s = kprobeSupport();
    if (s.pmuType === undefined && !s.tracefsEvents) {
      // The host: no kprobes at all, and no fprobe either.
      expect(message).toMatch(/^kprobes are not available in this kernel \(CONFIG_KPROBES\), and neither are kprobe_multi links \(CONFIG_FPROBE/);
    } else {
      expect(message).toMatch(/built without CONFIG_FPROBE.*attach each function with attachKprobe instead/);
    }
    // Auto-attach from a section name gives the same error.
    expect(() => attachProgram(prog, { sectionName: 'kprobe.multi/__do_sys_getpp*' })).toThrow(NotSupportedError);
  });
});

describe.skipIf(uprobeSkip !== '')(`uprobe_multi${uprobeSkip === '' ? '' : ` — ${uprobeSkip}`}`, () => {
  const exe = (): Executable => Executable.open(TARGET);
  const infoSince68 = kernelVersion().atLeast('6.8');

  it('two functions with a cookie each: every call counted under its cookie, with its argument; info; close detaches', () => {
    const link = attachUprobeMulti(coll!.programs.uprobe_multi_entry!, TARGET, { symbols: [FN, 'main'], cookies: [1, 2] });
    const { pid, out } = runTarget(100);
    expect(out).toContain(`sum=${retSum(100)} `);
    expect(stats(pid, 1)).toEqual({ count: 100n, sum: argSum(100) });
    // main(argc, argv) runs once; its first argument is argc = 2.
    expect(stats(pid, 2)).toEqual({ count: 1n, sum: 2n });
    expect(countsOf(pid)).toEqual({ 'entry/1': 100n, 'entry/2': 1n });
    const info = link.info();
    expect(info.type).toBe(LinkType.UprobeMulti);
    if (infoSince68) {
      // bpf_link_info.uprobe_multi (6.8) keeps the order the link was made with.
      expect(info.uprobeMulti).toEqual({
        path: TARGET,
        count: 2,
        flags: 0,
        retprobe: false,
        pid: 0,
        offsets: [exe().symbolOffset(FN), exe().symbolOffset('main')],
        refCtrOffsets: [0n, 0n],
        cookies: [1n, 2n],
      });
    } else {
      expect(info.uprobeMulti).toBeUndefined();
    }
    expect(link.mode).toBe('bpf-link');
    link.close();
    const after = runTarget(10);
    expect(countsOf(after.pid)).toEqual({});
  });

  it('uretprobe_multi: every return counted with its return value; info says retprobe', () => {
    using link = attachUprobeMulti(coll!.programs.uprobe_multi_return!, TARGET, { symbols: [FN], retprobe: true, cookies: [7] });
    const { pid } = runTarget(50);
    expect(stats(pid, 7, true)).toEqual({ count: 50n, sum: retSum(50) });
    expect(countsOf(pid)).toEqual({ 'return/7': 50n });
    if (infoSince68) expect(link.info().uprobeMulti).toMatchObject({ count: 1, flags: 1, retprobe: true, cookies: [7n] });
  });

  it('file offsets: the function entry and its ret instruction (the fixture is lea; ret) each run once per call', () => {
    const entry = exe().symbolOffset(FN);
    // testdata/uprobe/target: ebpf_ts_uprobe_add is `lea (%rdi,%rsi),%rax` (4 bytes), then `ret`.
    const fd = openSync(TARGET, 'r');
    const code = new Uint8Array(5);
    readSync(fd, code, 0, 5, Number(entry));
    closeSync(fd);
    expect([...code]).toEqual([0x48, 0x8d, 0x04, 0x37, 0xc3]);
    using link = attachUprobeMulti(coll!.programs.uprobe_multi_entry!, exe(), { offsets: [entry, entry + 4n], cookies: [10n, 11n] });
    const { pid } = runTarget(20);
    expect(countsOf(pid)).toEqual({ 'entry/10': 20n, 'entry/11': 20n });
    expect(stats(pid, 11)?.sum).toBe(argSum(20));
    void link;
  });

  it('a pattern attaches to every matching function (here: one)', () => {
    expect(exe().functionsMatching('ebpf_ts_uprobe_*').map((s) => s.name)).toEqual([FN]);
    using link = attachUprobeMulti(coll!.programs.uprobe_multi_entry!, TARGET, { pattern: 'ebpf_ts_uprobe_*' });
    const { pid } = runTarget(30);
    expect(countsOf(pid)).toEqual({ 'entry/0': 30n });
    expect(link.what).toMatch(/ebpf_ts_uprobe_\* \(1 functions\)/);
  });

  it('the pid option limits the link to one process', async () => {
    const waiting = await startWaitingTarget(20);
    const link = attachUprobeMulti(coll!.programs.uprobe_multi_entry!, TARGET, { symbols: [FN], pid: waiting.child.pid! });
    try {
      if (infoSince68) expect(link.info().uprobeMulti?.pid).toBe(waiting.child.pid);
      const other = runTarget(10);
      await waiting.release();
      expect(countsOf(other.pid)).toEqual({});
      expect(countsOf(waiting.child.pid!)).toEqual({ 'entry/0': 20n });
    } finally {
      link.close();
    }
  });

  it('refCtrOffsets: the kernel raises the USDT semaphore while the link exists', async () => {
    const semaphore = exe().variableOffset('ebpf_ts_semaphore');
    const waiting = await startWaitingTarget(5);
    const link = attachUprobeMulti(coll!.programs.uprobe_multi_entry!, TARGET, { symbols: [FN], refCtrOffsets: [semaphore], pid: waiting.child.pid! });
    try {
      if (infoSince68) expect(link.info().uprobeMulti?.refCtrOffsets).toEqual([semaphore]);
      const out = await waiting.release();
      expect(out).toMatch(/semaphore_before=1 semaphore_after=1/);
      expect(countsOf(waiting.child.pid!)).toEqual({ 'entry/0': 5n });
    } finally {
      link.close();
    }
    expect(runTarget(1).out).toMatch(/semaphore_before=0/);
  });

  it('auto-attach from uprobe.multi/<binary>:<pattern> and uretprobe.multi/<binary>:<function> sections', () => {
    using entry = attachProgram(coll!.programs.uprobe_multi_entry!, { sectionName: `uprobe.multi/${TARGET}:ebpf_ts_uprobe_a?d` });
    using ret = attachProgram(coll!.programs.uprobe_multi_return!, { sectionName: `uretprobe.multi/${TARGET}:${FN}` });
    const { pid } = runTarget(7);
    expect(stats(pid, 0)).toEqual({ count: 7n, sum: argSum(7) });
    expect(stats(pid, 0, true)).toEqual({ count: 7n, sum: retSum(7) });
    void entry;
    void ret;
  });

  it('the link is a bpf_link: listLinks sees it, Link.fromId opens it', () => {
    using link = attachUprobeMulti(coll!.programs.uprobe_multi_entry!, TARGET, { symbols: [FN] });
    const { id } = link.info();
    const listed = listLinks().find((l) => l.id === id);
    expect(listed?.type).toBe(LinkType.UprobeMulti);
    using again = Link.fromId(id);
    expect(again.info().programId).toBe(link.info().programId);
  });

  it('a missing function is a SymbolNotFoundError with similar names; a pattern matching nothing too', () => {
    const err = caught(() => attachUprobeMulti(coll!.programs.uprobe_multi_entry!, TARGET, { symbols: [FN, 'ebpf_ts_uprobe_ad'] }));
    expect(err).toBeInstanceOf(SymbolNotFoundError);
    expect((err as SymbolNotFoundError).nearMatches).toContain(FN);
    const none = caught(() => attachUprobeMulti(coll!.programs.uprobe_multi_entry!, TARGET, { pattern: 'ebpf_ts_nothing_*' }));
    expect(none).toBeInstanceOf(SymbolNotFoundError);
    expect((none as Error).message).toContain(`not found in ${TARGET}`);
  });

  it('kernel refusals are SyscallErrors that say why: a pid that does not exist (ESRCH), an offset beyond the file (EINVAL)', () => {
    // pid_max is at most 2^22: this pid cannot exist.
    const esrch = caught(() => attachUprobeMulti(coll!.programs.uprobe_multi_entry!, TARGET, { symbols: [FN], pid: 2 ** 22 + 1 }));
    expect(esrch).toBeInstanceOf(SyscallError);
    expect((esrch as Error).message).toMatch(/ESRCH.*no such process/);
    const einval = caught(() => attachUprobeMulti(coll!.programs.uprobe_multi_entry!, TARGET, { offsets: [1n << 40n] }));
    expect(einval).toBeInstanceOf(SyscallError);
    expect((einval as Error).message).toMatch(/EINVAL.*beyond the end of/);
  });

  it('a program not loaded for uprobe_multi: ArgumentError when its attach type is known, the kernel\'s EINVAL explained when not', async () => {
    const classic = await loadCollection(UPROBE_OBJECT);
    try {
      const err = caught(() => attachUprobeMulti(classic.programs.on_add!, TARGET, { symbols: [FN] }));
      expect(err).toBeInstanceOf(ArgumentError);
      expect((err as Error).message).toMatch(/loaded with no expected attach type.*BPF_TRACE_UPROBE_MULTI/);
    } finally {
      classic.close();
    }
    using plain = trivialProgram();
    const err = caught(() => attachUprobeMulti(plain, TARGET, { symbols: [FN] }));
    expect(err).toBeInstanceOf(SyscallError);
    expect((err as Error).message).toMatch(/EINVAL.*not loaded with expected attach type BPF_TRACE_UPROBE_MULTI/);
    // With the attach type, the same program attaches.
    using good = trivialProgram(AttachType.TraceUprobeMulti);
    using link = attachUprobeMulti(good, TARGET, { symbols: [FN] });
    expect(link.closed).toBe(false);
  });
});

describe.skipIf(kprobeSkip !== '')(`kprobe_multi${kprobeSkip === '' ? '' : ` — ${kprobeSkip}`}`, () => {
  const getppid = ksyscallName('getppid');
  const getuid = ksyscallName('getuid');
  const pid = process.pid;

  beforeEach(() => clearStats());

  it(`${getppid} and ${getuid} with a cookie each: every call of this process counted under its cookie; info; close detaches`, () => {
    const link = attachKprobeMulti(coll!.programs.kprobe_multi_entry!, { symbols: [getppid, getuid], cookies: [1n, 2n] });
    callGetppid(100);
    callGetuid(50);
    expect(countsOf(pid)).toEqual({ 'entry/1': 100n, 'entry/2': 50n });
    const info = link.info();
    expect(info.type).toBe(LinkType.KprobeMulti);
    if (kernelVersion().atLeast('6.6')) {
      const km = info.kprobeMulti!;
      expect(km).toMatchObject({ count: 2, flags: 0, retprobe: false });
      // The kernel sorts the addresses and their cookies together (cookies from 6.9).
      expect(km.addresses.length).toBe(2);
      expect([...km.addresses].sort((a, b) => (a < b ? -1 : 1))).toEqual(km.addresses);
      if (kernelVersion().atLeast('6.9')) expect([...km.cookies].sort()).toEqual([1n, 2n]);
    }
    link.close();
    callGetppid(10);
    expect(countsOf(pid)).toEqual({ 'entry/1': 100n, 'entry/2': 50n });
  });

  it('kretprobe_multi counts returns; info says retprobe', () => {
    using link = attachKprobeMulti(coll!.programs.kprobe_multi_return!, { symbols: [getppid], retprobe: true });
    callGetppid(40);
    expect(countsOf(pid)).toEqual({ 'return/0': 40n });
    if (kernelVersion().atLeast('6.6')) expect(link.info().kprobeMulti).toMatchObject({ count: 1, flags: 1, retprobe: true });
  });

  it('a pattern over the functions ftrace can patch, and auto-attach from kprobe.multi/ and kretprobe.multi/ sections', () => {
    // getppid's function as available_filter_functions lists it (on 6.12: __do_sys_getppid, of
    // which __x64_sys_getppid is an alias), written as a pattern that matches only it.
    const listed = kprobeMultiFunctions(/^(__do_sys_getppid|__x64_sys_getppid|__arm64_sys_getppid|sys_getppid)$/);
    expect(listed.length).toBeGreaterThan(0);
    const name = listed[0]!;
    const pattern = `${name.slice(0, -1)}?`;
    expect(kprobeMultiFunctions(pattern)).toEqual([name]);
    {
      using link = attachKprobeMulti(coll!.programs.kprobe_multi_entry!, { pattern });
      callGetppid(25);
      expect(countsOf(pid)).toEqual({ 'entry/0': 25n });
      void link;
    }
    clearStats();
    using entry = attachProgram(coll!.programs.kprobe_multi_entry!, { sectionName: `kprobe.multi/${pattern}` });
    using ret = attachProgram(coll!.programs.kprobe_multi_return!, { sectionName: `kretprobe.multi/${getppid}` });
    callGetppid(15);
    expect(countsOf(pid)).toEqual({ 'entry/0': 15n, 'return/0': 15n });
    void entry;
    void ret;
  });

  it('addresses from /proc/kallsyms attach like the names', () => {
    const address = kallsyms().get(getuid)?.address ?? 0n;
    expect(address, 'root sees kernel addresses in /proc/kallsyms').toBeGreaterThan(0n);
    using link = attachKprobeMulti(coll!.programs.kprobe_multi_entry!, { addresses: [address], cookies: [9n] });
    callGetuid(12);
    expect(countsOf(pid)).toEqual({ 'entry/9': 12n });
    if (kernelVersion().atLeast('6.6')) expect(link.info().kprobeMulti?.addresses).toEqual([address]);
  });

  it('a missing function is a SymbolNotFoundError before anything is attached', () => {
    const err = caught(() => attachKprobeMulti(coll!.programs.kprobe_multi_entry!, { symbols: [getppid, 'do_execve_no_such'] }));
    expect(err).toBeInstanceOf(SymbolNotFoundError);
    expect((err as Error).message).toMatch(/do_execve_no_such not found in \/proc\/kallsyms/);
    const none = caught(() => attachKprobeMulti(coll!.programs.kprobe_multi_entry!, { pattern: 'ebpf_ts_no_such_function_*' }));
    expect(none).toBeInstanceOf(SymbolNotFoundError);
  });

  it('a program loaded without BPF_TRACE_KPROBE_MULTI: the kernel\'s EINVAL is explained', () => {
    using plain = trivialProgram();
    const err = caught(() => attachKprobeMulti(plain, { symbols: [getppid] }));
    expect(err).toBeInstanceOf(SyscallError);
    expect((err as Error).message).toMatch(/EINVAL.*not loaded with expected attach type BPF_TRACE_KPROBE_MULTI/);
  });
});
