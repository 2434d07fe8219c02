/**
 * `UserRingBuf`: writes records into a `BPF_MAP_TYPE_USER_RINGBUF` (6.1), the ring buffer in
 * the other direction: user space produces, a BPF program consumes with
 * `bpf_user_ringbuf_drain(&map, callback, ctx, flags)`, one callback per record.
 *
 * ```
 *  mmap(fd, PAGE, RO, off 0)        consumer page: @0 consumer_pos u64 — the kernel's, read
 *                                   with ACQUIRE (ringbuf_map_mmap_user() refuses it writable)
 *  mmap(fd, PAGE + 2*size, RW, off PAGE)
 *    ┌ producer page: @0 producer_pos u64 — ours, written with RELEASE after the header
 *    ├ data, `size` bytes (max_entries, a power-of-two number of pages) …
 *    └ … mapped a second time right after itself, so a record that runs past the end is
 *      still one contiguous view here.
 *  record = u32 len | u32 pad, then len bytes, padded to 8 (BPF_RINGBUF_HDR_SZ = 8)
 *    reserve: header len|BUSY_BIT, then producer_pos += round_up(len + 8, 8)
 *    submit:  header len            (one atomic store: the kernel reads it with ACQUIRE)
 *    discard: header len|DISCARD_BIT (the drain skips it)
 * ```
 *
 * The kernel validates every record (__bpf_user_ringbuf_peek()): a busy record stops the drain
 * until it is committed (later records wait behind it), a discarded one is skipped, and a
 * malformed one (a length past producer_pos or beyond the ring, or over the 16 MiB dynptr
 * limit) makes every drain fail with -EINVAL/-E2BIG — so the lengths are checked here, before
 * anything reaches the ring.
 *
 * @module
 */
import { ArgumentError, BpfError, SyscallError } from '../errors.js';
import type { BpfMap } from '../map.js';
import { MapType } from '../types.js';
import type { Backend, Mapping, Watcher } from '../sys/backend.js';
import { backend } from '../sys/select.js';
import { Errno } from '../sys/errno.js';
import { closedError } from '../internal/reader/feed.js';
import { pageSize } from '../internal/reader/mmap.js';
import { Owner } from '../internal/owner.js';
import { mapRing, releaseRing, type HeldRing } from './mapping.js';
import { RINGBUF_BUSY_BIT, RINGBUF_DISCARD_BIT, RINGBUF_HEADER_SIZE } from './reader.js';

/** `POLLOUT` from <poll.h>: ringbuf_map_poll_user() reports it while the ring is not full. */
const POLLOUT = 0x4;
/** `ETIMEDOUT` from <errno.h> (what libbpf's reserve_blocking answers after its timeout). */
const ETIMEDOUT = 110;

/**
 * Largest record the drain accepts: a `struct bpf_dynptr` holds at most `DYNPTR_MAX_SIZE`
 * (2^24 - 1) bytes, and bpf_dynptr_check_size() fails the whole drain with -E2BIG beyond it.
 */
export const USER_RINGBUF_MAX_RECORD = (1 << 24) - 1;

/**
 * The ring has no room for the record now (`errno` ENOSPC, like libbpf's
 * `user_ring_buffer__reserve()`), or {@link UserRingBuf.reserveWait} waited `timeoutMs` for
 * room in vain (`errno` ETIMEDOUT). Room comes back when a BPF program drains the ring.
 */
export class UserRingBufFullError extends BpfError {
  /** Bytes the record needs in the ring (header and padding included). */
  readonly needed: number;
  /** Bytes free in the ring when it was refused. */
  readonly available: number;

  constructor(map: string, needed: number, available: number, errno: number = Errno.ENOSPC) {
    const why = errno === ETIMEDOUT ? 'timed out waiting for room' : 'full';
    super(`user ring buffer ${map}: ${why}: the record needs ${needed} bytes, ${available} free (a BPF program frees them with bpf_user_ringbuf_drain())`, { errno });
    this.needed = needed;
    this.available = available;
  }
}

/** Options of {@link UserRingBuf.reserveWait}. */
export interface UserRingBufWaitOptions {
  /** Give up after this many milliseconds (rejecting with a {@link UserRingBufFullError}, errno ETIMEDOUT). Default: wait until room comes or the writer closes. */
  timeoutMs?: number;
  /** Aborting stops waiting: the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** The mapped ring: positions, headers, and the reservations not committed yet. @internal */
class UserRing {
  readonly #b: Pick<Backend, 'loadAcquire64' | 'storeRelease64'>;
  readonly #consumer: Mapping;
  readonly #producer: Mapping;
  readonly #words: Uint32Array;
  readonly #page: number;
  readonly #mask: number;
  readonly size: number;
  /** Header offsets (in the producer mapping) of records reserved and not committed. */
  readonly open = new Set<number>();
  #stopped = false;

  constructor(consumer: Mapping, producer: Mapping, size: number, page: number, b: Pick<Backend, 'loadAcquire64' | 'storeRelease64'>) {
    this.#b = b;
    this.#consumer = consumer;
    this.#producer = producer;
    this.#page = page;
    this.#mask = size - 1;
    this.size = size;
    this.#words = new Uint32Array(producer.buffer, 0, (page + 2 * size) >>> 2);
  }

  get buffer(): ArrayBuffer {
    return this.#producer.buffer;
  }

  /**
   * producer_pos is read back rather than cached: only user space writes it, but two writers of
   * one map in this thread (each reserve and its header store run without interruption) stay
   * consistent that way, as libbpf's re-reading does.
   */
  #producerPos(): number {
    return Number(this.#b.loadAcquire64(this.#producer, 0));
  }

  /** Bytes free now: the ring's size minus what the kernel has not drained. */
  free(): number {
    // Acquire: the kernel stores consumer_pos with release after it is done with the records.
    const cons = Number(this.#b.loadAcquire64(this.#consumer, 0));
    return this.size - (this.#producerPos() - cons);
  }

  /**
   * Reserves `total` bytes (header included, a multiple of 8) for a record of `len` bytes
   * with header flags `flags`; returns the header's offset in the producer mapping, or -1 when
   * they do not fit.
   */
  reserve(len: number, total: number, flags: number): number {
    if (this.#stopped) return -1;
    const cons = Number(this.#b.loadAcquire64(this.#consumer, 0));
    const prod = this.#producerPos();
    if (this.size - (prod - cons) < total) return -1;
    const hdr = this.#page + (prod & this.#mask);
    // The header first (pad word cleared), then producer_pos with release: the kernel reads
    // producer_pos with acquire, then the header (__bpf_user_ringbuf_peek()).
    Atomics.store(this.#words, (hdr >>> 2) + 1, 0);
    Atomics.store(this.#words, hdr >>> 2, (len | flags) >>> 0);
    this.#b.storeRelease64(this.#producer, 0, BigInt(prod + total));
    return hdr;
  }

  /**
   * Commits the record at header offset `hdr`: clears the busy bit, setting the discard bit to
   * discard. One sequentially consistent store (a release at least, as libbpf's acq-rel xchg):
   * the record's bytes, written before, are visible to the kernel once the bit is clear.
   */
  commit(hdr: number, discard: boolean): void {
    if (!this.open.delete(hdr) || this.#stopped) return;
    const i = hdr >>> 2;
    const len = Atomics.load(this.#words, i) & ~RINGBUF_BUSY_BIT;
    Atomics.store(this.#words, i, (discard ? len | RINGBUF_DISCARD_BIT : len) >>> 0);
  }

  /**
   * Fills the free space with one discarded record, so that the ring is full: poll then
   * reports POLLOUT only once the kernel has drained something (ringbuf_map_poll_user(): not
   * full), instead of at once and forever while some room, too little for the record that
   * waits, is left. The drain skips the filler and wakes the poller (bpf_user_ringbuf_drain()
   * counts skipped records too). Returns whether it wrote one.
   */
  fill(): boolean {
    const free = this.free();
    if (free < RINGBUF_HEADER_SIZE) return false;
    return this.reserve(free - RINGBUF_HEADER_SIZE, free, RINGBUF_DISCARD_BIT) >= 0;
  }

  /**
   * Ends writing (the owner is about to unmap): records still reserved are discarded so that
   * they do not hold up the drain for a later writer of the same map.
   */
  stop(): void {
    if (this.#stopped) return;
    for (const hdr of [...this.open]) this.commit(hdr, true);
    this.#stopped = true;
  }
}

/**
 * A record reserved in a {@link UserRingBuf}: fill {@link UserRingBufSample.bytes}, then
 * {@link UserRingBufSample.submit} it (or {@link UserRingBufSample.discard} it). Until then the
 * drain stops at this record: records reserved after it wait behind it.
 */
export class UserRingBufSample {
  /**
   * The record's bytes, inside the ring itself (the data pages are mapped twice, so this is
   * one contiguous view even where the record wraps around the ring's end). Not cleared: it
   * holds whatever an earlier record left. Do not touch it after submit or discard: the
   * kernel may already be reading, or reusing, these bytes.
   */
  readonly bytes: Uint8Array;
  readonly #ring: UserRing;
  readonly #hdr: number;
  readonly #map: string;

  /** @internal Made by {@link UserRingBuf.reserve}. */
  constructor(ring: UserRing, hdr: number, size: number, map: string) {
    this.#ring = ring;
    this.#hdr = hdr;
    this.#map = map;
    this.bytes = new Uint8Array(ring.buffer, hdr + RINGBUF_HEADER_SIZE, size);
  }

  /** True until submitted or discarded (or the writer closed, which discards it). */
  get pending(): boolean {
    return this.#ring.open.has(this.#hdr);
  }

  /**
   * Hands the record to the kernel: the next `bpf_user_ringbuf_drain()` passes it to its
   * callback (once the records reserved before it are committed too).
   * @throws {@link ArgumentError} if already submitted or discarded, or the writer is closed.
   */
  submit(): void {
    this.#commit(false, 'submit');
  }

  /**
   * Gives up the record: the drain skips it, and its room comes back once the kernel passes it.
   * @throws {@link ArgumentError} as {@link UserRingBufSample.submit}.
   */
  discard(): void {
    this.#commit(true, 'discard');
  }

  #commit(discard: boolean, what: string): void {
    if (!this.pending) throw new ArgumentError(`user ring buffer ${this.#map}: ${what}() of a record already submitted or discarded (or its writer closed)`);
    this.#ring.commit(this.#hdr, discard);
  }
}

/** A {@link UserRingBuf.reserveWait} that waits for room. */
interface Waiter {
  readonly size: number;
  readonly total: number;
  readonly resolve: (sample: UserRingBufSample) => void;
  readonly reject: (err: unknown) => void;
  readonly timer: ReturnType<typeof setTimeout> | undefined;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: (() => void) | undefined;
}

const owners = Owner.kind<HeldRing>('UserRingBuf', releaseRing);

/**
 * Writes records into a `BPF_MAP_TYPE_USER_RINGBUF` for a BPF program to drain with
 * `bpf_user_ringbuf_drain()`: libbpf's `user_ring_buffer`. {@link UserRingBuf.reserve} returns
 * a {@link UserRingBufSample} whose bytes live in the ring — fill them, then `submit()` or
 * `discard()` — and {@link UserRingBuf.write} copies a whole record in one call. When the ring
 * is full both throw a {@link UserRingBufFullError} at once; {@link UserRingBuf.reserveWait}
 * instead waits, from the event loop, until the kernel has drained enough.
 *
 * One process should write a given map at a time (the positions are not shared between
 * processes); several writers in one thread are fine. Records reach the program in reserve
 * order, each whole.
 *
 * Minimum kernel: 6.1 (creating the map fails with a {@link NotSupportedError} naming 6.1 on
 * older kernels).
 *
 * @example
 * ```ts
 * using ring = new UserRingBuf(coll.maps.user_rb);
 * ring.write(new TextEncoder().encode('hello'));
 * const sample = ring.reserve(16);
 * new DataView(sample.bytes.buffer, sample.bytes.byteOffset, 16).setBigUint64(0, 42n, true);
 * sample.submit();
 * coll.programs.drain.testRun(); // the program calls bpf_user_ringbuf_drain()
 * ```
 *
 * Errors: the constructor throws {@link ArgumentError} for a map that is not a user ring buffer
 * and {@link SyscallError} when `mmap` fails (EOPNOTSUPP under a V8 sandbox such as Electron's);
 * use after close throws {@link ClosedError}. Closing the writer discards records reserved and
 * not submitted, and does not close the map.
 */
export class UserRingBuf implements Disposable {
  readonly #backend: Backend;
  readonly #map: BpfMap;
  readonly #owner: Owner<HeldRing>;
  readonly #ring: UserRing;
  /** reserveWait() calls waiting for room, oldest first. */
  readonly #waiters: Waiter[] = [];
  #watcher: Watcher | undefined;
  /** Size of the ring's data area in bytes (the map's `maxEntries`). */
  readonly bufferBytes: number;

  /**
   * Maps the ring of `map` (which stays owned by the caller).
   * @throws {@link ArgumentError}, {@link SyscallError}: see the class.
   */
  constructor(map: BpfMap) {
    if (map.type !== MapType.UserRingBuf) {
      throw new ArgumentError(`UserRingBuf needs a USER_RINGBUF map; ${map.name} is of type ${MapType[map.type] ?? map.type}`);
    }
    const b = backend();
    this.#backend = b;
    this.#map = map;
    const page = pageSize();
    const size = map.maxEntries;
    this.bufferBytes = size;
    const fd = map.fd;
    const held: HeldRing = { backend: b, mappings: [], walker: undefined };
    this.#owner = new Owner(owners, this, held, `UserRingBuf of ${map.name} is closed`);
    try {
      const { consumer, producer } = mapRing(held, fd, page, size, 'producer', 'user ring buffer', map.name);
      this.#ring = new UserRing(consumer, producer, size, page, b);
      held.walker = this.#ring;
    } catch (err) {
      this.#owner.close();
      throw err;
    }
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#owner.closed;
  }

  /**
   * Bytes free in the ring now. A record of `n` bytes takes `n + 8` rounded up to 8. While a
   * {@link UserRingBuf.reserveWait} waits, the free space is held for it (see there) and this
   * reads 0.
   * @throws {@link ClosedError} after close.
   */
  get availableBytes(): number {
    this.#owner.held;
    return this.#ring.free();
  }

  /**
   * Reserves a record of `size` bytes (like libbpf's `user_ring_buffer__reserve()`); fill its
   * `bytes` and `submit()` it. Never waits.
   *
   * @throws {@link UserRingBufFullError} (ENOSPC) when the ring has no room for it now, or
   * while {@link UserRingBuf.reserveWait} calls wait (they go first);
   * {@link ArgumentError} for a size that can never fit (not an integer ≥ 0, larger than the
   * ring with its 8-byte header, or over 16 MiB - 1, the drain's limit);
   * {@link ClosedError} after close.
   */
  reserve(size: number): UserRingBufSample {
    const sample = this.tryReserve(size);
    if (sample === undefined) throw new UserRingBufFullError(this.#map.name, recordBytes(size), this.#waiters.length > 0 ? 0 : this.#ring.free());
    return sample;
  }

  /**
   * {@link UserRingBuf.reserve} for loops that expect a full ring: `undefined` instead of a
   * thrown {@link UserRingBufFullError}.
   * @throws {@link ArgumentError}, {@link ClosedError} as {@link UserRingBuf.reserve}.
   */
  tryReserve(size: number): UserRingBufSample | undefined {
    this.#owner.held;
    const total = this.#check(size);
    if (this.#waiters.length > 0) return undefined;
    return this.#take(size, total);
  }

  /**
   * Copies `bytes` into the ring as one record and submits it.
   * @throws {@link UserRingBufFullError}, {@link ArgumentError}, {@link ClosedError} as
   * {@link UserRingBuf.reserve}.
   */
  write(bytes: Uint8Array): void {
    const sample = this.reserve(bytes.length);
    sample.bytes.set(bytes);
    sample.submit();
  }

  /**
   * {@link UserRingBuf.reserve}, waiting for room instead of failing: libbpf's
   * `user_ring_buffer__reserve_blocking()`, without blocking the thread. The map fd is watched
   * from the event loop for POLLOUT, which the kernel raises when a drain has freed room.
   *
   * So that the wait does not spin — the fd reports POLLOUT whenever the ring is not full, and
   * the room left may be too little for this record — the rest of the ring is filled with one
   * discarded record that the drain skips; the ring is then full until the kernel drains.
   * Waiting calls are served in call order, and {@link UserRingBuf.reserve} and
   * {@link UserRingBuf.write} fail as if the ring were full while any waits, so records keep
   * their order. Needs a program that drains: a record reserved and not submitted stops the
   * drain, and then only the timeout ends the wait.
   *
   * @returns the reserved record; rejects with {@link UserRingBufFullError} (errno ETIMEDOUT)
   * after `timeoutMs`, with {@link ClosedError} when the writer closes, with the signal's
   * reason when it aborts, and with {@link ArgumentError} for a size that can never fit.
   */
  reserveWait(size: number, options: UserRingBufWaitOptions = {}): Promise<UserRingBufSample> {
    const { timeoutMs, signal } = options;
    let total: number;
    try {
      this.#owner.held;
      total = this.#check(size);
      if (timeoutMs !== undefined && !(Number.isFinite(timeoutMs) && timeoutMs >= 0)) {
        throw new ArgumentError(`UserRingBuf.reserveWait: timeoutMs must be a number >= 0, got ${timeoutMs}`);
      }
    } catch (err) {
      return Promise.reject(err);
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#waiters.length === 0) {
      const sample = this.#take(size, total);
      if (sample !== undefined) return Promise.resolve(sample);
    }
    return new Promise<UserRingBufSample>((resolve, reject) => {
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => this.#drop(waiter, new UserRingBufFullError(this.#map.name, total, this.#ring.free(), ETIMEDOUT)), timeoutMs);
      const onAbort = signal === undefined ? undefined : () => this.#drop(waiter, signal.reason);
      const waiter: Waiter = { size, total, resolve, reject, timer, signal, onAbort };
      if (onAbort !== undefined) signal!.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
      this.#serve();
    });
  }

  /** Checks `size` and returns the bytes it takes in the ring. */
  #check(size: number): number {
    if (!Number.isInteger(size) || size < 0 || size > USER_RINGBUF_MAX_RECORD) {
      throw new ArgumentError(`UserRingBuf: record size must be an integer from 0 to ${USER_RINGBUF_MAX_RECORD} (the drain's dynptr limit), got ${size}`);
    }
    const total = recordBytes(size);
    if (total > this.bufferBytes) {
      throw new ArgumentError(`UserRingBuf: a ${size}-byte record takes ${total} bytes with its header, more than the ${this.bufferBytes}-byte ring of ${this.#map.name}`);
    }
    return total;
  }

  #take(size: number, total: number): UserRingBufSample | undefined {
    const hdr = this.#ring.reserve(size, total, RINGBUF_BUSY_BIT);
    if (hdr < 0) return undefined;
    this.#ring.open.add(hdr);
    return new UserRingBufSample(this.#ring, hdr, size, this.#map.name);
  }

  /**
   * Hands room to the waiters in order; when the first does not fit, fills the ring (see
   * reserveWait) and watches for POLLOUT. Called on every POLLOUT and when a waiter arrives.
   */
  readonly #serve = (): void => {
    if (this.closed) return;
    const waiters = this.#waiters;
    while (waiters.length > 0) {
      const w = waiters[0]!;
      const sample = this.#take(w.size, w.total);
      if (sample === undefined) break;
      waiters.shift();
      this.#settle(w);
      w.resolve(sample);
    }
    if (waiters.length > 0) {
      this.#ring.fill();
      this.#watcher ??= this.#backend.watch(this.#map.fd, POLLOUT, this.#serve);
    } else {
      this.#watcher?.stop();
      this.#watcher = undefined;
    }
  };

  /** Takes `w` out of the queue (timeout, abort) and rejects it. */
  #drop(w: Waiter, err: unknown): void {
    const i = this.#waiters.indexOf(w);
    if (i < 0) return;
    this.#waiters.splice(i, 1);
    this.#settle(w);
    w.reject(err);
    if (this.#waiters.length === 0) {
      this.#watcher?.stop();
      this.#watcher = undefined;
    }
  }

  #settle(w: Waiter): void {
    if (w.timer !== undefined) clearTimeout(w.timer);
    if (w.onAbort !== undefined) w.signal?.removeEventListener('abort', w.onAbort);
  }

  /**
   * Unmaps the ring. Records reserved and not submitted are discarded (so they do not stop the
   * drain for a later writer); waiting {@link UserRingBuf.reserveWait} calls reject with a
   * {@link ClosedError}. The map itself stays open (it belongs to the caller). Idempotent.
   */
  close(): void {
    if (this.closed) return;
    this.#watcher?.stop();
    this.#watcher = undefined;
    const err = closedError('UserRingBuf');
    for (const w of this.#waiters.splice(0)) {
      this.#settle(w);
      w.reject(err);
    }
    this.#owner.close();
  }

  /** Same as {@link UserRingBuf.close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** Bytes a record of `size` bytes takes in the ring: header and padding to 8. */
function recordBytes(size: number): number {
  return (size + RINGBUF_HEADER_SIZE + 7) & ~7;
}
