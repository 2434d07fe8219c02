// kprobes and kretprobes against the running kernel. The host kernel has no kprobes
// (CONFIG_KPROBES unset): there the tests check the clear NotSupportedError and the symbol
// checks that need only /proc/kallsyms; the attach tests run in test:vm, e.g.
//   ../shared/tools/vm-run.sh -k 6.1 -- 'cd /work/main && npx vitest run --project kernel test/kernel/link-kprobe.test.ts'
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { ArgumentError, NotSupportedError, SymbolNotFoundError } from '../../src/errors.js';
import { attachProgram } from '../../src/link/auto.js';
import { kallsyms, ksyscallName } from '../../src/internal/kallsyms.js';
import { attachKprobe, attachKretprobe, attachKsyscall, kprobeFunctions, kprobeSupport } from '../../src/link/kprobe.js';
import { liveTracefsProbeEvents } from '../../src/link/probe-events.js';
import { LinkType } from '../../src/link/link.js';
import { perfLinkFeature } from '../../src/link/perf-event.js';
import { tracefsPath } from '../../src/internal/tracefs.js';
import { kernelVersion } from '../../src/sys/kernel-version.js';
import { backend } from '../../src/sys/select.js';
import { ProgramType } from '../../src/types.js';
import { callGetppid, counterMap, countingProgram, ensureTracefs, readCount } from './link-helpers.js';
import { configHas, expectVersionedFeature, inEmulatedVM } from './helpers/kernel-features.js';

const root = process.getuid?.() === 0;
if (root) ensureTracefs();
const support = root ? kprobeSupport() : undefined;
const haveKprobes = support !== undefined && (support.pmuType !== undefined || support.tracefsEvents);
const noRoot = root ? '' : 'needs root for bpf() and tracefs';
const VM_ONLY = 'runs in test:vm: host kernel has no kprobes (CONFIG_KPROBES unset)';
if (noRoot !== '') console.warn(`skipping kprobe kernel tests: ${noRoot}`);
else if (!haveKprobes) console.warn(`skipping kprobe attach tests: ${VM_ONLY}`);

const GETPPID = ksyscallName('getppid');
const kprobeEvents = (): string => readFileSync(join(tracefsPath(), 'kprobe_events'), 'utf8');

describe.skipIf(noRoot !== '')(`kprobe checks on any kernel (backend ${root ? backend().kind : 'none'})`, () => {
  it('SymbolNotFoundError for do_execve suggests do_execveat_common (5.9+)', () => {
    using map = counterMap();
    using prog = countingProgram(ProgramType.Kprobe, map);
    if (kallsyms().get('do_execve') !== undefined) return; // kernels before 5.9 still have it
    let err: unknown;
    try {
      attachKprobe(prog, 'do_execve');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SymbolNotFoundError);
    const e = err as SymbolNotFoundError;
    expect(e.nearMatches.some((n) => n.startsWith('do_execveat_common'))).toBe(true);
    expect(e.message).toMatch(/do_execve.*not found in \/proc\/kallsyms/);
    expect(e.message).toMatch(/did you mean .*do_execveat_common/);
  });

  it('rejects names with spaces, newlines or ../ before touching tracefs', () => {
    using map = counterMap();
    using prog = countingProgram(ProgramType.Kprobe, map);
    for (const bad of ['do_sys_openat2 x', 'x\n-:kprobes/y', '../../etc/passwd', 'a/b', '']) {
      expect(() => attachKprobe(prog, bad, { via: 'tracefs' })).toThrow(ArgumentError);
    }
  });

  it('kprobeFunctions lists attachable functions, syscall wrappers included', () => {
    const found = kprobeFunctions('*sys_getppid');
    expect(found).toContain(GETPPID);
    expect(found.every((n) => n.endsWith('sys_getppid'))).toBe(true);
  });

  it('kprobes: the test:vm kernels have them (the attachment tests must run there); where they are missing the kernel config agrees', () => {
    if (inEmulatedVM) expect(haveKprobes, 'the Debian kernels of test:vm are built with CONFIG_KPROBES').toBe(true);
    if (!haveKprobes && configHas('CONFIG_KPROBES') !== undefined) expect(configHas('CONFIG_KPROBES')).toBe(false);
  });

  it.skipIf(haveKprobes)(`on a kernel without kprobes, attaching says so clearly (NotSupportedError)${haveKprobes ? ' — skipped: this kernel has kprobes' : ''}`, () => {
    using map = counterMap();
    using prog = countingProgram(ProgramType.Kprobe, map);
    const target = kallsyms().get('do_sys_openat2') !== undefined ? 'do_sys_openat2' : GETPPID;
    let err: unknown;
    try {
      attachKprobe(prog, target);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NotSupportedError);
    expect((err as Error).message).toMatch(/^kprobes are not available in this kernel \(CONFIG_KPROBES\)/);
    expect(() => attachKretprobe(prog, target)).toThrow(/kprobes are not available in this kernel \(CONFIG_KPROBES\)/);
    expect(() => attachKsyscall(prog, 'getppid')).toThrow(NotSupportedError);
  });
});

describe.skipIf(noRoot !== '' || !haveKprobes)(`kprobe attachment (VM kernels)${root && !haveKprobes ? ` — ${VM_ONLY}` : ''}`, () => {
  beforeAll(() => {
    console.log(`kernel ${kernelVersion()}: kprobe PMU ${support?.pmuType ?? 'none'}, kprobe_events ${support?.tracefsEvents}, perf link ${perfLinkFeature.supported()}`);
  });

  for (const via of ['auto', 'tracefs'] as const) {
    it(`kprobe (${via}) on ${GETPPID} counts this process's getppid calls exactly; close detaches`, () => {
      using map = counterMap();
      using prog = countingProgram(ProgramType.Kprobe, map, 'count_kprobe');
      const link = attachKprobe(prog, GETPPID, { via });
      callGetppid(100);
      expect(readCount(map)).toBe(100n);
      if (link.mode !== 'perf-ioctl') {
        const info = link.info();
        expect(info.type).toBe(LinkType.PerfEvent);
        // bpf_link_info.perf_event (6.6): a PMU kprobe reports its function.
        if (kernelVersion().atLeast('6.6') && via === 'auto') expect(info.perfEvent).toMatchObject({ kind: 'kprobe', name: GETPPID, offset: 0 });
      }
      if (via === 'tracefs') expect(kprobeEvents()).toMatch(new RegExp(`ebpf_ts_${process.pid}_\\d+/`));
      link.close();
      callGetppid(20);
      expect(readCount(map)).toBe(100n);
      // The tracefs event is gone from kprobe_events once the link is closed.
      expect(kprobeEvents()).not.toMatch(new RegExp(`ebpf_ts_${process.pid}_`));
      expect(liveTracefsProbeEvents()).toEqual([]);
    });

    it(`kretprobe (${via}) counts returns exactly`, () => {
      using map = counterMap();
      using prog = countingProgram(ProgramType.Kprobe, map, 'count_kret');
      using link = attachKretprobe(prog, GETPPID, { via });
      callGetppid(50);
      expect(readCount(map)).toBe(50n);
      void link;
    });
  }

  it('kretprobe with maxActive goes through tracefs (r<N>:) and is cleaned up', () => {
    using map = counterMap();
    using prog = countingProgram(ProgramType.Kprobe, map, 'count_maxact');
    const link = attachKretprobe(prog, GETPPID, { maxActive: 16 });
    expect(kprobeEvents()).toMatch(new RegExp(`^r16:ebpf_ts_${process.pid}_\\d+/`, 'm'));
    callGetppid(10);
    expect(readCount(map)).toBe(10n);
    link.close();
    expect(kprobeEvents()).not.toMatch(new RegExp(`ebpf_ts_${process.pid}_`));
  });

  it('a failed tracefs attachment leaves no event behind', () => {
    using map = counterMap();
    using prog = countingProgram(ProgramType.Kprobe, map, 'count_fail');
    // A kretprobe program needs no cookie; a cookie without perf links fails after the event
    // was created, which must then be removed. With perf links, a wrong program type fails.
    const spy = vi.spyOn(perfLinkFeature, 'supported').mockReturnValue(false);
    try {
      expect(() => attachKprobe(prog, GETPPID, { via: 'tracefs', cookie: 1 })).toThrow(/cookie/);
    } finally {
      spy.mockRestore();
    }
    expect(kprobeEvents()).not.toMatch(new RegExp(`ebpf_ts_${process.pid}_`));
  });

  it('BPF perf links (cookies) from 5.15', () => {
    expectVersionedFeature(perfLinkFeature.check(), '5.15');
  });

  it.skipIf(!perfLinkFeature.supported())(`passes a cookie through the perf link${perfLinkFeature.supported() ? '' : ` — skipped: BPF perf links need Linux 5.15 (Linux ${kernelVersion()})`}`, () => {
    using map = counterMap();
    using prog = countingProgram(ProgramType.Kprobe, map, 'count_cookie');
    using link = attachKprobe(prog, GETPPID, { cookie: 0x1234n });
    callGetppid(5);
    expect(readCount(map)).toBe(5n);
    void link;
  });

  it('ksyscall and auto-attach resolve the syscall wrapper', () => {
    using map = counterMap();
    using prog = countingProgram(ProgramType.Kprobe, map, 'count_ksys');
    using a = attachKsyscall(prog, 'getppid');
    using b = attachProgram(prog, { sectionName: `kprobe/${GETPPID}` });
    callGetppid(10);
    expect(readCount(map)).toBe(20n);
    void a;
    void b;
  });
});
