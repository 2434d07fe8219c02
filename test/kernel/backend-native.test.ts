// Drives the native syscall seam (native/ebpf_ts.cc through src/sys/backend-native.ts) against
// the running kernel with hand-encoded attrs: nothing here depends on src/sys's attr layouts,
// so a failure points at the addon, not at the layers above it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureMemlock } from '../../src/sys/memlock.js';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  closeSync,
  constants as fsConstants,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import ts from 'typescript';
import { POLLIN, RLIMIT_MEMLOCK, type Mapping } from '../../src/sys/backend.js';
import { loadNativeBackend, type NativeBackend } from '../../src/sys/backend-native.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

// bpf() commands and constants from include/uapi/linux/bpf.h.
const BPF_MAP_CREATE = 0;
const BPF_MAP_LOOKUP_ELEM = 1;
const BPF_MAP_UPDATE_ELEM = 2;
const BPF_MAP_TYPE_ARRAY = 2;
const BPF_F_MMAPABLE = 1 << 10;
const ENOENT = 2;
const EBADF = 9;
const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;

let nb: NativeBackend;

beforeAll(() => {
  // No skip: the addon is part of the repo and `npm install` builds it. A failure here names
  // every path the loader tried.
  nb = loadNativeBackend();
  // Raw seam calls bypass the funnel's RLIMIT_MEMLOCK handling (needed before 5.11).
  ensureMemlock(nb);
});

/** MAP_CREATE attr up to map_flags (offsetofend(union bpf_attr, map_flags) = 20). */
function createArray(valueSize: number, maxEntries: number, flags = 0): number {
  const attr = new Uint8Array(20);
  const dv = new DataView(attr.buffer);
  dv.setUint32(0, BPF_MAP_TYPE_ARRAY, true);
  dv.setUint32(4, 4, true);
  dv.setUint32(8, valueSize, true);
  dv.setUint32(12, maxEntries, true);
  dv.setUint32(16, flags, true);
  return nb.bpf(BPF_MAP_CREATE, attr);
}

/** The MAP_*_ELEM attr: map_fd @0, key @8, value @16, flags @24 (32 bytes). */
function elemAttr(fd: number, flags = 0n): Uint8Array {
  const attr = new Uint8Array(32);
  const dv = new DataView(attr.buffer);
  dv.setUint32(0, fd, true);
  dv.setBigUint64(24, flags, true);
  return attr;
}

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

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

describe('native backend: loading', () => {
  it('reports kind "native" and the file it loaded', () => {
    expect(nb.kind).toBe('native');
    expect(nb.addonPath).toMatch(/ebpf_ts\.node$/);
    expect(nb.addon.pageSize).toBeGreaterThanOrEqual(4096);
  });
});

describe('native backend: bpf() with pointer fields', () => {
  let fd = -1;
  beforeAll(() => {
    fd = createArray(8, 4);
    expect(fd).toBeGreaterThan(2);
  });
  afterAll(() => {
    if (fd >= 0) nb.close(fd);
  });

  it('updates and looks up an element through key/value pointers', () => {
    expect(nb.bpf(BPF_MAP_UPDATE_ELEM, elemAttr(fd), [8, u32(1), 16, u64(0xdead_beef_cafen)])).toBe(0);
    const out = new Uint8Array(8);
    expect(nb.bpf(BPF_MAP_LOOKUP_ELEM, elemAttr(fd), [8, u32(1), 16, out])).toBe(0);
    expect(new DataView(out.buffer).getBigUint64(0, true)).toBe(0xdead_beef_cafen);
  });

  it('writes into a view that starts inside a larger buffer', () => {
    const big = new Uint8Array(64);
    const out = big.subarray(24, 32);
    expect(nb.bpf(BPF_MAP_UPDATE_ELEM, elemAttr(fd), [8, u32(2), 16, u64(42n)])).toBe(0);
    expect(nb.bpf(BPF_MAP_LOOKUP_ELEM, elemAttr(fd), [8, u32(2), 16, out])).toBe(0);
    expect(new DataView(big.buffer).getBigUint64(24, true)).toBe(42n);
    expect(big.subarray(0, 24).every((b) => b === 0)).toBe(true);
  });

  it('prepare() writes the addresses once; later calls see new key and value bytes', () => {
    const key = u32(1);
    const out = new Uint8Array(8);
    const attr = elemAttr(fd);
    const call = nb.prepare(attr, [8, key, 16, out]);
    expect(call(BPF_MAP_LOOKUP_ELEM)).toBe(0);
    expect(new DataView(out.buffer).getBigUint64(0, true)).toBe(0xdead_beef_cafen);
    key.set(u32(2));
    expect(call(BPF_MAP_LOOKUP_ELEM)).toBe(0);
    expect(new DataView(out.buffer).getBigUint64(0, true)).toBe(42n);
    key.set(u32(99));
    expect(call(BPF_MAP_LOOKUP_ELEM)).toBe(-2); // ENOENT: past max_entries
  });

  it('prepareCmd() fixes the command too: undefined for 0, -errno otherwise', () => {
    const key = u32(1);
    const out = new Uint8Array(8);
    const lookup = nb.prepareCmd(BPF_MAP_LOOKUP_ELEM, elemAttr(fd), [8, key, 16, out]);
    expect(lookup()).toBeUndefined();
    expect(new DataView(out.buffer).getBigUint64(0, true)).toBe(0xdead_beef_cafen);
    key.set(u32(2));
    expect(lookup()).toBeUndefined();
    expect(new DataView(out.buffer).getBigUint64(0, true)).toBe(42n);
    key.set(u32(99));
    expect(lookup()).toBe(-ENOENT); // past max_entries
    expect(nb.prepareCmd(BPF_MAP_LOOKUP_ELEM, elemAttr(100_000), [8, key, 16, out])()).toBe(-EBADF);
  });

  it('takes the flat-array path for long pointer lists like the positional one', () => {
    const out = new Uint8Array(8);
    // 10 entries: the adapter hands the array itself to C++ (five pairs, the last two null).
    const ptrs = [8, u32(1), 16, out, 24, null, 24, null, 24, null];
    const attr = elemAttr(fd);
    expect(nb.bpf(BPF_MAP_LOOKUP_ELEM, attr, ptrs)).toBe(0);
    expect(new DataView(out.buffer).getBigUint64(0, true)).toBe(0xdead_beef_cafen);
  });

  it('returns -ENOENT for a key past max_entries, without throwing', () => {
    const out = new Uint8Array(8);
    expect(nb.bpf(BPF_MAP_LOOKUP_ELEM, elemAttr(fd), [8, u32(4), 16, out])).toBe(-ENOENT);
  });

  it('returns -EBADF for a closed fd', () => {
    expect(nb.bpf(BPF_MAP_LOOKUP_ELEM, elemAttr(100_000), [8, u32(0), 16, new Uint8Array(8)])).toBe(-EBADF);
  });

  it('accepts pointer offsets past attr.byteLength inside the same ArrayBuffer', () => {
    // The attr is the first 32 bytes; offset 40 lies in the tail of the same ArrayBuffer. The
    // kernel only sees 32 bytes, so the lookup still works and the tail holds the address.
    const whole = new Uint8Array(48);
    const attr = whole.subarray(0, 32);
    new DataView(whole.buffer).setUint32(0, fd, true);
    const out = new Uint8Array(8);
    expect(nb.bpf(BPF_MAP_LOOKUP_ELEM, attr, [8, u32(1), 16, out, 40, out])).toBe(0);
    expect(new DataView(whole.buffer).getBigUint64(40, true)).not.toBe(0n);
  });

  it('throws RangeError for a pointer offset outside the attr buffer (a programming error)', () => {
    expect(() => nb.bpf(BPF_MAP_LOOKUP_ELEM, elemAttr(fd), [28, u32(1)])).toThrow(RangeError);
    expect(() => nb.bpf(BPF_MAP_LOOKUP_ELEM, elemAttr(fd), [8, 'nope' as never])).toThrow(TypeError);
  });

  it('writes address 0 for a null pointer', () => {
    const attr = elemAttr(fd);
    attr.fill(0xff, 8, 16);
    // value NULL: the kernel rejects the lookup (-EFAULT, 14) instead of crashing.
    expect(nb.bpf(BPF_MAP_LOOKUP_ELEM, attr, [8, u32(1), 16, null])).toBe(-14);
  });
});

describe('native backend: small syscalls', () => {
  it('dupAbove returns an fd at or above the minimum, close releases it, double close is -EBADF', () => {
    const fd = createArray(8, 1);
    const dup = nb.dupAbove(fd, 200);
    expect(dup).toBeGreaterThanOrEqual(200);
    expect(nb.close(dup)).toBe(0);
    expect(nb.close(dup)).toBe(-EBADF);
    expect(nb.close(fd)).toBe(0);
  });

  it('getrlimit/setrlimit round-trip RLIMIT_MEMLOCK as bigints', () => {
    const lim = nb.getrlimit(RLIMIT_MEMLOCK);
    expect(Array.isArray(lim)).toBe(true);
    const [soft, hard] = lim as [bigint, bigint];
    expect(typeof soft).toBe('bigint');
    expect(nb.setrlimit(RLIMIT_MEMLOCK, soft, hard)).toBe(0);
    expect(nb.getrlimit(RLIMIT_MEMLOCK)).toEqual([soft, hard]);
    expect(nb.getrlimit(-1)).toBe(-22); // EINVAL
  });

  it('perfEventOpen + ioctl: a software dummy event, enabled, its id read by address', () => {
    // struct perf_event_attr: type @0, size @4, config @8, flags bitfield @40 (bit 0 disabled).
    const attr = new Uint8Array(136); // PERF_ATTR_SIZE_VER8
    const dv = new DataView(attr.buffer);
    dv.setUint32(0, 1, true); // PERF_TYPE_SOFTWARE
    dv.setUint32(4, attr.byteLength, true);
    dv.setBigUint64(8, 9n, true); // PERF_COUNT_SW_DUMMY
    dv.setBigUint64(40, 1n, true);
    const fd = nb.perfEventOpen(attr, 0, -1, -1, 8 /* PERF_FLAG_FD_CLOEXEC */);
    expect(fd).toBeGreaterThan(2);
    try {
      expect(nb.ioctl(fd, 0x2400 /* PERF_EVENT_IOC_ENABLE */, 0)).toBe(0);
      expect(nb.ioctl(fd, 0x2401 /* PERF_EVENT_IOC_DISABLE */, 0n)).toBe(0);
      const id = new Uint8Array(8);
      expect(nb.ioctl(fd, 0x80082407 /* PERF_EVENT_IOC_ID */, id)).toBe(0);
      expect(new DataView(id.buffer).getBigUint64(0, true)).toBeGreaterThan(0n);

      // The ring's metadata page: data_head (@1024) is read with acquire ordering.
      const m = nb.mmap(fd, 2 * nb.addon.pageSize, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
      expect(typeof m).not.toBe('number');
      const ring = m as Mapping;
      expect(nb.loadAcquire64(ring, 1024)).toBe(0n);
      expect(nb.munmap(ring)).toBe(0);
    } finally {
      nb.close(fd);
    }
  });
});

describe('native backend: mmap and atomics', () => {
  let fd = -1;
  let mapping: Mapping;
  beforeAll(() => {
    fd = createArray(8, 512, BPF_F_MMAPABLE); // 4 KiB of values: one page
    expect(fd).toBeGreaterThan(2);
    const m = nb.mmap(fd, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
    if (typeof m === 'number') throw new Error(`mmap failed: ${m}`);
    mapping = m;
  });
  afterAll(() => {
    nb.munmap(mapping);
    nb.close(fd);
  });

  it('aliases the map: values written with bpf() appear in the ArrayBuffer', () => {
    expect(mapping.length).toBe(4096);
    expect(mapping.buffer.byteLength).toBe(4096);
    expect(nb.bpf(BPF_MAP_UPDATE_ELEM, elemAttr(fd), [8, u32(3), 16, u64(0x1234_5678_9abcn)])).toBe(0);
    expect(new BigUint64Array(mapping.buffer)[3]).toBe(0x1234_5678_9abcn);
    expect(nb.loadAcquire64(mapping, 24)).toBe(0x1234_5678_9abcn);
    expect(nb.loadAcquire32(mapping, 24)).toBe(0x5678_9abc);
  });

  it('storeRelease64 is visible to bpf() lookups', () => {
    nb.storeRelease64(mapping, 8 * 7, 0xffff_ffff_ffff_fff0n);
    const out = new Uint8Array(8);
    expect(nb.bpf(BPF_MAP_LOOKUP_ELEM, elemAttr(fd), [8, u32(7), 16, out])).toBe(0);
    expect(new DataView(out.buffer).getBigUint64(0, true)).toBe(0xffff_ffff_ffff_fff0n);
  });

  it('throws RangeError on out-of-bounds or misaligned atomic access', () => {
    expect(() => nb.loadAcquire64(mapping, 4092)).toThrow(RangeError);
    expect(() => nb.loadAcquire64(mapping, -8)).toThrow(RangeError);
    expect(() => nb.loadAcquire64(mapping, 4)).toThrow(RangeError);
    expect(() => nb.loadAcquire32(mapping, 2)).toThrow(RangeError);
    expect(() => nb.storeRelease64(mapping, 1, 1n)).toThrow(RangeError);
    expect(() => nb.storeRelease64(mapping, 0, -1n)).toThrow(RangeError);
  });

  it('munmap detaches the ArrayBuffer, is idempotent, and later atomics throw', () => {
    const m = nb.mmap(fd, 4096, PROT_READ, MAP_SHARED, 0) as Mapping;
    const view = new Uint8Array(m.buffer);
    expect(nb.munmap(m)).toBe(0);
    expect(m.buffer.byteLength).toBe(0);
    expect(view.length).toBe(0); // the view over it is empty, not dangling
    expect(nb.munmap(m)).toBe(0);
    expect(() => nb.loadAcquire64(m, 0)).toThrow(RangeError);
  });

  it('refuses to munmap an ArrayBuffer it did not map', () => {
    expect(nb.munmap({ buffer: new ArrayBuffer(4096), length: 4096 })).toBe(-22);
  });

  it('returns -errno from a failing mmap (bad fd)', () => {
    expect(nb.mmap(100_000, 4096, PROT_READ, MAP_SHARED, 0)).toBe(-EBADF);
  });

  it('unmaps mappings that are garbage-collected without munmap (finalizer)', () => {
    // Needs --expose-gc, so it runs in a child node against the same addon binary.
    const script = `
      const a = require(${JSON.stringify(nb.addonPath)});
      const fs = require('fs');
      const count = () => fs.readFileSync('/proc/self/maps', 'utf8').split('\\n').filter((l) => l.includes('anon_inode:bpf-map')).length;
      const attr = new Uint8Array(20); const dv = new DataView(attr.buffer);
      dv.setUint32(0, 2, true); dv.setUint32(4, 4, true); dv.setUint32(8, 8, true); dv.setUint32(12, 512, true); dv.setUint32(16, 1024, true);
      const fd = a.bpf(0, attr);
      const before = count();
      (function () { for (let i = 0; i < 200; i++) a.mmap(fd, 4096, 1, 1, 0); })();
      const during = count();
      globalThis.gc();
      // External-buffer finalizers run from the event loop after the collection.
      setTimeout(() => { globalThis.gc(); setTimeout(() => {
        console.log(JSON.stringify({ before, during, after: count() }));
      }, 50); }, 50);
    `;
    const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const { before, during, after } = JSON.parse(r.stdout) as Record<string, number>;
    expect(during - before).toBe(200);
    expect(after).toBe(before);
  });
});

describe('native backend: watch()', () => {
  let dir: string;
  let fifo: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ebpf-ts-watch-'));
    fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function openFifo(): { r: number; w: number } {
    // Non-blocking read end first (a blocking open would wait for a writer), then the writer.
    const r = openSync(fifo, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    const w = openSync(fifo, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
    return { r, w };
  }

  it('calls back with POLLIN when the fd becomes readable, from the event loop', async () => {
    const { r, w } = openFifo();
    const seen: number[] = [];
    let wake!: () => void;
    const fired = new Promise<void>((resolve) => (wake = resolve));
    const watcher = nb.watch(r, POLLIN, (revents) => {
      seen.push(revents);
      wake();
    });
    try {
      // Nothing to read yet: no callback, and the loop keeps running (timers fire).
      await new Promise((resolve) => setTimeout(resolve, 30));
      expect(seen).toEqual([]);
      writeSync(w, 'x');
      await fired;
      expect(seen[0]! & POLLIN).toBe(POLLIN);
    } finally {
      watcher.stop();
      closeSync(r);
      closeSync(w);
    }
  });

  it('stop() ends callbacks and releases the handle; stop() twice is harmless', async () => {
    const { r, w } = openFifo();
    const base = nb.addon.activeWatchers();
    let calls = 0;
    const watcher = nb.watch(r, POLLIN, () => {
      calls++;
    });
    expect(nb.addon.activeWatchers()).toBe(base + 1);
    watcher.stop();
    watcher.stop();
    expect(nb.addon.activeWatchers()).toBe(base);
    writeSync(w, 'y');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(calls).toBe(0);
    closeSync(r);
    closeSync(w);
  });

  it('stop() from inside the callback is safe (level-triggered fd stays readable)', async () => {
    const { r, w } = openFifo();
    writeSync(w, 'z');
    let calls = 0;
    await new Promise<void>((resolve) => {
      const watcher = nb.watch(r, POLLIN, () => {
        calls++;
        watcher.stop();
        resolve();
      });
    });
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(calls).toBe(1);
    closeSync(r);
    closeSync(w);
  });

  it('keeps watching after the caller closes its fd (the addon polls a dup)', async () => {
    const { r, w } = openFifo();
    let wake!: (ev: number) => void;
    const fired = new Promise<number>((resolve) => (wake = resolve));
    const watcher = nb.watch(r, POLLIN, (ev) => wake(ev));
    closeSync(r);
    writeSync(w, 'q');
    expect((await fired) & POLLIN).toBe(POLLIN);
    watcher.stop();
    closeSync(w);
  });

  it('throws a SyscallError for an fd that cannot be polled', () => {
    expect(() => nb.watch(100_000, POLLIN, () => {})).toThrow(/EBADF/);
  });

  it('an unref()ed watcher does not keep the process alive; a ref()ed one does until stop()', () => {
    const script = (unref: boolean): string => `
      const a = require(${JSON.stringify(nb.addonPath)});
      const fs = require('fs');
      const r = fs.openSync(${JSON.stringify(fifo)}, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      const w = fs.openSync(${JSON.stringify(fifo)}, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
      const id = a.watch(r, 1, () => {});
      ${unref ? 'a.refWatch(id, false);' : 'setTimeout(() => { console.log("stopping"); a.unwatch(id); }, 200);'}
    `;
    const t0 = Date.now();
    const unrefd = spawnSync(process.execPath, ['-e', script(true)], { encoding: 'utf8', timeout: 10_000 });
    expect(unrefd.status).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5_000);
    const refd = spawnSync(process.execPath, ['-e', script(false)], { encoding: 'utf8', timeout: 10_000 });
    expect(refd.status).toBe(0);
    expect(refd.stdout).toContain('stopping');
  });
});

describe('native backend: watchAny()', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ebpf-ts-watch-any-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  let made = 0;
  function openFifo(): { r: number; w: number } {
    const path = join(dir, `fifo${made++}`);
    execFileSync('mkfifo', [path]);
    const r = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    const w = openSync(path, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
    return { r, w };
  }

  /** Reads whatever `fd` holds (the fifos are non-blocking). */
  function drain(fd: number): string {
    const buf = Buffer.alloc(64);
    let out = '';
    for (;;) {
      try {
        const n = readSync(fd, buf, 0, buf.length, null);
        if (n <= 0) return out;
        out += buf.toString('utf8', 0, n);
      } catch {
        return out; // EAGAIN: empty
      }
    }
  }

  it('calls back once for several ready fds, then for each later one; stop() releases the set', async () => {
    const fifos = [openFifo(), openFifo(), openFifo()];
    const base = nb.addon.activeWatchers();
    const fdsBefore = openFds();
    const got: string[][] = [];
    let wake: (() => void) | undefined;
    const watcher = nb.watchAny(
      fifos.map((f) => f.r),
      POLLIN,
      (revents) => {
        expect(revents & POLLIN).toBe(POLLIN);
        // Level-triggered: read everything, or the set stays ready.
        got.push(fifos.map((f) => drain(f.r)));
        wake?.();
      },
    );
    const next = (): Promise<void> => new Promise<void>((resolve) => (wake = resolve));
    try {
      expect(nb.addon.activeWatchers()).toBe(base + 1);
      expect(openFds()).toBe(fdsBefore + 1); // the epoll instance, not one dup per fd
      let fired = next();
      writeSync(fifos[0]!.w, 'a');
      writeSync(fifos[2]!.w, 'c');
      await fired;
      fired = next();
      writeSync(fifos[1]!.w, 'b');
      await fired;
      expect(got).toEqual([
        ['a', '', 'c'],
        ['', 'b', ''],
      ]);
    } finally {
      watcher.stop();
      watcher.stop();
    }
    expect(nb.addon.activeWatchers()).toBe(base);
    // libuv closes the handle in the closing phase of this loop turn; the fd goes with it.
    for (let turn = 0; turn < 3 && openFds() !== fdsBefore; turn++) await new Promise((resolve) => setImmediate(resolve));
    expect(openFds()).toBe(fdsBefore);
    for (const f of fifos) {
      closeSync(f.r);
      closeSync(f.w);
    }
  });

  it('keeps watching the other fds after the caller closes one of them', async () => {
    const [a, b] = [openFifo(), openFifo()];
    let wake!: () => void;
    const fired = new Promise<void>((resolve) => (wake = resolve));
    const watcher = nb.watchAny([a.r, b.r], POLLIN, () => {
      if (drain(b.r) === 'x') wake();
    });
    closeSync(a.r); // the file is released, and the set drops it by itself
    closeSync(a.w);
    writeSync(b.w, 'x');
    await fired;
    watcher.stop();
    closeSync(b.r);
    closeSync(b.w);
  });

  it('throws a SyscallError, and leaks no fd, when the set cannot be built', () => {
    const { r, w } = openFifo();
    const before = openFds();
    const file = join(dir, 'regular');
    writeFileSync(file, 'x');
    const reg = openSync(file, 'r');
    expect(() => nb.watchAny([r, 100_000], POLLIN, () => {})).toThrow(/EBADF/);
    expect(() => nb.watchAny([r, r], POLLIN, () => {})).toThrow(/EEXIST/);
    expect(() => nb.watchAny([r, reg], POLLIN, () => {})).toThrow(/EPERM/);
    expect(() => nb.watchAny([], POLLIN, () => {})).toThrow(/EINVAL/);
    closeSync(reg);
    expect(openFds()).toBe(before);
    closeSync(r);
    closeSync(w);
  });
});

describe('native backend: context awareness', () => {
  it('loads and works in worker threads, which may exit with watchers still open', async () => {
    const code = `
      const { parentPort, workerData } = require('worker_threads');
      const a = require(workerData.addon);
      const fs = require('fs');
      const attr = new Uint8Array(20); const dv = new DataView(attr.buffer);
      dv.setUint32(0, 2, true); dv.setUint32(4, 4, true); dv.setUint32(8, 8, true); dv.setUint32(12, 4, true);
      const fd = a.bpf(0, attr);
      const ea = new Uint8Array(32); new DataView(ea.buffer).setUint32(0, fd, true);
      const key = new Uint8Array(4); key[0] = 1;
      const val = new Uint8Array(8); val[0] = workerData.n;
      const up = a.bpf(2, ea, 8, key, 16, val);
      const out = new Uint8Array(8);
      const look = a.bpf(1, ea, 8, key, 16, out);
      // Left open on purpose: the addon's env cleanup hook must close it at worker exit.
      const r = fs.openSync(workerData.fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      a.watch(r, 1, () => {});
      a.close(fd);
      parentPort.postMessage({ fd, up, look, got: out[0], watchers: a.activeWatchers() });
      process.exit(0);
    `;
    const dir = mkdtempSync(join(tmpdir(), 'ebpf-ts-worker-'));
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    try {
      const runs = [1, 2, 3].map(
        (n) =>
          new Promise<{ msg: Record<string, number>; code: number }>((resolve, reject) => {
            const worker = new Worker(code, { eval: true, workerData: { addon: nb.addonPath, n, fifo } });
            let msg: Record<string, number> = {};
            worker.on('message', (m: Record<string, number>) => (msg = m));
            worker.on('error', reject);
            worker.on('exit', (c) => resolve({ msg, code: c }));
          }),
      );
      const results = await Promise.all(runs);
      results.forEach(({ msg, code: exitCode }, i) => {
        expect(exitCode).toBe(0);
        expect(msg.fd).toBeGreaterThan(2);
        expect(msg.up).toBe(0);
        expect(msg.look).toBe(0);
        expect(msg.got).toBe(i + 1);
        expect(msg.watchers).toBe(1); // per-environment state: each worker sees only its own
      });
      // The main thread's instance is untouched by the workers' teardown.
      expect(nb.addon.activeWatchers()).toBe(0);
      const fd = createArray(8, 1);
      expect(fd).toBeGreaterThan(2);
      nb.close(fd);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('survives worker.terminate() with a watcher and a mapping still open', async () => {
    const code = `
      const { parentPort, workerData } = require('worker_threads');
      const a = require(workerData.addon);
      const fs = require('fs');
      const attr = new Uint8Array(20); const dv = new DataView(attr.buffer);
      dv.setUint32(0, 2, true); dv.setUint32(4, 4, true); dv.setUint32(8, 8, true); dv.setUint32(12, 512, true); dv.setUint32(16, 1024, true);
      const fd = a.bpf(0, attr);
      globalThis.keep = a.mmap(fd, 4096, 3, 1, 0);
      const r = fs.openSync(workerData.fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      a.watch(r, 1, () => {});
      parentPort.postMessage('ready');
    `;
    const dir = mkdtempSync(join(tmpdir(), 'ebpf-ts-worker-'));
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    try {
      for (let i = 0; i < 5; i++) {
        const worker = new Worker(code, { eval: true, workerData: { addon: nb.addonPath, fifo } });
        await new Promise<void>((resolve, reject) => {
          worker.once('message', () => resolve());
          worker.once('error', reject);
        });
        // terminate() resolves once the worker's environment, and its cleanup hooks, are gone.
        await worker.terminate();
      }
      expect(nb.addon.activeWatchers()).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is reachable from CommonJS: require() of the built ESM loader (require(esm))', () => {
    // Lay out a miniature package as `npm run build` would (dist/ + package.json + the built
    // addon), transpiling just the seam's modules, then require() it from a .cjs file.
    const pkg = mkdtempSync(join(tmpdir(), 'ebpf-ts-cjs-'));
    try {
      writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'ebpf-ts', type: 'module' }));
      mkdirSync(join(pkg, 'dist', 'sys'), { recursive: true });
      mkdirSync(join(pkg, 'build', 'Release'), { recursive: true });
      symlinkSync(nb.addonPath, join(pkg, 'build', 'Release', 'ebpf_ts.node'));
      // The loader and whatever it imports, followed through relative imports.
      const todo = ['sys/backend-native.ts'];
      const done = new Set<string>();
      while (todo.length > 0) {
        const rel = todo.pop()!;
        if (done.has(rel)) continue;
        done.add(rel);
        const src = readFileSync(join(repoRoot, 'src', rel), 'utf8');
        for (const m of src.matchAll(/from '(\.{1,2}\/[^']+)\.js'/g)) {
          todo.push(join(dirname(rel), `${m[1]}.ts`));
        }
        const out = ts.transpileModule(src, {
          compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
        });
        const dest = join(pkg, 'dist', rel.replace(/\.ts$/, '.js'));
        mkdirSync(dirname(dest), { recursive: true });
        writeFileSync(dest, out.outputText);
      }
      const cjs = join(pkg, 'use.cjs');
      writeFileSync(
        cjs,
        `const { loadNativeBackend } = require('./dist/sys/backend-native.js');
         const b = loadNativeBackend();
         const attr = new Uint8Array(20); const dv = new DataView(attr.buffer);
         dv.setUint32(0, 2, true); dv.setUint32(4, 4, true); dv.setUint32(8, 8, true); dv.setUint32(12, 1, true);
         const fd = b.bpf(0, attr);
         if (fd < 3) throw new Error('map create failed: ' + fd);
         console.log(JSON.stringify({ kind: b.kind, path: b.addonPath, close: b.close(fd) }));`,
      );
      const r = spawnSync(process.execPath, [cjs], { encoding: 'utf8' });
      expect(r.stderr.replace(/.*ExperimentalWarning.*\n?|.*--trace-warnings.*\n?/g, '')).toBe('');
      expect(r.status).toBe(0);
      const res = JSON.parse(r.stdout) as { kind: string; path: string; close: number };
      expect(res).toEqual({ kind: 'native', path: join(pkg, 'build', 'Release', 'ebpf_ts.node'), close: 0 });
    } finally {
      rmSync(pkg, { recursive: true, force: true });
    }
  });
});

describe('native backend: fd hygiene', () => {
  it('leaves /proc/self/fd unchanged after 10,000 map create/close cycles', () => {
    const before = openFds();
    for (let i = 0; i < 10_000; i++) {
      const fd = createArray(8, 1);
      if (fd < 0) throw new Error(`BPF_MAP_CREATE failed on cycle ${i}: ${fd}`);
      if (nb.close(fd) !== 0) throw new Error(`close failed on cycle ${i}`);
    }
    expect(openFds()).toBe(before);
  });
});
