// Sampling with perf events against the running kernel: testdata/profile.bpf.c counts the
// stacks a per-CPU sampling event interrupts in testdata/profile/busy, a process that burns
// CPU in ebpf_ts_profile_hot() (called from ebpf_ts_profile_outer()). Every test opens one
// event per online CPU with attachPerfEventAllCPUs and checks what the program saw.
//
// Hardware events need a PMU: the host (a VM) and qemu TCG guests have none, so a hardware
// request must fall back to cpu-clock there; where a PMU exists it must be used as asked.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCollection, type Collection } from '../../src/collection.js';
import { ArgumentError, NotSupportedError } from '../../src/errors.js';
import {
  PERF_COUNT_HW_CPU_CYCLES,
  PERF_COUNT_SW_CPU_CLOCK,
  PerfType,
} from '../../src/internal/perf-event.js';
import { LinkType } from '../../src/link/link.js';
import { perfLinkFeature } from '../../src/link/perf-event.js';
import { attachPerfEventAllCPUs } from '../../src/link/perf-event-cpus.js';
import { onlineCPUs } from '../../src/sys/cpus.js';
import { stackTrace } from '../../src/profile/stack-trace.js';
import { formatFrame, Symbolizer } from '../../src/profile/symbolizer.js';
import { kernelVersion } from '../../src/sys/kernel-version.js';
import { backend } from '../../src/sys/select.js';

const root = process.getuid?.() === 0;
const testdata = join(import.meta.dirname, '..', '..', 'testdata');
const OBJECT = join(testdata, 'profile.bpfel.o');
const BUSY = join(testdata, 'profile', 'busy');
const HOT = 'ebpf_ts_profile_hot';
// The host has no hardware PMU; a guest under TCG neither. Where one exists, hardware events open.
const hasPMU = existsSync('/sys/bus/event_source/devices/cpu') || existsSync('/sys/bus/event_source/devices/armv8_pmuv3_0');

const skip = !root
  ? 'needs root for bpf() and CPU-wide perf events'
  : process.arch !== 'x64'
    ? `testdata/profile/busy is an x86-64 binary; run testdata/profile/build.sh on this ${process.arch} machine`
    : '';
if (skip !== '') console.warn(`skipping perf sampling kernel tests: ${skip}`);

// A guest under TCG runs the busy loop (and our JS) 10–20× slower; sample for longer there.
const SECONDS = process.env.EBPF_TS_VM === '1' ? 6 : 2;

/** Starts busy for `seconds`; resolves once it printed "ready" (it is burning CPU from then on). */
async function startBusy(seconds: number): Promise<{ child: ChildProcessWithoutNullStreams; done: Promise<void> }> {
  const child = spawn(BUSY, [String(seconds)]);
  let out = '';
  child.stdout.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      if (out.includes('ready\n')) resolve();
    });
  });
  const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, done };
}

/** The counts map's entries: tgid, stack ids, comm and count. */
function samples(coll: Collection): Array<{ tgid: number; userStack: number; kernelStack: number; comm: string; count: bigint }> {
  const out = [];
  for (const [k, v] of coll.maps.counts!.entries()) {
    const key = new DataView(k.buffer, k.byteOffset, k.byteLength);
    const comm = Buffer.from(k.subarray(12, 28)).toString('latin1').replace(/\0.*$/s, '');
    const value = v as Uint8Array;
    out.push({
      tgid: key.getUint32(0, true),
      userStack: key.getInt32(4, true),
      kernelStack: key.getInt32(8, true),
      comm,
      count: new DataView(value.buffer, value.byteOffset).getBigUint64(0, true),
    });
  }
  return out;
}

function clearCounts(coll: Collection): void {
  for (const k of [...coll.maps.counts!.keys()]) coll.maps.counts!.delete(k);
}

const openFds = (): number => readdirSync('/proc/self/fd').length;

/** How many of this process's fds are perf events and bpf links (the child's pipes come and go). */
function eventFds(): { perfEvents: number; links: number } {
  let perfEvents = 0;
  let links = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // the directory's own fd, closed by now
    }
    if (target === 'anon_inode:[perf_event]') perfEvents++;
    else if (target === 'anon_inode:bpf_link') links++;
  }
  return { perfEvents, links };
}

describe.skipIf(skip !== '')(`perf event sampling on every CPU (backend ${root ? backend().kind : 'none'})`, () => {
  let coll: Collection;
  beforeAll(async () => {
    coll = await loadCollection(OBJECT);
  });
  afterAll(() => coll?.close());

  it('cpu-clock at 199 Hz on every online CPU samples the busy child; close() closes every event fd', async () => {
    clearCounts(coll);
    const busy = await startBusy(SECONDS);
    const before = eventFds();
    const sampling = attachPerfEventAllCPUs(coll.programs.profile!, { type: PerfType.Software, config: PERF_COUNT_SW_CPU_CLOCK, frequency: 199 });
    try {
      expect(sampling.event).toMatchObject({ type: PerfType.Software, config: 0n, name: 'cpu-clock', fallback: false, frequency: 199, pid: -1 });
      expect(sampling.event.cpus).toEqual(onlineCPUs());
      expect(sampling.links).toHaveLength(onlineCPUs().length);
      // One event fd per CPU, plus a link fd each with perf links.
      const cpus = onlineCPUs().length;
      expect(eventFds()).toEqual({ perfEvents: before.perfEvents + cpus, links: before.links + (perfLinkFeature.supported() ? cpus : 0) });
      for (const link of sampling.links) expect(link.mode).toBe(perfLinkFeature.supported() ? 'perf-link' : 'perf-ioctl');
      if (perfLinkFeature.supported()) {
        const info = sampling.links[0]!.info();
        expect(info.type).toBe(LinkType.PerfEvent);
        // bpf_link_info.perf_event reports the event's type and config from 6.6 on. The type is
        // the one the event ended up with: recent kernels (6.18 here) move cpu-clock to a PMU of
        // its own with a dynamic type number (6 on this host), not listed in sysfs.
        if (kernelVersion().atLeast('6.6')) {
          expect(info.perfEvent).toMatchObject({ kind: 'event', config: 0n });
          const type = info.perfEvent!.eventType!;
          expect(type === PerfType.Software || type > PerfType.Breakpoint, `event type ${type}`).toBe(true);
        }
      }
      await busy.done;
    } finally {
      sampling.close();
    }
    expect(sampling.closed).toBe(true);
    expect(eventFds()).toEqual(before);
    const mine = samples(coll).filter((s) => s.tgid === busy.child.pid);
    const total = mine.reduce((sum, s) => sum + s.count, 0n);
    expect(total).toBeGreaterThan(0n);
    expect(new Set(mine.map((s) => s.comm))).toEqual(new Set(['busy']));
  });

  it('user stacks of the busy child symbolise to its hot function, called from ebpf_ts_profile_outer and main; kernel stacks to kallsyms names', async () => {
    clearCounts(coll);
    const symbols = new Symbolizer();
    const busy = await startBusy(SECONDS);
    // Read its mappings while it lives: it exits before the stacks are read.
    symbols.loadProcess(busy.child.pid!);
    {
      using _sampling = attachPerfEventAllCPUs(coll.programs.profile!, { type: PerfType.Software, config: PERF_COUNT_SW_CPU_CLOCK, frequency: 199 });
      await busy.done;
    }
    const mine = samples(coll).filter((s) => s.tgid === busy.child.pid);
    let inHot = 0n;
    let withCallers = 0n;
    let all = 0n;
    const seen: string[] = [];
    for (const sample of mine) {
      // A sample without a user stack caught the child in the kernel (exec, page faults, exit),
      // which on a loaded machine can be a good part of a short run: the claim is about user time.
      if (sample.userStack < 0) continue;
      all += sample.count;
      const frames = symbols.userStack(busy.child.pid!, stackTrace(coll.maps.stacks!, sample.userStack) ?? []);
      seen.push(frames.map(formatFrame).join(' <- '));
      if (frames[0]?.symbol === HOT && frames[0].module === BUSY) {
        inHot += sample.count;
        const callers = frames.map((f) => f.symbol);
        if (callers[1] === 'ebpf_ts_profile_outer' && callers.includes('main')) withCallers += sample.count;
      }
      if (sample.kernelStack >= 0) {
        for (const f of symbols.kernelStack(stackTrace(coll.maps.stacks!, sample.kernelStack) ?? [])) expect(f.symbol, formatFrame(f)).toBeDefined();
      }
    }
    // The loop is nearly all the child does in user space; time() in the vDSO takes the rest.
    expect(Number(inHot), seen.join('\n')).toBeGreaterThan(Number(all) / 2);
    // Frame pointers let the kernel walk out of the hot function; a sample on its first two
    // instructions (before the frame is set up) would skip a caller, hence "most".
    expect(Number(withCallers), seen.join('\n')).toBeGreaterThan(Number(inHot) / 2);
  });

  it(`a hardware cycles request ${hasPMU ? 'samples cycles (a PMU exists here)' : 'falls back to cpu-clock (no PMU here)'}`, async () => {
    const before = openFds();
    {
      using sampling = attachPerfEventAllCPUs(coll.programs.profile!, { type: PerfType.Hardware, config: PERF_COUNT_HW_CPU_CYCLES, period: 1_000_000n });
      expect(sampling.event.requested).toBe('cycles');
      if (hasPMU) expect(sampling.event).toMatchObject({ name: 'cycles', fallback: false });
      else expect(sampling.event).toMatchObject({ name: 'cpu-clock', fallback: true, type: PerfType.Software, period: 1_000_000n });
      expect(String(sampling)).toMatch(/^PerfEventMultiLink\(perf event \S+ every 1000000 events on \d+ CPUs, \d+ links\)$/);
      expect(openFds()).toBeGreaterThan(before);
    }
    // `using` closed every event and link.
    expect(openFds()).toBe(before);
  });

  it.skipIf(hasPMU)('without a PMU and with fallback: false, a hardware event is NotSupported and nothing is left open', () => {
    const before = openFds();
    expect(() =>
      attachPerfEventAllCPUs(coll.programs.profile!, { type: PerfType.Hardware, config: PERF_COUNT_HW_CPU_CYCLES, frequency: 99, fallback: false }),
    ).toThrow(NotSupportedError);
    expect(openFds()).toBe(before);
  });

  it('refuses both frequency and period, and a program that is not perf_event, before opening anything', () => {
    const before = openFds();
    expect(() => attachPerfEventAllCPUs(coll.programs.profile!, { type: PerfType.Software, config: 0, frequency: 99, period: 1000 })).toThrow(ArgumentError);
    expect(openFds()).toBe(before);
  });
});
