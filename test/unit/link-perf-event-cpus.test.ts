// attachPerfEventAllCPUs on the fake kernel: the perf_event_attr of a frequency and of a
// period, one event per CPU with the pid and inherit asked for, the hardware → cpu-clock
// fallback and its refusals, every argument mistake refused before perf_event_open, and
// every fd closed when a CPU fails half-way or the MultiLink closes.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as asm from '../../src/asm/index.js';
import { ArgumentError, NotSupportedError, SyscallError } from '../../src/errors.js';
import {
  PERF_COUNT_HW_CACHE_MISSES,
  PERF_COUNT_HW_CPU_CYCLES,
  PERF_COUNT_SW_CPU_CLOCK,
  PERF_COUNT_SW_PAGE_FAULTS,
  PERF_EVENT_IOC_ENABLE,
  PERF_EVENT_IOC_SET_BPF,
  PerfAttrFlag,
  PerfAttrOffset,
  perfEventName,
  PerfType,
} from '../../src/internal/perf-event.js';
import { MultiLink } from '../../src/link/multi-link.js';
import { attachPerfEventAllCPUs, PerfEventMultiLink } from '../../src/link/perf-event-cpus.js';
import { Program } from '../../src/prog.js';
import { hostLittleEndian } from '../../src/sys/attr.js';
import { Cmd } from '../../src/sys/layouts.js';
import { ProgramType } from '../../src/types.js';
import { caught, installFakeKernel, type PerfFake, uninstallFakeKernel } from './helpers/perf-fake.js';

const ENOENT = 2;
const EACCES = 13;
const EMFILE = 24;
const EINVAL = 22;

/** The decoded fields of a recorded perf_event_attr that sampling sets. */
function attrOf(bytes: Uint8Array): { type: number; size: number; config: bigint; sample: bigint; flags: bigint; sampleType: bigint } {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = hostLittleEndian;
  return {
    type: v.getUint32(PerfAttrOffset.type, le),
    size: v.getUint32(PerfAttrOffset.size, le),
    config: v.getBigUint64(PerfAttrOffset.config, le),
    sample: v.getBigUint64(PerfAttrOffset.samplePeriod, le),
    flags: v.getBigUint64(PerfAttrOffset.flags, le),
    sampleType: v.getBigUint64(PerfAttrOffset.sampleType, le),
  };
}

describe('attachPerfEventAllCPUs', () => {
  let fake: PerfFake;
  let prog: Program;
  /** Results perf_event_open gives, in call order, before it falls back to new fds. */
  let openResults: Array<number | undefined>;
  beforeEach(() => {
    fake = installFakeKernel();
    openResults = [];
    const open = fake.perfEventOpen.bind(fake);
    fake.perfEventOpen = (...args: Parameters<PerfFake['perfEventOpen']>): number => {
      fake.openResult = openResults.shift();
      return open(...args);
    };
    prog = Program.load({ name: 'sample', type: ProgramType.PerfEvent, license: 'GPL', instructions: [asm.mov64Imm(asm.Register.R0, 0), asm.exit()] });
  });
  afterEach(() => {
    prog.close();
    uninstallFakeKernel();
  });

  const software = { type: PerfType.Software, config: PERF_COUNT_SW_CPU_CLOCK };

  it('by frequency: sample_freq with the freq bit, one event per CPU, no sample_type (the program consumes the samples)', () => {
    fake.alwaysBpf(Cmd.LinkCreate, -22); // no perf links: SET_BPF + ENABLE
    using sampling = attachPerfEventAllCPUs(prog, { ...software, frequency: 99, cpus: [0, 1, 3] });
    expect(fake.opens.map((o) => [o.pid, o.cpu])).toEqual([
      [-1, 0],
      [-1, 1],
      [-1, 3],
    ]);
    for (const o of fake.opens) {
      expect(attrOf(o.attr)).toEqual({ type: PerfType.Software, size: 64, config: 0n, sample: 99n, flags: PerfAttrFlag.Freq, sampleType: 0n });
    }
    expect(sampling).toBeInstanceOf(PerfEventMultiLink);
    expect(sampling).toBeInstanceOf(MultiLink);
    expect(sampling.links.map((l) => l.mode)).toEqual(['perf-ioctl', 'perf-ioctl', 'perf-ioctl']);
    expect(fake.ioctls.filter(([, r]) => r === PERF_EVENT_IOC_SET_BPF).map(([fd]) => fd)).toEqual(fake.perfFds);
    expect(fake.ioctls.filter(([, r]) => r === PERF_EVENT_IOC_ENABLE)).toHaveLength(3);
    expect(sampling.event).toEqual({
      type: PerfType.Software,
      config: 0n,
      name: 'cpu-clock',
      requested: 'cpu-clock',
      fallback: false,
      frequency: 99,
      period: undefined,
      cpus: [0, 1, 3],
      pid: -1,
    });
    expect(sampling.what).toBe('perf event cpu-clock at 99 Hz on 3 CPUs');
    expect(String(sampling)).toBe('PerfEventMultiLink(perf event cpu-clock at 99 Hz on 3 CPUs, 3 links)');
  });

  it('by period: sample_period without the freq bit; pid and inherit go to every CPU', () => {
    fake.alwaysBpf(Cmd.LinkCreate, -22);
    using sampling = attachPerfEventAllCPUs(prog, { type: PerfType.Software, config: PERF_COUNT_SW_PAGE_FAULTS, period: 1000n, pid: 4242, inherit: true, cpus: [0, 1] });
    expect(fake.opens.map((o) => [o.pid, o.cpu])).toEqual([
      [4242, 0],
      [4242, 1],
    ]);
    expect(attrOf(fake.opens[0]!.attr)).toMatchObject({ config: PERF_COUNT_SW_PAGE_FAULTS, sample: 1000n, flags: PerfAttrFlag.Inherit });
    expect(sampling.event).toMatchObject({ name: 'page-faults', period: 1000n, frequency: undefined, pid: 4242 });
    expect(sampling.what).toBe('perf event page-faults every 1000 events on 2 CPUs for pid 4242');
  });

  it('with perf links: one BPF_LINK_CREATE per event; close() closes every link and event fd once', () => {
    fake.onBpf(Cmd.LinkCreate, -9); // the probe: perf links exist
    let nextLink = 900;
    fake.alwaysBpf(Cmd.LinkCreate, () => nextLink++);
    const sampling = attachPerfEventAllCPUs(prog, { ...software, frequency: 49, cpus: [0, 1] });
    expect(sampling.links.map((l) => l.mode)).toEqual(['perf-link', 'perf-link']);
    expect(fake.ioctls).toEqual([]);
    const events = [...fake.perfFds];
    sampling.close();
    sampling.close();
    expect(sampling.closed).toBe(true);
    expect([...fake.closed].sort()).toEqual(expect.arrayContaining([900, 901, ...events]));
    expect(fake.closed.filter((fd) => fd === 900 || fd === events[0])).toHaveLength(2);
    expect(() => sampling.links).toThrow(/is closed/);
    expect(String(sampling)).toMatch(/, closed\)$/);
  });

  it('a hardware event without a PMU (ENOENT) falls back to cpu-clock on every CPU, and says so', () => {
    fake.alwaysBpf(Cmd.LinkCreate, -22);
    openResults = [-ENOENT];
    using sampling = attachPerfEventAllCPUs(prog, { type: PerfType.Hardware, config: PERF_COUNT_HW_CPU_CYCLES, frequency: 99, cpus: [0, 1] });
    expect(fake.opens.map((o) => [attrOf(o.attr).type, attrOf(o.attr).config, o.cpu])).toEqual([
      [PerfType.Hardware, 0n, 0],
      [PerfType.Software, 0n, 0],
      [PerfType.Software, 0n, 1],
    ]);
    expect(sampling.event).toMatchObject({ name: 'cpu-clock', requested: 'cycles', fallback: true, type: PerfType.Software });
    expect(sampling.links).toHaveLength(2);
  });

  it("a fallback of the caller's choosing, or none: NotSupportedError naming the missing PMU", () => {
    fake.alwaysBpf(Cmd.LinkCreate, -22);
    openResults = [-ENOENT];
    using sampling = attachPerfEventAllCPUs(prog, { type: PerfType.Hardware, config: PERF_COUNT_HW_CACHE_MISSES, period: 10_000, fallback: { type: PerfType.Software, config: PERF_COUNT_SW_PAGE_FAULTS }, cpus: [0] });
    expect(sampling.event).toMatchObject({ name: 'page-faults', requested: 'cache-misses', fallback: true });

    openResults = [-ENOENT];
    const err = caught(() => attachPerfEventAllCPUs(prog, { type: PerfType.Hardware, config: PERF_COUNT_HW_CPU_CYCLES, frequency: 99, fallback: false, cpus: [0] }));
    expect(err).toBeInstanceOf(NotSupportedError);
    expect((err as Error).message).toMatch(/perf event cycles \(no hardware PMU for it: a VM or container without PMU access\)/);

    // Neither the event nor its fallback: both named.
    openResults = [-ENOENT, -ENOENT];
    const both = caught(() => attachPerfEventAllCPUs(prog, { type: PerfType.Hardware, config: PERF_COUNT_HW_CPU_CYCLES, frequency: 99, cpus: [0] }));
    expect(both).toBeInstanceOf(NotSupportedError);
    expect((both as Error).message).toMatch(/cycles .*and its fallback cpu-clock/);

    // A software event has no fallback: its ENOENT is NotSupported at once.
    openResults = [-ENOENT];
    expect(() => attachPerfEventAllCPUs(prog, { ...software, frequency: 99, cpus: [0] })).toThrow(NotSupportedError);
  });

  it('EACCES is a SyscallError that explains perf_event_paranoid and CAP_PERFMON', () => {
    openResults = [-EACCES];
    const err = caught(() => attachPerfEventAllCPUs(prog, { ...software, frequency: 99, cpus: [0] }));
    expect(err).toBeInstanceOf(SyscallError);
    expect((err as SyscallError).errno).toBe(EACCES);
    expect((err as Error).message).toMatch(/perf event cpu-clock on CPU 0: perf_event_open: EACCES \(kernel\.perf_event_paranoid=\S+: a CPU-wide event \(every process\) needs perf_event_paranoid <= 0.*CAP_PERFMON/);
    openResults = [-EACCES];
    const perProcess = caught(() => attachPerfEventAllCPUs(prog, { ...software, frequency: 99, pid: 1, cpus: [0] }));
    expect((perProcess as Error).message).toMatch(/per-process event that samples kernel stacks needs perf_event_paranoid <= 1/);
    openResults = [-EINVAL];
    expect(() => attachPerfEventAllCPUs(prog, { ...software, frequency: 99, cpus: [0] })).toThrow(/perf_event_max_sample_rate/);
  });

  it('a CPU failing half-way closes the events and links made for the CPUs before it', () => {
    fake.alwaysBpf(Cmd.LinkCreate, -22);
    openResults = [undefined, undefined, -EMFILE];
    const err = caught(() => attachPerfEventAllCPUs(prog, { ...software, frequency: 99, cpus: [0, 1, 2] }));
    expect(err).toBeInstanceOf(SyscallError);
    expect((err as Error).message).toMatch(/CPU 2: perf_event_open: EMFILE \(too many open files: one perf event per CPU/);
    expect(fake.perfFds).toHaveLength(2);
    for (const fd of fake.perfFds) expect(fake.closed).toContain(fd);
  });

  it('an attach failure on a later CPU closes that event and every earlier one', () => {
    fake.alwaysBpf(Cmd.LinkCreate, -22);
    let setBpf = 0;
    const ioctl = fake.ioctl.bind(fake);
    fake.ioctl = (fd?: number, request?: number, arg?: number | bigint | Uint8Array): number => {
      if (request === PERF_EVENT_IOC_SET_BPF && ++setBpf === 2) return -17;
      return ioctl(fd, request, arg);
    };
    expect(() => attachPerfEventAllCPUs(prog, { ...software, frequency: 99, cpus: [0, 1] })).toThrow(/EEXIST/);
    expect(fake.perfFds).toHaveLength(2);
    for (const fd of fake.perfFds) expect(fake.closed).toContain(fd);
  });

  it('refuses mistakes before opening anything', () => {
    const tp = Program.load({ name: 'tp', type: ProgramType.Tracepoint, license: 'GPL', instructions: [asm.mov64Imm(asm.Register.R0, 0), asm.exit()] });
    const cases: Array<[Program, Parameters<typeof attachPerfEventAllCPUs>[1], RegExp]> = [
      [tp, { ...software, frequency: 99 }, /tp is not a perf_event program/],
      [prog, { ...software, frequency: 99, period: 1000 }, /frequency .* or period .*, not both/],
      [prog, { ...software }, /needs frequency .* or period/],
      [prog, { ...software, frequency: 0 }, /frequency must be a positive integer/],
      [prog, { ...software, frequency: 9.5 }, /frequency must be a positive integer/],
      [prog, { ...software, period: 0 }, /period must be between 1 and 2\^63-1/],
      [prog, { ...software, period: 1n << 63n }, /period must be between/],
      [prog, { ...software, period: 1.5 }, /period must be an integer/],
      [prog, { ...software, frequency: 99, pid: -2 }, /pid must be a process id or -1/],
      [prog, { ...software, frequency: 99, inherit: true }, /inherit .* give pid too/],
      [prog, { ...software, frequency: 99, cpus: [] }, /no CPUs/],
      [prog, { ...software, frequency: 99, cpus: [-1] }, /not a CPU number/],
      [prog, { type: -1, config: 0, frequency: 99 }, /type must be a PERF_TYPE_\* value/],
    ];
    for (const [p, options, message] of cases) {
      const err = caught(() => attachPerfEventAllCPUs(p, options));
      expect(err, String(message)).toBeInstanceOf(ArgumentError);
      expect((err as Error).message).toMatch(message);
    }
    tp.close();
    expect(fake.opens).toEqual([]);
  });

  it('a cookie without perf links is NotSupported (5.15) before any event is opened', () => {
    fake.alwaysBpf(Cmd.LinkCreate, -22);
    expect(() => attachPerfEventAllCPUs(prog, { ...software, frequency: 99, cookie: 7, cpus: [0] })).toThrow(/cookie.*5\.15/);
    expect(fake.opens).toEqual([]);
  });
});

describe('perfEventName', () => {
  it("names the generalised events as perf(1) does, others by type and config", () => {
    expect(perfEventName(PerfType.Hardware, PERF_COUNT_HW_CPU_CYCLES)).toBe('cycles');
    expect(perfEventName(PerfType.Hardware, 9n)).toBe('ref-cycles');
    expect(perfEventName(PerfType.Software, PERF_COUNT_SW_CPU_CLOCK)).toBe('cpu-clock');
    expect(perfEventName(PerfType.Software, 11n)).toBe('cgroup-switches');
    expect(perfEventName(PerfType.Software, 99n)).toBe('software config 0x63');
    expect(perfEventName(PerfType.Raw, 0x1c2n)).toBe('raw config 0x1c2');
    expect(perfEventName(42, 1n)).toBe('type 42 config 0x1');
  });
});
