// Multi-probe links without a kernel: the fake syscall backend, kallsyms from a fixture, a fake
// tracefs with available_filter_functions and the committed uprobe fixtures. Proves the
// BPF_LINK_CREATE attrs of kprobe_multi (the array of name pointers laid out after the attr,
// addresses, cookies, the return flag) and uprobe_multi (path, offsets, semaphore offsets,
// cookies, pid), that bad and hostile arguments are refused before any syscall, how each
// errno of the feature probes and of the attachment is reported, auto-attach by section name,
// and the decoding of bpf_link_info.kprobe_multi / uprobe_multi.
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { endianness, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as asm from '../../src/asm/index.js';
import { ArgumentError, NotSupportedError, SymbolNotFoundError, SyscallError } from '../../src/errors.js';
import { attachProgram, canAutoAttach } from '../../src/link/auto.js';
import { Executable } from '../../src/link/executable.js';
import { setKallsymsSource, setKprobeBlacklistPath } from '../../src/internal/kallsyms.js';
import { attachKprobeMulti, kprobeMultiFeature, kprobeMultiFunctions, kprobeSessionFeature } from '../../src/link/kprobe-multi.js';
import { setKprobePmuPath } from '../../src/link/kprobe.js';
import { LinkType } from '../../src/link/link.js';
import { MAX_MULTI_COUNT } from '../../src/link/multi-args.js';
import { setTracefsPath } from '../../src/internal/tracefs.js';
import { attachUprobeMulti, uprobeMultiFeature, uprobeSessionFeature } from '../../src/link/uprobe-multi.js';
import { Program } from '../../src/prog.js';
import type { FakeBpfCall } from '../../src/sys/backend-fake.js';
import { Errno } from '../../src/sys/errno.js';
import { overrideKernelVersion } from '../../src/sys/kernel-version.js';
import { Cmd, ObjGetInfoByFd } from '../../src/sys/layouts.js';
import { AttachType, ProgramType } from '../../src/types.js';
import { caught, installFakeKernel, type PerfFake, uninstallFakeKernel } from './helpers/perf-fake.js';

const le = endianness() === 'LE';
const TARGET = realpathSync(join(import.meta.dirname, '../../testdata/uprobe/target'));
const LIB = realpathSync(join(import.meta.dirname, '../../testdata/uprobe/libfixture.so'));
const exe = Executable.open(TARGET);
const ADD = exe.symbolOffset('ebpf_ts_uprobe_add');
const MAIN = exe.symbolOffset('main');
const SEMAPHORE = exe.variableOffset('ebpf_ts_semaphore');

const FTRACE = ['vfs_read', 'vfs_readv', 'vfs_write', 'vfs_writev', 'do_sys_openat2', '__ftrace_invalid_address___64', 'tcp_sendmsg [tcp]', '__do_sys_getppid', ''].join('\n');

let fake: PerfFake;
let dir: string;

function load(attachType: AttachType | undefined, type = ProgramType.Kprobe): Program {
  return Program.load({ name: 'multi', type, attachType, license: 'GPL', instructions: [asm.mov64Imm(asm.Register.R0, 0), asm.exit()] });
}

/** The LINK_CREATE calls that are attachments (the feature probes are answered separately). */
const attaches = (attachType: number): FakeBpfCall[] =>
  fake.callsOf(Cmd.LinkCreate).filter((c) => new DataView(c.attr.buffer).getUint32(8, le) === attachType && !isProbe(c));

/** A feature probe's LINK_CREATE: kprobe_multi with one NULL name, or uprobe_multi on `/`. */
function isProbe(c: FakeBpfCall): boolean {
  const syms = c.pointers.get(24);
  const path = c.pointers.get(16);
  return (syms != null && syms.byteLength === 8 && syms.every((b) => b === 0) && c.pointers.size === 1) || (path != null && Buffer.from(path).toString() === '/\0');
}

function u32(c: FakeBpfCall, offset: number): number {
  return new DataView(c.attr.buffer).getUint32(offset, le);
}

function u64s(bytes: Uint8Array | null | undefined): bigint[] {
  if (bytes == null) return [];
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Array.from({ length: bytes.byteLength / 8 }, (_, i) => v.getBigUint64(8 * i, le));
}

/** The names a kprobe_multi attr points at: the slot array at 24 and one string per slot. */
function names(c: FakeBpfCall): string[] {
  const slots = c.pointers.get(24)!;
  const start = slots.byteOffset - c.liveAttr.byteOffset;
  return Array.from({ length: slots.byteLength / 8 }, (_, i) => {
    const s = c.pointers.get(start + 8 * i)!;
    return Buffer.from(s.subarray(0, s.byteLength - 1)).toString('utf8');
  });
}

/** Answers the feature probe of kprobe_multi (`k`) and uprobe_multi (`u`) with these results. */
function probes(k: number, u: number): void {
  fake.alwaysBpf(Cmd.LinkCreate, (c) => {
    if (isProbe(c)) return u32(c, 8) === AttachType.TraceKprobeMulti ? k : u;
    return fake.allocFd();
  });
}

beforeEach(() => {
  fake = installFakeKernel();
  kprobeMultiFeature.reset();
  uprobeMultiFeature.reset();
  probes(-Errno.EFAULT, -Errno.EBADF);
  dir = realpathSync(mkdtempSync(join(tmpdir(), 'ebpf-ts-multi-')));
  mkdirSync(join(dir, 'tracefs'), { recursive: true });
  writeFileSync(join(dir, 'tracefs', 'trace'), '');
  writeFileSync(join(dir, 'tracefs', 'available_filter_functions'), FTRACE);
  setTracefsPath(join(dir, 'tracefs'));
  setKallsymsSource(join(import.meta.dirname, 'fixtures', 'link-kallsyms.txt'), '/dev/null');
  setKprobeBlacklistPath(join(dir, 'no-blacklist'));
  // A kprobe PMU: kprobes exist, so a missing kprobe_multi is about CONFIG_FPROBE alone.
  mkdirSync(join(dir, 'pmu', 'format'), { recursive: true });
  writeFileSync(join(dir, 'pmu', 'type'), '6\n');
  setKprobePmuPath(join(dir, 'pmu'));
});

afterEach(() => {
  uninstallFakeKernel();
  kprobeMultiFeature.reset();
  uprobeMultiFeature.reset();
  setTracefsPath(undefined);
  setKallsymsSource();
  setKprobeBlacklistPath();
  setKprobePmuPath();
  rmSync(dir, { recursive: true, force: true });
});

describe('attachKprobeMulti: the attr', () => {
  it('symbols: attach type 42, count, the name array after the attr (32 bytes sent); a bpf_link that close() closes', () => {
    using prog = load(AttachType.TraceKprobeMulti);
    const link = attachKprobeMulti(prog, { symbols: ['vfs_read', 'vfs_write'] });
    const [c] = attaches(AttachType.TraceKprobeMulti);
    expect(c!.attr.byteLength).toBe(32);
    expect([u32(c!, 0), u32(c!, 4), u32(c!, 8), u32(c!, 12), u32(c!, 16), u32(c!, 20)]).toEqual([prog.fd, 0, 42, 0, 0, 2]);
    expect(names(c!)).toEqual(['vfs_read', 'vfs_write']);
    // The array lives in the attr's own ArrayBuffer, 8-aligned after it.
    const slots = c!.pointers.get(24)!;
    expect(slots.buffer).toBe(c!.liveAttr.buffer);
    expect(slots.byteOffset - c!.liveAttr.byteOffset).toBe(32);
    // Slot 0 (at 32) points into the names' own buffer, not the attr's.
    expect(c!.pointers.get(32)!.buffer).not.toBe(c!.liveAttr.buffer);
    expect(link.mode).toBe('bpf-link');
    expect(link.what).toBe('kprobe_multi vfs_read, vfs_write');
    const fd = link.fd;
    link.close();
    expect(fake.closed).toContain(fd);
  });

  it('retprobe sets BPF_F_KPROBE_MULTI_RETURN; cookies go in an array at 40 (48 bytes sent)', () => {
    using prog = load(AttachType.TraceKprobeMulti);
    using link = attachKprobeMulti(prog, { symbols: ['vfs_read', 'vfs_write', 'do_sys_openat2'], cookies: [1, 2n, 0xffff_ffff_ffff_ffffn], retprobe: true });
    const [c] = attaches(AttachType.TraceKprobeMulti);
    expect(c!.attr.byteLength).toBe(48);
    expect(u32(c!, 16)).toBe(1);
    expect(u32(c!, 20)).toBe(3);
    expect(u64s(c!.pointers.get(40))).toEqual([1n, 2n, 0xffff_ffff_ffff_ffffn]);
    expect(c!.pointers.has(32)).toBe(false); // no addrs
    expect(names(c!)).toEqual(['vfs_read', 'vfs_write', 'do_sys_openat2']);
    expect(c!.pointers.get(24)!.byteOffset - c!.liveAttr.byteOffset).toBe(48);
    expect(link.what).toMatch(/^kretprobe_multi /);
  });

  it('cookies that are all zero are left out', () => {
    using prog = load(AttachType.TraceKprobeMulti);
    using link = attachKprobeMulti(prog, { symbols: ['vfs_read'], cookies: [0] });
    expect(attaches(AttachType.TraceKprobeMulti)[0]!.attr.byteLength).toBe(32);
    void link;
  });

  it('addresses: an u64 array at 32 and no names', () => {
    using prog = load(AttachType.TraceKprobeMulti);
    using link = attachKprobeMulti(prog, { addresses: [0xffffffff816b89f0n, 0xffffffff816b9240n], cookies: [5, 6] });
    const [c] = attaches(AttachType.TraceKprobeMulti);
    expect(c!.attr.byteLength).toBe(48);
    expect(c!.pointers.has(24)).toBe(false);
    expect(u64s(c!.pointers.get(32))).toEqual([0xffffffff816b89f0n, 0xffffffff816b9240n]);
    expect(u64s(c!.pointers.get(40))).toEqual([5n, 6n]);
    expect(link.what).toBe('kprobe_multi 0xffffffff816b89f0, 0xffffffff816b9240');
  });

  it('a pattern matches available_filter_functions (sorted, placeholders and module tags dropped)', () => {
    using prog = load(AttachType.TraceKprobeMulti);
    using link = attachKprobeMulti(prog, { pattern: 'vfs_*' });
    expect(names(attaches(AttachType.TraceKprobeMulti)[0]!)).toEqual(['vfs_read', 'vfs_readv', 'vfs_write', 'vfs_writev']);
    expect(link.what).toBe('kprobe_multi vfs_* (4 functions)');
    expect(kprobeMultiFunctions('*')).not.toContain('__ftrace_invalid_address___64');
    expect(kprobeMultiFunctions('tcp_*')).toEqual(['tcp_sendmsg']);
  });

  it('without tracefs, a pattern matches the text symbols of /proc/kallsyms', () => {
    setTracefsPath(join(dir, 'no-tracefs'));
    expect(kprobeMultiFunctions('vfs_*')).toEqual(['vfs_read', 'vfs_readv', 'vfs_write', 'vfs_writev']);
    expect(kprobeMultiFunctions('*sys_getppid')).toEqual(['__x64_sys_getppid']);
  });
});

describe('attachKprobeMulti: arguments are checked before any syscall', () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['nothing', {}, /needs symbols, pattern or addresses/],
    ['symbols and pattern', { symbols: ['vfs_read'], pattern: 'vfs_*' }, /one of symbols, pattern or addresses, not symbols and pattern/],
    ['symbols and addresses', { symbols: ['vfs_read'], addresses: [1n] }, /not symbols and addresses/],
    ['empty symbols', { symbols: [] }, /symbols is empty/],
    ['empty addresses', { addresses: [] }, /addresses is empty/],
    ['symbols not an array', { symbols: 'vfs_read' }, /symbols must be an array/],
    ['fewer cookies', { symbols: ['vfs_read', 'vfs_write'], cookies: [1] }, /cookies has 1 entries for 2 targets/],
    ['more cookies', { symbols: ['vfs_read'], cookies: [1, 2] }, /cookies has 2 entries for 1 targets/],
    ['empty cookies', { symbols: ['vfs_read'], cookies: [] }, /cookies is empty/],
    ['cookies with a pattern', { pattern: 'vfs_*', cookies: [1, 2, 3, 4] }, /a pattern has no order of your choosing/],
    ['negative cookie', { symbols: ['vfs_read'], cookies: [-1] }, /cookies\[0\] must be from 0 to 2\^64 - 1/],
    ['cookie of 2^64', { symbols: ['vfs_read'], cookies: [1n << 64n] }, /cookies\[0\] must be from 0/],
    ['fractional cookie', { symbols: ['vfs_read'], cookies: [1.5] }, /cookies\[0\] must be an integer/],
    ['string cookie', { symbols: ['vfs_read'], cookies: ['1'] }, /cookies\[0\] must be an integer/],
    ['a name twice', { symbols: ['vfs_read', 'vfs_read'] }, /lists vfs_read twice/],
    ['an address twice', { addresses: [5n, 5n] }, /lists an address twice/],
    ['address 0', { addresses: [0n] }, /must not be 0/],
    ['a name with a newline', { symbols: ['vfs_read\nvfs_write'] }, /contains "\\n"/],
    ['a name with a NUL', { symbols: ['vfs_read\0x'] }, /contains "\\u0000"/],
    ['a name with a space', { symbols: ['vfs read'] }, /contains " "/],
    ['an empty name', { symbols: [''] }, /symbols\[0\] must be a non-empty string/],
    ['a number as a name', { symbols: [42] }, /symbols\[0\] must be a non-empty string/],
    ['a huge name', { symbols: ['x'.repeat(600)] }, /600 bytes long/],
    ['an empty pattern', { pattern: '' }, /pattern must be a non-empty string/],
    ['a pattern with a newline', { pattern: 'vfs_*\n' }, /pattern .* contains/],
    ['a data symbol', { symbols: ['vfs_read', 'init_task'] }, /init_task is a D \(data\) symbol/],
    ['too many symbols', { symbols: new Array(MAX_MULTI_COUNT + 1) }, /at most 1048576 per link/],
  ];
  it.each(cases)('%s', (_, options, message) => {
    using prog = load(AttachType.TraceKprobeMulti);
    const err = caught(() => attachKprobeMulti(prog, options as never));
    expect(err).toBeInstanceOf(ArgumentError);
    expect((err as Error).message).toMatch(message);
    expect(fake.callsOf(Cmd.LinkCreate)).toEqual([]);
  });

  it('options that are not an object', () => {
    using prog = load(AttachType.TraceKprobeMulti);
    expect(() => attachKprobeMulti(prog, null as never)).toThrow(ArgumentError);
    expect(() => attachKprobeMulti(prog, 'vfs_*' as never)).toThrow(ArgumentError);
  });

  it('the program: KPROBE, loaded with BPF_TRACE_KPROBE_MULTI when its attach type is known', () => {
    using tp = load(undefined, ProgramType.Tracepoint);
    expect(() => attachKprobeMulti(tp, { symbols: ['vfs_read'] })).toThrow(/needs a KPROBE program; multi is TRACEPOINT/);
    using classic = load(AttachType.None);
    expect(() => attachKprobeMulti(classic, { symbols: ['vfs_read'] })).toThrow(/loaded with no expected attach type; .*BPF_TRACE_KPROBE_MULTI \(attachType: AttachType.TraceKprobeMulti .*kprobe.multi\/ section\)/);
    using uprobeMultiProg = load(AttachType.TraceUprobeMulti);
    expect(() => attachKprobeMulti(uprobeMultiProg, { symbols: ['vfs_read'] })).toThrow(/loaded with expected attach type TraceUprobeMulti/);
    expect(fake.callsOf(Cmd.LinkCreate)).toEqual([]);
  });

  it('a missing name is a SymbolNotFoundError with close names; a pattern matching nothing too', () => {
    using prog = load(AttachType.TraceKprobeMulti);
    const err = caught(() => attachKprobeMulti(prog, { symbols: ['vfs_read', 'do_execve'] }));
    expect(err).toBeInstanceOf(SymbolNotFoundError);
    expect((err as SymbolNotFoundError).nearMatches[0]).toBe('do_execveat_common.isra.0');
    const none = caught(() => attachKprobeMulti(prog, { pattern: 'vfs_nothing*' }));
    expect(none).toBeInstanceOf(SymbolNotFoundError);
    expect((none as Error).message).toMatch(/vfs_nothing\* not found .*no function that kprobe_multi can attach to/);
    expect(fake.callsOf(Cmd.LinkCreate)).toEqual([]);
  });
});

describe('kprobe_multi: the feature probe and the kernel\'s answers', () => {
  it('probes with one NULL name: EFAULT means supported, and the probe runs once', () => {
    using prog = load(AttachType.TraceKprobeMulti);
    attachKprobeMulti(prog, { symbols: ['vfs_read'] }).close();
    attachKprobeMulti(prog, { symbols: ['vfs_write'] }).close();
    const probeCalls = fake.callsOf(Cmd.LinkCreate).filter(isProbe);
    expect(probeCalls.length).toBe(1);
    expect([u32(probeCalls[0]!, 8), u32(probeCalls[0]!, 20)]).toEqual([42, 1]);
    expect(kprobeMultiFeature.check()).toEqual({ supported: true });
  });

  it('EINVAL (before 5.18) is a NotSupportedError naming 5.18', () => {
    probes(-Errno.EINVAL, -Errno.EINVAL);
    overrideKernelVersion('5.10.0');
    using prog = load(AttachType.TraceKprobeMulti);
    const err = caught(() => attachKprobeMulti(prog, { symbols: ['vfs_read'] }));
    expect(err).toBeInstanceOf(NotSupportedError);
    expect((err as NotSupportedError).minimumVersion).toBe('5.18');
    expect((err as Error).message).toMatch(/requires Linux 5\.18 or later\); attach each function with attachKprobe instead/);
    expect(attaches(AttachType.TraceKprobeMulti)).toEqual([]);
  });

  it('EOPNOTSUPP (no CONFIG_FPROBE, as Debian 6.1) is a NotSupportedError that says so and suggests attachKprobe', () => {
    probes(-Errno.EOPNOTSUPP, -Errno.EBADF);
    using prog = load(AttachType.TraceKprobeMulti);
    const err = caught(() => attachKprobeMulti(prog, { symbols: ['vfs_read'] }));
    expect(err).toBeInstanceOf(NotSupportedError);
    expect((err as NotSupportedError).minimumVersion).toBeUndefined();
    expect((err as Error).message).toMatch(/built without CONFIG_FPROBE \(BPF_LINK_CREATE answers EOPNOTSUPP\); attach each function with attachKprobe instead/);
  });

  it('EOPNOTSUPP on a kernel with no kprobes at all (the host) starts like every "no kprobes" error', () => {
    probes(-Errno.EOPNOTSUPP, -Errno.EBADF);
    setKprobePmuPath(join(dir, 'no-pmu'));
    using prog = load(AttachType.TraceKprobeMulti);
    const err = caught(() => attachKprobeMulti(prog, { pattern: 'vfs_*' }));
    expect(err).toBeInstanceOf(NotSupportedError);
    expect((err as Error).message).toMatch(/^kprobes are not available in this kernel \(CONFIG_KPROBES\), and neither are kprobe_multi links \(CONFIG_FPROBE/);
  });

  it('an inconclusive probe (EPERM) lets the attachment answer, and is asked again next time', () => {
    probes(-Errno.EPERM, -Errno.EPERM);
    fake.alwaysBpf(Cmd.LinkCreate, (c) => (isProbe(c) ? -Errno.EPERM : -Errno.EPERM));
    using prog = load(AttachType.TraceKprobeMulti);
    const err = caught(() => attachKprobeMulti(prog, { symbols: ['vfs_read'] }));
    expect(err).toBeInstanceOf(SyscallError);
    expect((err as SyscallError).errno).toBe(Errno.EPERM);
    expect(kprobeMultiFeature.check().supported).toBe('unknown');
  });

  const answers: Array<[string, number, RegExp]> = [
    ['EINVAL', Errno.EINVAL, /EINVAL.*cannot be hooked through ftrace .*available_filter_functions.*not listed there under that name: __x64_sys_getppid/],
    ['ENOENT', Errno.ENOENT, /ENOENT.*did not find every function/],
    ['ESRCH', Errno.ESRCH, /ESRCH.*did not find every function/],
    ['EBUSY', Errno.EBUSY, /EBUSY.*livepatch/],
    ['E2BIG', Errno.E2BIG, /E2BIG.*KSYM_NAME_LEN/],
  ];
  it.each(answers)('%s from BPF_LINK_CREATE is a SyscallError with a hint', (_, errno, message) => {
    fake.alwaysBpf(Cmd.LinkCreate, (c) => (isProbe(c) ? -Errno.EFAULT : -errno));
    using prog = load(AttachType.TraceKprobeMulti);
    const err = caught(() => attachKprobeMulti(prog, { symbols: ['vfs_read', '__x64_sys_getppid'] }));
    expect(err).toBeInstanceOf(SyscallError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toMatch(/attach multi to kprobe_multi vfs_read, __x64_sys_getppid/);
  });

  it('EINVAL for a program whose attach type is unknown (opened from an fd) also names BPF_TRACE_KPROBE_MULTI', () => {
    fake.alwaysBpf(Cmd.LinkCreate, (c) => (isProbe(c) ? -Errno.EFAULT : -Errno.EINVAL));
    using prog = load(undefined);
    expect(() => attachKprobeMulti(prog, { symbols: ['vfs_read'] })).toThrow(/or program multi was not loaded with expected attach type BPF_TRACE_KPROBE_MULTI/);
  });
});

describe('attachUprobeMulti: the attr', () => {
  it('symbols with cookies, semaphores and a pid: path, offsets, ref_ctr_offsets and cookies by pointer, cnt, flags, pid (60 bytes)', () => {
    using prog = load(AttachType.TraceUprobeMulti);
    using link = attachUprobeMulti(prog, TARGET, { symbols: ['ebpf_ts_uprobe_add', 'main'], cookies: [3, 4], refCtrOffsets: [SEMAPHORE, 0], pid: 4242 });
    const [c] = attaches(AttachType.TraceUprobeMulti);
    expect(c!.attr.byteLength).toBe(60);
    expect([u32(c!, 0), u32(c!, 4), u32(c!, 8), u32(c!, 12)]).toEqual([prog.fd, 0, 48, 0]);
    expect(Buffer.from(c!.pointers.get(16)!).toString()).toBe(`${TARGET}\0`);
    expect(u64s(c!.pointers.get(24))).toEqual([ADD, MAIN]);
    expect(u64s(c!.pointers.get(32))).toEqual([SEMAPHORE, 0n]);
    expect(u64s(c!.pointers.get(40))).toEqual([3n, 4n]);
    expect([u32(c!, 48), u32(c!, 52), u32(c!, 56)]).toEqual([2, 0, 4242]);
    expect(link.what).toBe(`uprobe_multi ${TARGET}:ebpf_ts_uprobe_add, main in pid 4242`);
  });

  it('retprobe sets BPF_F_UPROBE_MULTI_RETURN; no pid is 0; zero cookies and semaphores are left out', () => {
    using prog = load(AttachType.TraceUprobeMulti);
    using link = attachUprobeMulti(prog, exe, { symbols: ['ebpf_ts_uprobe_add'], retprobe: true, pid: -1, cookies: [0], refCtrOffsets: [0] });
    const [c] = attaches(AttachType.TraceUprobeMulti);
    expect(c!.pointers.has(32)).toBe(false);
    expect(c!.pointers.has(40)).toBe(false);
    expect([u32(c!, 48), u32(c!, 52), u32(c!, 56)]).toEqual([1, 1, 0]);
    expect(link.what).toMatch(/^uretprobe_multi /);
  });

  it('file offsets are passed as given', () => {
    using prog = load(AttachType.TraceUprobeMulti);
    using link = attachUprobeMulti(prog, TARGET, { offsets: [ADD, ADD + 4n, 0x10] });
    expect(u64s(attaches(AttachType.TraceUprobeMulti)[0]!.pointers.get(24))).toEqual([ADD, ADD + 4n, 0x10n]);
    expect(link.what).toBe(`uprobe_multi ${TARGET}:0x${ADD.toString(16)}, 0x${(ADD + 4n).toString(16)}, 0x10`);
  });

  it('symbols take versions and +offset like attachUprobe', () => {
    using prog = load(AttachType.TraceUprobeMulti);
    const lib = Executable.open(LIB);
    using link = attachUprobeMulti(prog, LIB, { symbols: ['ebpf_ts_versioned@EBPF_TS_1', 'ebpf_ts_versioned', 'ebpf_ts_plain+2'] });
    expect(u64s(attaches(AttachType.TraceUprobeMulti)[0]!.pointers.get(24))).toEqual([
      lib.symbolOffset('ebpf_ts_old_impl'),
      lib.symbolOffset('ebpf_ts_new_impl'),
      lib.symbolOffset('ebpf_ts_plain') + 2n,
    ]);
    void link;
  });

  it('a pattern: every matching function once per offset, sorted, IFUNC resolvers left out', () => {
    const lib = Executable.open(LIB);
    const found = lib.functionsMatching('ebpf_ts_*');
    const offsets = found.map((s) => s.offset);
    expect(offsets).toEqual([...new Set(offsets)].sort((a, b) => (a < b ? -1 : 1)));
    expect(found.some((s) => s.ifunc)).toBe(false);
    // ebpf_ts_old_impl and ebpf_ts_versioned@EBPF_TS_1 are one function: one entry.
    expect(offsets.filter((o) => o === lib.symbolOffset('ebpf_ts_old_impl')).length).toBe(1);
    using prog = load(AttachType.TraceUprobeMulti);
    using link = attachUprobeMulti(prog, lib, { pattern: 'ebpf_ts_*' });
    expect(u64s(attaches(AttachType.TraceUprobeMulti)[0]!.pointers.get(24))).toEqual(offsets);
    expect(link.what).toBe(`uprobe_multi ${LIB}:ebpf_ts_* (${offsets.length} functions)`);
    expect(exe.functionsMatching(/^ebpf_ts_uprobe_add$/).map((s) => s.offset)).toEqual([ADD]);
  });
});

describe('attachUprobeMulti: arguments are checked before any syscall', () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['nothing', {}, /needs symbols, pattern or offsets/],
    ['symbols and offsets', { symbols: ['main'], offsets: [1] }, /not symbols and offsets/],
    ['pattern and symbols', { symbols: ['main'], pattern: 'm*' }, /not symbols and pattern/],
    ['empty symbols', { symbols: [] }, /symbols is empty/],
    ['empty offsets', { offsets: [] }, /offsets is empty/],
    ['negative offset', { offsets: [-1] }, /offsets\[0\] must be from 0/],
    ['huge offset', { offsets: [1n << 63n] }, /below 2\^63/],
    ['fewer cookies', { symbols: ['main', 'ebpf_ts_uprobe_add'], cookies: [1] }, /cookies has 1 entries for 2 targets/],
    ['more semaphores', { symbols: ['main'], refCtrOffsets: [1, 2] }, /refCtrOffsets has 2 entries for 1 targets/],
    ['cookies with a pattern', { pattern: 'ebpf_ts_*', cookies: [1] }, /a pattern has no order of your choosing/],
    ['semaphores with a pattern', { pattern: 'ebpf_ts_*', refCtrOffsets: [1] }, /a pattern has no order of your choosing/],
    ['one place twice', { symbols: ['ebpf_ts_uprobe_add', 'ebpf_ts_uprobe_add+0'] }, /are the same place/],
    ['pid 0', { symbols: ['main'], pid: 0 }, /pid must be a process id/],
    ['pid -2', { symbols: ['main'], pid: -2 }, /pid must be a process id/],
    ['fractional pid', { symbols: ['main'], pid: 1.5 }, /pid must be a process id/],
    ['pid beyond pid_t', { symbols: ['main'], pid: 2 ** 31 }, /pid must be a process id/],
    ['retprobe with +offset', { symbols: ['ebpf_ts_uprobe_add+4'], retprobe: true }, /an offset into the function makes no sense with retprobe/],
    ['offset beyond the function', { symbols: ['ebpf_ts_uprobe_add+64'] }, /outside ebpf_ts_uprobe_add/],
    ['a variable', { symbols: ['ebpf_ts_semaphore'] }, /is a variable there, not a function/],
    ['a number as a name', { symbols: [7] }, /symbols\[0\] must be a non-empty string/],
    ['an empty pattern', { pattern: '' }, /pattern must be a non-empty glob/],
  ];
  it.each(cases)('%s', (_, options, message) => {
    using prog = load(AttachType.TraceUprobeMulti);
    const err = caught(() => attachUprobeMulti(prog, TARGET, options as never));
    expect(err).toBeInstanceOf(options.symbols !== undefined && String(message).includes('variable') ? SymbolNotFoundError : ArgumentError);
    expect((err as Error).message).toMatch(message);
    expect(fake.callsOf(Cmd.LinkCreate)).toEqual([]);
  });

  it('binaries that cannot be used: missing, not ELF, an IFUNC', () => {
    using prog = load(AttachType.TraceUprobeMulti);
    expect(() => attachUprobeMulti(prog, join(dir, 'missing'), { symbols: ['main'] })).toThrow(/not found/);
    writeFileSync(join(dir, 'not-elf'), 'hello');
    expect(() => attachUprobeMulti(prog, join(dir, 'not-elf'), { symbols: ['main'] })).toThrow(ArgumentError);
    expect(() => attachUprobeMulti(prog, LIB, { symbols: ['ebpf_ts_ifunc'] })).toThrow(/indirect function \(IFUNC\)/);
    expect(() => attachUprobeMulti(prog, TARGET, { symbols: ['ebpf_ts_uprobe_ad'] })).toThrow(SymbolNotFoundError);
    const none = caught(() => attachUprobeMulti(prog, TARGET, { pattern: 'ebpf_ts_uprobe_x*' }));
    expect(none).toBeInstanceOf(SymbolNotFoundError);
    expect((none as Error).message).toMatch(new RegExp(`not found in ${TARGET.replace(/[.]/g, '\\.')} \\(no function of the binary matches the pattern\\); did you mean ebpf_ts_uprobe_add`));
    expect(fake.callsOf(Cmd.LinkCreate)).toEqual([]);
  });

  it('the program: KPROBE, loaded with BPF_TRACE_UPROBE_MULTI when its attach type is known', () => {
    using classic = load(AttachType.None);
    expect(() => attachUprobeMulti(classic, TARGET, { symbols: ['main'] })).toThrow(/loaded with no expected attach type; .*BPF_TRACE_UPROBE_MULTI .*uprobe.multi\/ section/);
    using kpm = load(AttachType.TraceKprobeMulti);
    expect(() => attachUprobeMulti(kpm, TARGET, { symbols: ['main'] })).toThrow(/expected attach type TraceKprobeMulti/);
    using xdp = load(undefined, ProgramType.XDP);
    expect(() => attachUprobeMulti(xdp, TARGET, { symbols: ['main'] })).toThrow(/needs a KPROBE program/);
    expect(fake.callsOf(Cmd.LinkCreate)).toEqual([]);
  });
});

describe('uprobe_multi: the feature probe and the kernel\'s answers', () => {
  it('probes with the path /: EBADF means supported', () => {
    using prog = load(AttachType.TraceUprobeMulti);
    attachUprobeMulti(prog, TARGET, { symbols: ['main'] }).close();
    const probeCalls = fake.callsOf(Cmd.LinkCreate).filter(isProbe);
    expect(probeCalls.length).toBe(1);
    expect([u32(probeCalls[0]!, 8), u32(probeCalls[0]!, 48)]).toEqual([48, 1]);
    expect(u64s(probeCalls[0]!.pointers.get(24))).toEqual([0n]);
  });

  it('EINVAL (before 6.6) is a NotSupportedError naming 6.6', () => {
    probes(-Errno.EFAULT, -Errno.EINVAL);
    using prog = load(AttachType.TraceUprobeMulti);
    const err = caught(() => attachUprobeMulti(prog, TARGET, { symbols: ['main'] }));
    expect(err).toBeInstanceOf(NotSupportedError);
    expect((err as NotSupportedError).minimumVersion).toBe('6.6');
    expect((err as Error).message).toMatch(/uprobe_multi link .*requires Linux 6\.6 or later\); attach each place with attachUprobe instead/);
  });

  it('EOPNOTSUPP is a NotSupportedError naming CONFIG_UPROBES', () => {
    probes(-Errno.EFAULT, -Errno.EOPNOTSUPP);
    using prog = load(AttachType.TraceUprobeMulti);
    expect(() => attachUprobeMulti(prog, TARGET, { symbols: ['main'] })).toThrow(/CONFIG_UPROBES/);
  });

  const answers: Array<[string, number, RegExp]> = [
    ['ESRCH', Errno.ESRCH, /ESRCH.*no such process: pid 77 has exited/],
    ['ENOENT', Errno.ENOENT, /ENOENT.*does not exist \(anymore\)/],
    ['EBADF', Errno.EBADF, /EBADF.*is not a regular file/],
    ['EINVAL', Errno.EINVAL, /EINVAL.*beyond the end of .*or a semaphore offset is wrong\)$/],
    ['ENOTSUPP', Errno.ENOTSUPP, /cannot handle an instruction/],
  ];
  it.each(answers)('%s from BPF_LINK_CREATE is a SyscallError with a hint', (_, errno, message) => {
    fake.alwaysBpf(Cmd.LinkCreate, (c) => (isProbe(c) ? -Errno.EBADF : -errno));
    using prog = load(AttachType.TraceUprobeMulti);
    const err = caught(() => attachUprobeMulti(prog, TARGET, { symbols: ['main'], pid: 77 }));
    expect(err).toBeInstanceOf(SyscallError);
    expect((err as Error).message).toMatch(message);
  });
});

describe('auto-attach of multi-probe sections', () => {
  it('kprobe.multi/<glob> is a pattern, kretprobe.multi/<name> one symbol with the return flag', () => {
    using prog = load(AttachType.TraceKprobeMulti);
    using a = attachProgram(prog, { sectionName: 'kprobe.multi/vfs_*' });
    using b = attachProgram(prog, { sectionName: 'kretprobe.multi/__x64_sys_getppid' });
    const [first, second] = attaches(AttachType.TraceKprobeMulti);
    expect(names(first!)).toEqual(['vfs_read', 'vfs_readv', 'vfs_write', 'vfs_writev']);
    expect(u32(first!, 16)).toBe(0);
    expect(names(second!)).toEqual(['__x64_sys_getppid']);
    expect(u32(second!, 16)).toBe(1);
    void a;
    void b;
  });

  it('uprobe.multi/<binary>:<glob>, uretprobe.multi/<binary>:<name> and the sleepable .s forms', () => {
    using prog = load(AttachType.TraceUprobeMulti);
    using a = attachProgram(prog, { sectionName: `uprobe.multi/${TARGET}:ebpf_ts_uprobe_*` });
    using b = attachProgram(prog, { sectionName: `uretprobe.multi.s/${TARGET}:main` });
    const [first, second] = attaches(AttachType.TraceUprobeMulti);
    expect(u64s(first!.pointers.get(24))).toEqual([ADD]);
    expect(u32(first!, 52)).toBe(0);
    expect(u64s(second!.pointers.get(24))).toEqual([MAIN]);
    expect(u32(second!, 52)).toBe(1);
    void a;
    void b;
  });

  it('canAutoAttach needs a target; malformed targets are ArgumentErrors; a session section needs a session program', () => {
    expect(canAutoAttach('kprobe.multi/vfs_*')).toBe(true);
    expect(canAutoAttach('uprobe.multi.s/libc.so.6:malloc')).toBe(true);
    expect(canAutoAttach('kprobe.multi')).toBe(false);
    expect(canAutoAttach('uretprobe.multi')).toBe(false);
    using prog = load(AttachType.TraceUprobeMulti);
    for (const sectionName of ['kprobe.multi', 'uprobe.multi', 'uprobe.multi/nocolon', `uprobe.multi/${TARGET}:`, 'uprobe.multi/:main']) {
      expect(caught(() => attachProgram(prog, { sectionName })), sectionName).toBeInstanceOf(ArgumentError);
    }
    expect((caught(() => attachProgram(prog, { sectionName: 'uprobe.multi/nocolon' })) as Error).message).toMatch(/<binary>:<pattern>, got "nocolon"/);
    expect(canAutoAttach('kprobe.session/vfs_*')).toBe(true);
    expect(canAutoAttach('uprobe.session.s/libc.so.6:malloc')).toBe(true);
    expect(canAutoAttach('kprobe.session')).toBe(false);
    for (const sectionName of ['kprobe.session/vfs_*', 'uprobe.session/x:y']) {
      expect(caught(() => attachProgram(prog, { sectionName })), sectionName).toBeInstanceOf(ArgumentError);
    }
    expect((caught(() => attachProgram(prog, { sectionName: 'uprobe.session/x:y' })) as Error).message).toMatch(/loaded with expected attach type TraceUprobeMulti.*BPF_TRACE_UPROBE_SESSION/);
    expect(fake.callsOf(Cmd.LinkCreate)).toEqual([]);
  });
});

describe('sessions: kprobe.session (6.10) and uprobe.session (6.13)', () => {
  /** Answers the session feature probes with `k` (kprobe) and `u` (uprobe); the multi probes say supported. */
  function sessionProbes(k: number, u: number): void {
    fake.alwaysBpf(Cmd.LinkCreate, (c) => {
      if (!isProbe(c)) return fake.allocFd();
      const type = u32(c, 8);
      if (type === AttachType.TraceKprobeMulti) return -Errno.EFAULT;
      if (type === AttachType.TraceUprobeMulti) return -Errno.EBADF;
      return type === AttachType.TraceKprobeSession ? k : u;
    });
  }
  beforeEach(() => {
    kprobeSessionFeature.reset();
    uprobeSessionFeature.reset();
    sessionProbes(-Errno.EFAULT, -Errno.EBADF);
  });
  afterEach(() => {
    kprobeSessionFeature.reset();
    uprobeSessionFeature.reset();
    overrideKernelVersion(undefined);
  });

  it('a program loaded for a session attaches as one without asking: attach types 56 and 57, no return flag', () => {
    using kp = load(AttachType.TraceKprobeSession);
    using k = attachKprobeMulti(kp, { symbols: ['vfs_read'] });
    const [kc] = attaches(AttachType.TraceKprobeSession);
    expect([u32(kc!, 0), u32(kc!, 8), u32(kc!, 16), u32(kc!, 20)]).toEqual([kp.fd, 56, 0, 1]);
    expect(names(kc!)).toEqual(['vfs_read']);
    expect(k.what).toBe('kprobe_session vfs_read');
    using up = load(AttachType.TraceUprobeSession);
    using u = attachUprobeMulti(up, TARGET, { symbols: ['ebpf_ts_uprobe_add'], session: true });
    const [uc] = attaches(AttachType.TraceUprobeSession);
    expect([u32(uc!, 0), u32(uc!, 8), u32(uc!, 48), u32(uc!, 52)]).toEqual([up.fd, 57, 1, 0]);
    expect(u64s(uc!.pointers.get(24))).toEqual([ADD]);
    expect(u.what).toMatch(/^uprobe_session /);
  });

  it('auto-attach: kprobe.session/<glob>, uprobe.session/<binary>:<name> and uprobe.session.s', () => {
    using kp = load(AttachType.TraceKprobeSession);
    using up = load(AttachType.TraceUprobeSession);
    using a = attachProgram(kp, { sectionName: 'kprobe.session/vfs_write*' });
    using b = attachProgram(up, { sectionName: `uprobe.session/${TARGET}:main` });
    using c = attachProgram(up, { sectionName: `uprobe.session.s/${TARGET}:ebpf_ts_uprobe_*` });
    expect(names(attaches(AttachType.TraceKprobeSession)[0]!)).toEqual(['vfs_write', 'vfs_writev']);
    expect(attaches(AttachType.TraceUprobeSession).map((x) => u64s(x.pointers.get(24)))).toEqual([[MAIN], [ADD]]);
    void a;
    void b;
    void c;
  });

  it('the wrong program or retprobe with a session: ArgumentErrors before any syscall', () => {
    using multi = load(AttachType.TraceKprobeMulti);
    expect(() => attachKprobeMulti(multi, { symbols: ['vfs_read'], session: true })).toThrow(/loaded with expected attach type TraceKprobeMulti.*BPF_TRACE_KPROBE_SESSION.*kprobe\.session\//);
    using session = load(AttachType.TraceKprobeSession);
    expect(() => attachKprobeMulti(session, { symbols: ['vfs_read'], session: false })).toThrow(/BPF_TRACE_KPROBE_MULTI/);
    expect(() => attachKprobeMulti(session, { symbols: ['vfs_read'], retprobe: true })).toThrow(/retprobe does not apply/);
    using usession = load(AttachType.TraceUprobeSession);
    expect(() => attachUprobeMulti(usession, TARGET, { symbols: ['main'], retprobe: true })).toThrow(ArgumentError);
    expect(fake.callsOf(Cmd.LinkCreate)).toEqual([]);
  });

  it('EINVAL from the probes: NotSupportedErrors naming 6.10 and 6.13, with the multi-link pair as the way out', () => {
    sessionProbes(-Errno.EINVAL, -Errno.EINVAL);
    using kp = load(AttachType.TraceKprobeSession);
    const k = caught(() => attachKprobeMulti(kp, { symbols: ['vfs_read'] }));
    expect(k).toBeInstanceOf(NotSupportedError);
    expect((k as NotSupportedError).minimumVersion).toBe('6.10');
    expect((k as Error).message).toMatch(/kprobe session link .*requires Linux 6\.10 or later\); use a kprobe\.multi and a kretprobe\.multi program/);
    using up = load(AttachType.TraceUprobeSession);
    const u = caught(() => attachUprobeMulti(up, TARGET, { symbols: ['main'] }));
    expect(u).toBeInstanceOf(NotSupportedError);
    expect((u as NotSupportedError).minimumVersion).toBe('6.13');
  });

  it('EOPNOTSUPP: CONFIG_FPROBE on 6.10+, but the version on an older kernel (Debian 6.1 lacks both)', () => {
    sessionProbes(-Errno.EOPNOTSUPP, -Errno.EOPNOTSUPP);
    overrideKernelVersion('6.12.0');
    using kp = load(AttachType.TraceKprobeSession);
    const configured = caught(() => attachKprobeMulti(kp, { symbols: ['vfs_read'] }));
    expect(configured).toBeInstanceOf(NotSupportedError);
    expect((configured as NotSupportedError).minimumVersion).toBeUndefined();
    expect((configured as Error).message).toMatch(/kprobe session link \(CONFIG_FPROBE\)/);
    kprobeSessionFeature.reset();
    uprobeSessionFeature.reset();
    overrideKernelVersion('6.1.0');
    const old = caught(() => attachKprobeMulti(kp, { symbols: ['vfs_read'] }));
    expect((old as NotSupportedError).minimumVersion).toBe('6.10');
    using up = load(AttachType.TraceUprobeSession);
    const u = caught(() => attachUprobeMulti(up, TARGET, { symbols: ['main'] }));
    expect((u as NotSupportedError).minimumVersion).toBe('6.13');
  });
});

describe('Link.info() of multi-probe links', () => {
  /** Answers BPF_OBJ_GET_INFO_BY_FD: `fill(info, pointers by info offset, call number)`. */
  function infoHandler(fill: (info: DataView, buffers: Map<number, Uint8Array | null>, n: number) => void): FakeBpfCall[] {
    const seen: FakeBpfCall[] = [];
    fake.alwaysBpf(Cmd.ObjGetInfoByFd, (c) => {
      seen.push(c);
      const info = c.pointers.get(8)!;
      const buffers = new Map<number, Uint8Array | null>();
      for (const [off, buf] of c.pointers) if (off >= ObjGetInfoByFd.size) buffers.set(off - ObjGetInfoByFd.size, buf);
      fill(new DataView(info.buffer, info.byteOffset, info.byteLength), buffers, seen.length);
      return 0;
    });
    return seen;
  }

  function put64(buf: Uint8Array | null | undefined, values: bigint[]): void {
    if (buf == null) return;
    const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    values.forEach((x, i) => v.setBigUint64(8 * i, x, le));
  }

  it('kprobe_multi: count, flags and missed from the first call; addresses and cookies from a second with count as capacity', () => {
    const calls = infoHandler((info, buffers, n) => {
      info.setUint32(0, LinkType.KprobeMulti, le);
      info.setUint32(4, 31, le);
      info.setUint32(8, 41, le);
      if (n === 2) expect(info.getUint32(24, le)).toBe(2); // the capacity we pass in
      info.setUint32(24, 2, le);
      info.setUint32(28, 1, le);
      info.setBigUint64(32, 3n, le);
      put64(buffers.get(16), [0xffffffff816b89f0n, 0xffffffff816b9240n]);
      put64(buffers.get(40), [20n, 10n]);
    });
    using prog = load(AttachType.TraceKprobeMulti);
    using link = attachKprobeMulti(prog, { symbols: ['vfs_write', 'vfs_read'], cookies: [10, 20], retprobe: true });
    expect(link.info()).toEqual({
      type: LinkType.KprobeMulti,
      id: 31,
      programId: 41,
      kprobeMulti: { count: 2, flags: 1, retprobe: true, missed: 3n, addresses: [0xffffffff816b89f0n, 0xffffffff816b9240n], cookies: [20n, 10n] },
    });
    expect(calls.length).toBe(2);
    expect([...calls[0]!.pointers.keys()]).toEqual([8]);
    expect(calls[1]!.pointers.get(ObjGetInfoByFd.size + 16)!.byteLength).toBe(16);
  });

  it('uprobe_multi: path, offsets, semaphores, cookies, pid; the path buffer is PATH_MAX with path_size saying so', () => {
    const calls = infoHandler((info, buffers, n) => {
      info.setUint32(0, LinkType.UprobeMulti, le);
      info.setUint32(52, 2, le);
      info.setUint32(56, 0, le);
      info.setUint32(60, 4242, le);
      if (n === 2) {
        expect(info.getUint32(48, le)).toBe(4096);
        const path = buffers.get(16)!;
        path.set(Buffer.from(`${TARGET}\0`));
        info.setUint32(48, TARGET.length + 1, le);
        put64(buffers.get(24), [ADD, MAIN]);
        put64(buffers.get(32), [SEMAPHORE, 0n]);
        put64(buffers.get(40), [3n, 4n]);
      }
    });
    using prog = load(AttachType.TraceUprobeMulti);
    using link = attachUprobeMulti(prog, TARGET, { symbols: ['ebpf_ts_uprobe_add', 'main'] });
    expect(link.info().uprobeMulti).toEqual({
      path: TARGET,
      count: 2,
      flags: 0,
      retprobe: false,
      pid: 4242,
      offsets: [ADD, MAIN],
      refCtrOffsets: [SEMAPHORE, 0n],
      cookies: [3n, 4n],
    });
    expect(calls[1]!.pointers.get(ObjGetInfoByFd.size + 16)!.byteLength).toBe(4096);
  });

  it('a kernel with the link type but not its info (count 0) reports none, with one call', () => {
    const calls = infoHandler((info) => info.setUint32(0, LinkType.UprobeMulti, le));
    using prog = load(AttachType.TraceUprobeMulti);
    using link = attachUprobeMulti(prog, TARGET, { symbols: ['main'] });
    const info = link.info();
    expect(info.type).toBe(LinkType.UprobeMulti);
    expect(info.uprobeMulti).toBeUndefined();
    expect(info.kprobeMulti).toBeUndefined();
    expect(calls.length).toBe(1);
  });
});
