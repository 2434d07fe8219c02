// attachNetfilter on the fake kernel: the BPF_LINK_CREATE attr for each family, hook,
// priority and the defrag flag; the probes' readings (program type, EAFNOSUPPORT for family 0,
// ERANGE vs EOPNOTSUPP for defrag); and the argument mistakes refused before any syscall.
import { endianness } from 'node:os';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as asm from '../../src/asm/index.js';
import { ArgumentError, NotSupportedError } from '../../src/errors.js';
import { programTypeFeature } from '../../src/features/prog-types.js';
import { attachNetfilter, BPF_F_NETFILTER_IP_DEFRAG, netfilterDefragFeature, netfilterFeature, type NetfilterOptions } from '../../src/link/netfilter.js';
import { Program } from '../../src/prog.js';
import type { FakeBpfCall } from '../../src/sys/backend-fake.js';
import { Errno } from '../../src/sys/errno.js';
import { overrideKernelVersion } from '../../src/sys/kernel-version.js';
import { Cmd } from '../../src/sys/layouts.js';
import { AttachType, ProgramType } from '../../src/types.js';
import { caught, installFakeKernel, uninstallFakeKernel, type PerfFake } from './helpers/perf-fake.js';

const le = endianness() === 'LE';
let fake: PerfFake;

function resetFeatures(): void {
  netfilterFeature.reset();
  netfilterDefragFeature.reset();
  programTypeFeature(ProgramType.Netfilter).reset();
}

beforeEach(() => {
  fake = installFakeKernel();
  resetFeatures();
});
afterEach(() => {
  uninstallFakeKernel();
  resetFeatures();
});

const load = (name: string, type = ProgramType.Netfilter): Program =>
  Program.load({ name, type, attachType: type === ProgramType.Netfilter ? AttachType.Netfilter : undefined, license: 'GPL', instructions: [asm.mov64Imm(asm.Register.R0, 1), asm.exit()] });

const view = (c: FakeBpfCall): DataView => new DataView(c.attr.buffer);
/** pf, hooknum, priority, netfilter flags of a LINK_CREATE. */
const fields = (c: FakeBpfCall): number[] => [view(c).getUint32(16, le), view(c).getUint32(20, le), view(c).getInt32(24, le), c.attr.byteLength >= 32 ? view(c).getUint32(28, le) : 0];

/** The link probe answers `probe` (and a defrag probe `defrag`), then every LINK_CREATE makes a link. */
function answers(probe = -Errno.EAFNOSUPPORT, defrag?: number): void {
  fake.onBpf(Cmd.LinkCreate, probe);
  if (defrag !== undefined) fake.onBpf(Cmd.LinkCreate, defrag);
  fake.alwaysBpf(Cmd.LinkCreate, () => fake.allocFd());
}

describe('attachNetfilter on the fake kernel', () => {
  it('sends the family, hook and priority, by name or number', () => {
    answers();
    using prog = load('nf');
    using a = attachNetfilter(prog, { family: 'ipv4', hook: 'local_in', priority: 10 });
    using b = attachNetfilter(prog, { family: 'NFPROTO_IPV6', hook: 'NF_INET_POST_ROUTING', priority: -5 });
    using c = attachNetfilter(prog, { family: 10, hook: 2, priority: 0x7ffffffe });
    const [probe, ca, cb, cc] = fake.callsOf(Cmd.LinkCreate);
    expect(fields(probe!).slice(0, 1)).toEqual([0]); // family 0: answered EAFNOSUPPORT by a kernel with the link type
    expect(view(ca!).getUint32(8, le)).toBe(AttachType.Netfilter);
    expect(fields(ca!)).toEqual([2, 1, 10, 0]);
    expect(fields(cb!)).toEqual([10, 4, -5, 0]);
    expect(fields(cc!)).toEqual([10, 2, 0x7ffffffe, 0]);
    expect([a.what, b.what]).toEqual(['netfilter IPv4 NF_INET_LOCAL_IN priority 10', 'netfilter IPv6 NF_INET_POST_ROUTING priority -5']);
  });

  it('sets BPF_F_NETFILTER_IP_DEFRAG after probing it (ERANGE proves the flag is known)', () => {
    answers(-Errno.EAFNOSUPPORT, -Errno.ERANGE);
    using prog = load('nf');
    using link = attachNetfilter(prog, { family: 'ipv4', hook: 'pre_routing', priority: -100, defrag: true });
    const calls = fake.callsOf(Cmd.LinkCreate);
    expect(fields(calls[1]!)).toEqual([2, 1, -0x80000000, BPF_F_NETFILTER_IP_DEFRAG]); // the defrag probe
    expect(fields(calls[2]!)).toEqual([2, 0, -100, BPF_F_NETFILTER_IP_DEFRAG]);
    expect(link.what).toBe('netfilter IPv4 NF_INET_PRE_ROUTING priority -100 defrag');
  });

  it('defrag on 6.4/6.5 (EOPNOTSUPP for any flag): NotSupportedError naming 6.6', () => {
    overrideKernelVersion('6.5.0');
    answers(-Errno.EAFNOSUPPORT, -Errno.EOPNOTSUPP);
    using prog = load('nf');
    const err = caught(() => attachNetfilter(prog, { family: 'ipv4', hook: 'local_in', priority: 1, defrag: true }));
    expect(err).toBeInstanceOf(NotSupportedError);
    expect((err as NotSupportedError).minimumVersion).toBe('6.6');
    expect((err as Error).message).toMatch(/attach without defrag/);
  });

  it('before 6.4: the link type is unknown (EINVAL) and 6.4 is named', () => {
    overrideKernelVersion('6.1.0');
    fake.alwaysBpf(Cmd.LinkCreate, -Errno.EINVAL);
    using prog = load('nf');
    const err = caught(() => attachNetfilter(prog, { family: 'ipv4', hook: 'local_in', priority: 1 }));
    expect(err).toBeInstanceOf(NotSupportedError);
    expect((err as NotSupportedError).minimumVersion).toBe('6.4');
    expect(netfilterDefragFeature.check()).toMatchObject({ supported: false, minimumVersion: '6.6' });
  });

  it('EOPNOTSUPP from the link probe: the kernel was built without CONFIG_NETFILTER_BPF_LINK', () => {
    answers(-Errno.EOPNOTSUPP);
    expect(netfilterFeature.check()).toMatchObject({ supported: false, minimumVersion: undefined, missingConfig: 'CONFIG_NETFILTER_BPF_LINK' });
  });

  it('refuses mistakes before any syscall', () => {
    using prog = load('nf');
    using tc = load('tc', ProgramType.SchedCls);
    const calls = fake.calls.length;
    const base: NetfilterOptions = { family: 'ipv4', hook: 'local_in', priority: 1 };
    const cases: Array<[unknown, RegExp]> = [
      [undefined, /needs options: \{ family, hook, priority \}/],
      [{ ...base, family: 'inet' }, /family must be 'ipv4' \(NFPROTO_IPV4, 2\) or 'ipv6' \(NFPROTO_IPV6, 10\).*got "inet"/],
      [{ ...base, family: 7 }, /family must be/],
      [{ ...base, hook: 'input' }, /hook must be one of pre_routing, local_in, forward, local_out, post_routing .*got "input"/],
      [{ ...base, hook: 5 }, /hook must be/],
      [{ ...base, hook: -1 }, /hook must be/],
      [{ ...base, priority: undefined }, /priority must be an integer between -2147483647 and 2147483646/],
      [{ ...base, priority: -0x80000000 }, /INT_MIN and INT_MAX belong to the kernel's own first and last hooks/],
      [{ ...base, priority: 0x7fffffff }, /priority must be/],
      [{ ...base, priority: 0.5 }, /priority must be/],
      [{ ...base, priority: -400, defrag: true }, /with defrag the priority must be above -400 \(NF_IP_PRI_CONNTRACK_DEFRAG\)/],
    ];
    for (const [options, message] of cases) {
      const err = caught(() => attachNetfilter(prog, options as NetfilterOptions));
      expect(err, JSON.stringify(options)).toBeInstanceOf(ArgumentError);
      expect((err as Error).message).toMatch(message);
    }
    expect((caught(() => attachNetfilter(tc, base)) as Error).message).toBe('attachNetfilter needs a NETFILTER program (SEC("netfilter")); tc is SCHED_CLS');
    expect(fake.calls.length).toBe(calls);
  });
});
