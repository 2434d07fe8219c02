// The symbolizer on fixtures, no kernel: kernel addresses against a synthetic kallsyms text;
// user addresses against a synthetic /proc/PID tree whose maps place the committed binaries
// where a loader would (testdata/uprobe/target: non-PIE, vaddr ≠ file offset;
// testdata/profile/busy: PIE at a load bias; libfixture.so with aliases, versions and local
// functions, and its stripped copy), plus a perf map for anonymous JIT code. The expected
// names and addresses come from readelf (the fixtures' readelf.txt), not from our ELF reader.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArgumentError } from '../../src/errors.js';
import { Executable } from '../../src/link/executable.js';
import { functionAt } from '../../src/profile/binary-symbols.js';
import { KernelSymbolIndex, MAX_KERNEL_FUNCTION_BYTES } from '../../src/profile/kernel-symbols.js';
import { PerfMap } from '../../src/profile/perf-map.js';
import { formatFrame, Symbolizer } from '../../src/profile/symbolizer.js';

const testdata = join(import.meta.dirname, '..', '..', 'testdata');
const TARGET = join(testdata, 'uprobe', 'target');
const LIB = join(testdata, 'uprobe', 'libfixture.so');
const STRIPPED = join(testdata, 'uprobe', 'libfixture-stripped.so');
const BUSY = join(testdata, 'profile', 'busy');

interface Segment {
  offset: bigint;
  vaddr: bigint;
  memsz: bigint;
  flags: string;
}

/** PT_LOAD segments and symbol addresses of each file of a readelf.txt (`== name` sections). */
function readelf(path: string): Map<string, { segments: Segment[]; symbols: Map<string, bigint> }> {
  const out = new Map<string, { segments: Segment[]; symbols: Map<string, bigint> }>();
  let current: { segments: Segment[]; symbols: Map<string, bigint> } = { segments: [], symbols: new Map() };
  out.set('', current);
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const file = /^== (\S+)/.exec(line);
    if (file !== null) out.set(file[1]!, (current = { segments: [], symbols: new Map() }));
    const load = /^\s+LOAD\s+0x([0-9a-f]+) 0x([0-9a-f]+) 0x[0-9a-f]+ 0x[0-9a-f]+ 0x([0-9a-f]+) (.{3})/.exec(line);
    if (load !== null) current.segments.push({ offset: BigInt(`0x${load[1]}`), vaddr: BigInt(`0x${load[2]}`), memsz: BigInt(`0x${load[3]}`), flags: load[4]! });
    const sym = /^\s+\d+: ([0-9a-f]+)\s+\d+ (?:FUNC|IFUNC)\s+\S+\s+\S+\s+\d+ (\S+)$/.exec(line);
    if (sym !== null && !current.symbols.has(sym[2]!)) current.symbols.set(sym[2]!, BigInt(`0x${sym[1]}`));
  }
  return out;
}

const uprobeElf = readelf(join(testdata, 'uprobe', 'readelf.txt'));
// testdata/profile/readelf.txt has one file and no `==` header.
const busyElf = readelf(join(testdata, 'profile', 'readelf.txt')).get('')!;

const PAGE = 0x1000n;
const hex = (n: bigint): string => n.toString(16);

/** /proc/PID/maps lines for `path` loaded at `bias`, one per PT_LOAD, as the kernel maps them (page-aligned). */
function mapsLines(path: string, segments: readonly Segment[], bias: bigint): string[] {
  const { ino } = statSync(path);
  return segments.map((s) => {
    const start = bias + (s.vaddr & ~(PAGE - 1n));
    const end = bias + ((s.vaddr + s.memsz + PAGE - 1n) & ~(PAGE - 1n));
    const perms = `${s.flags[0] === 'R' ? 'r' : '-'}${s.flags[1] === 'W' ? 'w' : '-'}${s.flags[2] === 'E' ? 'x' : '-'}p`;
    return `${hex(start)}-${hex(end)} ${perms} ${hex(s.offset & ~(PAGE - 1n)).padStart(8, '0')} fe:01 ${ino}                      ${path}`;
  });
}

const PID = 4242;
const BUSY_BIAS = 0x555555554000n;
const LIB_BIAS = 0x7f1234560000n;
const STRIPPED_BIAS = 0x7f2234560000n;
const JIT = 0x3ef1c7c00000n;

describe('Symbolizer: user addresses through /proc/PID/maps and ELF symbols', () => {
  let proc: string;
  let maps: string[];
  const writeMaps = (): void => writeFileSync(join(proc, String(PID), 'maps'), `${maps.join('\n')}\n`);

  beforeAll(() => {
    proc = mkdtempSync(join(tmpdir(), 'ebpf-ts-proc-'));
    mkdirSync(join(proc, String(PID), 'root', 'tmp'), { recursive: true });
    writeFileSync(join(proc, String(PID), 'status'), `Name:\tbusy\nPid:\t${PID}\nNSpid:\t${PID}\n`);
    maps = [
      ...mapsLines(BUSY, busyElf.segments, BUSY_BIAS),
      ...mapsLines(TARGET, uprobeElf.get('target')!.segments, 0n),
      ...mapsLines(LIB, uprobeElf.get('libfixture.so')!.segments, LIB_BIAS),
      ...mapsLines(STRIPPED, uprobeElf.get('libfixture-stripped.so')!.segments, STRIPPED_BIAS),
      `${hex(JIT)}-${hex(JIT + 0x40000n)} rwxp 00000000 00:00 0 `,
      '7ffff7fc1000-7ffff7fc3000 r-xp 00000000 00:00 0                          [vdso]',
    ];
    writeMaps();
    // Two versions of one JIT function at the same place: the later line is the live one.
    writeFileSync(
      join(proc, String(PID), 'root', 'tmp', `perf-${PID}.map`),
      `${hex(JIT + 0x100n)} 80 JS:~burn /app/busy.js:3\n${hex(JIT + 0x100n)} 60 JS:*burn /app/busy.js:3\n${hex(JIT + 0x1000n)} 20 Builtin:ArgumentsAdaptorTrampoline\n`,
    );
  });
  afterAll(() => rmSync(proc, { recursive: true, force: true }));

  it('a PIE executable at a load bias: the hot function and its callers, return addresses looked up one byte back', () => {
    const s = new Symbolizer({ procPath: proc });
    const hot = BUSY_BIAS + busyElf.symbols.get('ebpf_ts_profile_hot')!;
    const outer = BUSY_BIAS + busyElf.symbols.get('ebpf_ts_profile_outer')!;
    const main = BUSY_BIAS + busyElf.symbols.get('main')!;
    // The caller frame's return address points just past its call; this one is the first
    // byte after ebpf_ts_profile_outer's call, still inside it.
    expect(s.userStack(PID, [hot + 0x24n, outer + 0x1an, main + 0x30n])).toEqual([
      { address: hot + 0x24n, symbol: 'ebpf_ts_profile_hot', offset: 0x24n, module: BUSY },
      { address: outer + 0x1an, symbol: 'ebpf_ts_profile_outer', offset: 0x1an, module: BUSY },
      { address: main + 0x30n, symbol: 'main', offset: 0x30n, module: BUSY },
    ]);
    expect(s.user(PID, hot)).toMatchObject({ symbol: 'ebpf_ts_profile_hot', offset: 0n });
  });

  it('a non-PIE executable, whose virtual addresses differ from its file offsets', () => {
    const s = new Symbolizer({ procPath: proc });
    const add = uprobeElf.get('target')!.symbols.get('ebpf_ts_uprobe_add')!;
    expect(add).toBe(0x4012a0n);
    expect(s.user(PID, add + 3n)).toEqual({ address: add + 3n, symbol: 'ebpf_ts_uprobe_add', offset: 3n, module: TARGET });
    const main = uprobeElf.get('target')!.symbols.get('main')!;
    expect(formatFrame(s.user(PID, main + 0x10n))).toBe(`main+0x10 (${TARGET})`);
  });

  it('a shared library: aliases name the default-version global, local functions by .symtab; its stripped copy only by .dynsym', () => {
    const s = new Symbolizer({ procPath: proc });
    // 0x1130 is ebpf_ts_old_impl and ebpf_ts_versioned@EBPF_TS_1 (not the default version).
    expect(s.user(PID, LIB_BIAS + 0x1132n)).toMatchObject({ symbol: 'ebpf_ts_old_impl', offset: 2n, module: LIB });
    expect(s.user(PID, LIB_BIAS + 0x1182n)).toMatchObject({ symbol: 'ebpf_ts_local', offset: 2n });
    expect(s.user(PID, LIB_BIAS + 0x1112n)).toMatchObject({ symbol: 'ebpf_ts_plain', offset: 2n });
    expect(s.user(PID, STRIPPED_BIAS + 0x1112n)).toMatchObject({ symbol: 'ebpf_ts_plain', offset: 2n, module: STRIPPED });
    // ebpf_ts_local (0x1160, static) is gone from the stripped copy; the symbol before it ends at 0x1158.
    expect(s.user(PID, STRIPPED_BIAS + 0x1162n)).toEqual({ address: STRIPPED_BIAS + 0x1162n, module: STRIPPED });
  });

  it('anonymous executable memory through the perf map (latest line wins), the vdso and unmapped addresses by what is known', () => {
    const s = new Symbolizer({ procPath: proc });
    const perfMap = join(proc, String(PID), 'root', 'tmp', `perf-${PID}.map`);
    expect(s.user(PID, JIT + 0x110n)).toEqual({ address: JIT + 0x110n, symbol: 'JS:*burn /app/busy.js:3', offset: 0x10n, module: perfMap });
    // Past the optimised version's 0x60 bytes but inside the older one's 0x80.
    expect(s.user(PID, JIT + 0x170n)).toMatchObject({ symbol: 'JS:~burn /app/busy.js:3', offset: 0x70n });
    expect(s.user(PID, JIT + 0x2000n)).toEqual({ address: JIT + 0x2000n, module: '[anon]' });
    expect(s.user(PID, 0x7ffff7fc1100n)).toEqual({ address: 0x7ffff7fc1100n, module: '[vdso]' });
    expect(s.user(PID, 0x10n)).toEqual({ address: 0x10n });
    expect(formatFrame({ address: 0x10n })).toBe('0x10');
  });

  it('re-reads the maps for an address outside them (a library loaded since), and keeps them after the process is gone', () => {
    const s = new Symbolizer({ procPath: proc });
    s.loadProcess(PID);
    const lateBias = 0x7f3334560000n;
    maps.push(...mapsLines(LIB, uprobeElf.get('libfixture.so')!.segments, lateBias));
    writeMaps();
    expect(s.user(PID, lateBias + 0x1112n)).toMatchObject({ symbol: 'ebpf_ts_plain', module: LIB });
    rmSync(join(proc, String(PID), 'maps'));
    const hot = BUSY_BIAS + busyElf.symbols.get('ebpf_ts_profile_hot')!;
    expect(s.user(PID, hot + 1n)).toMatchObject({ symbol: 'ebpf_ts_profile_hot' });
    expect(() => new Symbolizer({ procPath: proc }).loadProcess(PID)).toThrow(/cannot read .*\/4242\/maps: no such process/);
    expect(new Symbolizer({ procPath: proc }).user(PID, hot)).toEqual({ address: hot });
    maps.pop();
    maps.pop();
    maps.pop();
    maps.pop();
    writeMaps();
  });

  it('does not name addresses of a file whose inode is not the one mapped, nor of a deleted one', () => {
    const s = new Symbolizer({ procPath: proc });
    mkdirSync(join(proc, '77'), { recursive: true });
    // The same path with another inode: the file on disk was replaced after it was mapped.
    writeFileSync(
      join(proc, '77', 'maps'),
      `0-2000 r-xp 00000000 fe:01 9999 ${BUSY}\n10000-12000 r-xp 00000000 fe:01 ${statSync(BUSY).ino} ${BUSY} (deleted)\n`,
    );
    expect(s.user(77, 0x1230n)).toEqual({ address: 0x1230n, module: BUSY });
    expect(s.user(77, 0x11230n)).toEqual({ address: 0x11230n, module: `${BUSY} (deleted)` });
  });

  it('refuses pids that are not positive integers', () => {
    const s = new Symbolizer({ procPath: proc });
    expect(() => s.user(0, 1n)).toThrow(ArgumentError);
    expect(() => s.userStack(-1, [])).toThrow(/a process id must be a positive integer, got -1/);
    expect(() => s.loadProcess(1.5)).toThrow(ArgumentError);
  });
});

describe('functionAt: file offsets of one binary', () => {
  it('finds the function by file offset, not by virtual address (non-PIE target)', () => {
    const exe = Executable.open(TARGET);
    // ebpf_ts_uprobe_add is at vaddr 0x4012a0, file offset 0x12a0.
    expect(functionAt(exe, 0x12a2n)).toEqual({ symbol: 'ebpf_ts_uprobe_add', offset: 2n });
    expect(functionAt(exe, 0x4012a2n)).toBeUndefined();
    expect(functionAt(exe, 0n)).toBeUndefined();
  });
});

describe('KernelSymbolIndex and the kernel side of Symbolizer', () => {
  const kallsyms = [
    'ffffffff81000000 T _stext',
    'ffffffff81000ff0 t __pfx_do_thing',
    'ffffffff81001000 T do_thing',
    'ffffffff81001000 t do_thing_alias',
    'ffffffff81001200 t helper.isra.0',
    'ffffffff81002000 D some_data',
    'ffffffff81003000 T _etext',
    'ffffffffc0a01000 t nft_do_chain\t[nf_tables]',
    'ffffffffc0a01400 t bpf_prog_6deef7357e7b4530_profile\t[bpf]',
    'garbage line',
    '',
  ].join('\n');

  it('names the nearest text symbol at or below, with module; prefers a global name and skips padding and data', () => {
    const index = KernelSymbolIndex.parse(kallsyms);
    expect(index.hidden).toBe(false);
    expect(index.lookup(0xffffffff81001010n)).toEqual({ symbol: 'do_thing', offset: 0x10n, module: undefined });
    expect(index.lookup(0xffffffff81000ff4n)).toMatchObject({ symbol: '__pfx_do_thing', offset: 4n });
    expect(index.lookup(0xffffffff81001204n)).toMatchObject({ symbol: 'helper.isra.0' });
    // some_data (D) is not text: the address stays in helper.isra.0's range.
    expect(index.lookup(0xffffffff81002010n)).toMatchObject({ symbol: 'helper.isra.0', offset: 0xe10n });
    expect(index.lookup(0xffffffffc0a01004n)).toEqual({ symbol: 'nft_do_chain', offset: 4n, module: 'nf_tables' });
    expect(index.lookup(0xffffffffc0a01420n)).toEqual({ symbol: 'bpf_prog_6deef7357e7b4530_profile', offset: 0x20n, module: 'bpf' });
    expect(index.lookup(0xffffffff80000000n)).toBeUndefined();
    // Far beyond the last symbol of a region: a gap, not part of it.
    expect(index.lookup(0xffffffffc0a01400n + MAX_KERNEL_FUNCTION_BYTES)).toBeUndefined();
  });

  it('hidden addresses (kptr_restrict) name nothing and say so', () => {
    const index = KernelSymbolIndex.parse('0000000000000000 T _stext\n0000000000000000 T do_thing\n');
    expect(index.hidden).toBe(true);
    expect(index.size).toBe(0);
    const s = new Symbolizer({ kallsyms: '0000000000000000 T do_thing\n' });
    expect(s.kernelAddressesHidden).toBe(true);
    expect(s.kernel(0xffffffff81001000n)).toEqual({ address: 0xffffffff81001000n });
  });

  it('kernelStack looks return addresses up one byte back: a call ending a function stays in it', () => {
    const s = new Symbolizer({ kallsyms });
    expect(s.kernelAddressesHidden).toBe(false);
    // 0xffffffff81001200 is the first byte of helper.isra.0, and the return address of a call
    // that ended do_thing_alias/do_thing.
    expect(s.kernelStack([0xffffffff81001200n, 0xffffffff81001200n, 0xffffffffc0a01008n])).toEqual([
      { address: 0xffffffff81001200n, symbol: 'helper.isra.0', offset: 0n },
      { address: 0xffffffff81001200n, symbol: 'do_thing', offset: 0x200n },
      { address: 0xffffffffc0a01008n, symbol: 'nft_do_chain', offset: 8n, module: 'nf_tables' },
    ]);
    expect(formatFrame(s.kernel(0xffffffffc0a01008n))).toBe('nft_do_chain+0x8 (nf_tables)');
    expect(formatFrame(s.kernel(0xffffffff81001000n))).toBe('do_thing');
  });
});

describe('PerfMap', () => {
  it('parses START SIZE name lines (names with spaces), skips others and empty code', () => {
    const map = PerfMap.parse('1000 10 a b c\nnot a line\n2000 0 empty\n0x3000 0x8 prefixed\n');
    expect(map.size).toBe(2);
    expect(map.lookup(0x100an)).toEqual({ symbol: 'a b c', offset: 10n });
    expect(map.lookup(0x1010n)).toBeUndefined();
    expect(map.lookup(0x3004n)).toEqual({ symbol: 'prefixed', offset: 4n });
  });
});
