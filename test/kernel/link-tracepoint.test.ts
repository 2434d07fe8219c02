// Tracepoints, raw tracepoints, Link lifecycle and the trace_pipe reader against the running
// kernel. Needs root; mounts tracefs when it is not mounted (and says so). Runs on whichever
// backend EBPF_TS_BACKEND selects (CI runs both).
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as asm from '../../src/asm/index.js';
import { ArgumentError, NotSupportedError } from '../../src/errors.js';
import { attachProgram } from '../../src/link/auto.js';
import { Link, LinkType, listLinks } from '../../src/link/link.js';
import { perfLinkFeature } from '../../src/link/perf-event.js';
import { kernelVersion } from '../../src/sys/kernel-version.js';
import { attachRawTracepoint } from '../../src/link/raw-tracepoint.js';
import { clearTraceBuffer, TracePipeReader, writeTraceMarker } from '../../src/link/trace-pipe.js';
import { listTracepoints, tracepointFormat, TracepointNotFoundError } from '../../src/internal/tracefs.js';
import { attachTracepoint } from '../../src/link/tracepoint.js';
import { Program } from '../../src/prog.js';
import { backend } from '../../src/sys/select.js';
import { ProgramType } from '../../src/types.js';
import { callGetppid, counterMap, countingProgram, ensureTracefs, NR_GETPPID, readCount } from './link-helpers.js';

const R = asm.Register;
const skip = process.getuid?.() !== 0 ? 'needs root for bpf() and tracefs' : '';
if (skip !== '') console.warn(`skipping link kernel tests: ${skip}`);

const openFds = (): number => readdirSync('/proc/self/fd').length;

describe.skipIf(skip !== '')(`tracepoint links (backend ${skip === '' ? backend().kind : 'none'})`, () => {
  beforeAll(() => ensureTracefs());

  it('counts sys_enter_getppid calls from this process exactly, and stops counting after close', () => {
    using map = counterMap();
    using prog = countingProgram(ProgramType.Tracepoint, map);
    const link = attachTracepoint(prog, 'syscalls', 'sys_enter_getppid');
    expect(link.mode).toBe(perfLinkFeature.supported() ? 'perf-link' : 'perf-ioctl');
    callGetppid(100);
    expect(readCount(map)).toBe(100n);
    link.close();
    callGetppid(50);
    expect(readCount(map)).toBe(100n);
    expect(link.closed).toBe(true);
    link.close(); // idempotent
  });

  it('attaches through PERF_EVENT_IOC_SET_BPF + ENABLE when the perf link probe says no', () => {
    const spy = vi.spyOn(perfLinkFeature, 'supported').mockReturnValue(false);
    try {
      using map = counterMap();
      using prog = countingProgram(ProgramType.Tracepoint, map);
      const link = attachTracepoint(prog, 'syscalls', 'sys_enter_getppid');
      expect(link.mode).toBe('perf-ioctl');
      callGetppid(25);
      expect(readCount(map)).toBe(25n);
      expect(() => link.info()).toThrow(NotSupportedError);
      expect(() => link.pin('/sys/fs/bpf/never')).toThrow(/5\.15/);
      expect(() => attachTracepoint(prog, 'syscalls', 'sys_enter_getppid', { cookie: 7 })).toThrow(/cookie.*5\.15/);
      link.close();
      callGetppid(10);
      expect(readCount(map)).toBe(25n);
    } finally {
      spy.mockRestore();
    }
  });

  it.skipIf(!perfLinkFeature.supported())(`a perf link has info, can be pinned, reopened and listed${skip === '' && !perfLinkFeature.supported() ? ` — skipped: BPF perf links need Linux 5.15 (Linux ${kernelVersion()})` : ''}`, () => {
    using map = counterMap();
    using prog = countingProgram(ProgramType.Tracepoint, map);
    using link = attachTracepoint(prog, 'syscalls', 'sys_enter_getppid', { cookie: 42n });
    const info = link.info();
    expect(info.type).toBe(LinkType.PerfEvent);
    expect(info.programId).toBe(prog.info().id);
    // bpf_link_info.perf_event: 6.6; the cookie in it 6.9. Older kernels report no details.
    if (kernelVersion().atLeast('6.6')) {
      expect(info.perfEvent).toMatchObject({ kind: 'tracepoint', name: 'sys_enter_getppid' });
      if (kernelVersion().atLeast('6.9')) expect(info.perfEvent?.cookie).toBe(42n);
    } else {
      expect(info.perfEvent).toBeUndefined();
    }
    expect(listLinks().map((l) => l.id)).toContain(info.id);
    const pin = `/sys/fs/bpf/ebpf_ts_link_test_${process.pid}`;
    link.pin(pin);
    try {
      using again = Link.fromPin(pin);
      expect(again.info().id).toBe(info.id);
    } finally {
      link.unpin(pin);
    }
  });

  it('closes every fd it opened', () => {
    using map = counterMap();
    using prog = countingProgram(ProgramType.Tracepoint, map);
    attachTracepoint(prog, 'syscalls', 'sys_enter_getppid').close(); // warm up probes
    const before = openFds();
    for (let i = 0; i < 20; i++) attachTracepoint(prog, 'syscalls', 'sys_enter_getppid').close();
    expect(openFds()).toBe(before);
  });

  it('refuses a program of the wrong type before any syscall', () => {
    using map = counterMap();
    using prog = countingProgram(ProgramType.RawTracepoint, map);
    expect(() => attachTracepoint(prog, 'syscalls', 'sys_enter_getppid')).toThrow(ArgumentError);
  });

  it('names a missing tracepoint and suggests similar events', () => {
    using map = counterMap();
    using prog = countingProgram(ProgramType.Tracepoint, map);
    const err = (() => {
      try {
        attachTracepoint(prog, 'syscalls', 'sys_enter_getppidd');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(TracepointNotFoundError);
    expect((err as TracepointNotFoundError).nearMatches).toContain('syscalls/sys_enter_getppid');
  });

  it('lists tracepoints and parses the format of sys_enter_openat', () => {
    const names = listTracepoints('syscalls').map((e) => e.name);
    expect(names).toContain('sys_enter_getppid');
    const fmt = tracepointFormat('syscalls', 'sys_enter_openat');
    const byName = Object.fromEntries(fmt.fields.map((f) => [f.name, f]));
    expect(byName.common_type).toMatchObject({ offset: 0, size: 2, common: true });
    expect(byName.__syscall_nr).toMatchObject({ type: 'int', size: 4, signed: true, common: false });
    expect(byName.filename).toMatchObject({ type: 'const char *', size: 8, signed: false });
    expect(fmt.id).toBeGreaterThan(0);
  });

  it('auto-attaches a tracepoint section', () => {
    using map = counterMap();
    using prog = countingProgram(ProgramType.Tracepoint, map);
    using link = attachProgram(prog, { sectionName: 'tracepoint/syscalls/sys_enter_getppid' });
    callGetppid(7);
    expect(readCount(map)).toBe(7n);
    void link;
  });
});

describe.skipIf(skip !== '')('raw tracepoint links', () => {
  it('counts getppid through raw sys_enter exactly, and stops after close', () => {
    using map = counterMap();
    using prog = countingProgram(ProgramType.RawTracepoint, map, 'count_raw', NR_GETPPID);
    const link = attachRawTracepoint(prog, 'sys_enter');
    callGetppid(100);
    expect(readCount(map)).toBe(100n);
    const info = link.info();
    expect(info.type).toBe(LinkType.RawTracepoint);
    expect(info.rawTracepointName).toBe('sys_enter');
    link.close();
    callGetppid(30);
    expect(readCount(map)).toBe(100n);
  });

  it('auto-attaches raw_tp sections and rejects names that are not identifiers', () => {
    using map = counterMap();
    using prog = countingProgram(ProgramType.RawTracepoint, map, 'count_raw', NR_GETPPID);
    using link = attachProgram(prog, { sectionName: 'raw_tp/sys_enter' });
    callGetppid(3);
    expect(readCount(map)).toBe(3n);
    expect(() => attachRawTracepoint(prog, 'sys_enter\n')).toThrow(ArgumentError);
    void link;
  });

  it('reports a missing raw tracepoint with ENOENT and a hint', () => {
    using map = counterMap();
    using prog = countingProgram(ProgramType.RawTracepoint, map);
    expect(() => attachRawTracepoint(prog, 'no_such_tracepoint_ebpf_ts')).toThrow(/ENOENT.*no tracepoint named/);
  });
});

describe.skipIf(skip !== '')('trace_pipe reader', () => {
  beforeAll(() => ensureTracefs());
  afterAll(() => clearTraceBuffer());

  it('delivers a trace_marker line and ends the iteration on close', async () => {
    clearTraceBuffer();
    const reader = await TracePipeReader.open();
    const marker = `ebpf-ts marker ${process.pid} ${Date.now()}`;
    setTimeout(() => writeTraceMarker(marker), 20);
    for await (const line of reader) {
      if (line.message.includes(marker)) {
        expect(line.pid).toBe(process.pid);
        break;
      }
    }
    expect(reader.closed).toBe(true);
  });

  it('reads bpf_printk output from a tracepoint program', async () => {
    clearTraceBuffer();
    // "ebpfts!\n" as two u32 stores on the stack, then bpf_trace_printk(fmt, 9).
    const text = Buffer.from('ebpfts!\n\0\0\0\0', 'latin1');
    using prog = Program.load({
      name: 'printk_test',
      type: ProgramType.Tracepoint,
      license: 'GPL',
      instructions: asm.assemble([
        asm.call(asm.Helper.GetCurrentPidTgid),
        asm.alu64Imm(asm.ALUOp.RSh, R.R0, 32),
        asm.jumpImm(asm.JumpOp.JNE, R.R0, process.pid, 'out'),
        asm.storeImm(asm.Size.W, R.R10, -16, text.readInt32LE(0)),
        asm.storeImm(asm.Size.W, R.R10, -12, text.readInt32LE(4)),
        asm.storeImm(asm.Size.W, R.R10, -8, 0),
        asm.mov64Reg(R.R1, R.R10),
        asm.alu64Imm(asm.ALUOp.Add, R.R1, -16),
        asm.mov64Imm(R.R2, 9),
        asm.call(asm.Helper.TracePrintk),
        asm.mov64Imm(R.R0, 0).withSymbol('out'),
        asm.exit(),
      ]),
    });
    using reader = await TracePipeReader.open();
    const link = attachTracepoint(prog, 'syscalls', 'sys_enter_getppid');
    callGetppid(3);
    link.close();
    const seen: string[] = [];
    const timeout = AbortSignal.timeout(10_000);
    while (seen.length < 3 && !timeout.aborted) {
      const next = await Promise.race([reader.next(), new Promise<undefined>((r) => setTimeout(() => r(undefined), 10_000))]);
      if (next === undefined || next.done === true) break;
      if (next.value.message.startsWith('ebpfts!')) {
        expect(next.value.pid).toBe(process.pid);
        seen.push(next.value.message);
      }
    }
    expect(seen).toEqual(['ebpfts!', 'ebpfts!', 'ebpfts!']);
  });

  it('clearTraceBuffer drops unread lines', async () => {
    writeTraceMarker(`to be cleared ${process.pid}`);
    clearTraceBuffer();
    using reader = await TracePipeReader.open();
    expect(reader.readBuffered().filter((l) => l.message.includes('to be cleared'))).toEqual([]);
    void readFileSync;
  });
});
