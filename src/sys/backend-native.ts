/**
 * The native backend: the Node-API addon in `native/ebpf_ts.cc`, found the way node-gyp-build
 * finds addons (a source build first, then a prebuilt binary shipped in the package) and
 * adapted to the {@link Backend} interface.
 *
 * The addon's raw functions differ from the interface in two places, both for speed:
 * - `bpf()`/`perfEventOpen()` take pointer pairs as trailing positional arguments
 *   (`bpf(cmd, attr, off, buf, off, buf)`), which costs less per call than handing C++ an
 *   array it must walk with one `napi_get_element` per item; the adapter spreads the
 *   {@link PointerList} for the common lengths.
 * - `watch()` returns a numeric id; the adapter wraps it in a {@link NativeWatcher}.
 *
 * Behaviour worth knowing:
 * - A watcher is a libuv poll handle on a duplicate of the fd (`watchAny`: on a private epoll
 *   instance holding the fds). Like a socket it keeps the event loop alive while active;
 *   `unref()` lets the process exit anyway. Watchers still open when a worker thread exits are
 *   closed by the addon's environment cleanup hook.
 * - Under a V8 sandbox (Electron 21+), ArrayBuffers over foreign memory are forbidden, so
 *   `mmap()` returns `-EOPNOTSUPP`. No copying fallback is offered: the mapping exists to see
 *   the kernel's writes as they happen, which a copy cannot do. Callers (perf/ring buffer
 *   readers, mmapable array maps) must use syscall-based access there.
 * - A mapping's ArrayBuffer is unmapped by `munmap()`, or by a finalizer if it becomes garbage
 *   first. Transferring it to another thread (postMessage transfer list) detaches it here, and
 *   `munmap()` then returns 0 without unmapping: the pages are released when the receiver's
 *   copy is collected.
 * - The prebuilt binaries need glibc 2.28 and libstdc++ from GCC 5 or newer (what Node 20
 *   needs itself); elsewhere the install script builds from source.
 *
 * @module
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { zeroAsUndefined, type Backend, type Mapping, type PointerList, type Watcher } from './backend.js';
import { SyscallError } from '../errors.js';

/** The addon's ABI revision this file was written against (`abiVersion` export of the addon). */
export const NATIVE_ABI_VERSION = 6;

/** The addon's raw exports, as native/ebpf_ts.cc defines them. */
export interface NativeAddon {
  /** Revision of the raw interface; bumped when these signatures change. */
  readonly abiVersion: number;
  /** `sysconf(_SC_PAGESIZE)`. */
  readonly pageSize: number;
  /** Writes buffer addresses into an attr without a syscall (see {@link Backend.prepare}). */
  patchPointers(attr: Uint8Array, ...pointers: Array<number | Uint8Array | null>): number;
  /**
   * Patches the pointers once and returns `f(cmd)` = `bpf(cmd, attr)` with the attr's address
   * kept natively (ABI 5): see {@link Backend.prepare}.
   */
  prepared(attr: Uint8Array, ...pointers: Array<number | Uint8Array | null>): (cmd: number) => number;
  /** `prepared` with the command fixed; the call returns undefined for 0 (ABI 6): {@link Backend.prepareCmd}. */
  preparedCmd(cmd: number, attr: Uint8Array, ...pointers: Array<number | Uint8Array | null>): () => number | undefined;
  /** {@link Backend.elemMany} in one native call (ABI 5). */
  elemMany(
    cmd: number,
    attr: Uint8Array,
    keys: Uint8Array,
    keyStride: number,
    values: Uint8Array | null,
    valueStride: number,
    n: number,
    results: Int32Array,
    tolerated: number,
  ): number;
  /** `bpf(cmd, attr, ...[offset, buffer] pairs)` or `bpf(cmd, attr, flatArray)`. */
  bpf(cmd: number, attr: Uint8Array, ...pointers: Array<number | Uint8Array | null | PointerList>): number;
  /** `perf_event_open`, pointer pairs as for {@link NativeAddon.bpf}. */
  perfEventOpen(
    attr: Uint8Array,
    pid: number,
    cpu: number,
    groupFd: number,
    flags: number,
    ...pointers: Array<number | Uint8Array | null | PointerList>
  ): number;
  /** `ioctl(fd, request, arg)`. */
  ioctl(fd: number, request: number, arg: number | bigint | Uint8Array): number;
  /** `close(fd)`. */
  close(fd: number): number;
  /** `fcntl(fd, F_DUPFD_CLOEXEC, minFd)`. */
  dupAbove(fd: number, minFd: number): number;
  /** `socket(domain, type | SOCK_CLOEXEC, protocol)`. */
  socket(domain: number, type: number, protocol: number): number;
  /** `bind(fd, addr)`. */
  bind(fd: number, addr: Uint8Array): number;
  /** `sendto(fd, buf, flags, addr)`. */
  sendto(fd: number, buf: Uint8Array, flags: number, addr: Uint8Array | null): number;
  /** `recv(fd, buf, flags)`. */
  recv(fd: number, buf: Uint8Array, flags: number): number;
  /** `setsockopt(fd, level, name, value)`. */
  setsockopt(fd: number, level: number, name: number, value: Uint8Array): number;
  /** `getsockopt(fd, level, name, value)`: the option's length. */
  getsockopt(fd: number, level: number, name: number, value: Uint8Array): number;
  /** `setns(fd, nstype)`. */
  setns(fd: number, nstype: number): number;
  /** `getrlimit` as `[soft, hard]` or `-errno`. */
  getrlimit(resource: number): [bigint, bigint] | number;
  /** `setrlimit`. */
  setrlimit(resource: number, soft: bigint, hard: bigint): number;
  /** `mmap`: an external ArrayBuffer over the pages, or `-errno` (`-EOPNOTSUPP` under a V8 sandbox). */
  mmap(fd: number, length: number, prot: number, flags: number, offset: number): ArrayBuffer | number;
  /** `munmap` and detach; 0 for an already detached buffer, `-EINVAL` for a foreign one. */
  munmap(buffer: ArrayBuffer): number;
  /** Acquire load of a u64. */
  loadAcquire64(buffer: ArrayBuffer, offset: number): bigint;
  /** Acquire load of a u32. */
  loadAcquire32(buffer: ArrayBuffer, offset: number): number;
  /** Release store of a u64. */
  storeRelease64(buffer: ArrayBuffer, offset: number, value: bigint): void;
  /** Starts a libuv poll on a dup of `fd`; returns a watcher id (> 0) or `-errno`. */
  watch(fd: number, events: number, callback: (revents: number) => void): number;
  /**
   * One libuv poll on a private epoll instance holding every fd of `fds` (ABI 3): the callback
   * runs once per wake-up when any is ready. Returns a watcher id (> 0) or `-errno`.
   */
  watchAny(fds: number[], events: number, callback: (revents: number) => void): number;
  /** Stops watcher `id`; unknown ids are ignored. */
  unwatch(id: number): void;
  /** `uv_ref`/`uv_unref` on watcher `id`. */
  refWatch(id: number, ref: boolean): void;
  /** Number of watchers still open in this thread. */
  activeWatchers(): number;
}

/**
 * A {@link Watcher} from the native backend. Like a socket, an active watcher keeps the event
 * loop (and so the process or worker) alive until {@link NativeWatcher.stop} or
 * {@link NativeWatcher.unref}; a watcher still open when a worker thread exits is closed by the
 * addon's environment cleanup hook.
 */
export class NativeWatcher implements Watcher {
  #addon: NativeAddon;
  #id: number;

  /** @internal Created by {@link loadNativeBackend}'s `watch()`. */
  constructor(addon: NativeAddon, id: number) {
    this.#addon = addon;
    this.#id = id;
  }

  /** Stops watching and closes the poll handle; the callback is not called again. Idempotent. */
  stop(): void {
    if (this.#id === 0) return;
    this.#addon.unwatch(this.#id);
    this.#id = 0;
  }

  /** Lets the event loop exit while this watcher is the only thing left (`uv_unref`). */
  unref(): this {
    if (this.#id !== 0) this.#addon.refWatch(this.#id, false);
    return this;
  }

  /** Undoes {@link NativeWatcher.unref}: the watcher keeps the loop alive again (the default). */
  ref(): this {
    if (this.#id !== 0) this.#addon.refWatch(this.#id, true);
    return this;
  }

  /** Same as {@link NativeWatcher.stop}, for `using`. */
  [Symbol.dispose](): void {
    this.stop();
  }
}

/** A {@link Mapping} created by the native backend. */
class NativeMapping implements Mapping {
  readonly buffer: ArrayBuffer;
  readonly length: number;

  constructor(buffer: ArrayBuffer, length: number) {
    this.buffer = buffer;
    this.length = length;
  }
}

/** Module file name of the addon, as binding.gyp's `target_name` makes it. */
const ADDON_FILE = 'ebpf_ts.node';

/**
 * The directory holding ebpf-ts's package.json, found by walking up from this file: it sits
 * at `src/sys/` when run from source (vitest) and at `dist/sys/` once built.
 */
export function packageRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown };
        if (pkg.name === 'ebpf-ts') return dir;
      } catch {
        // An unreadable manifest is not ours; keep walking.
      }
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`ebpf-ts: no package.json named "ebpf-ts" above ${from}`);
    dir = parent;
  }
}

/**
 * Where the addon is looked for, in order: the source build (`build/Release`, what
 * `node-gyp rebuild` in a checkout produces) and the prebuilt binary for this platform and
 * architecture shipped in the npm tarball.
 */
export function nativeAddonCandidates(root: string = packageRoot()): string[] {
  return [
    join(root, 'build', 'Release', ADDON_FILE),
    join(root, 'prebuilds', `${process.platform}-${process.arch}`, ADDON_FILE),
  ];
}

let loadedPath: string | undefined;

/**
 * In a git checkout, a source build older than native/ebpf_ts.cc means the tests would exercise
 * yesterday's C++: say so once (npm install or npm run build:native rebuilds it).
 */
function warnIfStale(root: string, addonPath: string): void {
  if (!existsSync(join(root, '.git'))) return;
  try {
    const src = statSync(join(root, 'native', 'ebpf_ts.cc')).mtimeMs;
    if (src > statSync(addonPath).mtimeMs) {
      process.emitWarning(
        `${addonPath} is older than native/ebpf_ts.cc; run \`npm run build:native\` to rebuild it`,
        { code: 'EBPF_TS_STALE_ADDON' },
      );
    }
  } catch {
    // No source next to the binary (a packed install): nothing to compare.
  }
}

/**
 * Loads the raw addon, or throws an Error that lists every path tried and why each failed.
 * Loading the same `.node` file from several worker threads is fine: the addon is
 * context-aware and keeps its state per environment.
 */
export function loadNativeAddon(): { addon: NativeAddon; path: string } {
  const tried: string[] = [];
  let root: string;
  try {
    root = packageRoot();
  } catch (err) {
    throw new Error(`ebpf-ts native addon: ${(err as Error).message}`, { cause: err });
  }
  for (const path of nativeAddonCandidates(root)) {
    if (!existsSync(path)) {
      tried.push(`${path}: not found`);
      continue;
    }
    try {
      // process.dlopen() is what require() of a .node file ends in; calling it directly spares
      // setting up a CommonJS require() from an ES module (~1 ms of a cold start).
      const module = { exports: {} as NativeAddon };
      process.dlopen(module, path);
      const addon = module.exports;
      if (addon.abiVersion !== NATIVE_ABI_VERSION) {
        tried.push(
          `${path}: ABI revision ${String(addon.abiVersion)}, expected ${NATIVE_ABI_VERSION} (stale build: run npm rebuild ebpf-ts)`,
        );
        continue;
      }
      loadedPath = path;
      warnIfStale(root, path);
      return { addon, path };
    } catch (err) {
      tried.push(`${path}: ${(err as Error).message}`);
    }
  }
  throw new Error(
    `ebpf-ts native addon not available for ${process.platform}-${process.arch}; looked in:\n  ` +
      tried.join('\n  ') +
      '\nBuild it with `npm rebuild ebpf-ts` (needs python3, make and a C++ compiler).',
  );
}

/** The file the native addon was loaded from in this thread, once {@link loadNativeBackend} ran. */
export function nativeAddonPath(): string | undefined {
  return loadedPath;
}

/** The {@link Backend} of kind `native`, with the raw addon reachable for tests. */
export interface NativeBackend extends Backend {
  /** Always `'native'`. */
  readonly kind: 'native';
  /** Path of the loaded `.node` file. */
  readonly addonPath: string;
  /** The raw addon (positional pointer arguments, numeric watcher ids). */
  readonly addon: NativeAddon;
  /** Typed as {@link NativeWatcher}, which adds `ref()`/`unref()`. */
  watch(fd: number, events: number, callback: (revents: number) => void): NativeWatcher;
  /** Typed as {@link NativeWatcher}, which adds `ref()`/`unref()`. */
  watchAny(fds: readonly number[], events: number, callback: (revents: number) => void): NativeWatcher;
}

let cached: NativeBackend | undefined;

/**
 * Loads the native addon and adapts it to the {@link Backend} interface. Throws (with every
 * path tried) if no usable binary exists; `src/sys/select.ts` then falls back to ffi-rs.
 * Cached per thread.
 */
export function loadNativeBackend(): NativeBackend {
  if (cached !== undefined) return cached;
  const { addon, path } = loadNativeAddon();
  const raw = addon;

  const backend: NativeBackend = {
    kind: 'native',
    addonPath: path,
    addon,

    bpf(cmd: number, attr: Uint8Array, pointers?: PointerList): number {
      // Spread the common pointer counts into positional arguments (see the module doc).
      if (pointers === undefined) return raw.bpf(cmd, attr);
      const p = pointers;
      switch (p.length) {
        case 0:
          return raw.bpf(cmd, attr);
        case 2:
          return raw.bpf(cmd, attr, p[0]!, p[1]!);
        case 4:
          return raw.bpf(cmd, attr, p[0]!, p[1]!, p[2]!, p[3]!);
        case 6:
          return raw.bpf(cmd, attr, p[0]!, p[1]!, p[2]!, p[3]!, p[4]!, p[5]!);
        case 8:
          return raw.bpf(cmd, attr, p[0]!, p[1]!, p[2]!, p[3]!, p[4]!, p[5]!, p[6]!, p[7]!);
        default:
          return raw.bpf(cmd, attr, p);
      }
    },

    prepare(attr: Uint8Array, pointers: PointerList): (cmd: number) => number {
      if (pointers.length > 16) return (cmd) => raw.bpf(cmd, attr, pointers);
      // The addon's own function: no JS closure between BpfMap and the syscall.
      return raw.prepared(attr, ...(pointers as Array<number | Uint8Array | null>));
    },

    prepareCmd(cmd: number, attr: Uint8Array, pointers: PointerList): () => number | undefined {
      if (pointers.length > 16) return () => zeroAsUndefined(raw.bpf(cmd, attr, pointers));
      return raw.preparedCmd(cmd, attr, ...(pointers as Array<number | Uint8Array | null>));
    },

    elemMany: (cmd, attr, keys, keyStride, values, valueStride, n, results, tolerated) =>
      raw.elemMany(cmd, attr, keys, keyStride, values, valueStride, n, results, tolerated),

    perfEventOpen(attr, pid, cpu, groupFd, flags, pointers) {
      if (pointers === undefined || pointers.length === 0) {
        return raw.perfEventOpen(attr, pid, cpu, groupFd, flags);
      }
      return raw.perfEventOpen(attr, pid, cpu, groupFd, flags, pointers);
    },

    ioctl: (fd, request, arg) => raw.ioctl(fd, request, arg),
    close: (fd) => raw.close(fd),
    dupAbove: (fd, minFd) => raw.dupAbove(fd, minFd),

    mmap(fd, length, prot, flags, offset) {
      const r = raw.mmap(fd, length, prot, flags, offset);
      return typeof r === 'number' ? r : new NativeMapping(r, length);
    },

    munmap: (mapping) => raw.munmap(mapping.buffer),
    loadAcquire64: (mapping, offset) => raw.loadAcquire64(mapping.buffer, offset),
    storeRelease64: (mapping, offset, value) => raw.storeRelease64(mapping.buffer, offset, value),
    loadAcquire32: (mapping, offset) => raw.loadAcquire32(mapping.buffer, offset),

    watch(fd, events, callback) {
      const id = raw.watch(fd, events, callback);
      // The interface has no error return here; an fd that cannot be polled (a regular
      // file: EPERM from epoll_ctl, a closed fd: EBADF) is reported as a SyscallError.
      if (id < 0) throw new SyscallError('poll', -id, undefined, `watch fd ${fd}`);
      return new NativeWatcher(raw, id);
    },

    watchAny(fds, events, callback) {
      const id = raw.watchAny([...fds], events, callback);
      if (id < 0) throw new SyscallError('epoll_ctl', -id, undefined, `watch fds ${fds.join(', ')}`);
      return new NativeWatcher(raw, id);
    },

    socket: (domain, type, protocol) => raw.socket(domain, type, protocol),
    bind: (fd, addr) => raw.bind(fd, addr),
    sendto: (fd, buf, flags, addr) => raw.sendto(fd, buf, flags, addr),
    recv: (fd, buf, flags) => raw.recv(fd, buf, flags),
    setsockopt: (fd, level, name, value) => raw.setsockopt(fd, level, name, value),
    getsockopt: (fd, level, name, value) => raw.getsockopt(fd, level, name, value),
    setns: (fd, nstype) => raw.setns(fd, nstype),
    getrlimit: (resource) => raw.getrlimit(resource),
    setrlimit: (resource, soft, hard) => raw.setrlimit(resource, soft, hard),
  };
  cached = backend;
  return backend;
}
