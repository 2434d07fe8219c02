// attachTc's and tcFilters' argument checks on the fake kernel: each mistake is an
// ArgumentError that names it, raised before any syscall.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as asm from '../../src/asm/index.js';
import { ArgumentError } from '../../src/errors.js';
import { attachTc, tcFilters, type TcDirection, type TcOptions } from '../../src/link/tc.js';
import { Program } from '../../src/prog.js';
import { ProgramType } from '../../src/types.js';
import { caught, installFakeKernel, uninstallFakeKernel } from './helpers/perf-fake.js';

beforeEach(() => {
  installFakeKernel();
});
afterEach(() => uninstallFakeKernel());

const load = (name: string, type: ProgramType): Program => Program.load({ name, type, license: 'GPL', instructions: [asm.mov64Imm(asm.Register.R0, 0), asm.exit()] });

describe('attachTc refuses before any syscall', () => {
  it('a program of another type, naming its type', () => {
    using prog = load('filter', ProgramType.XDP);
    const err = caught(() => attachTc(prog, { interface: 'eth0', direction: 'ingress' }));
    expect(err).toBeInstanceOf(ArgumentError);
    expect((err as Error).message).toBe('attachTc needs a SCHED_CLS program (SEC("tc") or SEC("classifier")); filter is XDP');
    using act = load('act', ProgramType.SchedAct);
    expect((caught(() => attachTc(act, { interface: 'eth0', direction: 'ingress' })) as Error).message).toMatch(/act is SCHED_ACT/);
  });

  it('options that cannot be meant', () => {
    using prog = load('cls', ProgramType.SchedCls);
    const cases: Array<[unknown, RegExp]> = [
      [undefined, /needs \{ interface, direction \}/],
      [{ direction: 'ingress' }, /needs \{ interface, direction \}/],
      [{ interface: 'eth0' }, /direction undefined is neither ingress nor egress/],
      [{ interface: 'eth0', direction: 'in' }, /direction "in" is neither/],
      [{ interface: 'eth0', direction: 'egress', priority: 0 }, /priority 0 is not an integer from 1 to 65535/],
      [{ interface: 'eth0', direction: 'egress', priority: 1.5 }, /priority 1.5/],
      [{ interface: 'eth0', direction: 'egress', priority: 65536 }, /priority 65536/],
      [{ interface: 'eth0', direction: 'egress', handle: 0 }, /handle 0 is not an integer from 1 to 0xffffffff/],
      [{ interface: 'eth0', direction: 'egress', handle: 2 ** 32 }, /handle 4294967296/],
    ];
    for (const [options, message] of cases) {
      const err = caught(() => attachTc(prog, options as TcOptions));
      expect(err, JSON.stringify(options)).toBeInstanceOf(ArgumentError);
      expect((err as Error).message).toMatch(message);
    }
    expect(caught(() => tcFilters('eth0', 'both' as TcDirection))).toBeInstanceOf(ArgumentError);
  });
});
