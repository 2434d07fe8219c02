// attachXDP's argument checks on the fake kernel: each mistake is an ArgumentError that names
// it, raised before any syscall (the fake backend has no sockets, so reaching the interface
// lookup would fail differently).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as asm from '../../src/asm/index.js';
import { ArgumentError } from '../../src/errors.js';
import { attachXDP, type XDPOptions } from '../../src/link/xdp.js';
import { Program } from '../../src/prog.js';
import { AttachType, ProgramType } from '../../src/types.js';
import { caught, installFakeKernel, uninstallFakeKernel } from './helpers/perf-fake.js';

beforeEach(() => {
  installFakeKernel();
});
afterEach(() => uninstallFakeKernel());

const load = (name: string, type: ProgramType, attachType?: AttachType): Program =>
  Program.load({ name, type, attachType, license: 'GPL', instructions: [asm.mov64Imm(asm.Register.R0, 2), asm.exit()] });

describe('attachXDP refuses before any syscall', () => {
  it('a program of another type, naming its type', () => {
    using prog = load('classify', ProgramType.SchedCls);
    const err = caught(() => attachXDP(prog, { interface: 'eth0' }));
    expect(err).toBeInstanceOf(ArgumentError);
    expect((err as Error).message).toBe('attachXDP needs an XDP program; classify is SCHED_CLS (XDP programs come from SEC("xdp") or SEC("xdp.frags"))');
  });

  it('devmap and cpumap programs, saying where they go instead', () => {
    using dev = load('to_dev', ProgramType.XDP, AttachType.XDPDevMap);
    using cpu = load('to_cpu', ProgramType.XDP, AttachType.XDPCPUMap);
    expect((caught(() => attachXDP(dev, { interface: 'eth0' })) as Error).message).toMatch(/to_dev is an xdp\/devmap program: it runs from a devmap \(struct bpf_devmap_val/);
    expect((caught(() => attachXDP(cpu, { interface: 'eth0' })) as Error).message).toMatch(/to_cpu is an xdp\/cpumap program: it runs from a cpumap \(struct bpf_cpumap_val/);
  });

  it('options that cannot be meant', () => {
    using prog = load('pass', ProgramType.XDP, AttachType.XDP);
    using other = load('classify', ProgramType.SchedCls);
    const cases: Array<[unknown, RegExp]> = [
      [undefined, /needs \{ interface \}/],
      [{}, /needs \{ interface \}/],
      [{ interface: 'eth0', flags: 1 << 9 }, /bits the UAPI does not define/],
      [{ interface: 'eth0', flags: -1 }, /bits the UAPI does not define/],
      [{ interface: 'eth0', flags: 1 << 4 }, /XDP_FLAGS_REPLACE is set by the replace option/],
      [{ interface: 'eth0', flags: (1 << 1) | (1 << 2) }, /more than one mode/],
      [{ interface: 'eth0', mode: 'fast' }, /mode "fast" is not one of generic, driver, offload/],
      [{ interface: 'eth0', mode: 'driver', flags: 1 << 1 }, /mode driver and the flags' generic mode disagree/],
      [{ interface: 'eth0', replace: true, flags: 1 }, /contradict/],
      [{ interface: 'eth0', replace: true, legacy: false }, /replace needs the netlink path/],
      [{ interface: 'eth0', replace: 5 }, /replace takes the Program/],
      [{ interface: 'eth0', replace: other }, /replace names classify, a SCHED_CLS program/],
    ];
    for (const [options, message] of cases) {
      const err = caught(() => attachXDP(prog, options as XDPOptions));
      expect(err, JSON.stringify(options)).toBeInstanceOf(ArgumentError);
      expect((err as Error).message).toMatch(message);
    }
  });
});
