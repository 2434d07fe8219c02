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
 * The read loop it shares with the perf reader (demand handling of read()/readMany(), wake-ups,
 * the forEachRecord pump, the safety net) is in src/internal/reader/.
 *
 * @module
 */
import { ArgumentError, SyscallError } from '../errors.js';
import type { BpfMap } from '../map.js';
import { MapType } from '../types.js';
import type { Backend, Mapping, Watcher } from '../sys/backend.js';
import { POLLIN } from '../sys/backend.js';
import { backend } from '../sys/select.js';
import type { DecodeOptions, DecodedValue } from '../btf/decode.js';
import type { Codec } from '../btf/codec.js';
import type { Type } from '../btf/types.js';
import type { Spec } from '../btf/spec.js';
import { closedError, DEFAULT_BATCH, type ReadOptions } from '../internal/reader/feed.js';
import { ReaderCore } from '../internal/reader/core.js';
import { pageSize } from '../internal/reader/mmap.js';
import { recordCodec } from '../internal/reader/decode.js';
import { RecordBatch, type BatchOptions } from '../internal/reader/batch.js';
import { Owner } from '../internal/owner.js';
import { mapRing, releaseRing, type HeldRing } from './mapping.js';

export type { ReadOptions } from '../internal/reader/feed.js';
export { RecordBatch, type BatchOptions } from '../internal/reader/batch.js';
/** `BPF_RINGBUF_BUSY_BIT`. */
export const RINGBUF_BUSY_BIT = 1 << 31;
/** `BPF_RINGBUF_DISCARD_BIT`. */
export const RINGBUF_DISCARD_BIT = 1 << 30;
/** `BPF_RINGBUF_HDR_SZ`. */
export const RINGBUF_HEADER_SIZE = 8;
const LENGTH_MASK = 0x3fff_ffff;

/** One record read from a ring buffer. */
export interface RingBufRecord {
  /**
   * The bytes the program submitted, without padding. A view into a buffer shared with the
   * other records of the same batch and owned by the caller: `slice()` it to keep one record
   * without keeping its batch.
   */
  readonly rawSample: Uint8Array;
}

/**
 * The {@link RingBufRecord}s readInto() makes: with `new`, not as object literals, for the
 * reason given at src/perf/ring.ts's Record.
 */
class Record implements RingBufRecord {
  readonly rawSample: Uint8Array;

  constructor(rawSample: Uint8Array) {
    this.rawSample = rawSample;
  }
}

/**
 * Receives one record in place: its bytes are `bytes[offset .. offset + length)`. `bytes` is the
 * kernel's ring itself (read-only, mapped twice, so a record is always contiguous): valid only
 * until the callback returns. Copy what you keep.
 */
export type RingBufRecordCallback = (bytes: Uint8Array, offset: number, length: number) => void;

/** Options of {@link RingBufReader}. */
export interface RingBufReaderOptions {
  /** Aborting closes the reader: pending and later reads reject with a {@link ClosedError}. */
  signal?: AbortSignal;
}

/** Options of {@link RingBufReader.forEachRecord}. */
export interface RingBufForEachOptions {
  /** Aborting ends this loop (the promise rejects with the signal's reason); the reader stays open. */
  signal?: AbortSignal;
}

/** Options of {@link RingBufReader.decoded}. */
export interface RingBufDecodeOptions extends DecodeOptions {
  /** BTF to resolve a type given by name (`"struct event"`) in. */
  btf?: Spec;
}

/** Most bytes {@link RingBufConsumer.readInto} copies out per batch (a bigger record still goes whole). */
const SLAB_BYTES = 256 * 1024;

/**
 * The mapped ring and the parser of its records. Headers are read with `Atomics.load` on a
 * Uint32Array view of the producer mapping: sequentially consistent, hence at least the
 * acquire `bpf_ringbuf_commit()` pairs its releasing xchg with (a plain MOV on x86-64, LDAR on
 * arm64; the reasoning of src/sys/backend-ffi.ts's loadAcquire64), and no call into the
 * backend per record. `producer_pos` and `consumer_pos` go through the backend, once per batch.
 * @internal
 */
export class RingBufConsumer {
  readonly #b: Pick<Backend, 'loadAcquire64' | 'storeRelease64'>;
  readonly #consumer: Mapping;
  readonly #producer: Mapping;
  /** The producer page and the data twice, as bytes and as host-order u32 words. */
  readonly #data: Uint8Array;
  readonly #words: Uint32Array;
  readonly #mask: number;
  readonly #page: number;
  /** Our copy of consumer_pos (only we write it). */
  #pos: number;
  /** Progress of the current walk, exact even when a callback throws. */
  #progress = 0;
  #count = 0;
  /** Set by {@link RingBufConsumer.stop}: the mappings are going away. */
  #stopped = false;
  /** consumer_pos where the walk in progress started; -1 when none runs. */
  #walkFrom = -1;
  /** readInto's per-batch record positions (data offset, length), reused. */
  #spans = new Int32Array(2 * 1024);
  #spanCount = 0;
  readonly #collect: RingBufRecordCallback = (_bytes, offset, length) => {
    let spans = this.#spans;
    const k = this.#spanCount;
    if (2 * k + 2 > spans.length) {
      const grown = new Int32Array(spans.length * 2);
      grown.set(spans);
      this.#spans = spans = grown;
    }
    spans[2 * k] = offset;
    spans[2 * k + 1] = length;
    this.#spanCount = k + 1;
  };

  constructor(consumer: Mapping, producer: Mapping, size: number, page: number, b: Pick<Backend, 'loadAcquire64' | 'storeRelease64'>) {
    this.#b = b;
    this.#consumer = consumer;
    this.#producer = producer;
    this.#page = page;
    this.#mask = size - 1;
    this.#data = new Uint8Array(producer.buffer, 0, page + 2 * size);
    this.#words = new Uint32Array(producer.buffer, 0, (page + 2 * size) >>> 2);
    this.#pos = Number(b.loadAcquire64(consumer, 0));
  }

  /** Bytes committed or reserved by producers and not consumed yet. */
  pending(): number {
    return Number(this.#b.loadAcquire64(this.#producer, 0)) - this.#pos;
  }

  /**
   * Ends parsing for good (the owner is about to unmap). A walk in progress — the owner may be
   * closed from inside a callback — stops after the current record, and what it handed over
   * is published now, while the pages are still mapped: the map outlives the reader, and a
   * later reader must not see those records again.
   */
  stop(): void {
    if (this.#stopped) return;
    if (this.#walkFrom >= 0) this.#publish(this.#walkFrom);
    this.#stopped = true;
  }

  /**
   * Hands up to `max` committed records to `onRecord` in place and returns how many. Stops at
   * the first record still being written (busy bit: its commit wakes the reader again).
   * consumer_pos is published once, with release, after the last callback returned — also
   * when a callback throws (the record it threw on counts as delivered).
   */
  consume(onRecord: RingBufRecordCallback, max: number): number {
    const prod = Number(this.#b.loadAcquire64(this.#producer, 0));
    const pos = this.#pos;
    if (prod === pos || max <= 0 || this.#stopped) return 0;
    this.#walkFrom = pos;
    try {
      this.#walk(pos, prod - pos, Infinity, max, onRecord);
    } finally {
      this.#walkFrom = -1;
      this.#publish(pos);
    }
    return this.#count;
  }

  /**
   * Appends up to `max` committed records to `out`, publishes consumer_pos once, returns the
   * count. The records' bytes (at most {@link SLAB_BYTES} per batch, or one bigger record) are
   * copied out with one memcpy into one new buffer; each record is a view of it.
   */
  readInto(out: RingBufRecord[], max: number): number {
    const prod = Number(this.#b.loadAcquire64(this.#producer, 0));
    const pos = this.#pos;
    if (prod === pos || max <= 0 || this.#stopped) return 0;
    this.#spanCount = 0;
    this.#walk(pos, prod - pos, SLAB_BYTES, max, this.#collect);
    const n = this.#spanCount;
    if (n > 0) {
      const spans = this.#spans;
      const from = spans[0]!;
      const to = spans[2 * n - 2]! + spans[2 * n - 1]!;
      // The walk's acquire loads of the headers make these bytes visible; they are copied
      // before consumer_pos lets the producers reuse them.
      const slab = this.#data.slice(from, to);
      for (let k = 0; k < n; k++) {
        const start = spans[2 * k]! - from;
        out.push(new Record(slab.subarray(start, start + spans[2 * k + 1]!)));
      }
    }
    this.#publish(pos);
    return n;
  }

  #publish(pos: number): void {
    if (this.#progress > 0 && !this.#stopped && this.#pos === pos) {
      this.#pos = pos + this.#progress;
      this.#b.storeRelease64(this.#consumer, 0, BigInt(this.#pos));
    }
  }

  /**
   * The record parser: from ring position `pos` over at most `avail` bytes (at most the ring's
   * size: the producers never get further ahead), stopping at a busy
   * record, after `max` records, or before a record that would take the walk past `budget`
   * bytes (the first record always goes). Positions are kept relative to `pos` so that the
   * loop does small-integer arithmetic only.
   */
  #walk(pos: number, avail: number, budget: number, max: number, onRecord: RingBufRecordCallback): void {
    const words = this.#words;
    const data = this.#data;
    // The data follows itself in the mapping, and a walk covers less than one ring, so
    // `base + rel` is always inside the mapping: no masking per record, and the offsets of one
    // walk increase monotonically (readInto copies them with one memcpy).
    const base = this.#page + (pos & this.#mask);
    let rel = 0;
    let n = 0;
    this.#progress = 0;
    this.#count = 0;
    while (rel < avail && n < max && !this.#stopped) {
      const off = base + rel;
      // Acquire: the producer clears the busy bit with a release (xchg in
      // bpf_ringbuf_commit()) after writing the data, so the data is visible once it is clear.
      const len = Atomics.load(words, off >>> 2);
      if ((len & RINGBUF_BUSY_BIT) !== 0) break; // not committed yet: the commit will wake us
      const size = len & LENGTH_MASK;
      const span = (size + RINGBUF_HEADER_SIZE + 7) & ~7;
      if (rel > 0 && rel + span > budget) break;
      rel += span;
      this.#progress = rel;
      if ((len & RINGBUF_DISCARD_BIT) === 0) {
        n++;
        this.#count = n;
        onRecord(data, off + RINGBUF_HEADER_SIZE, size);
      }
    }
  }
}

const owners = Owner.kind<HeldRing>('RingBufReader', releaseRing);

/**
 * Reads records from a `BPF_MAP_TYPE_RINGBUF`. Same shape as {@link PerfReader}: `read()`,
 * `readMany()`, `for await`, `decoded()`, `close()`, an AbortSignal. The map fd is watched from
 * the event loop only while a read is pending or forEachRecord() runs (no thread, no
 * spinning); records are copied out only on demand, so a reader nobody reads from makes the
 * producers fail rather than this process buffer.
 *
 * For high event rates, {@link RingBufReader.forEachRecord} (and its synchronous form
 * {@link RingBufReader.consume}) hand each record to a callback in place, without an object, a
 * view or a promise per record. The guide docs/reading-events.md covers both readers.
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
  readonly #owner: Owner<HeldRing>;
  readonly #ring: RingBufConsumer;
  /** The read loop (src/internal/reader/core.ts); the loop's callbacks are the one `onRecord`. */
  readonly #core: ReaderCore<RingBufRecord, RingBufRecordCallback>;
  #watcher: Watcher | undefined;
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
    const page = pageSize();
    const size = map.maxEntries;
    this.bufferBytes = size;
    const fd = map.fd;
    const held: HeldRing = { backend: b, mappings: [], walker: undefined };
    this.#owner = new Owner(owners, this, held, 'RingBufReader is closed');
    try {
      const { consumer, producer } = mapRing(held, fd, page, size, 'consumer', 'ring buffer', map.name);
      this.#ring = new RingBufConsumer(consumer, producer, size, page, b);
      held.walker = this.#ring;
    } catch (err) {
      this.#owner.close();
      throw err;
    }
    const ring = this.#ring;
    // read()/readMany() drain the ring once per wake-up (the core's wakeUps when it last did),
    // like the perf reader: a read loop that drained again whenever records had arrived
    // meanwhile would never go back to the event loop while the producer kept the ring from
    // going empty — timers and I/O starved, a CPU spinning on the ring. The fd is
    // level-triggered (ringbuf_map_poll_kern() reports EPOLLIN while data is unread), so
    // records left over or arriving meanwhile wake the reader on the event loop's next poll,
    // without sleeping.
    let drainedAt = -1;
    this.#core = new ReaderCore<RingBufRecord, RingBufRecordCallback>('RingBufReader', {
      drain: (out, max, everything) => {
        const woken = this.#core.wakeUps;
        if (!everything && drainedAt === woken) return 0;
        drainedAt = woken;
        return ring.readInto(out, max);
      },
      // One consumer_pos store per round.
      consume: (onRecord) => ring.consume(onRecord, Infinity),
      watch: (want) => this.#watch(want),
      // The safety net (src/internal/reader/core.ts): a ring more than half full is read as if
      // it had woken the reader.
      stalled: () => {
        if (ring.pending() < size >>> 1) return false;
        drainedAt = -1;
        return true;
      },
      release: () => this.#owner.close(),
    });
    this.#core.closeOn(signal);
  }

  /**
   * Watches the fd exactly while someone waits for records (pending reads or a forEachRecord
   * loop): it is level-triggered, so a watcher nobody serves would spin the event loop.
   */
  #watch(want: boolean): void {
    if (want) {
      this.#watcher ??= this.#backend.watch(this.#map.fd, POLLIN, this.#core.wake);
    } else {
      this.#watcher?.stop();
      this.#watcher = undefined;
    }
  }

  /** True once closed (by {@link RingBufReader.close} or the AbortSignal). */
  get closed(): boolean {
    return this.#owner.closed;
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
    return this.#core.read(options);
  }

  /**
   * Between 1 and `max` records (default: everything committed, up to 4096), as soon as one is.
   * The ring is read once per wake-up: records committed after that come with the next batch,
   * after the event loop has had its turn (see {@link RingBufReader.readAvailable} to read
   * without waiting).
   * @throws (rejects with) {@link ClosedError} as {@link RingBufReader.read}.
   */
  readMany(max: number = DEFAULT_BATCH, options?: ReadOptions): Promise<RingBufRecord[]> {
    return this.#core.readMany(max, options);
  }

  /**
   * The records committed now, without waiting (possibly none).
   * @throws {@link ClosedError} after close.
   */
  readAvailable(max: number = DEFAULT_BATCH): RingBufRecord[] {
    return this.#core.readAvailable(max);
  }

  /**
   * The fast path, synchronous: hands every record committed now to `onRecord`, in place — no
   * object, view or copy per record (the data pages are mapped twice, so even a record that
   * runs past the ring's end is contiguous) — and returns how many it handed over, like
   * libbpf's `ring_buffer__consume()`. consumer_pos is written once, after the last callback
   * returned. Allowed while {@link RingBufReader.forEachRecord} runs.
   *
   * The `bytes` given to `onRecord` is the kernel's ring: read the record during the call and
   * copy what you keep. Calling {@link RingBufReader.close} from the callback stops the walk.
   *
   * @param onRecord called per record with `(bytes, offset, length)`: the record is
   * `bytes[offset .. offset + length)`, without padding.
   * @param max stop after this many records (default: all committed).
   * @example
   * ```ts
   * let total = 0;
   * reader.consume((bytes, offset, length) => {
   *   total += length;
   * });
   * ```
   * @throws {@link ClosedError} after close; whatever the callback throws (the record it threw
   * on counts as consumed).
   */
  consume(onRecord: RingBufRecordCallback, max = Infinity): number {
    if (this.#core.closedError !== undefined) throw this.#core.closedError;
    return this.#ring.consume(onRecord, max);
  }

  /**
   * The fast path, asynchronous: calls `onRecord` for every record straight from the event
   * loop's readiness callback until the reader is closed — no promise, object or copy per
   * record or per batch. Each wake-up hands over everything committed and writes consumer_pos
   * once. Arguments as in {@link RingBufReader.consume}.
   *
   * One loop at a time; `read()` and `readMany()` reject while it runs; `readAvailable()` and
   * `consume()` still work. While it runs, the watcher keeps the process alive.
   *
   * @returns a promise that resolves when the reader is closed (or aborted by its own signal),
   * and rejects with the error the callback threw (the loop then ends; the reader stays open)
   * or with `options.signal`'s reason.
   * @example
   * ```ts
   * let records = 0;
   * await reader.forEachRecord((bytes, offset, length) => {
   *   records++;
   * });
   * ```
   */
  forEachRecord(onRecord: RingBufRecordCallback, options: RingBufForEachOptions = {}): Promise<void> {
    // Level-triggered: records already committed make the new watcher fire at once.
    return this.#core.loop(onRecord, options.signal);
  }

  /**
   * The fast path for async code: yields the records in batches — one {@link RecordBatch},
   * reused, holding every committed record (up to `options.max`), their bytes copied into one
   * reused buffer; no object, view or promise per record. consumer_pos is written once per
   * batch, so the producers get the space back at once; the batch is valid until the loop asks
   * for the next one (copy what you keep). The iteration waits for a wake-up only when the ring
   * is empty. Ends when the reader is closed. One iteration (or
   * {@link RingBufReader.forEachRecord} loop) at a time; `read()` and `readMany()` reject while
   * it runs. Leaving the loop (`break`) ends it; the reader stays open.
   *
   * @example
   * ```ts
   * for await (const batch of reader.batches()) {
   *   for (let i = 0; i < batch.count; i++) handle(batch.bytes, batch.offset(i), batch.length(i));
   * }
   * ```
   * @throws {@link ArgumentError} for a bad `max`, or when another iteration or loop runs;
   * `options.signal`'s reason when it aborts.
   */
  batches(options?: BatchOptions): AsyncGenerator<RecordBatch, void, undefined> {
    const ring = this.#ring;
    return this.#core.batches(
      new RecordBatch(),
      (batch, max) => {
        batch.reset();
        return ring.consume(batch.addRecord, max);
      },
      options,
    );
  }

  /** Async iteration over every record; ends (without error) when the reader is closed or aborted. */
  [Symbol.asyncIterator](): AsyncIterator<RingBufRecord> {
    return this.#core.records();
  }

  /**
   * Decodes every record with a codec, or with BTF (`decodeValue`), and yields the JS objects.
   * Ends when the reader is closed. A record shorter than the type throws an {@link ArgumentError}.
   *
   * @param type a {@link Codec} (`btf.codecFor(…)`), a BTF type, or a name like
   * `"struct event"` looked up in `options.btf` (the decode options apply to BTF types only).
   * @example
   * ```ts
   * for await (const ev of reader.decoded('struct event', { btf: spec.btf })) console.log(ev);
   * for await (const ev of reader.decoded(btf.codecFor<Event>(spec.btf, 'struct event'))) console.log(ev.pid);
   * ```
   */
  decoded<T>(type: Codec<T>, options?: RingBufDecodeOptions): AsyncGenerator<T, void, undefined>;
  decoded(type: Type | string, options?: RingBufDecodeOptions): AsyncGenerator<DecodedValue, void, undefined>;
  async *decoded<T>(type: Codec<T> | Type | string, options: RingBufDecodeOptions = {}): AsyncGenerator<T | DecodedValue, void, undefined> {
    const codec = recordCodec(type, options);
    for await (const r of this) yield codec.decode(r.rawSample);
  }

  /**
   * Unmaps the ring; pending reads reject with a {@link ClosedError}. The map itself stays
   * open (it belongs to the caller). Idempotent.
   */
  close(): void {
    this.#core.close(closedError('RingBufReader'));
  }

  /** Same as {@link RingBufReader.close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
