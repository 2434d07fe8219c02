// uprobes and uretprobes against the running kernel, on testdata/uprobe/target: a small
// program that calls ebpf_ts_uprobe_add(i, 1000) for i = 1..N (testdata/uprobe/target.c).
// testdata/uprobe.bpf.c counts the calls per process and sums the first argument at entry and
// the return value at return, so every test can check exact figures.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCollection, type Collection } from '../../src/collection.js';
import { SymbolNotFoundError, SyscallError } from '../../src/errors.js';
import { attachProgram } from '../../src/link/auto.js';
import { Executable } from '../../src/link/executable.js';
import { LinkType } from '../../src/link/link.js';
import { perfLinkFeature } from '../../src/link/perf-event.js';
import { liveTracefsProbeEvents } from '../../src/link/probe-events.js';
import { tracefsPath } from '../../src/internal/tracefs.js';
import { attachUprobe, attachUretprobe, uprobeSupport } from '../../src/link/uprobe.js';
import { kernelVersion } from '../../src/sys/kernel-version.js';
import { backend } from '../../src/sys/select.js';
import { ensureTracefs } from './link-helpers.js';
import { runTarget, startWaitingTarget, TARGET } from './helpers/uprobe-target.js';

const root = process.getuid?.() === 0;
const OBJECT = join(__dirname, '..', '..', 'testdata', 'uprobe.bpfel.o');
const FN = 'ebpf_ts_uprobe_add';

if (root) ensureTracefs();
const support = root ? uprobeSupport() : undefined;
const haveUprobes = support !== undefined && (support.pmuType !== undefined || support.tracefsEvents);
// The committed fixture is an x86-64 executable (testdata/uprobe/build.sh rebuilds it).
const skip = !root
  ? 'needs root for bpf() and perf_event_open'
  : process.arch !== 'x64'
    ? `testdata/uprobe/target is an x86-64 binary; run testdata/uprobe/build.sh on this ${process.arch} machine`
    : !haveUprobes
      ? 'this kernel has neither a uprobe PMU nor tracefs uprobe_events (CONFIG_UPROBE_EVENTS)'
      : '';
if (skip !== '') console.warn(`skipping uprobe kernel tests: ${skip}`);

interface Stats {
  calls: bigint;
  argSum: bigint;
  returns: bigint;
  retSum: bigint;
}

function expectedSums(n: number): { argSum: bigint; retSum: bigint } {
  const argSum = BigInt((n * (n + 1)) / 2);
  return { argSum, retSum: argSum + 1000n * BigInt(n) };
}

describe.skipIf(skip !== '')(`uprobes (backend ${root ? backend().kind : 'none'})`, () => {
  let coll: Collection;
  const stats = (pid: number): Stats | undefined => {
    const key = new Uint8Array(4);
    new DataView(key.buffer).setUint32(0, pid, true);
    const v = coll.maps.uprobe_stats!.lookup(key) as Uint8Array | undefined;
    if (v === undefined) return undefined;
    const d = new DataView(v.buffer, v.byteOffset);
    return { calls: d.getBigUint64(0, true), argSum: d.getBigUint64(8, true), returns: d.getBigUint64(16, true), retSum: d.getBigUint64(24, true) };
  };
  const uprobeEvents = (): string => readFileSync(join(tracefsPath(), 'uprobe_events'), 'utf8');

  beforeAll(async () => {
    coll = await loadCollection(OBJECT);
  });
  afterAll(() => coll?.close());

  for (const via of ['auto', 'tracefs'] as const) {
    it(`uprobe and uretprobe (${via}) see every call with its argument and return value; close detaches`, () => {
      const entry = attachUprobe(coll.programs.on_add!, TARGET, FN, { via });
      const exit = attachUretprobe(coll.programs.on_add_ret!, TARGET, FN, { via });
      if (via === 'tracefs') {
        expect(uprobeEvents()).toMatch(new RegExp(`^p:ebpf_ts_${process.pid}_\\d+/target_0x[0-9a-f]+ ${TARGET.replace(/[.]/g, '\\.')}:0x[0-9a-f]+$`, 'm'));
        expect(uprobeEvents()).toMatch(new RegExp(`^r:ebpf_ts_${process.pid}_\\d+/`, 'm'));
      }
      const { pid, out } = runTarget(100);
      const want = expectedSums(100);
      expect(out).toContain(`sum=${want.retSum} `);
      expect(stats(pid)).toEqual({ calls: 100n, argSum: want.argSum, returns: 100n, retSum: want.retSum });
      if (entry.mode !== 'perf-ioctl') {
        const info = entry.info();
        expect(info.type).toBe(LinkType.PerfEvent);
        // bpf_link_info.perf_event (6.6) names the binary and the offset.
        if (kernelVersion().atLeast('6.6')) {
          expect(info.perfEvent).toMatchObject({ kind: 'uprobe', name: TARGET, offset: Number(Executable.open(TARGET).symbolOffset(FN)) });
          expect(exit.info().perfEvent?.kind).toBe('uretprobe');
        } else {
          expect(info.perfEvent).toBeUndefined();
        }
      }
      entry.close();
      exit.close();
      const after = runTarget(10);
      expect(stats(after.pid)).toBeUndefined();
      if (via === 'tracefs') {
        expect(uprobeEvents()).not.toMatch(new RegExp(`ebpf_ts_${process.pid}_`));
        expect(liveTracefsProbeEvents()).toEqual([]);
      }
    });
  }

  it('the pid option limits the probe to one process', async () => {
    const waiting = await startWaitingTarget(20);
    const link = attachUprobe(coll.programs.on_add!, TARGET, FN, { pid: waiting.child.pid! });
    try {
      const other = runTarget(10);
      await waiting.release();
      expect(stats(other.pid)).toBeUndefined();
      expect(stats(waiting.child.pid!)?.calls).toBe(20n);
    } finally {
      link.close();
    }
  });

  it('refCtrOffset: the kernel raises the USDT semaphore while the probe is attached', async () => {
    const refCtrOffset = Executable.open(TARGET).variableOffset('ebpf_ts_semaphore');
    const waiting = await startWaitingTarget(5);
    const link = attachUprobe(coll.programs.on_add!, TARGET, FN, { pid: waiting.child.pid!, refCtrOffset, ...(perfLinkFeature.supported() ? { cookie: 7n } : {}) });
    try {
      // The semaphore offset is in the link info from 6.16, the cookie from 6.9.
      if (kernelVersion().atLeast('6.16')) expect(link.info().perfEvent).toMatchObject({ refCtrOffset, cookie: 7n });
      const out = await waiting.release();
      expect(out).toMatch(/semaphore_before=1 semaphore_after=1/);
      expect(stats(waiting.child.pid!)?.calls).toBe(5n);
    } finally {
      link.close();
    }
    // Without a probe the semaphore stays 0.
    expect(runTarget(1).out).toMatch(/semaphore_before=0/);
  });

  it('auto-attach from a uprobe/<binary>:<function> section', () => {
    const link = attachProgram(coll.programs.on_add!, { sectionName: `uprobe/${TARGET}:${FN}` });
    const ret = attachProgram(coll.programs.on_add_ret!, { sectionName: `uretprobe/${TARGET}:${FN}` });
    try {
      const { pid } = runTarget(7);
      const want = expectedSums(7);
      expect(stats(pid)).toEqual({ calls: 7n, argSum: want.argSum, returns: 7n, retSum: want.retSum });
    } finally {
      link.close();
      ret.close();
    }
  });

  it('a file offset instead of a symbol attaches at the same place', () => {
    const offset = Executable.open(TARGET).symbolOffset(FN);
    using link = attachUprobe(coll.programs.on_add!, TARGET, offset);
    const { pid } = runTarget(3);
    expect(stats(pid)?.calls).toBe(3n);
    expect(link.closed).toBe(false);
  });

  it('a missing function is a SymbolNotFoundError naming the binary and similar names', () => {
    let err: unknown;
    try {
      attachUprobe(coll.programs.on_add!, TARGET, 'ebpf_ts_uprobe_ad');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SymbolNotFoundError);
    expect((err as Error).message).toContain(`not found in ${TARGET}`);
    expect((err as SymbolNotFoundError).nearMatches).toContain(FN);
  });

  it('a pid that does not exist is a SyscallError that says so', () => {
    // pid_max is at most 2^22: this pid cannot exist.
    let err: unknown;
    try {
      attachUprobe(coll.programs.on_add!, TARGET, FN, { pid: 2 ** 22 + 1, via: support?.pmuType === undefined ? 'tracefs' : 'pmu' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SyscallError);
    expect((err as Error).message).toMatch(/ESRCH.*no such process/);
  });
});
