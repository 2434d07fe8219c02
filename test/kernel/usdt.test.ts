// USDT probes against the running kernel, with programs written for libbpf's <bpf/usdt.bpf.h>
// (testdata/usdt.bpf.c) on the <sys/sdt.h> fixtures of testdata/usdt/: a process that fires
// every probe once per line "N" on stdin and reports the guarded probe's semaphore.
// record_args stores, per bpf_usdt_cookie(), the hits, bpf_usdt_arg_cnt() and every
// bpf_usdt_arg() with its return code, so each test checks exact values: registers of every
// width and signedness, stack slots, %rip-relative globals, constants, 12 arguments, two
// locations of one probe, a semaphore-guarded probe, a probe in a shared library found through
// /proc/PID/maps; by binary (PIE and non-PIE) and by pid; uprobe_multi; auto-attach by section
// name; the fallback for kernels without BPF cookies (spec ids by address); and that close()
// leaves no uprobe, link, fd, spec or address entry behind.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadCollection, type Collection } from '../../src/collection.js';
import { loadCollectionSpec } from '../../src/collection-spec.js';
import { ArgumentError, NotSupportedError } from '../../src/errors.js';
import { attachPlan } from '../../src/link/auto.js';
import { LinkType, listLinks } from '../../src/link/link.js';
import { uprobeSupport } from '../../src/link/uprobe.js';
import { uprobeMultiFeature } from '../../src/link/uprobe-multi.js';
import { attachUSDT, attachUSDTSection, setUSDTCookieSupport, USDTNotFoundError, type USDTLink } from '../../src/link/usdt.js';
import { readUSDTFile } from '../../src/link/usdt-notes.js';
import { decodeUSDTSpec } from '../../src/link/usdt-spec.js';
import { backend } from '../../src/sys/select.js';
import { AttachType, ProgramType } from '../../src/types.js';
import { Helper } from '../../src/asm/helper.js';
import { helperFeature } from '../../src/features/helpers.js';

const root = process.getuid?.() === 0;
const OBJECT = join(import.meta.dirname, '..', '..', 'testdata', 'usdt.bpfel.o');
const DIR = join(import.meta.dirname, '..', '..', 'testdata', 'usdt');
const TARGET = realpathSync(join(DIR, 'target'));
const NOPIE = realpathSync(join(DIR, 'target-nopie'));
const LIB = realpathSync(join(DIR, 'libusdtfixture.so'));

const support = root ? uprobeSupport() : undefined;
// The fixtures are x86-64 (testdata/usdt/build.sh rebuilds them).
const skip = !root
  ? 'needs root for bpf() and perf_event_open'
  : process.arch !== 'x64'
    ? `testdata/usdt/target is an x86-64 binary; run testdata/usdt/build.sh on this ${process.arch} machine`
    : support!.pmuType === undefined && !support!.tracefsEvents
      ? 'this kernel has neither a uprobe PMU nor tracefs uprobe_events (CONFIG_UPROBE_EVENTS)'
      : '';
if (skip !== '') console.warn(`skipping USDT kernel tests: ${skip}`);
// Without BPF cookies (before 5.15) a usdt.bpf.h program finds its spec by the probed address,
// which for a PIE executable or a shared library differs per process: such files attach by pid
// only (as with libbpf), and the tests attaching them for every process run on 5.15+.
const cookies = skip === '' && helperFeature(ProgramType.Tracepoint, Helper.GetAttachCookie).supported();
const noCookies = skip === '' && !cookies ? 'attaching a PIE executable or a shared library for every process needs BPF cookies (Linux 5.15); the by-pid and non-PIE tests cover this kernel' : '';

const ENOENT = -2;

/** struct record of testdata/usdt.bpf.c. */
interface Record {
  hits: bigint;
  argCnt: bigint;
  args: bigint[];
  argErr: number[];
  arg0Sum: bigint;
  cookie: bigint;
  pid: number;
}

function u64Key(n: bigint): Uint8Array {
  const key = new Uint8Array(8);
  new DataView(key.buffer).setBigUint64(0, n, true);
  return key;
}

/** A running fixture: `fire(n)` makes it fire every probe once and returns what it reported. */
class Fixture {
  readonly child: ChildProcessWithoutNullStreams;
  #out = '';
  #waiters: Array<() => void> = [];

  constructor(path: string) {
    this.child = spawn(path, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (chunk: string) => {
      this.#out += chunk;
      for (const w of this.#waiters.splice(0)) w();
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  async #line(re: RegExp): Promise<RegExpExecArray> {
    for (;;) {
      const m = re.exec(this.#out);
      if (m !== null) {
        this.#out = this.#out.slice(m.index + m[0].length);
        return m;
      }
      await new Promise<void>((resolve, reject) => {
        this.#waiters.push(resolve);
        this.child.once('exit', () => reject(new Error(`fixture exited; output so far: ${this.#out}`)));
      });
    }
  }

  async ready(): Promise<this> {
    await this.#line(/^ready (\d+)\n/m);
    return this;
  }

  async fire(n: number): Promise<{ semaphore: number; guarded: number }> {
    this.child.stdin.write(`${n}\n`);
    const m = await this.#line(new RegExp(`^fired ${n} semaphore=(\\d+) guarded=(\\d+)\\n`, 'm'));
    return { semaphore: Number(m[1]), guarded: Number(m[2]) };
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.stdin.end();
    await exited;
  }
}

/** The BPF objects and perf events this process holds (the fixtures' pipes come and go). */
const bpfFds = (): number =>
  readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return /^anon_inode:(?:\[perf_event\]|bpf-)/.test(readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      return false;
    }
  }).length;

describe.skipIf(skip !== '')(`USDT (backend ${root ? backend().kind : 'none'})`, () => {
  let coll: Collection;
  const fixtures: Fixture[] = [];
  const links: USDTLink[] = [];

  const start = async (path = TARGET): Promise<Fixture> => {
    const f = new Fixture(path);
    fixtures.push(f);
    return f.ready();
  };
  const attach = (...args: Parameters<typeof attachUSDT>): USDTLink => {
    const link = attachUSDT(...args);
    links.push(link);
    return link;
  };
  const record = (cookie: bigint, c: Collection = coll): Record | undefined => {
    const v = c.maps.records!.lookup(u64Key(cookie)) as Uint8Array | undefined;
    if (v === undefined) return undefined;
    const d = new DataView(v.buffer, v.byteOffset, v.byteLength);
    return {
      hits: d.getBigUint64(0, true),
      argCnt: d.getBigInt64(8, true),
      args: Array.from({ length: 12 }, (_, i) => d.getBigInt64(16 + 8 * i, true)),
      argErr: Array.from({ length: 12 }, (_, i) => d.getInt32(112 + 4 * i, true)),
      arg0Sum: d.getBigInt64(160, true),
      cookie: d.getBigUint64(168, true),
      pid: d.getUint32(176, true),
    };
  };
  /** The record of `cookie` after `hits` hits of a probe with `args` (exact values), from process `pid`. */
  const expectRecord = (cookie: bigint, hits: bigint, pid: number, args: bigint[]): void => {
    const r = record(cookie);
    expect(r, `record of cookie ${cookie}`).toBeDefined();
    expect(r!.hits).toBe(hits);
    expect(r!.argCnt).toBe(BigInt(args.length));
    expect(r!.args.slice(0, args.length)).toEqual(args);
    expect(r!.argErr).toEqual(Array.from({ length: 12 }, (_, i) => (i < args.length ? 0 : ENOENT)));
    expect(r!.cookie).toBe(cookie);
    expect(r!.pid).toBe(pid);
  };
  const specValues = (c: Collection = coll): Uint8Array[] => {
    const out: Uint8Array[] = [];
    for (let i = 0; i < c.maps.__bpf_usdt_specs!.maxEntries; i++) {
      const key = new Uint8Array(4);
      new DataView(key.buffer).setUint32(0, i, true);
      out.push(c.maps.__bpf_usdt_specs!.lookup(key) as Uint8Array);
    }
    return out;
  };
  const usedSpecs = (c: Collection = coll): number => specValues(c).filter((v) => v.some((b) => b !== 0)).length;
  const ourLinks = (c: Collection = coll): number => {
    const ids = new Set(Object.values(c.programs).map((p) => p.info().id));
    return listLinks().filter((l) => ids.has(l.programId)).length;
  };

  beforeAll(async () => {
    coll = await loadCollection(OBJECT);
  });
  afterEach(async () => {
    for (const l of links.splice(0)) l.close();
    for (const f of fixtures.splice(0)) await f.stop();
    setUSDTCookieSupport();
  });
  afterAll(() => coll?.close());

  it.skipIf(noCookies !== '')('by binary: exact values of register, stack, %rip-relative, constant, 12-argument and argument-less probes, with their cookies; close() removes everything', async () => {
    const fdsBefore = bpfFds();
    const prog = coll.programs.record_args!;
    const probes = ['regs', 'memory', 'global', 'consts', 'many', 'noargs', 'twice'];
    const made = probes.map((name, i) => attach(prog, { binary: TARGET, provider: 'ebpf_ts', name, cookie: BigInt(i + 1) }));
    expect(made.map((l) => l.probes.length)).toEqual([1, 1, 1, 1, 1, 1, 2]);
    expect(made.every((l) => l.cookies)).toBe(true);
    expect(made[6]!.linkInfos().map((i) => i.type)).toEqual([LinkType.PerfEvent, LinkType.PerfEvent]);
    expect(usedSpecs()).toBe(7); // twice's two locations share one spec
    expect(ourLinks()).toBe(8);

    const f = await start();
    await f.fire(3);
    await f.fire(5);
    expectRecord(1n, 2n, f.pid, [5n, -5n, 5000n, 255n, -6n, 5n << 40n]);
    expectRecord(2n, 2n, f.pid, [6n, -35n, 65535n, -5n]);
    expectRecord(3n, 2n, f.pid, [8n, -3n]); // ebpf_ts_counter accumulates 3 + 5
    expectRecord(4n, 2n, f.pid, [5n, -7n, 1234567890123n, 200n]);
    expectRecord(5n, 2n, f.pid, [6n, 7n, 8n, 9n, 10n, 11n, 12n, 13n, 14n, 15n, 11n, -12n]);
    expectRecord(6n, 2n, f.pid, []);
    expectRecord(7n, 4n, f.pid, [205n]);
    expect(record(7n)!.arg0Sum).toBe(103n + 203n + 105n + 205n);
    expect(record(1n)!.arg0Sum).toBe(8n);

    for (const l of links.splice(0)) l.close();
    expect(usedSpecs()).toBe(0);
    expect(ourLinks()).toBe(0);
    expect(bpfFds()).toBe(fdsBefore);
    await f.fire(7);
    expect(record(1n)!.hits).toBe(2n);
    expect(record(7n)!.hits).toBe(4n);
    expect(() => made[0]!.linkInfos()).toThrow(/closed/);
  });

  it('a non-PIE executable: the same values', async () => {
    attach(coll.programs.record_args!, { binary: NOPIE, provider: 'ebpf_ts', name: 'regs', cookie: 101n });
    attach(coll.programs.record_args!, { binary: NOPIE, provider: 'ebpf_ts', name: 'global', cookie: 102n });
    const f = await start(NOPIE);
    await f.fire(9);
    expectRecord(101n, 1n, f.pid, [9n, -9n, 9000n, 3n, -10n, 9n << 40n]);
    expectRecord(102n, 1n, f.pid, [9n, -3n]);
  });

  it('by pid: only that process, and without a binary the probes of the shared libraries it maps', async () => {
    const a = await start();
    const b = await start();
    const lib = attach(coll.programs.record_args!, { pid: a.pid, provider: 'ebpf_ts_lib', name: 'hello', cookie: 201n });
    expect(lib.probes.map((p) => p.binary)).toEqual([LIB]);
    attach(coll.programs.record_args!, { pid: a.pid, binary: TARGET, provider: 'ebpf_ts', name: 'consts', cookie: 202n });
    await b.fire(4);
    expect(record(201n)).toBeUndefined();
    await a.fire(4);
    await b.fire(5);
    expectRecord(201n, 1n, a.pid, [4n, 12n]);
    expectRecord(202n, 1n, a.pid, [5n, -7n, 1234567890123n, 200n]);
  });

  it.skipIf(noCookies !== '')('the semaphore is raised while attached, so the guarded probe fires, and lowered by close()', async () => {
    const f = await start();
    expect(await f.fire(1)).toEqual({ semaphore: 0, guarded: 0 });
    const byBinary = attach(coll.programs.record_args!, { binary: TARGET, provider: 'ebpf_ts', name: 'guarded', cookie: 301n });
    expect(byBinary.probes[0]!.semaphoreOffset).toBe(0x3044n);
    expect(await f.fire(2)).toEqual({ semaphore: 1, guarded: 1 });
    expectRecord(301n, 1n, f.pid, [2n, 4n]);
    // The kernel counts the semaphore once per probed place (struct uprobe), however many
    // attachments share it.
    const byPid = attach(coll.programs.record_args!, { pid: f.pid, provider: 'ebpf_ts', name: 'guarded', cookie: 302n });
    expect(await f.fire(3)).toEqual({ semaphore: 1, guarded: 1 });
    expectRecord(302n, 1n, f.pid, [3n, 9n]);
    byBinary.close();
    expect(await f.fire(4)).toEqual({ semaphore: 1, guarded: 1 });
    byPid.close();
    expect(await f.fire(5)).toEqual({ semaphore: 0, guarded: 0 });
    expect(record(301n)!.hits).toBe(2n);
    expect(record(302n)!.hits).toBe(2n);
  });

  it.skipIf(root && !uprobeMultiFeature.supported())('a program loaded for BPF_TRACE_UPROBE_MULTI gets one uprobe_multi link per file, semaphores included', async () => {
    const spec = await loadCollectionSpec(OBJECT);
    spec.programs.record_args!.attachType = AttachType.TraceUprobeMulti;
    const multi = await loadCollection(spec, { programs: ['record_args'] });
    try {
      const fdsBefore = bpfFds();
      const twice = attachUSDT(multi.programs.record_args!, { binary: TARGET, provider: 'ebpf_ts', name: 'twice', cookie: 401n });
      const guarded = attachUSDT(multi.programs.record_args!, { binary: TARGET, provider: 'ebpf_ts', name: 'guarded', cookie: 402n });
      const info = twice.info();
      expect(info.type).toBe(LinkType.UprobeMulti);
      if (info.uprobeMulti !== undefined) expect(info.uprobeMulti.offsets).toEqual(twice.probes.map((p) => p.offset));
      const f = await start();
      expect(await f.fire(6)).toEqual({ semaphore: 1, guarded: 1 });
      expect(record(401n, multi)).toMatchObject({ hits: 2n, argCnt: 1n, arg0Sum: 106n + 206n });
      expect(record(402n, multi)).toMatchObject({ hits: 1n, argCnt: 2n, args: [6n, 36n, ...Array(10).fill(0n)] });
      twice.close();
      guarded.close();
      expect(await f.fire(7)).toEqual({ semaphore: 0, guarded: 0 });
      expect(usedSpecs(multi)).toBe(0);
      expect(bpfFds()).toBe(fdsBefore);
    } finally {
      multi.close();
    }
  });

  it.skipIf(noCookies !== '')('auto-attach by section: usdt/libusdtfixture.so:ebpf_ts_lib:hello, the library found in LD_LIBRARY_PATH; BPF_USDT() arguments', async () => {
    const saved = process.env.LD_LIBRARY_PATH;
    process.env.LD_LIBRARY_PATH = DIR;
    const prog = coll.programs.lib_hello!;
    try {
      const { target } = attachPlan(prog.attachment.sectionName!);
      expect(target).toBe('libusdtfixture.so:ebpf_ts_lib:hello');
      links.push(attachUSDTSection(prog, target));
    } finally {
      if (saved === undefined) delete process.env.LD_LIBRARY_PATH;
      else process.env.LD_LIBRARY_PATH = saved;
    }
    const f = await start();
    await f.fire(4);
    await f.fire(6);
    const v = coll.maps.hello!.lookup(new Uint8Array(4)) as Uint8Array;
    const d = new DataView(v.buffer, v.byteOffset);
    expect([d.getBigUint64(0, true), d.getBigInt64(8, true), d.getBigInt64(16, true)]).toEqual([2n, 10n, 30n]);
    expect(() => attachUSDTSection(coll.programs.record_args!, undefined)).toThrow(/section usdt names no probe/);
    expect(() => attachUSDTSection(prog, 'libusdtfixture.so:hello')).toThrow(/<binary>:<provider>:<name>/);
  });

  it.skipIf(skip !== '' || cookies)('before BPF cookies a PIE executable attaches by pid only: for every process it is a NotSupportedError naming 5.15', () => {
    expect(() => attachUSDT(coll.programs.record_args!, { binary: TARGET, provider: 'ebpf_ts', name: 'regs', cookie: 1n })).toThrow(NotSupportedError);
    expect(() => attachUSDT(coll.programs.record_args!, { binary: TARGET, provider: 'ebpf_ts', name: 'regs', cookie: 1n })).toThrow(/requires Linux 5\.15/);
  });

  it('without BPF cookies: spec ids by probed address in __bpf_usdt_ip_to_spec_id (non-PIE by binary, PIE by pid), removed by close()', async () => {
    setUSDTCookieSupport(false);
    const prog = coll.programs.spec_by_ip!;
    const ipMap = coll.maps.__bpf_usdt_ip_to_spec_id!;
    const nopie = attach(prog, { binary: NOPIE, provider: 'ebpf_ts', name: 'twice', cookie: 501n });
    expect(nopie.cookies).toBe(false);
    expect(() => attachUSDT(prog, { binary: TARGET, provider: 'ebpf_ts', name: 'regs' })).toThrow(NotSupportedError);
    expect(usedSpecs()).toBe(1);
    const f = await start();
    const pie = attach(prog, { pid: f.pid, binary: TARGET, provider: 'ebpf_ts', name: 'regs', cookie: 502n });
    expect([...ipMap.keys()]).toHaveLength(3);
    const g = await start(NOPIE);
    await g.fire(1);
    await f.fire(1);
    const byIp = (cookie: bigint) => {
      const v = coll.maps.ip_records!.lookup(u64Key(cookie)) as Uint8Array | undefined;
      if (v === undefined) return undefined;
      const d = new DataView(v.buffer, v.byteOffset);
      return { hits: d.getBigUint64(0, true), specId: d.getBigInt64(8, true), argCnt: d.getBigInt64(16, true), ip: d.getBigUint64(24, true) };
    };
    expect(byIp(501n)).toMatchObject({ hits: 2n, argCnt: 1n });
    expect(nopie.probes.map((p) => p.location)).toContain(byIp(501n)!.ip);
    expect(byIp(502n)).toMatchObject({ hits: 1n, argCnt: 6n });
    const specId = byIp(502n)!.specId;
    const key = new Uint8Array(4);
    new DataView(key.buffer).setUint32(0, Number(specId), true);
    expect(decodeUSDTSpec(coll.maps.__bpf_usdt_specs!.lookup(key) as Uint8Array).cookie).toBe(502n);
    // PIE: the address in this process, not the link-time one.
    expect(byIp(502n)!.ip).not.toBe(pie.probes[0]!.location);
    expect(byIp(0n)).toBeUndefined();
    nopie.close();
    pie.close();
    expect([...ipMap.keys()]).toHaveLength(0);
    expect(usedSpecs()).toBe(0);
  });

  it.skipIf(noCookies !== '')('spec ids: one per distinct spec, reused after close(); a full __bpf_usdt_specs is an error that leaves nothing behind', async () => {
    const spec = await loadCollectionSpec(OBJECT);
    spec.maps.__bpf_usdt_specs!.maxEntries = 2;
    const small = await loadCollection(spec, { programs: ['record_args'] });
    try {
      const prog = small.programs.record_args!;
      const slots = (): number[] => specValues(small).flatMap((v, i) => (v.some((b) => b !== 0) ? [i] : []));
      const a = attachUSDT(prog, { binary: TARGET, provider: 'ebpf_ts', name: 'consts', cookie: 1n });
      const b = attachUSDT(prog, { binary: TARGET, provider: 'ebpf_ts', name: 'regs', cookie: 2n });
      expect(slots()).toEqual([0, 1]);
      const before = bpfFds();
      expect(() => attachUSDT(prog, { binary: TARGET, provider: 'ebpf_ts', name: 'twice' })).toThrow(/all 2 slots of __bpf_usdt_specs are taken by open USDT attachments/);
      expect(bpfFds()).toBe(before);
      expect(ourLinks(small)).toBe(2);
      a.close();
      expect(slots()).toEqual([1]);
      const c = attachUSDT(prog, { binary: TARGET, provider: 'ebpf_ts', name: 'twice', cookie: 3n });
      expect(slots()).toEqual([0, 1]);
      expect(decodeUSDTSpec(specValues(small)[0]!).cookie).toBe(3n);
      b.close();
      c.close();
      expect(slots()).toEqual([]);
    } finally {
      small.close();
    }
  });

  it('errors: a missing probe lists those there are; the wrong architecture; bad options; nothing left behind', () => {
    const fdsBefore = bpfFds();
    const prog = coll.programs.record_args!;
    let caught: unknown;
    try {
      attachUSDT(prog, { binary: TARGET, provider: 'ebpf_ts', name: 'regz' });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(USDTNotFoundError);
    expect((caught as USDTNotFoundError).probes).toEqual(['ebpf_ts:consts', 'ebpf_ts:global', 'ebpf_ts:guarded', 'ebpf_ts:many', 'ebpf_ts:memory', 'ebpf_ts:noargs', 'ebpf_ts:regs', 'ebpf_ts:twice']);
    expect((caught as Error).message).toMatch(/^symbol ebpf_ts:regz not found in .*target \(its probes: ebpf_ts:consts, .*\); did you mean ebpf_ts:consts/);
    expect(() => attachUSDT(prog, { binary: join(DIR, 'target-arm64'), provider: 'ebpf_ts', name: 'regs' })).toThrow(/is an arm64 binary; this machine is x86_64/);
    expect(() => attachUSDT(prog, { provider: 'ebpf_ts', name: 'regs' })).toThrow(/needs a binary, a pid, or both/);
    expect(() => attachUSDT(prog, { binary: TARGET, provider: 'ebpf_ts:x', name: 'regs' })).toThrow(ArgumentError);
    expect(() => attachUSDT(prog, { binary: TARGET, provider: 'ebpf_ts', name: 'regs', pid: -4 })).toThrow(/pid must be a process id/);
    expect(() => attachUSDT(prog, { binary: TARGET, provider: 'ebpf_ts', name: 'regs', cookie: 1.5 })).toThrow(/cookie must be an integer/);
    expect(readUSDTFile(TARGET).probes.length).toBe(9);
    expect(usedSpecs()).toBe(0);
    expect(bpfFds()).toBe(fdsBefore);
  });
});
