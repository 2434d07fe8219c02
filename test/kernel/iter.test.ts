// BPF iterators (testdata/iter.bpf.c): attachIter, reading a walk as a stream and all at once,
// parameters (map, task, cgroup), pinning so that reading the pin runs the walk, and the
// errors for a wrong program or parameter. Each walk is checked against what /proc, the map
// or the cgroup tree say.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCollection, type Collection } from '../../src/collection.js';
import { loadCollectionSpec } from '../../src/collection-spec.js';
import { ArgumentError, SyscallError } from '../../src/errors.js';
import { cgroup2Path } from '../../src/internal/cgroup.js';
import { attachIter, IterLink } from '../../src/link/iter.js';
import '../../src/link/auto.js';
import { BpfMap } from '../../src/map.js';
import { kernelVersion } from '../../src/sys/kernel-version.js';

const object = new URL('../../testdata/iter.bpfel.o', import.meta.url).pathname;
const root = process.getuid?.() === 0;
const noRoot = root ? '' : 'needs root for bpf()';
const before61 = root && !kernelVersion().atLeast('6.1') ? `task and cgroup iterator parameters need Linux 6.1 (this is ${kernelVersion()})` : '';
const bpffs = '/sys/fs/bpf';

let coll: Collection;
let squares: BpfMap;
// The host kernel refuses map element iterator programs with EPERM before verifying a single
// instruction (libbpf and bpftool too); the test:vm kernels load them.
let elems: Collection | undefined;
let elemsRefused = '';

beforeAll(async () => {
  if (!root) return;
  const spec = await loadCollectionSpec(object);
  // The cgroup iterator target (bpf_iter_cgroup) arrived in 6.1: older kernels cannot load it.
  if (!kernelVersion().atLeast('6.1')) delete spec.programs.dump_cgroups;
  const others = Object.keys(spec.programs).filter((name) => name !== 'dump_elems');
  squares = BpfMap.create(spec.maps.squares!);
  for (let i = 0; i < 4; i++) squares.update(u32(i), u64(BigInt(i * i)));
  coll = await loadCollection(spec, { programs: others });
  try {
    elems = await loadCollection(spec, { programs: ['dump_elems'], mapReplacements: { squares } });
  } catch (err) {
    if (!(err instanceof SyscallError) || err.errno !== 1) throw err;
    elemsRefused = `runs in test:vm: this kernel refuses map element iterator programs (${err.message})`;
  }
});

afterAll(() => {
  elems?.close();
  coll?.close();
  squares?.close();
});

function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, true);
  return b;
}

function u64(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, true);
  return b;
}

function procPids(): Set<number> {
  return new Set(readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number));
}

const elemLines = ['0 0', '1 1', '2 4', '3 9'];

describe.skipIf(noRoot !== '')('attachIter', () => {
  it('a task iterator lists the processes /proc lists', () => {
    using iter = attachIter(coll.programs.dump_tgids!);
    const before = procPids();
    const listed = iter.readAll().toString().trim().split('\n').map(Number);
    const after = procPids();
    expect(new Set(listed).size).toBe(listed.length);
    expect(listed).toContain(process.pid);
    // Processes alive throughout appear in both snapshots; each must be listed, and each
    // listed process existed in one of them (it may have started or ended in between).
    // The one exception: this sandbox's pid 1 (firecracker's init agent), which its kernel
    // does not show to task iterators, not even to a walk limited to that pid.
    const missing = [...before].filter((pid) => after.has(pid) && !listed.includes(pid));
    expect(missing.filter((pid) => pid !== 1)).toEqual([]);
    for (const pid of listed) expect(before.has(pid) || after.has(pid), `pid ${pid}`).toBe(true);
  });

  it('a map element iterator walks the map given at attach time', ({ skip }) => {
    if (elemsRefused !== '') skip(elemsRefused);
    using iter = attachIter(elems!.programs.dump_elems!, { map: squares });
    expect(iter.readAll().toString().trim().split('\n')).toEqual(elemLines);
    // Each read is a new walk from the start.
    expect(iter.readAll().toString().trim().split('\n')).toEqual(elemLines);
  });

  it('open() streams the same walk', async ({ skip }) => {
    if (elemsRefused !== '') skip(elemsRefused);
    using iter = attachIter(elems!.programs.dump_elems!, { map: squares });
    const chunks: Buffer[] = [];
    for await (const chunk of iter.open()) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString().trim().split('\n')).toEqual(elemLines);
  });

  it('a map iterator lists the ids of maps, ours among them', () => {
    using iter = attachIter(coll.programs.dump_map_ids!);
    const ids = iter.readAll().toString().trim().split('\n').map(Number);
    expect(ids).toContain(squares.info().id);
  });

  it('a pinned iterator runs when its pin is read, like cat does', () => {
    const dir = mkdtempSync(join(bpffs, 'ebpf-ts-iter-'));
    try {
      using iter = attachIter(coll.programs.dump_map_ids!);
      const pin = join(dir, 'maps');
      iter.pin(pin);
      const ids = readFileSync(pin, 'utf8').trim().split('\n').map(Number);
      expect(ids).toContain(squares.info().id);
      iter.unpin(pin);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('auto-attach of an iter/ section gives an iterator link over every object', () => {
    using link = coll.programs.dump_map_ids!.attach();
    expect(link).toBeInstanceOf(IterLink);
    expect((link as IterLink).readAll().toString().trim().split('\n').map(Number)).toContain(squares.info().id);
  });

  it.skipIf(before61 !== '')('a task parameter limits the walk to one process (6.1)', () => {
    using byTid = attachIter(coll.programs.dump_tgids!, { task: { tid: process.pid } });
    expect(byTid.readAll().toString().trim().split('\n').map(Number)).toEqual([process.pid]);
    using byPid = attachIter(coll.programs.dump_tgids!, { task: { pid: process.pid } });
    expect(byPid.readAll().toString().trim().split('\n').map(Number)).toEqual([process.pid]);
  });

  it.skipIf(before61 !== '')('a cgroup iterator walks from the cgroup given, in the order given (6.1)', () => {
    const top = cgroup2Path();
    using self = attachIter(coll.programs.dump_cgroups!, { cgroup: { cgroup: top, order: 'self-only' } });
    const [line] = self.readAll().toString().trim().split('\n');
    // The id of a cgroup v2 directory is its inode number; the mount's root is level 0.
    expect(line).toBe(`${statSync(top, { bigint: true }).ino} 0`);
    using pre = attachIter(coll.programs.dump_cgroups!, { cgroup: { cgroup: top, order: 'descendants-pre' } });
    const walked = pre.readAll().toString().trim().split('\n');
    expect(walked[0]).toBe(line);
    expect(walked.length).toBeGreaterThanOrEqual(1);
    for (const l of walked) expect(l).toMatch(/^\d+ \d+$/);
  });

  it('refuses a program that is not an iterator, and two parameters at once', async () => {
    expect(() => attachIter(coll.programs.dump_map_ids!, { map: squares, task: { pid: 1 } })).toThrow(ArgumentError);
    // A socket filter is no iterator: refused before any syscall, naming its type.
    const minimal = await loadCollection(new URL('../../testdata/minimal.bpfel.o', import.meta.url).pathname);
    try {
      const [prog] = Object.values(minimal.programs);
      expect(() => attachIter(prog!)).toThrow(/needs an iterator program .* is SOCKET_FILTER/);
    } finally {
      minimal.close();
    }
  });
});
