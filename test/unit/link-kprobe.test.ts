// kprobe attachment without a kernel: a fake tracefs directory, a fake kprobe PMU directory,
// kallsyms from a fixture and the fake syscall backend. Proves that hostile names are
// rejected before anything is written, what is written to kprobe_events, that events are
// removed on close and on failure, and how PMU errnos are reported.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as asm from '../../src/asm/index.js';
import { ArgumentError, NotSupportedError, SymbolNotFoundError, SyscallError } from '../../src/errors.js';
import { setKallsymsSource, setKprobeBlacklistPath } from '../../src/internal/kallsyms.js';
import {
  attachKprobe,
  attachKretprobe,
  attachKsyscall,
  KPROBES_UNAVAILABLE,
  setKprobePmuPath,
} from '../../src/link/kprobe.js';
import { liveTracefsProbeEvents, removeTracefsProbeEvents } from '../../src/link/probe-events.js';
import { setTracefsPath, TracepointNotFoundError } from '../../src/internal/tracefs.js';
import { Program } from '../../src/prog.js';
import { Cmd } from '../../src/sys/layouts.js';
import { ProgramType } from '../../src/types.js';
import { installFakeKernel, type PerfFake, uninstallFakeKernel } from './helpers/perf-fake.js';

let fake: PerfFake;
let dir: string;
let prog: Program;
const events = (): string => readFileSync(join(dir, 'tracefs', 'kprobe_events'), 'utf8');
const pid = process.pid;

function makeEvent(group: string, event: string, id: number): void {
  mkdirSync(join(dir, 'tracefs', 'events', group, event), { recursive: true });
  writeFileSync(join(dir, 'tracefs', 'events', group, event, 'id'), `${id}\n`);
}

function nextGroupAfter(text: string): string {
  const all = [...text.matchAll(/ebpf_ts_\d+_(\d+)/g)].map((m) => Number(m[1]));
  return `ebpf_ts_${pid}_${Math.max(...all) + 1}`;
}

beforeEach(() => {
  fake = installFakeKernel();
  dir = mkdtempSync(join(tmpdir(), 'ebpf-ts-kprobe-'));
  mkdirSync(join(dir, 'tracefs', 'events'), { recursive: true });
  writeFileSync(join(dir, 'tracefs', 'trace'), '');
  writeFileSync(join(dir, 'tracefs', 'kprobe_events'), '');
  setTracefsPath(join(dir, 'tracefs'));
  setKallsymsSource(join(__dirname, 'fixtures', 'link-kallsyms.txt'), '/dev/null');
  setKprobePmuPath(join(dir, 'no-pmu'));
  setKprobeBlacklistPath(join(dir, 'no-blacklist'));
  prog = Program.load({ name: 'kp', type: ProgramType.Kprobe, license: 'GPL', instructions: [asm.mov64Imm(asm.Register.R0, 0), asm.exit()] });
});

afterEach(() => {
  prog.close();
  uninstallFakeKernel();
  setTracefsPath(undefined);
  setKallsymsSource();
  setKprobePmuPath();
  setKprobeBlacklistPath();
  rmSync(dir, { recursive: true, force: true });
});

describe('names are checked before anything is written', () => {
  const hostile = [
    'do_sys_openat2 ',
    'do_sys_openat2\np:evil/x do_sys_openat2',
    'do_sys_openat2\n-:kprobes/other',
    '../../../../etc/passwd',
    'a/b',
    'x..y',
    'sym+0x10',
    'p:g/e',
    '',
  ];
  it.each(hostile)('symbol %j', (symbol) => {
    const before = statSync(join(dir, 'tracefs', 'kprobe_events')).mtimeMs;
    for (const via of ['tracefs', 'auto', 'pmu'] as const) {
      expect(() => attachKprobe(prog, symbol, { via })).toThrow(ArgumentError);
      expect(() => attachKretprobe(prog, symbol, { via: via === 'pmu' ? 'tracefs' : via, maxActive: 4 })).toThrow(ArgumentError);
    }
    expect(() => attachKsyscall(prog, symbol)).toThrow(ArgumentError);
    expect(events()).toBe('');
    expect(statSync(join(dir, 'tracefs', 'kprobe_events')).mtimeMs).toBe(before);
    expect(fake.opens).toEqual([]);
  });

  it('rejects bad options before any write', () => {
    expect(() => attachKprobe(prog, 'do_sys_openat2', { offset: -1 })).toThrow(/>= 0/);
    expect(() => attachKprobe(prog, 'do_sys_openat2', { maxActive: 4 })).toThrow(/kretprobes only/);
    expect(() => attachKretprobe(prog, 'do_sys_openat2', { maxActive: 0 })).toThrow(/1 to 4096/);
    expect(() => attachKretprobe(prog, 'do_sys_openat2', { maxActive: 5000 })).toThrow(/1 to 4096/);
    expect(() => attachKretprobe(prog, 'do_sys_openat2', { offset: 8 })).toThrow(/offset makes no sense/);
    expect(() => attachKprobe(prog, 'init_task')).toThrow(/data\) symbol/);
    expect(events()).toBe('');
  });

  it('refuses a program of another type', () => {
    using tp = Program.load({ name: 'tp', type: ProgramType.Tracepoint, license: 'GPL', instructions: [asm.mov64Imm(asm.Register.R0, 0), asm.exit()] });
    expect(() => attachKprobe(tp, 'do_sys_openat2')).toThrow(/needs a KPROBE program/);
  });

  it('a missing symbol is a SymbolNotFoundError with suggestions, before any write', () => {
    let err: unknown;
    try {
      attachKprobe(prog, 'do_execve', { via: 'tracefs' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SymbolNotFoundError);
    expect((err as SymbolNotFoundError).nearMatches[0]).toBe('do_execveat_common.isra.0');
    expect((err as Error).message).toMatch(/symbol do_execve not found in \/proc\/kallsyms \(do_execve no longer exists/);
    expect(events()).toBe('');
  });

  it('a blacklisted function is refused when the blacklist is readable', () => {
    writeFileSync(join(dir, 'blacklist'), '0xffffffff816b52b0-0xffffffff816b52c0\tdo_sys_openat2\n');
    setKprobeBlacklistPath(join(dir, 'blacklist'));
    expect(() => attachKprobe(prog, 'do_sys_openat2', { via: 'tracefs' })).toThrow(/kprobe blacklist/);
    expect(events()).toBe('');
  });
});

describe('tracefs kprobe_events', () => {
  it('removes the event again when the perf event cannot be opened', () => {
    expect(() => attachKprobe(prog, 'do_sys_openat2', { via: 'tracefs' })).toThrow(TracepointNotFoundError);
    const lines = events().split('\n').filter(Boolean);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^p:ebpf_ts_${pid}_\\d+/do_sys_openat2 do_sys_openat2$`));
    expect(lines[1]).toBe(`-:${lines[0]!.slice(2).split(' ')[0]}`);
    expect(liveTracefsProbeEvents()).toEqual([]);
  });

  it('attaches through a tracepoint perf event and removes the event on close', () => {
    expect(() => attachKprobe(prog, 'do_sys_openat2', { via: 'tracefs' })).toThrow(TracepointNotFoundError);
    const group = nextGroupAfter(events());
    makeEvent(group, 'do_sys_openat2', 4242);
    fake.alwaysBpf(Cmd.LinkCreate, () => -9 /* EBADF: probe says perf links exist */);
    fake.onBpf(Cmd.LinkCreate, -9);
    fake.onBpf(Cmd.LinkCreate, () => 777);
    const link = attachKprobe(prog, 'do_sys_openat2', { via: 'tracefs' });
    expect(link.mode).toBe('perf-link');
    expect(link.fd).toBe(777);
    const open = fake.opens.at(-1)!;
    const view = new DataView(open.attr.buffer);
    expect(view.getUint32(0, true)).toBe(2); // PERF_TYPE_TRACEPOINT
    expect(view.getBigUint64(8, true)).toBe(4242n);
    expect(liveTracefsProbeEvents()).toEqual([`${group}/do_sys_openat2`]);
    link.close();
    expect(events().trim().split('\n').at(-1)).toBe(`-:${group}/do_sys_openat2`);
    expect(fake.closed).toContain(777);
    expect(liveTracefsProbeEvents()).toEqual([]);
  });

  it('writes r<N>: for maxActive, +offset for offsets, and the exit teardown removes live events', () => {
    expect(() => attachKprobe(prog, 'do_sys_openat2', { via: 'tracefs' })).toThrow(TracepointNotFoundError);
    const g1 = nextGroupAfter(events());
    makeEvent(g1, 'do_sys_openat2', 1);
    fake.alwaysBpf(Cmd.LinkCreate, -22); // EINVAL: no perf links, the ioctl path
    const ret = attachKretprobe(prog, 'do_sys_openat2', { maxActive: 16 });
    expect(ret.mode).toBe('perf-ioctl');
    expect(events()).toContain(`r16:${g1}/do_sys_openat2 do_sys_openat2\n`);
    const g2 = `ebpf_ts_${pid}_${Number(g1.split('_').at(-1)) + 1}`;
    makeEvent(g2, 'do_sys_openat2_16', 2);
    const off = attachKprobe(prog, 'do_sys_openat2', { via: 'tracefs', offset: 16 });
    expect(events()).toContain(`p:${g2}/do_sys_openat2_16 do_sys_openat2+16\n`);
    expect(liveTracefsProbeEvents().sort()).toEqual([`${g1}/do_sys_openat2`, `${g2}/do_sys_openat2_16`].sort());
    removeTracefsProbeEvents();
    expect(ret.closed && off.closed).toBe(true);
    expect(events()).toContain(`-:${g1}/do_sys_openat2\n`);
    expect(events()).toContain(`-:${g2}/do_sys_openat2_16\n`);
    expect(liveTracefsProbeEvents()).toEqual([]);
  });

  it('without PMU and without kprobe_events: the CONFIG_KPROBES error', () => {
    rmSync(join(dir, 'tracefs', 'kprobe_events'));
    let err: unknown;
    try {
      attachKprobe(prog, 'do_sys_openat2');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NotSupportedError);
    expect((err as Error).message).toBe(KPROBES_UNAVAILABLE);
  });
});

describe('kprobe PMU', () => {
  beforeEach(() => {
    mkdirSync(join(dir, 'pmu', 'format'), { recursive: true });
    writeFileSync(join(dir, 'pmu', 'type'), '9\n');
    writeFileSync(join(dir, 'pmu', 'format', 'retprobe'), 'config:0\n');
    setKprobePmuPath(join(dir, 'pmu'));
    fake.alwaysBpf(Cmd.LinkCreate, -22);
  });

  it('opens a kretprobe with the symbol by pointer in config1 and the retprobe bit', () => {
    using link = attachKretprobe(prog, '__x64_sys_getppid');
    const open = fake.opens[0]!;
    const view = new DataView(open.attr.buffer);
    expect(open.attr.byteLength).toBe(72); // PERF_ATTR_SIZE_VER1
    expect(view.getUint32(0, true)).toBe(9);
    expect(view.getUint32(4, true)).toBe(72);
    expect(view.getBigUint64(8, true)).toBe(1n);
    expect(new TextDecoder().decode(open.pointers.get(56)!)).toBe('__x64_sys_getppid\0');
    expect(open.pid).toBe(-1);
    expect(open.cpu).toBe(0);
    expect(fake.ioctls.map((c) => c[1])).toEqual([0x40042408, 0x2400]);
    expect(events()).toBe('');
    void link;
  });

  it('passes the offset in config2 and attaches by ksyscall', () => {
    using a = attachKprobe(prog, 'do_sys_openat2', { offset: 0x10 });
    using b = attachKsyscall(prog, 'getppid');
    expect(new DataView(fake.opens[0]!.attr.buffer).getBigUint64(64, true)).toBe(0x10n);
    expect(new TextDecoder().decode(fake.opens[1]!.pointers.get(56)!)).toBe('__x64_sys_getppid\0');
    void a;
    void b;
  });

  it('maps ENOENT to SymbolNotFoundError and EILSEQ to an instruction-boundary hint', () => {
    fake.openResult = -2;
    expect(() => attachKprobe(prog, 'do_sys_openat2')).toThrow(SymbolNotFoundError);
    fake.openResult = -84;
    const err = (() => {
      try {
        attachKprobe(prog, 'do_sys_openat2', { offset: 3 });
      } catch (e) {
        return e as SyscallError;
      }
    })();
    expect(err).toBeInstanceOf(SyscallError);
    expect(err!.message).toMatch(/not on an instruction boundary/);
  });

  it('uses tracefs for maxActive even with a PMU', () => {
    expect(() => attachKretprobe(prog, 'do_sys_openat2', { maxActive: 8 })).toThrow(TracepointNotFoundError);
    expect(events()).toMatch(/^r8:ebpf_ts_/);
    expect(fake.opens).toEqual([]);
  });
});
