// struct_ops registration on the fake kernel: the probe's MAP_CREATE and how its errno reads
// (ENOTSUPP past the BPF_F_LINK check, EINVAL before 6.4), the BPF_LINK_CREATE of a
// .struct_ops.link map (map fd in the prog_fd slot, BPF_STRUCT_OPS), Link.update(map) as
// BPF_LINK_UPDATE with new_map_fd/old_map_fd, and the mistakes refused before any syscall.
import { endianness } from 'node:os';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ArgumentError, NotSupportedError, SyscallError } from '../../src/errors.js';
import { BPF_F_LINK, BPF_F_REPLACE } from '../../src/internal/flags.js';
import { attachStructOps, attachStructOpsMaps, structOpsLinkFeature } from '../../src/link/struct-ops.js';
import { BpfMap } from '../../src/map.js';
import { Struct } from '../../src/btf/types.js';
import type { ELFMapSpec } from '../../src/elf/specs.js';
import { createStructOpsMap } from '../../src/struct-ops.js';
import { Errno } from '../../src/sys/errno.js';
import { overrideKernelVersion } from '../../src/sys/kernel-version.js';
import { Cmd } from '../../src/sys/layouts.js';
import { AttachType, MapType } from '../../src/types.js';
import { caught, installFakeKernel, uninstallFakeKernel, type PerfFake } from './helpers/perf-fake.js';

const le = endianness() === 'LE';
let fake: PerfFake;

beforeEach(() => {
  fake = installFakeKernel();
  structOpsLinkFeature.reset();
  fake.alwaysBpf(Cmd.MapCreate, () => fake.allocFd());
});
afterEach(() => {
  uninstallFakeKernel();
  structOpsLinkFeature.reset();
});

const u32 = (attr: Uint8Array, at: number): number => new DataView(attr.buffer, attr.byteOffset).getUint32(at, le);
const structOpsMap = (name: string, flags = BPF_F_LINK): BpfMap =>
  BpfMap.create({ name, type: MapType.StructOps, keySize: 4, valueSize: 256, maxEntries: 1, flags }, { btfFd: 7, btfVmlinuxValueTypeId: 43114 });

describe('structOpsLinkFeature', () => {
  it('creates a BPF_F_LINK STRUCT_OPS map with value type id 1; ENOTSUPP means the flag passed', () => {
    fake.onBpf(Cmd.MapCreate, -Errno.ENOTSUPP);
    expect(structOpsLinkFeature.check()).toEqual({ supported: true });
    const probe = fake.callsOf(Cmd.MapCreate)[0]!.attr;
    expect([u32(probe, 0), u32(probe, 4), u32(probe, 12), u32(probe, 16), u32(probe, 60)]).toEqual([MapType.StructOps, 4, 1, BPF_F_LINK, 1]);
  });

  it('EINVAL (any map flag refused before 6.4) is not supported, naming 6.4', () => {
    overrideKernelVersion('6.1.0');
    fake.onBpf(Cmd.MapCreate, -Errno.EINVAL);
    const r = structOpsLinkFeature.check();
    expect(r).toMatchObject({ supported: false, minimumVersion: '6.4' });
    expect(() => structOpsLinkFeature.require()).toThrow(NotSupportedError);
  });

  it('EPERM is no answer (not cached)', () => {
    fake.onBpf(Cmd.MapCreate, -Errno.EPERM);
    expect(structOpsLinkFeature.check().supported).toBe('unknown');
  });
});

/** The 6.4 probe runs first and passes, whatever MAP_CREATE answers after it. */
function linkProbeAnswers(): void {
  fake.onBpf(Cmd.MapCreate, -Errno.ENOTSUPP);
  expect(structOpsLinkFeature.check()).toEqual({ supported: true });
}

describe('attachStructOps on the fake kernel', () => {
  it('a .struct_ops.link map: BPF_LINK_CREATE with its fd and BPF_STRUCT_OPS', () => {
    linkProbeAnswers();
    using map = structOpsMap('my_cc');
    fake.alwaysBpf(Cmd.LinkCreate, () => fake.allocFd());
    using link = attachStructOps(map);
    const attr = fake.callsOf(Cmd.LinkCreate)[0]!.attr;
    expect(u32(attr, 0)).toBe(map.fd);
    expect(u32(attr, 8)).toBe(AttachType.StructOps);
    expect(attr.byteLength).toBe(12);
    expect([link.mode, link.what]).toEqual(['bpf-link', 'struct_ops my_cc']);
  });

  it('EINVAL from BPF_LINK_CREATE says the value may not be written', () => {
    linkProbeAnswers();
    using map = structOpsMap('my_cc');
    fake.onBpf(Cmd.LinkCreate, -Errno.EINVAL);
    const err = caught(() => attachStructOps(map));
    expect(err).toBeInstanceOf(SyscallError);
    expect((err as Error).message).toMatch(/attach struct_ops my_cc: BPF_LINK_CREATE: EINVAL .*value was not written \(loadCollection writes it/);
  });

  it('Link.update(map, { oldMap }): BPF_LINK_UPDATE with new_map_fd, BPF_F_REPLACE and old_map_fd', () => {
    linkProbeAnswers();
    using a = structOpsMap('cc_a');
    using b = structOpsMap('cc_b');
    fake.alwaysBpf(Cmd.LinkCreate, () => fake.allocFd());
    fake.alwaysBpf(Cmd.LinkUpdate, 0);
    using link = attachStructOps(a);
    link.update(b, { oldMap: a });
    link.update(a);
    const [withOld, plain] = fake.callsOf(Cmd.LinkUpdate);
    expect([u32(withOld!.attr, 0), u32(withOld!.attr, 4), u32(withOld!.attr, 8), u32(withOld!.attr, 12)]).toEqual([link.fd, b.fd, BPF_F_REPLACE, a.fd]);
    expect([u32(plain!.attr, 4), u32(plain!.attr, 8)]).toEqual([a.fd, 0]);
  });

  it('EPERM from an update with oldMap names the map the link no longer holds', () => {
    linkProbeAnswers();
    using a = structOpsMap('cc_a');
    using b = structOpsMap('cc_b');
    fake.alwaysBpf(Cmd.LinkCreate, () => fake.allocFd());
    fake.onBpf(Cmd.LinkUpdate, -Errno.EPERM);
    using link = attachStructOps(a);
    expect(() => link.update(b, { oldMap: a })).toThrow(/the link no longer holds map cc_a: another update came first/);
  });

  it('refuses other maps before any syscall, alone and in attachStructOpsMaps', () => {
    using hash = BpfMap.create({ name: 'h', type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 1 });
    const before = fake.calls.length;
    expect(() => attachStructOps(hash)).toThrow(ArgumentError);
    expect(() => attachStructOps(hash)).toThrow(/map h is a HASH map, not a struct_ops map/);
    expect(attachStructOpsMaps({ h: hash })).toEqual({});
    expect(fake.calls.length).toBe(before);
  });

  it('updating a struct_ops link with a map that is not a struct_ops map is an ArgumentError', () => {
    linkProbeAnswers();
    using a = structOpsMap('cc_a');
    using hash = BpfMap.create({ name: 'h', type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 1 });
    fake.alwaysBpf(Cmd.LinkCreate, () => fake.allocFd());
    using link = attachStructOps(a);
    expect(() => link.update(hash)).toThrow(/the new map h is not a struct_ops map/);
    expect(fake.callsOf(Cmd.LinkUpdate)).toHaveLength(0);
  });
});

describe('createStructOpsMap on the fake kernel', () => {
  const spec: ELFMapSpec = { name: 'cc', sectionName: '.struct_ops', type: MapType.StructOps, keySize: 4, valueSize: 56, maxEntries: 1, flags: 0 };
  const target = { type: new Struct('tcp_congestion_ops', 192), typeId: 5, valueTypeId: 6, valueSize: 256, dataOffset: 64 };

  it('sends the wrapper size, btf_vmlinux_value_type_id and the object BTF fd', () => {
    using map = createStructOpsMap(spec, target, 9);
    const attr = fake.callsOf(Cmd.MapCreate).at(-1)!.attr;
    expect([u32(attr, 0), u32(attr, 4), u32(attr, 8), u32(attr, 12), u32(attr, 48), u32(attr, 60)]).toEqual([MapType.StructOps, 4, 256, 1, 9, 6]);
    expect(map.valueSize).toBe(256);
  });

  it('ENOTSUPP once (5.10 before its first verifier run knows no struct_ops type): a program load, then the map', () => {
    let refused = false;
    fake.alwaysBpf(Cmd.MapCreate, (c) => {
      if (u32(c.attr, 0) !== MapType.StructOps || refused) return fake.allocFd();
      refused = true;
      return -Errno.ENOTSUPP;
    });
    using map = createStructOpsMap(spec, target, 9);
    const creates = fake.calls.flatMap((c, i) => (c.cmd === Cmd.MapCreate && c.attr.byteLength >= 64 && u32(c.attr, 60) === 6 ? [i] : []));
    expect(creates).toHaveLength(2);
    const loads = fake.calls.flatMap((c, i) => (c.cmd === Cmd.ProgLoad ? [i] : []));
    expect(loads.some((i) => i > creates[0]! && i < creates[1]!)).toBe(true);
    expect(map.type).toBe(MapType.StructOps);
  });

  it('a BPF_F_LINK map refused with EINVAL before 6.4 is a NotSupportedError naming 6.4', () => {
    overrideKernelVersion('6.1.0');
    fake.alwaysBpf(Cmd.MapCreate, (c) => (u32(c.attr, 0) === MapType.StructOps ? -Errno.EINVAL : fake.allocFd()));
    const err = caught(() => createStructOpsMap({ ...spec, sectionName: '.struct_ops.link', flags: BPF_F_LINK }, target, 9));
    expect(err).toBeInstanceOf(NotSupportedError);
    expect((err as NotSupportedError).minimumVersion).toBe('6.4');
    expect((err as Error).message).toMatch(/struct_ops map cc in .struct_ops.link/);
  });
});
