/**
 * The ffi-rs syscall backend: the fallback used when the native addon cannot load (no prebuilt
 * binary for the platform and no compiler), or when `EBPF_TS_BACKEND=ffi-rs` forces it. It
 * calls glibc through ffi-rs (https://github.com/zhangyuang/node-ffi-rs) and needs nothing
 * built on the user's machine.
 *
 * What ffi-rs gives us, measured with ffi-rs 1.3.7 on Node 20 / x86-64:
 *
 * - Every foreign call costs ~1.7 µs plus ~0.4 µs per scalar argument plus ~1.2 µs per
 *   `U8Array` argument (argument descriptors are re-parsed on every call). `syscall(nr, a, b,
 *   c)` with four integers is ~3.3 µs. So the aim is exactly one foreign call per syscall.
 * - A `U8Array` argument is passed by the address of the JS bytes (napi_get_buffer_info, no
 *   copy), and a Uint8Array is accepted as well as a Buffer; `memmove(buf, buf, 0)` therefore
 *   tells us a buffer's address.
 * - `createExternalBuffer(pointer, length)` returns a Buffer that aliases native memory. Node
 *   marks such buffers untransferable, so JS cannot detach them (structuredClone with a
 *   transfer list silently copies instead). On runtimes that forbid external buffers
 *   (Electron) ffi-rs silently copies; we detect that by comparing addresses at load time.
 *
 * How a `bpf()` call is made: the attr and every pointed-to buffer up to {@link COPY_LIMIT}
 * bytes are copied into one native scratch arena (malloc'd once, grown on demand, aliased by an
 * external buffer so the copies are plain JS `TypedArray.set`), their arena addresses are
 * patched into the staged attr, one `syscall(SYS_bpf, cmd, arenaAttr, size)` is made, and
 * everything is copied back so the caller sees what the kernel wrote. Bigger buffers are not
 * copied: the kernel gets the JS buffer's own address, found with one extra call and cached
 * per ArrayBuffer (a backing store never moves once V8 has externalised it, which
 * napi_get_buffer_info does). Views of the same ArrayBuffer are staged as one span, so a
 * kernel that reads and writes overlapping views sees the same aliasing as with the addon.
 *
 * errno: glibc's `syscall()` returns -1 and sets the thread's errno. We read it without a
 * foreign call, through an Int32Array aliasing the int that `__errno_location()` points to
 * (the address is per thread and fixed; each worker thread loads its own backend). What runs
 * on the thread between the libc call returning and our read (ffi-rs 1.3.7, src/lib.rs
 * `load`): freeing its boxed argument pointers (glibc >= 2.33 `free` preserves errno; the host
 * has 2.36) and napi_create_int64 for the result, which for -1 is a Smi and allocates nothing,
 * so no GC and no syscall can run in between; then our JS reads the slot before doing anything
 * else. ffi-rs's own `errno: true` option reads errno at the same point but builds an object
 * and a message string per call, so we don't use it. The kernel test checks thousands of
 * alternating EBADF/EINVAL failures, in the main thread; a worker thread was checked by hand.
 *
 * Limitations compared with the addon:
 * - Readiness ({@link Backend.watch}) is timer polling: one `poll(2)` with timeout 0 over all
 *   watched fds every {@link WATCH_INTERVAL_MS} ms, not libuv integration.
 * - {@link Backend.munmap} cannot detach the ArrayBuffer. It replaces the pages with anonymous
 *   zero-filled memory (`MAP_FIXED`), which releases the kernel object and makes stray reads see
 *   zeros instead of crashing; the placeholder is unmapped when the ArrayBuffer is
 *   garbage-collected. `buffer.byteLength` therefore stays unchanged after munmap.
 * - Where external buffers are copies (Electron), mmap returns `-EOPNOTSUPP` (so perf and ring
 *   buffer readers cannot work; the addon is the answer there, and Electron loads Node-API
 *   addons), errno costs one more call on failure, and every buffer goes by its own address:
 *   one extra call per ArrayBuffer not seen before (a lookup with fresh key and value buffers
 *   is then ~4 calls instead of 1).
 * - ffi-rs keeps its library and symbol tables in an unsynchronised process-global map. We
 *   resolve every symbol while loading, so later calls only read that map; two worker threads
 *   loading this backend for the first time at the same instant could still race inside it.
 *
 * @module
 */
import { createRequire } from 'node:module';
import { POLLERR, POLLHUP, elemManyLoop, zeroAsUndefined, type Backend, type Mapping, type PointerList, type Watcher } from './backend.js';

/** The parts of ffi-rs this file uses, typed locally so that ffi-rs stays optional. */
interface FfiRs {
  open(params: { library: string; path: string }): void;
  load(params: FfiCall): unknown;
  createExternalBuffer(external: unknown, length: number): Buffer;
  arrayConstructor(options: { type: number; length: number }): object;
  DataType: { I32: number; I64: number; BigInt: number; U8Array: number; External: number };
}

/** One prepared ffi-rs call; `paramsValue` is replaced for each call. */
interface FfiCall {
  library: string;
  funcName: string;
  retType: number | object;
  paramsType: Array<number | object>;
  paramsValue: unknown[];
  freeResultMemory: boolean;
}

/** System call numbers differ per architecture (arch/x86/entry/syscalls, asm-generic/unistd.h). */
const SYSCALLS: Record<string, { bpf: number; perfEventOpen: number; getpid: number }> = {
  x64: { bpf: 321, perfEventOpen: 298, getpid: 39 },
  arm64: { bpf: 280, perfEventOpen: 241, getpid: 172 },
};

const EINVAL = 22;
const EOPNOTSUPP = 95;
const F_DUPFD_CLOEXEC = 1030;
const SOCK_CLOEXEC = 0o2000000;
const PROT_READ = 0x1;
const PROT_WRITE = 0x2;
const MAP_PRIVATE = 0x02;
const MAP_FIXED = 0x10;
const MAP_ANONYMOUS = 0x20;
/** `POLLNVAL`: the watched fd is not open. */
const POLLNVAL = 0x20;

/**
 * Buffers (more exactly: spans of one ArrayBuffer) up to this size are copied through the
 * arena; bigger ones are passed by address. Copying 64 KiB in and out costs ~2 µs, less than
 * the ~4 µs foreign call that finds an unseen buffer's address.
 */
export const COPY_LIMIT = 64 * 1024;

/**
 * How often the ffi-rs backend polls watched fds. 5 ms bounds the added latency of a perf or
 * ring buffer reader; one `poll()` for all fds costs ~5 µs, i.e. 0.1% of a core while anything
 * is watched and nothing when nothing is.
 */
export const WATCH_INTERVAL_MS = 5;

/** The key under which we open libc in ffi-rs's global table; unique so users' keys don't clash. */
const LIB = 'ebpf-ts:libc';

/**
 * A mapping made by the ffi-rs backend. `buffer` aliases the pages through an ffi-rs external
 * buffer. After {@link Backend.munmap} the pages are anonymous zero-filled memory (see the module
 * comment: the ArrayBuffer cannot be detached from JS).
 */
class FfiMapping implements Mapping {
  readonly buffer: ArrayBuffer;
  readonly length: number;
  /** Native address of the first byte. */
  readonly address: number;
  /** Set by munmap; the pages are then a zero-filled placeholder. */
  unmapped = false;
  private u64: BigUint64Array | undefined;
  private u32: Uint32Array | undefined;

  constructor(buffer: ArrayBuffer, length: number, address: number) {
    this.buffer = buffer;
    this.length = length;
    this.address = address;
  }

  /** A 64-bit view for Atomics, made on first use (most mappings never need one). */
  words64(): BigUint64Array {
    return (this.u64 ??= new BigUint64Array(this.buffer, 0, Math.floor(this.length / 8)));
  }

  /** A 32-bit view for Atomics. */
  words32(): Uint32Array {
    return (this.u32 ??= new Uint32Array(this.buffer, 0, Math.floor(this.length / 4)));
  }
}

/** What the FinalizationRegistry needs to unmap pages whose ArrayBuffer was collected. */
interface MappingRange {
  address: number;
  length: number;
}

/** One fd watched by {@link Backend.watch}. */
interface WatchEntry {
  fd: number;
  events: number;
  callback: (revents: number) => void;
  active: boolean;
}

/** Options for {@link loadFfiBackend}; for tests, the defaults are what users get. */
export interface FfiBackendOptions {
  /**
   * Behave as on a runtime whose external buffers are copies (Electron): no scratch arena,
   * every buffer passed by its own address, errno read with a call, mmap unsupported. Lets the
   * tests prove that path on plain Node.
   */
  assumeCopyingExternalBuffers?: boolean;
}

/**
 * Loads the ffi-rs backend. ffi-rs is an optional dependency and is required lazily here (no
 * top-level await, so `require('ebpf-ts')` keeps working); a missing ffi-rs, an unsupported
 * architecture or a libc without the needed symbols is a thrown Error that says which.
 *
 * Each worker thread must load its own instance: errno and the scratch arena are per thread.
 *
 * @example
 * ```ts
 * const b = loadFfiBackend();
 * const fd = b.bpf(0, mapCreateAttr); // BPF_MAP_CREATE; fd or -errno
 * ```
 */
export function loadFfiBackend(options: FfiBackendOptions = {}): Backend {
  if (process.platform !== 'linux') {
    throw new Error(`the ffi-rs backend supports Linux only, not ${process.platform}`);
  }
  const nr = SYSCALLS[process.arch];
  if (nr === undefined) {
    throw new Error(`the ffi-rs backend knows no syscall numbers for ${process.arch}`);
  }
  let ffi: FfiRs;
  try {
    ffi = createRequire(import.meta.url)('ffi-rs') as FfiRs;
  } catch (err) {
    throw new Error(
      'the ffi-rs backend needs the optional dependency "ffi-rs" (npm install ffi-rs), ' +
        'which is not installed or has no prebuilt binary for ' +
        `${process.platform}-${process.arch}`,
      { cause: err },
    );
  }
  return new FfiBackend(ffi, nr, options.assumeCopyingExternalBuffers === true);
}

/** The Backend implementation; see the module comment for how each part works. */
class FfiBackend implements Backend {
  readonly kind = 'ffi-rs' as const;

  private readonly ffi: FfiRs;
  private readonly nr: { bpf: number; perfEventOpen: number; getpid: number };

  // Prepared calls. Descriptors are built once; only paramsValue changes per call.
  private readonly cSyscall4: FfiCall;
  private readonly cSyscall6: FfiCall;
  private readonly cIoctl: FfiCall;
  private readonly cIoctlBig: FfiCall;
  private readonly cClose: FfiCall;
  private readonly cFcntl: FfiCall;
  private readonly cMmap: FfiCall;
  private readonly cMunmap: FfiCall;
  private readonly cGetrlimit: FfiCall;
  private readonly cSetrlimit: FfiCall;
  private readonly cPoll: FfiCall;
  private readonly cAddrOf: FfiCall;
  private readonly cToExternal: FfiCall;
  private readonly cPeek: FfiCall;
  private readonly cMalloc: FfiCall;
  private readonly cFree: FfiCall;
  private readonly cSocket: FfiCall;
  private readonly cBind: FfiCall;
  private readonly cSendto: FfiCall;
  private readonly cRecv: FfiCall;
  private readonly cSetsockopt: FfiCall;
  private readonly cGetsockopt: FfiCall;
  private readonly cSetns: FfiCall;

  /** The thread's errno, aliased; undefined where external buffers are copies. */
  private readonly errnoView: Int32Array | undefined;
  private readonly errnoAddress: number;
  /** Whether createExternalBuffer really aliases native memory (false in Electron). */
  private readonly aliasing: boolean;

  // The scratch arena (only when aliasing).
  private arenaAddress = 0;
  private arena: Uint8Array = new Uint8Array(0);
  private arenaView: DataView = new DataView(new ArrayBuffer(0));

  /** Address of {@link spare}: where empty buffers point when there is no arena. */
  private spareAddress = 0;
  private readonly spare = new Uint8Array(8);

  /** ArrayBuffer → address of its first byte, for buffers passed by address. */
  private readonly addresses = new WeakMap<ArrayBufferLike, number>();

  // Per-call staging state, reused: calls are synchronous and never nest. Typed arrays with
  // explicit counts, because resizing JS arrays per call cost more than the copies.
  private items: Array<Uint8Array | null> = [];
  private itemGroup = new Int32Array(16);
  private itemCount = 0;
  private groupBuffers: Array<ArrayBufferLike | undefined> = [];
  private groupStart = new Float64Array(16);
  private groupEnd = new Float64Array(16);
  /** Address that byte 0 of the group's ArrayBuffer has for the kernel during this call. */
  private groupBase = new Float64Array(16);
  /** Arena offset of the group's span, or -1 when the kernel gets the buffer's own address. */
  private groupArena = new Float64Array(16);
  private groupCount = 0;

  private readonly rlimitBuf = new Uint8Array(16);
  private readonly rlimitView = new DataView(this.rlimitBuf.buffer);

  private readonly watches: WatchEntry[] = [];
  private timer: ReturnType<typeof setInterval> | undefined;
  private pollFds = new Uint8Array(0);

  private readonly registry: FinalizationRegistry<MappingRange>;

  constructor(
    ffi: FfiRs,
    nr: { bpf: number; perfEventOpen: number; getpid: number },
    assumeCopying: boolean,
  ) {
    this.ffi = ffi;
    this.nr = nr;
    const T = ffi.DataType;
    // processParamsTypeForArray in ffi-rs's JS wrapper turns a bare U8Array into this form on
    // every call; passing it ready-made skips that work (the length is ignored for arguments).
    const U8 = ffi.arrayConstructor({ type: T.U8Array, length: 0 });
    const I64 = T.I64;
    const I32 = T.I32;

    try {
      ffi.open({ library: LIB, path: 'libc.so.6' });
    } catch (err) {
      // Not glibc (musl): the process's own global scope still resolves libc symbols.
      try {
        ffi.open({ library: LIB, path: '' });
      } catch {
        throw new Error('the ffi-rs backend could not open libc.so.6', { cause: err });
      }
    }
    const call = (name: string, ret: number | object, params: Array<number | object>): FfiCall => ({
      library: LIB,
      funcName: name,
      retType: ret,
      paramsType: params,
      paramsValue: [],
      freeResultMemory: false,
    });
    // syscall(), ioctl() and fcntl() are variadic; glibc reads every variadic argument as a
    // long, so all are passed as 64-bit integers (libffi sign-extends, x86-64 sets %al).
    this.cSyscall4 = call('syscall', I64, [I64, I64, I64, I64]);
    this.cSyscall6 = call('syscall', I64, [I64, I64, I64, I64, I64, I64]);
    this.cIoctl = call('ioctl', I32, [I32, I64, I64]);
    this.cIoctlBig = call('ioctl', I32, [I32, I64, T.BigInt]);
    this.cClose = call('close', I32, [I32]);
    this.cFcntl = call('fcntl', I32, [I32, I32, I64]);
    this.cMmap = call('mmap', I64, [I64, I64, I32, I32, I32, I64]);
    this.cMunmap = call('munmap', I32, [I64, I64]);
    this.cGetrlimit = call('getrlimit', I32, [I32, U8]);
    this.cSetrlimit = call('setrlimit', I32, [I32, U8]);
    this.cPoll = call('poll', I32, [U8, I64, I32]);
    // memmove(p, p, 0) touches no memory and returns p: the address of a JS buffer as a
    // number, or a number turned into an ffi-rs External.
    this.cAddrOf = call('memmove', I64, [U8, U8, I64]);
    this.cToExternal = call('memmove', T.External, [I64, I64, I64]);
    this.cPeek = call('memmove', I64, [U8, I64, I64]);
    this.cMalloc = call('malloc', I64, [I64]);
    this.cFree = call('free', I32, [I64]);
    // Buffers go by address (staged like an attr's pointers) so the kernel's writes come back.
    this.cSocket = call('socket', I32, [I32, I32, I32]);
    this.cBind = call('bind', I32, [I32, I64, I32]);
    this.cSendto = call('sendto', I64, [I32, I64, I64, I32, I64, I32]);
    this.cRecv = call('recv', I64, [I32, I64, I64, I32]);
    this.cSetsockopt = call('setsockopt', I32, [I32, I32, I32, I64, I32]);
    this.cGetsockopt = call('getsockopt', I32, [I32, I32, I32, I64, I64]);
    this.cSetns = call('setns', I32, [I32, I32]);

    // Resolve every symbol now: a libc lacking one fails here with a clear message, and later
    // calls only read ffi-rs's (unsynchronised) symbol table.
    try {
      this.invoke(this.cSyscall4, [nr.getpid, 0, 0, 0]);
      this.invoke(this.cSyscall6, [nr.getpid, 0, 0, 0, 0, 0]);
      this.invoke(this.cIoctl, [-1, 0, 0]);
      this.invoke(this.cIoctlBig, [-1, 0, 0n]);
      this.invoke(this.cClose, [-1]);
      this.invoke(this.cFcntl, [-1, F_DUPFD_CLOEXEC, 0]);
      this.invoke(this.cMmap, [0, 0, 0, 0, -1, 0]); // length 0: EINVAL, maps nothing
      this.invoke(this.cMunmap, [0, 0]);
      this.invoke(this.cGetrlimit, [8, this.rlimitBuf]);
      this.invoke(this.cSetrlimit, [-1, this.rlimitBuf]); // bad resource: EINVAL, changes nothing
      this.invoke(this.cPoll, [this.rlimitBuf, 0, 0]);
      this.invoke(this.cAddrOf, [this.rlimitBuf, this.rlimitBuf, 0]);
      this.invoke(this.cToExternal, [0, 0, 0]);
      this.invoke(this.cPeek, [this.rlimitBuf, 0, 0]);
      this.invoke(this.cFree, [0]);
      this.invoke(this.cSocket, [-1, 0, 0]);
      this.invoke(this.cBind, [-1, 0, 0]);
      this.invoke(this.cSendto, [-1, 0, 0, 0, 0, 0]);
      this.invoke(this.cRecv, [-1, 0, 0, 0]);
      this.invoke(this.cSetsockopt, [-1, 0, 0, 0, 0]);
      this.invoke(this.cGetsockopt, [-1, 0, 0, 0, 0]);
      this.invoke(this.cSetns, [-1, 0]);
      this.errnoAddress = this.invoke(
        call('__errno_location', I64, []),
        [],
      ) as number;
    } catch (err) {
      throw new Error('the ffi-rs backend could not resolve a libc function', { cause: err });
    }

    // Does an external buffer alias native memory? Compare the address ffi-rs hands the
    // callee for the buffer with the address we wrapped.
    const errnoBytes = this.externalBuffer(this.errnoAddress, 4);
    this.aliasing = !assumeCopying && this.addressOf(errnoBytes) === this.errnoAddress;
    this.errnoView = this.aliasing
      ? new Int32Array(errnoBytes.buffer, errnoBytes.byteOffset, 1)
      : undefined;
    if (this.aliasing) this.growArena(64 * 1024);
    else this.spareAddress = this.addressOf(this.spare);

    this.registry = new FinalizationRegistry((range: MappingRange) => {
      // The ArrayBuffer is unreachable, so no JS can touch the pages: unmap them, whether
      // they are still the kernel's (the user never called munmap) or our placeholder.
      this.invoke(this.cMunmap, [range.address, range.length]);
    });
  }

  private invoke(c: FfiCall, values: unknown[]): unknown {
    c.paramsValue = values;
    return this.ffi.load(c);
  }

  /** The current thread's errno, read right after a failed call. */
  private errno(): number {
    if (this.errnoView !== undefined) return this.errnoView[0]!;
    // Copying external buffers (Electron): copy the int out with one more call. Nothing
    // between the failed call and this one calls into libc except ffi-rs's `free`s.
    const out = new Uint8Array(4);
    this.invoke(this.cPeek, [out, this.errnoAddress, 4]);
    return new DataView(out.buffer).getInt32(0, true);
  }

  /** Result of a libc call returning -1/errno, as the seam's non-negative or -errno. */
  private result(r: number): number {
    return r === -1 ? -this.errno() : r;
  }

  /** The address of a buffer's first byte (one foreign call). */
  private addressOf(b: Uint8Array): number {
    return this.invoke(this.cAddrOf, [b, b, 0]) as number;
  }

  /** An ffi-rs external buffer over `length` bytes at `address`. */
  private externalBuffer(address: number, length: number): Buffer {
    const ext = this.invoke(this.cToExternal, [address, address, 0]);
    return this.ffi.createExternalBuffer(ext, length);
  }

  /** Replaces the arena with one of at least `size` bytes. */
  private growArena(size: number): void {
    let n = Math.max(this.arena.length * 2, 64 * 1024);
    while (n < size) n *= 2;
    const address = this.invoke(this.cMalloc, [n]) as number;
    if (address === 0) throw new Error(`the ffi-rs backend could not allocate ${n} bytes`);
    const bytes = this.externalBuffer(address, n);
    if (this.arenaAddress !== 0) this.invoke(this.cFree, [this.arenaAddress]);
    this.arenaAddress = address;
    this.arena = new Uint8Array(bytes.buffer, bytes.byteOffset, n);
    this.arenaView = new DataView(bytes.buffer, bytes.byteOffset, n);
  }

  /**
   * The address of `buffer`'s ArrayBuffer's first byte, cached. `view` must be non-empty so
   * that napi_get_buffer_info returns a real pointer (a zero-length store may have none).
   */
  private baseAddress(view: Uint8Array): number {
    const ab = view.buffer;
    let base = this.addresses.get(ab);
    if (base === undefined) {
      base = this.addressOf(view) - view.byteOffset;
      this.addresses.set(ab, base);
    }
    return base;
  }

  /** Makes room for `n` items (the attr plus pointers) in the staging state. */
  private reserve(n: number): void {
    if (n <= this.itemGroup.length) return;
    const size = n * 2;
    this.itemGroup = new Int32Array(size);
    this.groupStart = new Float64Array(size);
    this.groupEnd = new Float64Array(size);
    this.groupBase = new Float64Array(size);
    this.groupArena = new Float64Array(size);
  }

  /**
   * Stages `attr` and the pointer list: groups views by ArrayBuffer, copies small groups into
   * the arena, finds the address of large ones, and writes every pointer into the staged attr.
   * Returns the attr's address for the syscall. {@link unstage} copies results back.
   */
  private stage(attr: Uint8Array, pointers: PointerList | undefined): number {
    const np = pointers === undefined ? 0 : pointers.length;
    if (np % 2 !== 0) throw new TypeError('pointer list must be [offset, buffer, ...] pairs');
    const nItems = 1 + np / 2;
    // Item 0 is the attr, item k (k >= 1) is pointers[2k - 1].
    const items = this.items;
    items[0] = attr;
    for (let k = 1; k < nItems; k++) items[k] = pointers![2 * k - 1] as Uint8Array | null;
    this.place(nItems);
    const ig = this.itemGroup;
    const ge = this.groupEnd;
    const base = this.groupBase;
    const arenaOff = this.groupArena;
    // Patch pointers into the staged attr (in the arena, or the caller's own attr bytes).
    const attrGroup = ig[0]!;
    const attrInArena = arenaOff[attrGroup]! >= 0;
    const attrAddress = base[attrGroup]! + attr.byteOffset;
    if (np === 0) return attrAddress;
    const attrView = attrInArena ? this.arenaView : new DataView(attr.buffer, attr.byteOffset);
    const attrViewOff = attrInArena ? attrAddress - this.arenaAddress : 0;
    // A pointer field may lie past the attr in the same ArrayBuffer (an info struct laid out
    // after the attr, see PointerList): bounded by the staged span of the attr's group, or by
    // the ArrayBuffer when the attr is patched in place.
    const limit = attrInArena ? ge[attrGroup]! - attr.byteOffset : attr.buffer.byteLength - attr.byteOffset;
    for (let k = 1; k < nItems; k++) {
      const off = pointers![2 * k - 2] as number;
      if (!Number.isInteger(off) || off < 0 || off + 8 > limit) {
        throw new RangeError(`pointer field at ${off} is outside the attr and the structs staged after it`);
      }
      const address = this.itemAddress(k);
      // Two u32 halves: user addresses are below 2^53 (47/48-bit VAs, 52 at most on arm64),
      // and this avoids allocating a BigInt per pointer.
      attrView.setUint32(attrViewOff + off, address >>> 0, true);
      attrView.setUint32(attrViewOff + off + 4, Math.floor(address / 0x1_0000_0000), true);
    }
    return attrAddress;
  }

  /** The address the kernel sees for staged item `k` (0 for a null item). */
  private itemAddress(k: number): number {
    const g = this.itemGroup[k]!;
    return g < 0 ? 0 : this.groupBase[g]! + this.items[k]!.byteOffset;
  }

  /**
   * Places the first `nItems` of {@link items}: groups them by ArrayBuffer, gives each group
   * an arena span (small ones, copied in) or its buffer's own address.
   */
  private place(nItems: number): void {
    this.reserve(nItems);
    const items = this.items;
    const ig = this.itemGroup;
    const gb = this.groupBuffers;
    const gs = this.groupStart;
    const ge = this.groupEnd;
    let groups = 0;
    for (let k = 0; k < nItems; k++) {
      const item = items[k] ?? null;
      if (item === null) {
        ig[k] = -1;
        continue;
      }
      if (!(item instanceof Uint8Array)) {
        throw new TypeError('pointer list buffers must be Uint8Arrays');
      }
      const ab = item.buffer;
      const start = item.byteOffset;
      const end = start + item.byteLength;
      let g = 0;
      while (g < groups && gb[g] !== ab) g++;
      if (g === groups) {
        groups++;
        gb[g] = ab;
        gs[g] = start;
        ge[g] = end;
      } else {
        if (start < gs[g]!) gs[g] = start;
        if (end > ge[g]!) ge[g] = end;
      }
      ig[k] = g;
    }
    this.itemCount = nItems;
    this.groupCount = groups;

    // Lay out: 8-byte aligned spans in the arena, or the buffer's own address.
    const base = this.groupBase;
    const arenaOff = this.groupArena;
    let need = 0;
    for (let g = 0; g < groups; g++) {
      const len = ge[g]! - gs[g]!;
      if (this.aliasing && len <= COPY_LIMIT) {
        arenaOff[g] = need;
        // A distinct, non-null address even for an empty buffer.
        need += len === 0 ? 8 : (len + 7) & ~7;
      } else {
        arenaOff[g] = -1;
      }
    }
    if (need > this.arena.length) this.growArena(need);
    for (let g = 0; g < groups; g++) {
      const off = arenaOff[g]!;
      if (off >= 0) {
        base[g] = this.arenaAddress + off - gs[g]!;
        continue;
      }
      // Any non-empty view of this ArrayBuffer will do to find its address.
      let view: Uint8Array | undefined;
      for (let k = 0; k < nItems; k++) {
        const item = items[k];
        if (ig[k] === g && item !== null && item!.byteLength > 0) {
          view = item!;
          break;
        }
      }
      // Only empty views: any valid address will do, the kernel reads no bytes there.
      base[g] = view === undefined ? this.spareAddress - gs[g]! : this.baseAddress(view);
    }
    // Copy in. Items of one group share the copy of their span.
    const arena = this.arena;
    for (let k = 0; k < nItems; k++) {
      const g = ig[k]!;
      if (g < 0 || arenaOff[g]! < 0) continue;
      const item = items[k]!;
      arena.set(item, base[g]! - this.arenaAddress + item.byteOffset);
    }
  }

  /**
   * Copies what the kernel may have written from the arena back into the caller's buffers,
   * then drops the staging state's references so it keeps no buffer alive.
   */
  private unstage(): void {
    const items = this.items;
    const ig = this.itemGroup;
    const arena = this.arena;
    for (let k = 0; k < this.itemCount; k++) {
      const g = ig[k]!;
      const item = items[k]!;
      items[k] = null;
      if (g < 0 || this.groupArena[g]! < 0) continue;
      const n = item.byteLength;
      const from = this.groupBase[g]! - this.arenaAddress + item.byteOffset;
      if (n <= 32) {
        // Small keys and values: a loop beats allocating a subarray for TypedArray.set.
        for (let j = 0; j < n; j++) item[j] = arena[from + j]!;
      } else {
        item.set(arena.subarray(from, from + n));
      }
    }
    for (let g = 0; g < this.groupCount; g++) this.groupBuffers[g] = undefined;
    this.itemCount = 0;
    this.groupCount = 0;
  }

  /** Staging happens per call here: the attr's pointers are arena addresses, not stable. */
  prepare(attr: Uint8Array, pointers: PointerList): (cmd: number) => number {
    return (cmd) => this.bpf(cmd, attr, pointers);
  }

  prepareCmd(cmd: number, attr: Uint8Array, pointers: PointerList): () => number | undefined {
    return () => zeroAsUndefined(this.bpf(cmd, attr, pointers));
  }

  /** A JS loop: each call stages its own pointers through the arena anyway. */
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
  ): number {
    return elemManyLoop(this, cmd, attr, keys, keyStride, values, valueStride, n, results, tolerated);
  }

  bpf(cmd: number, attr: Uint8Array, pointers?: PointerList): number {
    const address = this.stage(attr, pointers);
    const r = this.invoke(this.cSyscall4, [this.nr.bpf, cmd, address, attr.byteLength]) as number;
    const out = this.result(r); // errno first, before anything else can run
    this.unstage();
    return out;
  }

  perfEventOpen(
    attr: Uint8Array,
    pid: number,
    cpu: number,
    groupFd: number,
    flags: number,
    pointers?: PointerList,
  ): number {
    const address = this.stage(attr, pointers);
    const r = this.invoke(this.cSyscall6, [
      this.nr.perfEventOpen,
      address,
      pid,
      cpu,
      groupFd,
      flags,
    ]) as number;
    const out = this.result(r);
    this.unstage();
    return out;
  }

  ioctl(fd: number, request: number, arg: number | bigint | Uint8Array): number {
    if (typeof arg === 'number') return this.result(this.invoke(this.cIoctl, [fd, request, arg]) as number);
    if (typeof arg === 'bigint') {
      return this.result(this.invoke(this.cIoctlBig, [fd, request, BigInt.asIntN(64, arg)]) as number);
    }
    // A struct argument is staged like an attr so the kernel can fill it.
    const address = this.stage(arg, undefined);
    const r = this.invoke(this.cIoctl, [fd, request, address]) as number;
    const out = this.result(r);
    this.unstage();
    return out;
  }

  /**
   * Stages plain buffers (no attr) like the pointers of an attr, so the arena copy-in and
   * {@link unstage}'s copy-back apply to them, and returns their addresses (0 for null).
   * {@link unstage} must follow the call.
   */
  private stageBuffers(buffers: ReadonlyArray<Uint8Array | null>): number[] {
    const n = buffers.length;
    for (let k = 0; k < n; k++) this.items[k] = buffers[k]!;
    this.place(n);
    const out = new Array<number>(n);
    for (let k = 0; k < n; k++) out[k] = this.itemAddress(k);
    return out;
  }

  socket(domain: number, type: number, protocol: number): number {
    return this.result(this.invoke(this.cSocket, [domain, type | SOCK_CLOEXEC, protocol]) as number);
  }

  bind(fd: number, addr: Uint8Array): number {
    const [a] = this.stageBuffers([addr]);
    const out = this.result(this.invoke(this.cBind, [fd, a, addr.byteLength]) as number);
    this.unstage();
    return out;
  }

  sendto(fd: number, buf: Uint8Array, flags: number, addr: Uint8Array | null): number {
    const [b, a] = this.stageBuffers([buf, addr]);
    const out = this.result(this.invoke(this.cSendto, [fd, b, buf.byteLength, flags, a, addr?.byteLength ?? 0]) as number);
    this.unstage();
    return out;
  }

  recv(fd: number, buf: Uint8Array, flags: number): number {
    const [b] = this.stageBuffers([buf]);
    const out = this.result(this.invoke(this.cRecv, [fd, b, buf.byteLength, flags]) as number);
    this.unstage();
    return out;
  }

  setsockopt(fd: number, level: number, name: number, value: Uint8Array): number {
    const [v] = this.stageBuffers([value]);
    const out = this.result(this.invoke(this.cSetsockopt, [fd, level, name, v, value.byteLength]) as number);
    this.unstage();
    return out;
  }

  getsockopt(fd: number, level: number, name: number, value: Uint8Array): number {
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, value.byteLength, true);
    const [v, l] = this.stageBuffers([value, len]);
    const r = this.result(this.invoke(this.cGetsockopt, [fd, level, name, v, l]) as number);
    this.unstage();
    return r < 0 ? r : new DataView(len.buffer).getUint32(0, true);
  }

  setns(fd: number, nstype: number): number {
    return this.result(this.invoke(this.cSetns, [fd, nstype]) as number);
  }

  close(fd: number): number {
    return this.result(this.invoke(this.cClose, [fd]) as number);
  }

  dupAbove(fd: number, minFd: number): number {
    return this.result(this.invoke(this.cFcntl, [fd, F_DUPFD_CLOEXEC, minFd]) as number);
  }

  mmap(fd: number, length: number, prot: number, flags: number, offset: number): Mapping | number {
    // Without aliasing external buffers the pages cannot be shown to JS at all.
    if (!this.aliasing) return -EOPNOTSUPP;
    const address = this.invoke(this.cMmap, [0, length, prot, flags, fd, offset]) as number;
    if (address === -1) return -this.errno();
    const bytes = this.externalBuffer(address, length);
    if (bytes.byteOffset !== 0 || bytes.buffer.byteLength !== length) {
      this.invoke(this.cMunmap, [address, length]);
      return -EOPNOTSUPP;
    }
    const mapping = new FfiMapping(bytes.buffer as ArrayBuffer, length, address);
    this.registry.register(mapping.buffer, { address, length });
    return mapping;
  }

  munmap(mapping: Mapping): number {
    if (!(mapping instanceof FfiMapping)) return -EINVAL;
    if (mapping.unmapped) return 0;
    // Swap in anonymous zero pages atomically: the kernel object's pages are released now,
    // while JS that still holds the ArrayBuffer reads zeros instead of faulting. The
    // FinalizationRegistry unmaps the placeholder once the ArrayBuffer is collected.
    const r = this.invoke(this.cMmap, [
      mapping.address,
      mapping.length,
      PROT_READ | PROT_WRITE,
      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
      -1,
      0,
    ]) as number;
    if (r === -1) return -this.errno();
    mapping.unmapped = true;
    return 0;
  }

  // Ordering: these use Atomics on the aliased pages. Atomics.load/store are sequentially
  // consistent, which is at least acquire/release: V8 emits a plain MOV for the load and
  // XCHG for the store on x86-64 (TSO), and LDAR/STLR on arm64, and never moves ordinary
  // loads or stores across them. So a reader that loads data_head with loadAcquire64 sees
  // every record the kernel published before its smp_store_release of data_head, and the
  // kernel sees our reads finished before the storeRelease64 of data_tail. Offsets must be
  // naturally aligned (Atomics requires it; RangeError otherwise). The arm64 claim rests on
  // V8's code generation (Atomics on non-shared buffers use the same LDAR/STLR lowering as on
  // SharedArrayBuffers); only x86-64 was run here. No libc call is needed: glibc exports no
  // barrier function (__sync_synchronize is a compiler builtin), and an ffi call boundary is
  // only a compiler barrier, not a CPU one on arm64.

  loadAcquire64(mapping: Mapping, offset: number): bigint {
    return Atomics.load(asFfi(mapping).words64(), wordIndex(offset, 8));
  }

  storeRelease64(mapping: Mapping, offset: number, value: bigint): void {
    Atomics.store(asFfi(mapping).words64(), wordIndex(offset, 8), BigInt.asUintN(64, value));
  }

  loadAcquire32(mapping: Mapping, offset: number): number {
    return Atomics.load(asFfi(mapping).words32(), wordIndex(offset, 4));
  }

  /**
   * Timer polling (the fallback's substitute for libuv's poll handle): every
   * {@link WATCH_INTERVAL_MS} ms one `poll(2)` with timeout 0 covers all watched fds, and each
   * ready fd's callback gets its revents. Level-triggered like libuv: a callback fires on
   * every tick while its fd stays ready. The timer is ref'd, so a pending watch keeps the
   * process alive the way a socket does; it stops when the last watcher stops. A POLLNVAL
   * (fd closed while watched) is delivered once and ends that watch.
   */
  watch(fd: number, events: number, callback: (revents: number) => void): Watcher {
    const entry: WatchEntry = { fd, events, callback, active: true };
    this.watches.push(entry);
    if (this.timer === undefined) this.timer = setInterval(() => this.pollWatches(), WATCH_INTERVAL_MS);
    return {
      stop: () => this.unwatch(entry),
    };
  }

  private unwatch(entry: WatchEntry): void {
    if (!entry.active) return;
    entry.active = false;
    const i = this.watches.indexOf(entry);
    if (i >= 0) this.watches.splice(i, 1);
    if (this.watches.length === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private pollWatches(): void {
    const list = this.watches.slice();
    const n = list.length;
    if (n === 0) return;
    // struct pollfd { int fd; short events; short revents; } = 8 bytes each.
    if (this.pollFds.length < n * 8) this.pollFds = new Uint8Array(n * 8 * 2);
    const view = new DataView(this.pollFds.buffer);
    for (let i = 0; i < n; i++) {
      view.setInt32(i * 8, list[i]!.fd, true);
      view.setInt16(i * 8 + 4, list[i]!.events, true);
      view.setInt16(i * 8 + 6, 0, true);
    }
    const r = this.invoke(this.cPoll, [this.pollFds, n, 0]) as number;
    if (r <= 0) return; // nothing ready, or EINTR/ENOMEM: try again next tick
    let firstError: unknown;
    for (let i = 0; i < n; i++) {
      const entry = list[i]!;
      const revents = view.getUint16(i * 8 + 6, true);
      if (revents === 0 || !entry.active) continue;
      if (revents & POLLNVAL) this.unwatch(entry);
      try {
        entry.callback(revents & (entry.events | POLLERR | POLLHUP | POLLNVAL));
      } catch (err) {
        firstError ??= err;
      }
    }
    // One throwing callback must not starve the others; rethrow as an uncaught exception
    // like a libuv callback would.
    if (firstError !== undefined) throw firstError;
  }

  getrlimit(resource: number): [bigint, bigint] | number {
    const r = this.invoke(this.cGetrlimit, [resource, this.rlimitBuf]) as number;
    if (r === -1) return -this.errno();
    return [this.rlimitView.getBigUint64(0, true), this.rlimitView.getBigUint64(8, true)];
  }

  setrlimit(resource: number, soft: bigint, hard: bigint): number {
    this.rlimitView.setBigUint64(0, BigInt.asUintN(64, soft), true);
    this.rlimitView.setBigUint64(8, BigInt.asUintN(64, hard), true);
    return this.result(this.invoke(this.cSetrlimit, [resource, this.rlimitBuf]) as number);
  }
}

function asFfi(mapping: Mapping): FfiMapping {
  if (!(mapping instanceof FfiMapping)) throw new TypeError('not a mapping made by the ffi-rs backend');
  return mapping;
}

function wordIndex(offset: number, size: number): number {
  if (offset % size !== 0) throw new RangeError(`offset ${offset} is not ${size}-byte aligned`);
  return offset / size;
}
