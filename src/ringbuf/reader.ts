/**
 * `RingBufReader`: reads a `BPF_MAP_TYPE_RINGBUF` (5.8+), the one multi-producer ring shared by
 * all CPUs that `bpf_ringbuf_output()` / `bpf_ringbuf_reserve()` + `submit()` write into.
 *
 * ```
 *  mmap(fd, PAGE, RW, off 0)        consumer page: @0 consumer_pos u64 — ours, written with
 *                                   RELEASE once the records before it are copied out
 *  mmap(fd, PAGE + 2*size, RO, off PAGE)
 *    ┌ producer page: @0 producer_pos u64 — the kernel's, read with ACQUIRE
 *    ├ data, `size` bytes (max_entries, a power-of-two number of pages) …
 *    └ … mapped a second time right after itself (ringbuf_map_alloc() maps the data pages
 *      twice), so a record that runs past the end continues contiguously: no stitching here.
 *  record = u32 len | u32 pg_off, then len bytes, padded to 8 (BPF_RINGBUF_HDR_SZ = 8)
 *    len bit 31 BPF_RINGBUF_BUSY_BIT:    reserved, not yet committed — stop here and wait
 *    len bit 30 BPF_RINGBUF_DISCARD_BIT: discarded by the program — skip it
 * ```
 *
 * Unlike a perf ring nothing is counted as lost: when the ring is full the *producer* fails
 * (`bpf_ringbuf_reserve()` returns NULL, `bpf_ringbuf_output()` -EAGAIN) and the program has
 * to count that itself.
 *
 * @module
 */
import { ArgumentError, ClosedError, SyscallError } from '../errors.js';
import type { BpfMap } from '../map.js';
import { MapType } from '../types.js';
import type { Backend, Mapping, Watcher } from '../sys/backend.js';
import { POLLIN } from '../sys/backend.js';
import { backend } from '../sys/select.js';
import { decodeValue, type DecodeOptions, type DecodedValue } from '../btf/decode.js';
import type { Type } from '../btf/types.js';
import type { Spec } from '../btf/spec.js';
import { closedError, DEFAULT_BATCH, Feed, type ReadOptions } from '../perf/feed.js';
import { pageSize } from '../perf/page-size.js';
import { resolveType } from '../perf/reader.js';

export type { ReadOptions } from '../perf/feed.js';

const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
/** `BPF_RINGBUF_BUSY_BIT`. */
export const RINGBUF_BUSY_BIT = 1 << 31;
/** `BPF_RINGBUF_DISCARD_BIT`. */
export const RINGBUF_DISCARD_BIT = 1 << 30;
/** `BPF_RINGBUF_HDR_SZ`. */
export const RINGBUF_HEADER_SIZE = 8;
const LENGTH_MASK = 0x3fff_ffff;

/** One record read from a ring buffer. */
export interface RingBufRecord {
  /** The bytes the program submitted (owned by the caller), without padding. */
  readonly rawSample: Uint8Array;
}

/** Options of {@link RingBufReader}. */
export interface RingBufReaderOptions {
  /** Aborting closes the reader: pending and later reads reject with a {@link ClosedError}. */
  signal?: AbortSignal;
}

/** Options of {@link RingBufReader.decoded}. */
export interface RingBufDecodeOptions extends DecodeOptions {
  /** BTF to resolve a type given by name (`"struct event"`) in. */
  btf?: Spec;
}

/** The mapped ring and the parser of its records. @internal */
export class RingBufConsumer {
  readonly #b: Pick<Backend, 'loadAcquire64' | 'storeRelease64' | 'loadAcquire32'>;
  readonly #consumer: Mapping;
  readonly #producer: Mapping;
  readonly #data: Uint8Array;
  readonly #mask: number;
  readonly #page: number;
  /** Our copy of consumer_pos (only we write it). */
  #pos: number;

  constructor(consumer: Mapping, producer: Mapping, size: number, page: number, b: Pick<Backend, 'loadAcquire64' | 'storeRelease64' | 'loadAcquire32'>) {
    this.#b = b;
    this.#consumer = consumer;
    this.#producer = producer;
    this.#page = page;
    this.#mask = size - 1;
    this.#data = new Uint8Array(producer.buffer, 0, page + 2 * size);
    this.#pos = Number(b.loadAcquire64(consumer, 0));
  }

  /** Bytes committed or reserved by producers and not consumed yet. */
  pending(): number {
    return Number(this.#b.loadAcquire64(this.#producer, 0)) - this.#pos;
  }

  /** Appends up to `max` committed records to `out`, publishes consumer_pos once, returns the count. */
  readInto(out: RingBufRecord[], max: number): number {
    const b = this.#b;
    const producer = this.#producer;
    let pos = this.#pos;
    const prod = Number(b.loadAcquire64(producer, 0));
    let n = 0;
    while (pos < prod && n < max) {
      const off = this.#page + (pos & this.#mask);
      // Acquire: the producer clears the busy bit with a release (xchg in
      // bpf_ringbuf_commit()) after writing the data, so the data is visible once it is clear.
      const len = b.loadAcquire32(producer, off) >>> 0;
      if ((len & RINGBUF_BUSY_BIT) !== 0) break; // not committed yet: the commit will wake us
      const size = len & LENGTH_MASK;
      if ((len & RINGBUF_DISCARD_BIT) === 0) {
        const start = off + RINGBUF_HEADER_SIZE;
        out.push({ rawSample: this.#data.slice(start, start + size) });
        n++;
      }
      pos += (size + RINGBUF_HEADER_SIZE + 7) & ~7;
    }
    if (pos !== this.#pos) {
      this.#pos = pos;
      b.storeRelease64(this.#consumer, 0, BigInt(pos));
    }
    return n;
  }
}

let leakWarned = false;
const leaks = new FinalizationRegistry<Mapping[]>((mappings) => {
  if (!leakWarned) {
    leakWarned = true;
    process.emitWarning('A RingBufReader was garbage-collected without close(); unmapping its ring. Call close() or use `using`.', {
      code: 'EBPF_TS_LEAKED_MAPPING',
    });
  }
  for (const m of mappings) backend().munmap(m);
});

/**
 * Reads records from a `BPF_MAP_TYPE_RINGBUF`. Same shape as {@link PerfReader}: `read()`,
 * `readMany()`, `for await`, `decoded()`, `close()`, an AbortSignal. The map fd is watched from
 * the event loop only while a read is pending (no thread, no spinning); records are copied out
 * only on demand, so a reader nobody reads from makes the producers fail rather than this
 * process buffer.
 *
 * Minimum kernel: 5.8.
 *
 * @example
 * ```ts
 * using reader = new RingBufReader(events);
 * for await (const { rawSample } of reader) handle(rawSample);
 * ```
 *
 * Errors: the constructor throws {@link ArgumentError} for a map that is not a ring buffer and
 * {@link SyscallError} when `mmap` fails (EOPNOTSUPP under a V8 sandbox such as Electron's);
 * reads reject with {@link ClosedError} once the reader is closed or aborted. Closing the
 * reader does not close the map.
 */
export class RingBufReader implements AsyncIterable<RingBufRecord>, Disposable {
  readonly #backend: Backend;
  readonly #map: BpfMap;
  readonly #mappings: Mapping[] = [];
  readonly #ring: RingBufConsumer;
  readonly #feed: Feed<RingBufRecord>;
  #watcher: Watcher | undefined;
  #onAbort: (() => void) | undefined;
  readonly #signal: AbortSignal | undefined;
  /** Size of the ring's data area in bytes (the map's `maxEntries`). */
  readonly bufferBytes: number;

  /**
   * Maps the ring of `map` (which stays owned by the caller).
   * @throws {@link ArgumentError}, {@link SyscallError}: see the class.
   */
  constructor(map: BpfMap, options: RingBufReaderOptions = {}) {
    if (map.type !== MapType.RingBuf) {
      throw new ArgumentError(`RingBufReader needs a RINGBUF map; ${map.name} is of type ${MapType[map.type] ?? map.type}`);
    }
    const { signal } = options;
    if (signal?.aborted) throw closedError('RingBufReader', signal.reason);
    const b = backend();
    this.#backend = b;
    this.#map = map;
    this.#signal = signal;
    const page = pageSize();
    const size = map.maxEntries;
    this.bufferBytes = size;
    const fd = map.fd;
    try {
      const consumer = b.mmap(fd, page, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
      if (typeof consumer === 'number') throw mmapError(-consumer, 'consumer page', map.name);
      this.#mappings.push(consumer);
      // The kernel refuses a writable mapping of the producer side (ringbuf_map_mmap_kern()).
      const producer = b.mmap(fd, page + 2 * size, PROT_READ, MAP_SHARED, page);
      if (typeof producer === 'number') throw mmapError(-producer, 'producer page and data', map.name);
      this.#mappings.push(producer);
      this.#ring = new RingBufConsumer(consumer, producer, size, page, b);
    } catch (err) {
      for (const m of this.#mappings) b.munmap(m);
      throw err;
    }
    leaks.register(this, this.#mappings.slice(), this);
    this.#feed = new Feed<RingBufRecord>({
      // Level-triggered (ringbuf_map_poll_kern()): no readiness to remember, always read.
      drain: (out, max) => this.#ring.readInto(out, max),
      arm: () => {
        this.#watcher ??= this.#backend.watch(this.#map.fd, POLLIN, () => this.#feed.readable());
      },
      disarm: () => {
        this.#watcher?.stop();
        this.#watcher = undefined;
      },
    });
    if (signal !== undefined) {
      this.#onAbort = () => this.#shutdown(closedError('RingBufReader', signal.reason));
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  /** True once closed (by {@link RingBufReader.close} or the AbortSignal). */
  get closed(): boolean {
    return this.#feed.closedError !== undefined;
  }

  /** Bytes in the ring not consumed yet (committed, discarded or still being written). */
  get pendingBytes(): number {
    if (this.closed) return 0;
    return this.#ring.pending();
  }

  /**
   * The next record, as soon as one is committed.
   * @throws (rejects with) {@link ClosedError} if the reader is or gets closed; the
   * `options.signal`'s reason if that aborts first.
   */
  read(options?: ReadOptions): Promise<RingBufRecord> {
    return this.#feed.read(options);
  }

  /**
   * Between 1 and `max` records (default: everything committed, up to 4096), as soon as one is.
   * @throws (rejects with) {@link ClosedError} as {@link RingBufReader.read}.
   */
  readMany(max: number = DEFAULT_BATCH, options?: ReadOptions): Promise<RingBufRecord[]> {
    if (!Number.isInteger(max) || max < 1) return Promise.reject(new ArgumentError(`readMany: max must be a positive integer, got ${max}`));
    return this.#feed.readMany(max, options);
  }

  /**
   * The records committed now, without waiting (possibly none).
   * @throws {@link ClosedError} after close.
   */
  readAvailable(max: number = DEFAULT_BATCH): RingBufRecord[] {
    return this.#feed.readAvailable(max);
  }

  /** Async iteration over every record; ends (without error) when the reader is closed or aborted. */
  async *[Symbol.asyncIterator](): AsyncIterator<RingBufRecord> {
    for (;;) {
      let batch: RingBufRecord[];
      try {
        batch = await this.readMany();
      } catch (err) {
        if (err instanceof ClosedError) return;
        throw err;
      }
      for (const r of batch) yield r;
    }
  }

  /**
   * Decodes every record with BTF (`decodeValue`) and yields the JS objects. Ends when the
   * reader is closed. A record shorter than the type throws an {@link ArgumentError}.
   *
   * @param type a BTF type, or a name like `"struct event"` looked up in `options.btf`.
   * @example
   * ```ts
   * for await (const ev of reader.decoded('struct event', { btf: spec.btf })) console.log(ev);
   * ```
   */
  async *decoded(type: Type | string, options: RingBufDecodeOptions = {}): AsyncGenerator<DecodedValue, void, undefined> {
    const t = resolveType(type, options.btf);
    for await (const r of this) yield decodeValue(t, r.rawSample, options);
  }

  #shutdown(err: ClosedError): void {
    if (this.#feed.closedError !== undefined) return;
    this.#feed.close(err);
    if (this.#onAbort !== undefined) this.#signal?.removeEventListener('abort', this.#onAbort);
    leaks.unregister(this);
    for (const m of this.#mappings) this.#backend.munmap(m);
  }

  /**
   * Unmaps the ring; pending reads reject with a {@link ClosedError}. The map itself stays
   * open (it belongs to the caller). Idempotent.
   */
  close(): void {
    this.#shutdown(closedError('RingBufReader'));
  }

  /** Same as {@link RingBufReader.close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

function mmapError(errno: number, what: string, name: string): SyscallError {
  const hint =
    errno === 95
      ? 'this runtime cannot map kernel memory into JS (V8 sandbox, e.g. Electron)'
      : errno === 1
        ? 'needs CAP_BPF or CAP_SYS_ADMIN and a map created by this user'
        : undefined;
  return new SyscallError('mmap', errno, hint, `map the ${what} of ring buffer ${name}`);
}
