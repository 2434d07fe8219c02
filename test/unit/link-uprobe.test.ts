// uprobe attachment without a kernel: the fake syscall backend, a fake uprobe PMU directory and a
// fake tracefs. Proves what perf_event_attr the PMU path encodes (path by pointer, offset,
// retprobe and ref_ctr_offset bits, pid/cpu), what line the tracefs path writes to
// uprobe_events and that the event is removed on close and on failure, that bad arguments and
// paths uprobe_events cannot hold are refused before anything is written, and the uprobe
// branch of auto-attach by section name.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { endianness, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as asm from '../../src/asm/index.js';
import { ArgumentError, NotSupportedError, SymbolNotFoundError, SyscallError } from '../../src/errors.js';
import { attachProgram, canAutoAttach } from '../../src/link/auto.js';
import { Executable } from '../../src/link/executable.js';
import { liveTracefsProbeEvents, removeTracefsProbeEvents } from '../../src/link/probe-events.js';
import { setTracefsPath, TracepointNotFoundError } from '../../src/internal/tracefs.js';
import { attachUprobe, attachUretprobe, setUprobePmuPath, uprobeSupport } from '../../src/link/uprobe.js';
import { Program } from '../../src/prog.js';
import { Cmd } from '../../src/sys/layouts.js';
import { ProgramType } from '../../src/types.js';
import { caught, installFakeKernel, type PerfFake, uninstallFakeKernel } from './helpers/perf-fake.js';

const le = endianness() === 'LE';
const pid = process.pid;
const PMU_TYPE = 8;
const PERF_EVENT_IOC_SET_BPF = 0x40042408;
const PERF_EVENT_IOC_ENABLE = 0x2400;

const TARGET = realpathSync(join(import.meta.dirname, '../../testdata/uprobe/target'));
const LIB = realpathSync(join(import.meta.dirname, '../../testdata/uprobe/libfixture.so'));
const ADD = Executable.open(TARGET).symbolOffset('ebpf_ts_uprobe_add');
const ADD_SIZE = Executable.open(TARGET).symbol('ebpf_ts_uprobe_add').size;
const SEMAPHORE = Executable.open(TARGET).variableOffset('ebpf_ts_semaphore');
const hex = (n: bigint): string => `0x${n.toString(16)}`;

let fake: PerfFake;
let dir: string;
let prog: Program;
const events = (): string => readFileSync(join(dir, 'tracefs', 'uprobe_events'), 'utf8');
const lines = (): string[] => events().split('\n').filter(Boolean);

function makeEvent(group: string, event: string, id: number): void {
  mkdirSync(join(dir, 'tracefs', 'events', group, event), { recursive: true });
  writeFileSync(join(dir, 'tracefs', 'events', group, event, 'id'), `${id}\n`);
}

/** The group the next tracefs probe event gets: one more than the last in uprobe_events. */
function nextGroup(): string {
  const all = [...events().matchAll(/ebpf_ts_\d+_(\d+)/g)].map((m) => Number(m[1]));
  return `ebpf_ts_${pid}_${Math.max(...all) + 1}`;
}

/** Makes one attempt that fails (no event id) so that uprobe_events names a group to count from. */
function primeGroups(): void {
  expect(() => attachUprobe(prog, TARGET, 'ebpf_ts_uprobe_add', { via: 'tracefs' })).toThrow(TracepointNotFoundError);
}

function makePmu(refCtr = true): void {
  mkdirSync(join(dir, 'pmu', 'format'), { recursive: true });
  writeFileSync(join(dir, 'pmu', 'type'), `${PMU_TYPE}\n`);
  writeFileSync(join(dir, 'pmu', 'format', 'retprobe'), 'config:0\n');
  if (refCtr) writeFileSync(join(dir, 'pmu', 'format', 'ref_ctr_offset'), 'config:32-63\n');
  setUprobePmuPath(join(dir, 'pmu'));
}

/** The decoded PMU perf_event_open call `i`. */
function pmuOpen(i = 0) {
  const open = fake.opens[i]!;
  const view = new DataView(open.attr.buffer);
  const path = open.pointers.get(56);
  return {
    length: open.attr.byteLength,
    type: view.getUint32(0, le),
    size: view.getUint32(4, le),
    config: view.getBigUint64(8, le),
    config1: view.getBigUint64(56, le),
    path: path == null ? undefined : new TextDecoder().decode(path),
    config2: view.getBigUint64(64, le),
    pid: open.pid,
    cpu: open.cpu,
  };
}

/** Copies the target fixture into a directory named `name` under the test directory. */
function copyTargetInto(name: string): string {
  mkdirSync(join(dir, name), { recursive: true });
  const path = join(dir, name, 'target');
  copyFileSync(TARGET, path);
  return realpathSync(path);
}

beforeEach(() => {
  fake = installFakeKernel();
  fake.alwaysBpf(Cmd.LinkCreate, -22); // no perf links: the ioctl path, unless a test says otherwise
  dir = realpathSync(mkdtempSync(join(tmpdir(), 'ebpf-ts-uprobe-')));
  mkdirSync(join(dir, 'tracefs', 'events'), { recursive: true });
  writeFileSync(join(dir, 'tracefs', 'trace'), '');
  writeFileSync(join(dir, 'tracefs', 'uprobe_events'), '');
  setTracefsPath(join(dir, 'tracefs'));
  setUprobePmuPath(join(dir, 'no-pmu'));
  prog = Program.load({ name: 'up', type: ProgramType.Kprobe, license: 'GPL', instructions: [asm.mov64Imm(asm.Register.R0, 0), asm.exit()] });
});

afterEach(() => {
  removeTracefsProbeEvents();
  prog.close();
  uninstallFakeKernel();
  setTracefsPath(undefined);
  setUprobePmuPath();
  rmSync(dir, { recursive: true, force: true });
});

describe('uprobe PMU', () => {
  beforeEach(() => makePmu());

  it('uprobeSupport() reads the fake PMU and tracefs', () => {
    expect(uprobeSupport()).toEqual({ pmuType: PMU_TYPE, pmuRefCtr: true, tracefsMounted: true, tracefsEvents: true });
  });

  it('encodes type, size 72, the path by pointer in config1 and the file offset in config2; pid -1, cpu 0', () => {
    using link = attachUprobe(prog, TARGET, 'ebpf_ts_uprobe_add');
    expect(fake.opens).toHaveLength(1);
    const o = pmuOpen();
    expect(o.length).toBe(72); // PERF_ATTR_SIZE_VER1
    expect(o.type).toBe(PMU_TYPE);
    expect(o.size).toBe(72);
    expect(o.config).toBe(0n);
    expect(o.path).toBe(`${TARGET}\0`);
    expect(o.config1).toBe(0n); // the backend writes the pointer in
    expect(o.config2).toBe(ADD);
    expect(o.pid).toBe(-1);
    expect(o.cpu).toBe(0);
    expect(link.mode).toBe('perf-ioctl');
    expect(fake.ioctls.map((c) => c[1])).toEqual([PERF_EVENT_IOC_SET_BPF, PERF_EVENT_IOC_ENABLE]);
    expect(fake.ioctls[0]![2]).toBe(prog.fd);
    expect(link.what).toBe(`uprobe ${TARGET}:ebpf_ts_uprobe_add (${hex(ADD)})`);
    expect(events()).toBe('');
  });

  it('a uretprobe sets the retprobe bit; attachUretprobe and retprobe: true agree', () => {
    using a = attachUretprobe(prog, TARGET, 'ebpf_ts_uprobe_add');
    using b = attachUprobe(prog, TARGET, 'ebpf_ts_uprobe_add', { retprobe: true });
    expect(pmuOpen(0).config).toBe(1n);
    expect(pmuOpen(1).config).toBe(1n);
    expect(pmuOpen(0).config2).toBe(ADD);
    expect(a.what).toMatch(/^uretprobe /);
    void b;
  });

  it('refCtrOffset goes in config bits 32-63, with the retprobe bit', () => {
    using a = attachUprobe(prog, TARGET, 'ebpf_ts_uprobe_add', { refCtrOffset: SEMAPHORE });
    using b = attachUretprobe(prog, TARGET, 'ebpf_ts_uprobe_add', { refCtrOffset: Number(SEMAPHORE) });
    expect(pmuOpen(0).config).toBe(SEMAPHORE << 32n);
    expect(pmuOpen(1).config).toBe((SEMAPHORE << 32n) | 1n);
    void a;
    void b;
  });

  it('the pid option: that pid and cpu -1', () => {
    using link = attachUprobe(prog, TARGET, 'ebpf_ts_uprobe_add', { pid: 4321 });
    expect(pmuOpen().pid).toBe(4321);
    expect(pmuOpen().cpu).toBe(-1);
    expect(link.what).toMatch(/ in pid 4321$/);
    using all = attachUprobe(prog, TARGET, 'ebpf_ts_uprobe_add', { pid: -1 });
    expect(pmuOpen(1).pid).toBe(-1);
    expect(pmuOpen(1).cpu).toBe(0);
    void all;
  });

  it('symbol+offset, a number, a bigint, and an Executable', () => {
    using a = attachUprobe(prog, TARGET, 'ebpf_ts_uprobe_add+1');
    using b = attachUprobe(prog, TARGET, 'ebpf_ts_uprobe_add+0x2');
    using c = attachUprobe(prog, TARGET, 0x1234);
    using d = attachUprobe(prog, TARGET, 0x10n);
    using e = attachUprobe(prog, Executable.open(LIB), 'ebpf_ts_versioned@EBPF_TS_1');
    using f = attachUprobe(prog, Executable.open(TARGET), 0n);
    expect(fake.opens.map((_, i) => pmuOpen(i).config2)).toEqual([ADD + 1n, ADD + 2n, 0x1234n, 0x10n, Executable.open(LIB).symbolOffset('ebpf_ts_versioned@EBPF_TS_1'), 0n]);
    expect(pmuOpen(4).path).toBe(`${LIB}\0`);
    expect(c.what).toBe(`uprobe ${TARGET}:0x1234`);
    for (const l of [a, b, c, d, e, f]) expect(l.closed).toBe(false);
  });

  it('a cookie goes into BPF_LINK_CREATE when perf links exist', () => {
    fake.alwaysBpf(Cmd.LinkCreate, () => 555);
    using link = attachUprobe(prog, TARGET, 'ebpf_ts_uprobe_add', { cookie: 0xc00c1en });
    expect(link.mode).toBe('perf-link');
    const create = fake.callsOf(Cmd.LinkCreate).at(-1)!;
    const view = new DataView(create.attr.buffer);
    expect(view.getUint32(0, le)).toBe(prog.fd);
    expect(view.getUint32(4, le)).toBe(fake.perfFds[0]); // target_fd: the uprobe perf event
    expect(view.getBigUint64(16, le)).toBe(0xc00c1en); // perf_event.bpf_cookie
    expect(link.fd).toBe(555);
  });

  it('a cookie without perf links: NotSupportedError, and the perf event is closed', () => {
    const err = caught(() => attachUprobe(prog, TARGET, 'ebpf_ts_uprobe_add', { cookie: 1 }));
    expect(err).toBeInstanceOf(NotSupportedError);
    expect((err as Error).message).toMatch(/5\.15/);
    expect(fake.perfFds).toHaveLength(1);
    expect(fake.closed).toContain(fake.perfFds[0]);
  });

  it('refCtrOffset without format/ref_ctr_offset: NotSupportedError naming 5.5, nothing opened', () => {
    rmSync(join(dir, 'pmu', 'format', 'ref_ctr_offset'));
    expect(uprobeSupport().pmuRefCtr).toBe(false);
    const err = caught(() => attachUprobe(prog, TARGET, 'ebpf_ts_uprobe_add', { refCtrOffset: SEMAPHORE }));
    expect(err).toBeInstanceOf(NotSupportedError);
    expect((err as NotSupportedError).minimumVersion).toBe('5.5');
    expect((err as Error).message).toMatch(/ref_ctr_offset.*5\.5/);
    expect(fake.opens).toEqual([]);
    // Without a semaphore the PMU still works.
    using link = attachUprobe(prog, TARGET, 'ebpf_ts_uprobe_add');
    void link;
  });

  it('perf_event_open errors: SyscallError with a uprobe hint', () => {
    const cases: Array<[number, RegExp]> = [
      [-2, /ENOENT.*does not exist/],
      [-22, /EINVAL.*refused the probe at .*ebpf_ts_uprobe_add/],
      [-3, /ESRCH.*no such process/],
      [-524, /ENOTSUPP.*cannot handle the instruction/],
      [-1, /EPERM.*CAP_PERFMON/],
    ];
    for (const [errno, message] of cases) {
      fake.openResult = errno;
      const err = caught(() => attachUprobe(prog, TARGET, 'ebpf_ts_uprobe_add', { pid: 99 }));
      expect(err, String(errno)).toBeInstanceOf(SyscallError);
      expect((err as SyscallError).errno).toBe(-errno);
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).toMatch(/in pid 99/);
    }
    expect(fake.ioctls).toEqual([]);
  });

  it('a path uprobe_events could not hold is fine through the PMU', () => {
    const odd = copyTargetInto('with space (and parens)');
    using link = attachUprobe(prog, odd, 'ebpf_ts_uprobe_add');
    expect(pmuOpen().path).toBe(`${odd}\0`);
    expect(pmuOpen().config2).toBe(ADD);
    void link;
  });

  it("via: 'tracefs' with a PMU but without uprobe_events: NotSupportedError", () => {
    rmSync(join(dir, 'tracefs', 'uprobe_events'));
    expect(() => attachUprobe(prog, TARGET, 'ebpf_ts_uprobe_add', { via: 'tracefs' })).toThrow(NotSupportedError);
    // The PMU is there: the message must not claim otherwise.
    expect(() => attachUprobe(prog, TARGET, 'ebpf_ts_uprobe_add', { via: 'tracefs' })).toThrow(/tracefs uprobe_events.*the uprobe PMU is there/);
    expect(fake.opens).toEqual([]);
  });

  it("via: 'tracefs' skips the PMU", () => {
    primeGroups();
    const group = nextGroup();
    makeEvent(group, `target_${hex(ADD)}`, 31);
    using link = attachUprobe(prog, TARGET, 'ebpf_ts_uprobe_add', { via: 'tracefs' });
    expect(lines()).toContain(`p:${group}/target_${hex(ADD)} ${TARGET}:${hex(ADD)}`);
    expect(fake.opens).toHaveLength(1); // the primed attempt never got to perf_event_open
    expect(new DataView(fake.opens.at(-1)!.attr.buffer).getUint32(0, le)).toBe(2); // PERF_TYPE_TRACEPOINT
    void link;
  });
});

describe("via: 'pmu' without a PMU", () => {
  it('NotSupportedError naming 4.17, nothing written', () => {
    const err = caught(() => attachUprobe(prog, TARGET, 'ebpf_ts_uprobe_add', { via: 'pmu' }));
    expect(err).toBeInstanceOf(NotSupportedError);
    expect((err as NotSupportedError).minimumVersion).toBe('4.17');
    expect((err as Error).message).toMatch(/uprobe PMU.*4\.17/);
    expect(events()).toBe('');
    expect(fake.opens).toEqual([]);
  });

  it('no PMU and no uprobe_events: NotSupportedError (CONFIG_UPROBE_EVENTS)', () => {
    rmSync(join(dir, 'tracefs', 'uprobe_events'));
    expect(uprobeSupport()).toEqual({ pmuType: undefined, pmuRefCtr: false, tracefsMounted: true, tracefsEvents: false });
    const err = caught(() => attachUprobe(prog, TARGET, 'ebpf_ts_uprobe_add'));
    expect(err).toBeInstanceOf(NotSupportedError);
    expect((err as Error).message).toMatch(/CONFIG_UPROBE_EVENTS/);
  });
});

describe('tracefs uprobe_events', () => {
  it('writes p:<group>/<event> <path>:0x<offset>, and removes the event when the tracepoint id is missing', () => {
    expect(() => attachUprobe(prog, TARGET, 'ebpf_ts_uprobe_add')).toThrow(TracepointNotFoundError);
    const [add, remove, ...rest] = lines();
    expect(rest).toEqual([]);
    const m = new RegExp(`^p:(ebpf_ts_${pid}_\\d+)/target_${hex(ADD)} ${TARGET.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${hex(ADD)}$`).exec(add!);
    expect(m, add).not.toBeNull();
    expect(remove).toBe(`-:${m![1]}/target_${hex(ADD)}`);
    expect(liveTracefsProbeEvents()).toEqual([]);
    expect(fake.opens).toEqual([]);
  });

  it('attaches through a tracepoint perf event (with the pid), and removes the event on close', () => {
    primeGroups();
    const group = nextGroup();
    const event = `target_${hex(ADD)}`;
    makeEvent(group, event, 4242);
    const link = attachUprobe(prog, TARGET, 'ebpf_ts_uprobe_add', { pid: 777 });
    expect(lines().at(-1)).toBe(`p:${group}/${event} ${TARGET}:${hex(ADD)}`);
    const open = fake.opens.at(-1)!;
    const view = new DataView(open.attr.buffer);
    expect(view.getUint32(0, le)).toBe(2); // PERF_TYPE_TRACEPOINT
    expect(view.getBigUint64(8, le)).toBe(4242n);
    expect(open.pid).toBe(777);
    expect(open.cpu).toBe(-1);
    expect(liveTracefsProbeEvents()).toEqual([`${group}/${event}`]);
    expect(link.mode).toBe('perf-ioctl');
    link.close();
    expect(lines().at(-1)).toBe(`-:${group}/${event}`);
    expect(liveTracefsProbeEvents()).toEqual([]);
    link.close(); // twice: nothing more written
    expect(lines().filter((l) => l === `-:${group}/${event}`)).toHaveLength(1);
  });

  it('r: for uretprobes, (0x<ref>) for a semaphore, the library name for the event', () => {
    primeGroups();
    const g1 = nextGroup();
    makeEvent(g1, `target_${hex(ADD)}`, 1);
    using ret = attachUretprobe(prog, TARGET, 'ebpf_ts_uprobe_add', { refCtrOffset: SEMAPHORE });
    expect(lines().at(-1)).toBe(`r:${g1}/target_${hex(ADD)} ${TARGET}:${hex(ADD)}(${hex(SEMAPHORE)})`);
    const g2 = `ebpf_ts_${pid}_${Number(g1.split('_').at(-1)) + 1}`;
    const plain = Executable.open(LIB).symbolOffset('ebpf_ts_plain');
    makeEvent(g2, `libfixture_so_${hex(plain)}`, 2);
    using lib = attachUprobe(prog, LIB, 'ebpf_ts_plain');
    expect(lines().at(-1)).toBe(`p:${g2}/libfixture_so_${hex(plain)} ${LIB}:${hex(plain)}`);
    expect(liveTracefsProbeEvents().sort()).toEqual([`${g1}/target_${hex(ADD)}`, `${g2}/libfixture_so_${hex(plain)}`].sort());
    removeTracefsProbeEvents();
    expect(ret.closed && lib.closed).toBe(true);
    expect(lines()).toContain(`-:${g1}/target_${hex(ADD)}`);
    expect(lines()).toContain(`-:${g2}/libfixture_so_${hex(plain)}`);
    expect(liveTracefsProbeEvents()).toEqual([]);
  });

  it('removes the event when perf_event_open fails', () => {
    primeGroups();
    const group = nextGroup();
    makeEvent(group, `target_${hex(ADD)}`, 9);
    fake.openResult = -16; // EBUSY
    const err = caught(() => attachUprobe(prog, TARGET, 'ebpf_ts_uprobe_add'));
    expect(err).toBeInstanceOf(SyscallError);
    expect((err as SyscallError).errno).toBe(16);
    expect(lines().slice(-2)).toEqual([`p:${group}/target_${hex(ADD)} ${TARGET}:${hex(ADD)}`, `-:${group}/target_${hex(ADD)}`]);
    expect(liveTracefsProbeEvents()).toEqual([]);
  });

  it('removes the event when attaching the program fails', () => {
    primeGroups();
    const group = nextGroup();
    makeEvent(group, `target_${hex(ADD)}`, 9);
    const err = caught(() => attachUprobe(prog, TARGET, 'ebpf_ts_uprobe_add', { cookie: 5 })); // no perf links: no cookies
    expect(err).toBeInstanceOf(NotSupportedError);
    expect(lines().at(-1)).toBe(`-:${group}/target_${hex(ADD)}`);
    expect(liveTracefsProbeEvents()).toEqual([]);
  });

  it('a failed write of uprobe_events is a SyscallError, and nothing is left live', () => {
    rmSync(join(dir, 'tracefs', 'uprobe_events'));
    mkdirSync(join(dir, 'tracefs', 'uprobe_events')); // exists, but cannot be written: EISDIR
    const err = caught(() => attachUprobe(prog, TARGET, 'ebpf_ts_uprobe_add'));
    expect(err).toBeInstanceOf(SyscallError);
    expect((err as SyscallError).command).toBe('write uprobe_events');
    expect(liveTracefsProbeEvents()).toEqual([]);
    expect(fake.opens).toEqual([]);
  });

  it.each([
    ['a space', 'with space'],
    ['a newline', 'new\nline'],
    ['a tab', 'tab\there'],
    ['parentheses', 'paren(0x10)'],
  ])('a path with %s is refused before anything is written', (_what, name) => {
    const path = copyTargetInto(name);
    for (const options of [{}, { via: 'tracefs' as const }, { retprobe: true }]) {
      const err = caught(() => attachUprobe(prog, path, 'ebpf_ts_uprobe_add', options));
      expect(err).toBeInstanceOf(ArgumentError);
      expect((err as Error).message).toContain('uprobe_events cannot hold');
    }
    // Also with a PMU present when tracefs is asked for.
    makePmu();
    expect(() => attachUprobe(prog, path, 'ebpf_ts_uprobe_add', { via: 'tracefs' })).toThrow(ArgumentError);
    expect(events()).toBe('');
    expect(fake.opens).toEqual([]);
  });
});

describe('arguments are checked before anything is written or opened', () => {
  afterEach(() => {
    expect(events()).toBe('');
    expect(fake.opens).toEqual([]);
  });

  it('a program that is not KPROBE', () => {
    using tp = Program.load({ name: 'tp', type: ProgramType.Tracepoint, license: 'GPL', instructions: [asm.mov64Imm(asm.Register.R0, 0), asm.exit()] });
    expect(() => attachUprobe(tp, TARGET, 'ebpf_ts_uprobe_add')).toThrow(/needs a KPROBE program/);
    expect(() => attachUretprobe(tp, TARGET, 'ebpf_ts_uprobe_add')).toThrow(ArgumentError);
  });

  it('a uretprobe with an offset into the function', () => {
    makePmu();
    expect(() => attachUretprobe(prog, TARGET, 'ebpf_ts_uprobe_add+4')).toThrow(/uretprobes attach at the function entry/);
    expect(() => attachUprobe(prog, TARGET, 'ebpf_ts_uprobe_add+0x1', { retprobe: true })).toThrow(ArgumentError);
  });

  it('an offset past the function, negative offsets', () => {
    makePmu();
    expect(() => attachUprobe(prog, TARGET, `ebpf_ts_uprobe_add+${ADD_SIZE}`)).toThrow(/outside ebpf_ts_uprobe_add/);
    expect(() => attachUprobe(prog, TARGET, -1)).toThrow(/>= 0/);
    expect(() => attachUprobe(prog, TARGET, -1n)).toThrow(ArgumentError);
    // Not a +<number> suffix: looked up as a name, and not found.
    expect(() => attachUprobe(prog, TARGET, 'ebpf_ts_uprobe_add+-1')).toThrow(SymbolNotFoundError);
  });

  it('a bad pid', () => {
    makePmu();
    for (const bad of [-2, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => attachUprobe(prog, TARGET, 'ebpf_ts_uprobe_add', { pid: bad }), String(bad)).toThrow(/pid must be a process id/);
    }
  });

  it('offsets that are not integers: ArgumentError, not a RangeError from BigInt()', () => {
    makePmu();
    for (const bad of [1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => attachUprobe(prog, TARGET, bad), String(bad)).toThrow(/uprobe file offset must be an integer/);
      expect(() => attachUprobe(prog, TARGET, 'ebpf_ts_uprobe_add', { refCtrOffset: bad }), String(bad)).toThrow(/refCtrOffset must be an integer/);
      expect(() => attachUprobe(prog, TARGET, 'ebpf_ts_uprobe_add', { cookie: bad }), String(bad)).toThrow(ArgumentError);
    }
    expect(fake.opens).toEqual([]);
  });

  it('refCtrOffset at or beyond 4 GiB, or negative', () => {
    makePmu();
    for (const bad of [1n << 32n, 2 ** 32, -1, -1n]) {
      expect(() => attachUprobe(prog, TARGET, 'ebpf_ts_uprobe_add', { refCtrOffset: bad }), String(bad)).toThrow(/refCtrOffset must be a file offset below 4 GiB/);
    }
  });

  it('a binary that cannot be found or is not ELF, a missing symbol, an IFUNC', () => {
    makePmu();
    expect(() => attachUprobe(prog, join(dir, 'nope'), 'main')).toThrow(/not found/);
    expect(() => attachUprobe(prog, join(dir, 'nope'), 0x10)).toThrow(ArgumentError);
    writeFileSync(join(dir, 'script'), '#!/bin/sh\necho not an ELF file at all, but long enough to look at\n');
    expect(() => attachUprobe(prog, join(dir, 'script'), 0x10)).toThrow(/not an ELF file/);
    const missing = caught(() => attachUprobe(prog, TARGET, 'ebpf_ts_uprobe_ad'));
    expect(missing).toBeInstanceOf(SymbolNotFoundError);
    expect((missing as SymbolNotFoundError).nearMatches).toContain('ebpf_ts_uprobe_add');
    expect(() => attachUprobe(prog, LIB, 'ebpf_ts_ifunc')).toThrow(/indirect function/);
    expect(() => attachUprobe(prog, LIB, 'ebpf_ts_local')).toThrow(/2 functions named ebpf_ts_local/);
  });
});

describe('auto-attach by section name', () => {
  beforeEach(() => makePmu());

  it('uprobe/, uretprobe/ and uprobe.s/ with <abs path>:<function>', () => {
    using a = attachProgram(prog, { sectionName: `uprobe/${TARGET}:ebpf_ts_uprobe_add` });
    using b = attachProgram(prog, { sectionName: `uretprobe/${TARGET}:ebpf_ts_uprobe_add` });
    using c = attachProgram(prog, { sectionName: `uprobe.s/${TARGET}:ebpf_ts_uprobe_add` });
    using d = attachProgram(prog, { sectionName: `uretprobe.s/${TARGET}:ebpf_ts_uprobe_add` });
    using e = attachProgram(prog, { sectionName: `uprobe/${TARGET}:ebpf_ts_uprobe_add+2` });
    expect(fake.opens.map((_, i) => [pmuOpen(i).config, pmuOpen(i).config2, pmuOpen(i).path])).toEqual([
      [0n, ADD, `${TARGET}\0`],
      [1n, ADD, `${TARGET}\0`],
      [0n, ADD, `${TARGET}\0`],
      [1n, ADD, `${TARGET}\0`],
      [0n, ADD + 2n, `${TARGET}\0`],
    ]);
    for (const l of [a, b, c, d, e]) expect(l.closed).toBe(false);
    expect(canAutoAttach(`uprobe/${TARGET}:ebpf_ts_uprobe_add`)).toBe(true);
    expect(canAutoAttach('uretprobe.s/x:y')).toBe(true);
  });

  it('a raw file offset (hex or decimal) after the colon', () => {
    using a = attachProgram(prog, { sectionName: `uprobe/${TARGET}:0x1234` });
    using b = attachProgram(prog, { sectionName: `uretprobe/${TARGET}:4660` });
    expect([pmuOpen(0).config, pmuOpen(0).config2]).toEqual([0n, 0x1234n]);
    expect([pmuOpen(1).config, pmuOpen(1).config2]).toEqual([1n, 0x1234n]);
    void a;
    void b;
  });

  it('a library by name, found through LD_LIBRARY_PATH', () => {
    const saved = process.env.LD_LIBRARY_PATH;
    process.env.LD_LIBRARY_PATH = join(LIB, '..');
    try {
      using link = attachProgram(prog, { sectionName: 'uprobe/libfixture.so:ebpf_ts_plain' });
      expect(pmuOpen().path).toBe(`${LIB}\0`);
      expect(pmuOpen().config2).toBe(Executable.open(LIB).symbolOffset('ebpf_ts_plain'));
      void link;
    } finally {
      if (saved === undefined) delete process.env.LD_LIBRARY_PATH;
      else process.env.LD_LIBRARY_PATH = saved;
    }
  });

  it('malformed targets: ArgumentError, nothing opened', () => {
    for (const sectionName of ['uprobe/nocolon', 'uprobe/', 'uprobe', 'uprobe/:ebpf_ts_uprobe_add', `uprobe/${TARGET}:`, 'uretprobe/nocolon']) {
      const err = caught(() => attachProgram(prog, { sectionName }));
      expect(err, sectionName).toBeInstanceOf(ArgumentError);
    }
    expect((caught(() => attachProgram(prog, { sectionName: 'uprobe/nocolon' })) as Error).message).toMatch(/<binary>:<function>\[\+<offset>\], got "nocolon"/);
    expect(() => attachProgram(prog, { sectionName: `uretprobe/${TARGET}:ebpf_ts_uprobe_add+4` })).toThrow(/uretprobes attach at the function entry/);
    expect(canAutoAttach('uprobe')).toBe(false);
    expect(fake.opens).toEqual([]);
  });

  it('uprobe.session/ sections go to attachUprobeMulti, which looks the binary up (sessions: link-multi.test.ts)', () => {
    const err = caught(() => attachProgram(prog, { sectionName: 'uprobe.session/x:y' }));
    expect(err).toBeInstanceOf(ArgumentError);
    expect((err as Error).message).toMatch(/\bx\b/);
  });

  it('usdt/ sections go to attachUSDT, which looks the binary up', () => {
    expect(() => attachProgram(prog, { sectionName: 'usdt/x:p:n' })).toThrow(/uprobe target x not found/);
    expect(() => attachProgram(prog, { sectionName: 'usdt' })).toThrow(/names no probe/);
  });
});
