// Raw tracepoint and BTF tracing attachment against the fake kernel: a program attached twice
// where the kernel keeps it once (EEXIST from a raw tracepoint, EBUSY from a trampoline) is
// explained, not passed on as a bare errno.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as asm from '../../src/asm/index.js';
import { SyscallError } from '../../src/errors.js';
import { attachRawTracepoint, attachTracing } from '../../src/link/raw-tracepoint.js';
import { Program } from '../../src/prog.js';
import { Errno } from '../../src/sys/errno.js';
import { Cmd } from '../../src/sys/layouts.js';
import { AttachType, ProgramType } from '../../src/types.js';
import { caught, installFakeKernel, type PerfFake, uninstallFakeKernel } from './helpers/perf-fake.js';

let fake: PerfFake;
beforeEach(() => {
  fake = installFakeKernel();
});
afterEach(() => uninstallFakeKernel());

const load = (type: ProgramType, attachType?: AttachType): Program =>
  Program.load({ name: 'twice', type, attachType, license: 'GPL', instructions: [asm.mov64Imm(asm.Register.R0, 0), asm.exit()] });

describe('attaching a program where it is attached already', () => {
  it('raw tracepoint EEXIST names the program and the tracepoint, and what to do', () => {
    using prog = load(ProgramType.RawTracepoint);
    fake.onBpf(Cmd.RawTracepointOpen, -Errno.EEXIST);
    const err = caught(() => attachRawTracepoint(prog, 'sched_switch'));
    expect(err).toBeInstanceOf(SyscallError);
    expect((err as SyscallError).errno).toBe(Errno.EEXIST);
    expect((err as Error).message).toMatch(/program twice is already attached to raw tracepoint sched_switch .*close the link that holds it, or load the program again/);
  });

  it('a trampoline EBUSY (fentry attached twice) says the same', () => {
    using prog = load(ProgramType.Tracing, AttachType.TraceFentry);
    fake.onBpf(Cmd.RawTracepointOpen, -Errno.EBUSY);
    expect(caught(() => attachTracing(prog))).toMatchObject({ message: expect.stringMatching(/program twice is already attached to its target/) });
    fake.onBpf(Cmd.LinkCreate, -Errno.EBUSY);
    expect(caught(() => attachTracing(prog, { attachType: AttachType.TraceFentry, cookie: 7 }))).toMatchObject({ message: expect.stringMatching(/already attached/) });
  });

  it('other errnos keep their own explanation', () => {
    using prog = load(ProgramType.RawTracepoint);
    fake.onBpf(Cmd.RawTracepointOpen, -Errno.ENOENT);
    expect((caught(() => attachRawTracepoint(prog, 'nope')) as Error).message).toMatch(/no tracepoint named nope/);
  });
});
