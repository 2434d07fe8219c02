// struct perf_event_attr encoding byte for byte against the UAPI header (fixture printed by
// fixtures/link-perf-event-attr.c), the perf link probe, and both attachment paths on the
// fake backend.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as asm from '../../src/asm/index.js';
import { NotSupportedError, SyscallError } from '../../src/errors.js';
import { attachPerfEvent, perfLinkFeature } from '../../src/link/perf-event.js';
import {
  encodePerfEventAttr,
  PERF_EVENT_IOC_DISABLE,
  PERF_EVENT_IOC_ENABLE,
  PERF_EVENT_IOC_SET_BPF,
  PERF_SAMPLE_RAW,
  PerfAttrFlag,
  PerfAttrOffset,
  PerfAttrSize,
  PerfType,
} from '../../src/internal/perf-event.js';
import { Program } from '../../src/prog.js';
import { Cmd } from '../../src/sys/layouts.js';
import { AttachType, ProgramType } from '../../src/types.js';
import { installFakeKernel, type PerfFake, uninstallFakeKernel } from './helpers/perf-fake.js';

const uapi = JSON.parse(readFileSync(join(__dirname, 'fixtures', 'link-perf-event-attr.json'), 'utf8')) as {
  sizeof: number;
  offsets: Record<string, number>;
  bytes: Record<string, string>;
};
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('perf_event_attr layout', () => {
  it('offsets match the UAPI header', () => {
    const names: Record<string, keyof typeof PerfAttrOffset> = {
      type: 'type',
      size: 'size',
      config: 'config',
      sample_period: 'samplePeriod',
      sample_type: 'sampleType',
      read_format: 'readFormat',
      wakeup_events: 'wakeupEvents',
      bp_type: 'bpType',
      config1: 'config1',
      config2: 'config2',
      branch_sample_type: 'branchSampleType',
      sample_regs_user: 'sampleRegsUser',
      sample_stack_user: 'sampleStackUser',
      clockid: 'clockid',
      sample_regs_intr: 'sampleRegsIntr',
      aux_watermark: 'auxWatermark',
      sample_max_stack: 'sampleMaxStack',
      aux_sample_size: 'auxSampleSize',
      sig_data: 'sigData',
    };
    for (const [c, ts] of Object.entries(names)) expect([c, PerfAttrOffset[ts]]).toEqual([c, uapi.offsets[c]]);
    expect(Object.values(PerfAttrSize)).toContain(uapi.sizeof);
  });

  it('a tracepoint event encodes like the C struct (PERF_ATTR_SIZE_VER0)', () => {
    const { bytes, pointers } = encodePerfEventAttr({
      type: PerfType.Tracepoint,
      config: 321n,
      samplePeriod: 1n,
      sampleType: PERF_SAMPLE_RAW,
      wakeupEvents: 1,
    });
    expect(hex(bytes)).toBe(uapi.bytes.tracepoint);
    expect(pointers).toEqual([]);
  });

  it('a kretprobe PMU event with an offset encodes like the C struct (VER1), config1 by pointer', () => {
    const name = new TextEncoder().encode('do_sys_openat2\0');
    const { bytes, pointers } = encodePerfEventAttr({ type: 9, size: PerfAttrSize.Ver1, config: 1n, config1: name, config2: 0x10n });
    expect(hex(bytes)).toBe(uapi.bytes.kprobe_pmu);
    expect(pointers).toEqual([56, name]);
  });

  it('every field and named flag bit lands where the C compiler puts it', () => {
    const f = PerfAttrFlag;
    const { bytes } = encodePerfEventAttr({
      type: 0x01020304,
      size: uapi.sizeof,
      config: 0x1111111111111111n,
      samplePeriod: 0x2222222222222222n,
      sampleType: 0x3333333333333333n,
      readFormat: 0x4444444444444444n,
      flags: f.Disabled | f.Inherit | f.ExcludeUser | f.ExcludeKernel | f.Freq | f.Watermark | f.SampleIdAll | f.WriteBackward,
      wakeupEvents: 0x55555555,
      bpType: 0x66666666,
      config1: 0x7777777777777777n,
      config2: 0x8888888888888888n,
      branchSampleType: 0x9999999999999999n,
      sampleRegsUser: 0xaaaaaaaaaaaaaaaan,
      sampleStackUser: 0xbbbbbbbb,
      clockid: -2,
      sampleRegsIntr: 0xccccccccccccccccn,
      auxWatermark: 0xdddddddd,
      sampleMaxStack: 0xeeee,
      auxSampleSize: 0x0f0f0f0f,
      sigData: 0x1212121212121212n,
    });
    expect(hex(bytes)).toBe(uapi.bytes.all_fields);
  });

  it('the default size is the smallest published size holding the fields set', () => {
    expect(encodePerfEventAttr({ type: 1 }).bytes.length).toBe(64);
    expect(encodePerfEventAttr({ type: 1, config2: 1n }).bytes.length).toBe(72);
    expect(encodePerfEventAttr({ type: 1, auxWatermark: 1 }).bytes.length).toBe(112);
    expect(encodePerfEventAttr({ type: 1, config3: 1n }).bytes.length).toBe(136);
    expect(() => encodePerfEventAttr({ type: 1, size: 64, config2: 1n })).toThrow(/cannot hold/);
  });

  it('ioctl request numbers are the _IO/_IOW encodings', () => {
    // _IO('$', n) = ('$' << 8) | n; _IOW adds direction 1 << 30 and size 4 << 16.
    expect(PERF_EVENT_IOC_ENABLE).toBe((0x24 << 8) | 0);
    expect(PERF_EVENT_IOC_DISABLE).toBe((0x24 << 8) | 1);
    expect(PERF_EVENT_IOC_SET_BPF).toBe((1 << 30) | (4 << 16) | (0x24 << 8) | 8);
  });
});

describe('attaching to a perf event', () => {
  let fake: PerfFake;
  let prog: Program;
  beforeEach(() => {
    fake = installFakeKernel();
    prog = Program.load({ name: 'tp', type: ProgramType.Tracepoint, license: 'GPL', instructions: [asm.mov64Imm(asm.Register.R0, 0), asm.exit()] });
  });
  afterEach(() => {
    prog.close();
    uninstallFakeKernel();
  });

  it('the probe reads EBADF as "perf links exist" and EINVAL as "not before 5.15"', () => {
    fake.onBpf(Cmd.LinkCreate, -9);
    expect(perfLinkFeature.check()).toEqual({ supported: true });
    perfLinkFeature.reset();
    fake.onBpf(Cmd.LinkCreate, -22);
    expect(perfLinkFeature.check()).toMatchObject({ supported: false, minimumVersion: '5.15' });
    perfLinkFeature.reset();
    fake.onBpf(Cmd.LinkCreate, -1);
    expect(perfLinkFeature.check().supported).toBe('unknown');
    const probe = fake.callsOf(Cmd.LinkCreate)[0]!;
    const v = new DataView(probe.attr.buffer);
    expect(v.getUint32(4, true)).toBe(0xffffffff); // target_fd: no perf event
    expect(v.getUint32(8, true)).toBe(AttachType.PerfEvent);
  });

  it('with perf links: BPF_LINK_CREATE(prog, perf fd, BPF_PERF_EVENT, cookie); close closes both fds', () => {
    fake.onBpf(Cmd.LinkCreate, -9);
    fake.onBpf(Cmd.LinkCreate, () => 555);
    let cleaned = 0;
    const link = attachPerfEvent(prog, 321, { what: 'test event', cookie: 0xabcn, cleanup: () => cleaned++ });
    const call = fake.callsOf(Cmd.LinkCreate)[1]!;
    const v = new DataView(call.attr.buffer);
    expect(v.getUint32(0, true)).toBe(prog.fd);
    expect(v.getUint32(4, true)).toBe(321);
    expect(v.getUint32(8, true)).toBe(41);
    expect(v.getBigUint64(16, true)).toBe(0xabcn);
    expect(call.attr.byteLength).toBe(24);
    expect(link.mode).toBe('perf-link');
    link.close();
    link.close();
    expect(fake.closed.slice(-2)).toEqual([555, 321]);
    expect(cleaned).toBe(1);
    expect(fake.ioctls).toEqual([]);
  });

  it('without perf links: SET_BPF then ENABLE; close disables and closes the event', () => {
    fake.alwaysBpf(Cmd.LinkCreate, -22);
    const link = attachPerfEvent(prog, 321, { what: 'test event' });
    expect(link.mode).toBe('perf-ioctl');
    expect(fake.ioctls).toEqual([
      [321, PERF_EVENT_IOC_SET_BPF, prog.fd],
      [321, PERF_EVENT_IOC_ENABLE, 0],
    ]);
    expect(() => link.info()).toThrow(NotSupportedError);
    link.close();
    expect(fake.ioctls.at(-1)).toEqual([321, PERF_EVENT_IOC_DISABLE, 0]);
    expect(fake.closed.at(-1)).toBe(321);
  });

  it('a cookie without perf links is NotSupported (5.15), and the perf fd is closed and cleanup run', () => {
    fake.alwaysBpf(Cmd.LinkCreate, -22);
    let cleaned = 0;
    expect(() => attachPerfEvent(prog, 99, { what: 'x', cookie: 1, cleanup: () => cleaned++ })).toThrow(/cookie.*5\.15/);
    expect(fake.closed).toContain(99);
    expect(cleaned).toBe(1);
  });

  it('SET_BPF EEXIST is explained, and the fd is not leaked', () => {
    fake.alwaysBpf(Cmd.LinkCreate, -22);
    fake.ioctlResults.set(PERF_EVENT_IOC_SET_BPF, -17);
    const err = (() => {
      try {
        attachPerfEvent(prog, 98, { what: 'x' });
      } catch (e) {
        return e as SyscallError;
      }
    })();
    expect(err).toBeInstanceOf(SyscallError);
    expect(err!.message).toMatch(/PERF_EVENT_IOC_SET_BPF: EEXIST \(a program is already attached/);
    expect(fake.closed).toContain(98);
  });
});

describe('BPF output events (perf event array readers)', () => {
  it('encode PERF_COUNT_SW_BPF_OUTPUT with one sample per call and the wake-up asked for, in 64 bytes', async () => {
    const { encodeBpfOutputAttr } = await import('../../src/perf/event.js');
    const everySample = new DataView(encodeBpfOutputAttr({}).buffer);
    expect(everySample.byteLength).toBe(PerfAttrSize.Ver0);
    const le = true;
    expect(everySample.getUint32(PerfAttrOffset.type, le)).toBe(PerfType.Software);
    expect(everySample.getUint32(PerfAttrOffset.size, le)).toBe(64);
    expect(everySample.getBigUint64(PerfAttrOffset.config, le)).toBe(10n); // PERF_COUNT_SW_BPF_OUTPUT
    expect(everySample.getBigUint64(PerfAttrOffset.samplePeriod, le)).toBe(1n);
    expect(everySample.getBigUint64(PerfAttrOffset.sampleType, le)).toBe(PERF_SAMPLE_RAW);
    expect(everySample.getBigUint64(PerfAttrOffset.flags, le)).toBe(0n);
    expect(everySample.getUint32(PerfAttrOffset.wakeupEvents, le)).toBe(1);
    const watermark = new DataView(encodeBpfOutputAttr({ watermark: 4096 }).buffer);
    expect(watermark.getBigUint64(PerfAttrOffset.flags, le)).toBe(PerfAttrFlag.Watermark);
    expect(watermark.getUint32(PerfAttrOffset.wakeupEvents, le)).toBe(4096);
    expect(new DataView(encodeBpfOutputAttr({ wakeupEvents: 8 }).buffer).getUint32(PerfAttrOffset.wakeupEvents, le)).toBe(8);
  });
});
