/**
 * The syscall seam. Everything above this file speaks bpf() in terms of byte buffers; the
 * backend below it is dumb: it knows how to make a system call and how to hand memory to the
 * kernel, nothing about what the bytes mean.
 *
 * Three implementations exist:
 * - `native` (native/ebpf_ts.cc, a Node-API addon): the fast path, ~0.1 µs per call.
 * - `ffi-rs` (src/sys/backend-ffi.ts): fallback when the addon cannot load; ~3.6 µs per call,
 *   readiness by timer polling.
 * - `fake` (src/sys/backend-fake.ts): scripted results for unit tests, no kernel.
 *
 * Conventions: calls return the syscall's non-negative result, or `-errno` on failure. They do
 * not throw for kernel errors so that the errno-to-error mapping lives in one place
 * (src/sys/errors.ts) and the hot paths allocate no exception objects.
 *
 * @module
 */

/**
 * A flat list of pointer fields: `[attrOffset, buffer, attrOffset, buffer, ...]`. Before the
 * call the backend writes the address of each buffer's first byte, as a native-endian u64, at
 * `attrOffset` in the attr. `null` writes address 0. Each buffer stays valid (and writable by
 * the kernel) for the duration of the call; anything the kernel writes is visible in the
 * buffer afterwards.
 */
export type PointerList = ReadonlyArray<number | Uint8Array | null>;
// An offset may reach past `attr.byteLength` into the rest of the attr's ArrayBuffer (bounded
// by the ArrayBuffer's end): a struct the attr points to, such as `bpf_prog_info` with its
// `map_ids` array, is laid out right after the attr in one ArrayBuffer so that its own pointer
// fields are patched the same way. Only `attr.byteLength` bytes are passed as the attr size.

/** A memory mapping returned by {@link Backend.mmap}: the mapped pages as an ArrayBuffer. */
export interface Mapping {
  /**
   * The mapped bytes. After {@link Backend.munmap} the native backend detaches it (byteLength
   * 0); the ffi-rs backend cannot detach and swaps the pages for zeros instead, so owners track
   * "unmapped" themselves rather than testing byteLength.
   */
  readonly buffer: ArrayBuffer;
  /** Length of the mapping in bytes. */
  readonly length: number;
}

/** A registration made with {@link Backend.watch}. */
export interface Watcher {
  /** Stops watching; the callback is not called after this returns. Idempotent. */
  stop(): void;
}

/** `poll(2)` event bits used with {@link Backend.watch}. */
export const POLLIN = 0x1;
/** Error condition (always reported). */
export const POLLERR = 0x8;
/** Hang up (always reported). */
export const POLLHUP = 0x10;

/** The syscall seam every kernel-facing module goes through. */
export interface Backend {
  /** Which implementation this is. */
  readonly kind: 'native' | 'ffi-rs' | 'fake';

  /**
   * `bpf(cmd, attr, attr.byteLength)`. The attr's size is its byteLength: callers allocate
   * exactly the bytes the command uses. Returns the result (often an fd) or `-errno`.
   */
  bpf(cmd: number, attr: Uint8Array, pointers?: PointerList): number;

  /**
   * Prepares an attr that is sent again and again with the same pointer buffers (a map's
   * element request): returns a function doing `bpf(cmd, attr, pointers)`. The native backend
   * writes the addresses once, so each call then costs one plain syscall; other backends
   * simply call {@link Backend.bpf}. The caller may change the attr's non-pointer bytes and the
   * buffers' contents between calls, but not swap the buffers.
   */
  prepare(attr: Uint8Array, pointers: PointerList): (cmd: number) => number;
  /**
   * {@link Backend.prepare} with the command fixed as well: returns `f()` doing `bpf(cmd, attr,
   * pointers)`, whose result is `undefined` when the kernel returned 0 and otherwise the result
   * or `-errno`. The native backend then makes no JS value for a successful element op (a
   * measurable share of a map update or lookup); other backends wrap {@link Backend.bpf}.
   */
  prepareCmd(cmd: number, attr: Uint8Array, pointers: PointerList): () => number | undefined;
  /**
   * `n` element operations (`BPF_MAP_*_ELEM`) in one call: before call `i`, writes the address
   * of `keys` + i·keyStride at the attr's key field (offset 8) and of `values` + i·valueStride
   * (0 when `values` is null; a 16-byte attr, delete's, has no value field) at its value
   * field (offset 16), then does `bpf(cmd, attr)`;
   * `results[i]` gets the result or `-errno`. Stops after the first result that is neither 0
   * nor `-tolerated` (0: any error stops), as the kernel's batch ops stop at the first failing
   * element. Returns how many calls were made. The native backend makes all of them in one
   * call into the addon; the others loop over {@link Backend.bpf} (`elemManyLoop`).
   */
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

  /**
   * `perf_event_open(attr, pid, cpu, group_fd, flags)`; `attr` is a full `struct
   * perf_event_attr` whose size field the caller has set. Pointer fields (e.g. `config1`
   * holding a kprobe's function name) are patched like {@link Backend.bpf}'s.
   */
  perfEventOpen(
    attr: Uint8Array,
    pid: number,
    cpu: number,
    groupFd: number,
    flags: number,
    pointers?: PointerList,
  ): number;

  /**
   * `ioctl(fd, request, arg)`. A number or bigint is passed as the integer argument; a
   * Uint8Array is passed by address (for requests that read or fill a struct).
   */
  ioctl(fd: number, request: number, arg: number | bigint | Uint8Array): number;

  /** `close(fd)`. Returns 0 or `-errno`. */
  close(fd: number): number;

  /** `fcntl(fd, F_DUPFD_CLOEXEC, minFd)`: a duplicate at or above `minFd`, or `-errno`. */
  dupAbove(fd: number, minFd: number): number;

  /**
   * `mmap(NULL, length, prot, flags, fd, offset)`. Returns the mapping, or `-errno`. The
   * ArrayBuffer aliases the pages: reads see what the kernel writes.
   */
  mmap(fd: number, length: number, prot: number, flags: number, offset: number): Mapping | number;

  /** `munmap` of a mapping from {@link Backend.mmap}; detaches its ArrayBuffer. Idempotent. */
  munmap(mapping: Mapping): number;

  /** 64-bit load with acquire ordering (`smp_load_acquire`), e.g. a perf ring's `data_head`. */
  loadAcquire64(mapping: Mapping, offset: number): bigint;

  /** 64-bit store with release ordering (`smp_store_release`), e.g. `data_tail`. */
  storeRelease64(mapping: Mapping, offset: number, value: bigint): void;

  /** 32-bit load with acquire ordering (ring buffer record headers). */
  loadAcquire32(mapping: Mapping, offset: number): number;

  /**
   * Calls `callback(revents)` from the event loop whenever `fd` is ready for `events`
   * (POLLIN). Never blocks the thread; the native backend uses libuv's poll handle, the
   * ffi-rs backend polls with a timer.
   */
  watch(fd: number, events: number, callback: (revents: number) => void): Watcher;

  /**
   * Like {@link Backend.watch} for a set of fds: `callback` runs when any of them is ready, once
   * per wake-up of the event loop however many are ready, and is not told which (look at all
   * of them). The native backend polls one private epoll instance holding the set (libuv then
   * sees one fd). Optional: a backend without it is used with one {@link Backend.watch} per fd.
   * An fd that cannot be polled fails the whole call.
   */
  watchAny?(fds: readonly number[], events: number, callback: (revents: number) => void): Watcher;

  /**
   * `socket(domain, type | SOCK_CLOEXEC, protocol)`: netlink sockets for interface lookup and
   * the netlink attach paths, and plain sockets for socket-filter tests. Returns an fd or `-errno`.
   */
  socket(domain: number, type: number, protocol: number): number;

  /** `bind(fd, addr, addr.byteLength)`; `addr` is a `struct sockaddr_*`. Returns 0 or `-errno`. */
  bind(fd: number, addr: Uint8Array): number;

  /**
   * `sendto(fd, buf, buf.byteLength, flags, addr, addrlen)`; `addr` null sends to the
   * connected (or netlink default) peer. Returns the bytes sent or `-errno`.
   */
  sendto(fd: number, buf: Uint8Array, flags: number, addr: Uint8Array | null): number;

  /** `recv(fd, buf, buf.byteLength, flags)`: the bytes received (the full size with MSG_TRUNC) or `-errno`. */
  recv(fd: number, buf: Uint8Array, flags: number): number;

  /** `setsockopt(fd, level, name, value, value.byteLength)`. Returns 0 or `-errno`. */
  setsockopt(fd: number, level: number, name: number, value: Uint8Array): number;

  /** `getsockopt(fd, level, name, value, &len)`: fills `value`, returns the option's length or `-errno`. */
  getsockopt(fd: number, level: number, name: number, value: Uint8Array): number;

  /**
   * `setns(fd, nstype)`: moves the calling thread, the one running JavaScript, into the
   * namespace `fd` refers to. Returns 0 or `-errno`.
   */
  setns(fd: number, nstype: number): number;

  /** `getrlimit(resource)` as `[soft, hard]`; `RLIM_INFINITY` is `2n ** 64n - 1n`. */
  getrlimit(resource: number): [bigint, bigint] | number;

  /** `setrlimit(resource, soft, hard)`. Returns 0 or `-errno`. */
  setrlimit(resource: number, soft: bigint, hard: bigint): number;
}

/** `RLIMIT_MEMLOCK` from `<sys/resource.h>`. */
export const RLIMIT_MEMLOCK = 8;
/** `RLIM_INFINITY` on 64-bit Linux. */
export const RLIM_INFINITY = (1n << 64n) - 1n;

/** {@link Backend.elemMany} as a loop over {@link Backend.bpf}, for backends without a native loop. */
export function elemManyLoop(
  b: Pick<Backend, 'bpf'>,
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
  if (n * keyStride > keys.byteLength || (values !== null && n * valueStride > values.byteLength) || n > results.length) {
    throw new RangeError('elemMany: buffers too small for n elements');
  }
  let done = 0;
  while (done < n) {
    const k = keys.subarray(done * keyStride, (done + 1) * keyStride);
    const v = values === null ? null : values.subarray(done * valueStride, (done + 1) * valueStride);
    const r = b.bpf(cmd, attr, attr.byteLength >= 24 ? [8, k, 16, v] : [8, k]);
    results[done++] = r;
    if (r !== 0 && r !== -tolerated) break;
  }
  return done;
}

/** {@link Backend.prepareCmd}'s result convention for backends that get a number: 0 is undefined. */
export function zeroAsUndefined(result: number): number | undefined {
  return result === 0 ? undefined : result;
}
