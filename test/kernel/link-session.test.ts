// Session links against the running kernel: uprobe.session (6.13) on testdata/uprobe/target,
// which runs on the host, and kprobe.session (6.10 with CONFIG_FPROBE) on getppid's syscall
// function, which runs in test:vm (the host has no kprobes; Debian's 6.12 has kprobe sessions
// but not uprobe sessions, 6.1 neither):
//   EBPF_TS_VM_TESTS=test/kernel/link-session.test.ts npm run test:vm -- 6.12
// testdata/session.bpf.c counts entries and returns; its entry run asks for the return run
// only for even values and leaves a value in the session cookie for the return run.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as asm from '../../src/asm/index.js';
import { loadCollection, type Collection } from '../../src/collection.js';
import { ArgumentError, NotSupportedError } from '../../src/errors.js';
import { ksyscallName } from '../../src/internal/kallsyms.js';
import { attachProgram } from '../../src/link/auto.js';
import { attachKprobeMulti, kprobeSessionFeature } from '../../src/link/kprobe-multi.js';
import { LinkType } from '../../src/link/link.js';
import { attachUprobeMulti, uprobeSessionFeature } from '../../src/link/uprobe-multi.js';
import { Program } from '../../src/prog.js';
import { kernelVersion } from '../../src/sys/kernel-version.js';
import { backend } from '../../src/sys/select.js';
import { AttachType, ProgramType } from '../../src/types.js';
import { expectVersionedFeature, inEmulatedVM } from './helpers/kernel-features.js';
import { callGetppid, ensureTracefs } from './link-helpers.js';
import { startWaitingTarget, TARGET } from './helpers/uprobe-target.js';

const root = process.getuid?.() === 0;
const OBJECT = join(import.meta.dirname, '..', '..', 'testdata', 'session.bpfel.o');
const FN = 'ebpf_ts_uprobe_add';
const kernel = `Linux ${kernelVersion()}`;

if (root) ensureTracefs();
const noRoot = root ? '' : 'needs root for bpf()';
const uprobeSession = root ? uprobeSessionFeature.check() : undefined;
const kprobeSession = root ? kprobeSessionFeature.check() : undefined;
const why = (r: typeof uprobeSession): string => (r === undefined || r.supported === true ? '' : r.reason);
const uprobeSkip =
  noRoot !== ''
    ? noRoot
    : process.arch !== 'x64'
      ? `testdata/uprobe/target is an x86-64 binary; run testdata/uprobe/build.sh on this ${process.arch} machine`
      : uprobeSession?.supported !== true
        ? `${kernel} has no uprobe session links (${why(uprobeSession)}); the NotSupportedError is checked above`
        : '';
const kprobeSkip =
  noRoot !== ''
    ? noRoot
    : kprobeSession?.supported === true
      ? ''
      : inEmulatedVM
        ? `${kernel} has no kprobe session links (${why(kprobeSession)}); the NotSupportedError is checked above`
        : `runs in test:vm (6.12): this kernel has no kprobe session links (${why(kprobeSession)})`;
if (noRoot !== '') console.warn(`skipping session link tests: ${noRoot}`);

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

/** The counters of session.bpf.c whose names start with `prefix` (`uprobe_` or `kprobe_`). */
function counters(coll: Collection, prefix: 'uprobe' | 'kprobe'): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  for (const [name, v] of Object.entries(coll.variables)) if (name.startsWith(`${prefix}_`)) out[name.slice(prefix.length + 1)] = v.get() as bigint;
  return out;
}

/** Σ of the even numbers up to n: the cookies the return runs see. */
const evenSum = (n: number): bigint => {
  const k = BigInt(Math.floor(n / 2));
  return k * (k + 1n);
};

describe.skipIf(noRoot !== '')(`session links: what this kernel can do (${kernel}, backend ${root ? backend().kind : 'none'})`, () => {
  it('uprobe sessions from 6.13; kprobe sessions from 6.10 where the kernel has CONFIG_FPROBE (the probes agree with the version)', () => {
    expectVersionedFeature(uprobeSession!, '6.13', 'CONFIG_UPROBES');
    expectVersionedFeature(kprobeSession!, '6.10', 'CONFIG_FPROBE');
    if (inEmulatedVM) {
      // Debian's 6.12 has kprobe sessions (CONFIG_FPROBE) but predates uprobe sessions.
      if (kernelVersion().atLeast('6.12')) expect(kprobeSession).toEqual({ supported: true });
      else expect(kprobeSession).toMatchObject({ supported: false, minimumVersion: '6.10' });
    }
  });

  it.skipIf(uprobeSession?.supported === true)(`without uprobe sessions, attachUprobeMulti with session is a NotSupportedError that names 6.13${uprobeSession?.supported === true ? ' — skipped: this kernel has them' : ''}`, () => {
    using prog = trivialProgram(AttachType.TraceUprobeSession);
    const err = caught(() => attachUprobeMulti(prog, TARGET, { symbols: [FN] }));
    expect(err).toBeInstanceOf(NotSupportedError);
    if (!kernelVersion().atLeast('6.13')) {
      expect((err as NotSupportedError).minimumVersion).toBe('6.13');
      expect((err as Error).message).toMatch(/uprobe session link .*requires Linux 6\.13 or later/);
    }
  });

  it.skipIf(kprobeSession?.supported === true)(`without kprobe sessions, attachKprobeMulti with session is a NotSupportedError that says why${kprobeSession?.supported === true ? ' — skipped: this kernel has them' : ''}`, () => {
    using prog = trivialProgram(AttachType.TraceKprobeSession);
    const err = caught(() => attachKprobeMulti(prog, { symbols: [ksyscallName('getppid')] }));
    expect(err).toBeInstanceOf(NotSupportedError);
    if (!kernelVersion().atLeast('6.10')) {
      expect((err as NotSupportedError).minimumVersion).toBe('6.10');
      expect((err as Error).message).toMatch(/kprobe session link .*requires Linux 6\.10 or later/);
    } else {
      expect((err as Error).message).toMatch(/CONFIG_FPROBE/);
    }
    // Auto-attach from a section name gives the same error.
    expect(() => attachProgram(prog, { sectionName: `kprobe.session/${ksyscallName('getppid')}` })).toThrow(NotSupportedError);
  });

  it('session with retprobe, and a program loaded for another attach type, are ArgumentErrors before any syscall', () => {
    using multi = trivialProgram(AttachType.TraceUprobeMulti);
    expect(() => attachUprobeMulti(multi, TARGET, { symbols: [FN], session: true })).toThrow(/loaded with expected attach type TraceUprobeMulti.*BPF_TRACE_UPROBE_SESSION.*uprobe\.session\//);
    using session = trivialProgram(AttachType.TraceUprobeSession);
    expect(() => attachUprobeMulti(session, TARGET, { symbols: [FN], retprobe: true })).toThrow(ArgumentError);
    // A session program is not a plain uprobe_multi one either.
    expect(() => attachUprobeMulti(session, TARGET, { symbols: [FN], session: false })).toThrow(/BPF_TRACE_UPROBE_MULTI/);
    using kmulti = trivialProgram(AttachType.TraceKprobeMulti);
    expect(() => attachKprobeMulti(kmulti, { symbols: ['x'], session: true })).toThrow(/BPF_TRACE_KPROBE_SESSION/);
    using ksession = trivialProgram(AttachType.TraceKprobeSession);
    expect(() => attachKprobeMulti(ksession, { symbols: ['x'], retprobe: true })).toThrow(/retprobe does not apply/);
  });
});

describe.skipIf(uprobeSkip !== '')(`uprobe.session${uprobeSkip === '' ? '' : ` — ${uprobeSkip}`}`, () => {
  let coll: Collection | undefined;
  beforeAll(async () => {
    coll = await loadCollection(OBJECT, { programs: ['uprobe_session'] });
  });
  afterAll(() => coll?.close());

  it('100 calls: 100 entries; the return runs for the 50 even arguments only, each with the cookie its entry left (= the return value - 1000)', async () => {
    const waiting = await startWaitingTarget(100);
    const link = attachUprobeMulti(coll!.programs.uprobe_session!, TARGET, { symbols: [FN], pid: waiting.child.pid! });
    try {
      expect(link.what).toMatch(/^uprobe_session /);
      const info = link.info();
      expect(info.type).toBe(LinkType.UprobeMulti);
      const out = await waiting.release();
      // Σ (i + 1000) for i = 1..100: the probes do not change what the function returns.
      expect(out).toContain('sum=105050 ');
    } finally {
      link.close();
    }
    expect(counters(coll!, 'uprobe')).toEqual({ entries: 100n, returns: 50n, cookie_sum: evenSum(100), matched: 50n });
  });

  it('auto-attach from a uprobe.session/<binary>:<function> section', async () => {
    const waiting = await startWaitingTarget(9);
    // A second copy that counts only the waiting process (auto-attach has no pid option).
    using own = await loadCollection(OBJECT, { programs: ['uprobe_session'], constants: { target_tgid: waiting.child.pid! } });
    const link = attachProgram(own.programs.uprobe_session!, { sectionName: `uprobe.session/${TARGET}:${FN}` });
    try {
      await waiting.release();
    } finally {
      link.close();
    }
    expect(counters(own, 'uprobe')).toEqual({ entries: 9n, returns: 4n, cookie_sum: evenSum(9), matched: 4n });
  });
});

describe.skipIf(kprobeSkip !== '')(`kprobe.session${kprobeSkip === '' ? '' : ` — ${kprobeSkip}`}`, () => {
  const getppid = ksyscallName('getppid');

  it(`${getppid}: 100 entries; the return runs for every second entry, with the entry's number in the cookie`, async () => {
    using coll = await loadCollection(OBJECT, { programs: ['kprobe_session'], constants: { target_tgid: process.pid } });
    const link = attachKprobeMulti(coll.programs.kprobe_session!, { symbols: [getppid] });
    expect(link.what).toMatch(/^kprobe_session /);
    expect(link.info().type).toBe(LinkType.KprobeMulti);
    callGetppid(100);
    link.close();
    callGetppid(10);
    expect(counters(coll, 'kprobe')).toEqual({ entries: 100n, returns: 50n, cookie_sum: evenSum(100) });
  });

  it('auto-attach from a kprobe.session/<function> section', async () => {
    using coll = await loadCollection(OBJECT, { programs: ['kprobe_session'], constants: { target_tgid: process.pid } });
    {
      using link = attachProgram(coll.programs.kprobe_session!, { sectionName: `kprobe.session/${getppid}` });
      callGetppid(21);
      void link;
    }
    expect(counters(coll, 'kprobe')).toEqual({ entries: 21n, returns: 10n, cookie_sum: evenSum(20) });
  });
});
