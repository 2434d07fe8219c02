/**
 * `PerfReader`: reads what BPF programs send with `bpf_perf_event_output()` through a
 * `BPF_MAP_TYPE_PERF_EVENT_ARRAY`, one mmapped ring per online CPU (ring layout and the record
 * parser in src/perf/ring.ts; the read loop it shares with the ring buffer reader — demand
 * handling of read()/readMany(), wake-ups, the forEachRecord pump, the safety net — in
 * src/internal/reader/).
 *
 * @module
 */
import { ArgumentError } from '../errors.js';
import type { BpfMap } from '../map.js';
import { MapType } from '../types.js';
import type { Backend, Watcher } from '../sys/backend.js';
import { POLLIN } from '../sys/backend.js';
import { backend } from '../sys/select.js';
import { onlineCPUs } from '../sys/cpus.js';
import type { DecodeOptions, DecodedValue } from '../btf/decode.js';
import type { Codec } from '../btf/codec.js';
import type { Type } from '../btf/types.js';
import type { Spec } from '../btf/spec.js';
import { type PerfLostCallback, type PerfRecord, type PerfSampleCallback } from './ring.js';
import { checkSlots, deleteSlot, installRing, openCPURing, releaseRings, ringPages, type CPURingBase, type HeldRings } from './cpu-rings.js';
import { closedError, DEFAULT_BATCH, type ReadOptions } from '../internal/reader/feed.js';
import { ReaderCore } from '../internal/reader/core.js';
import { pageSize } from '../internal/reader/mmap.js';
import { recordCodec } from '../internal/reader/decode.js';
import { RecordBatch, type BatchOptions } from '../internal/reader/batch.js';
import { Owner } from '../internal/owner.js';

export type { PerfLostCallback, PerfRecord, PerfSampleCallback } from './ring.js';
export type { ReadOptions } from '../internal/reader/feed.js';
export { RecordBatch, type BatchOptions } from '../internal/reader/batch.js';

/** Options of {@link PerfReader}. */
export interface PerfReaderOptions {
  /**
   * Size of each CPU's ring in bytes, rounded up to a power-of-two number of pages (the
   * kernel requires that, `perf_mmap()`). Default: 64 pages (256 KiB with 4 KiB pages). A ring
   * too small for the event rate loses samples, reported as records with `lostSamples > 0`.
   */
  perCpuBufferBytes?: number;
  /**
   * Wake the reader once this many bytes are unread in a ring (`wakeup_watermark`). Larger
   * values mean fewer wake-ups and more records per batch, at the price of latency. Must be
   * smaller than the ring. Exclusive with {@link PerfReaderOptions.wakeupEvents}.
   */
  watermark?: number;
  /**
   * Wake the reader every this many samples (`wakeup_events`). Default 1 (every sample) when
   * no watermark is set, like libbpf and cilium/ebpf.
   */
  wakeupEvents?: number;
  /** Aborting closes the reader: pending and later reads reject with a {@link ClosedError}. */
  signal?: AbortSignal;
}

/** Options of {@link PerfReader.decoded}. */
export interface PerfDecodeOptions extends DecodeOptions {
  /** BTF to resolve a type given by name (`"struct event"`) in. */
  btf?: Spec;
  /** Called for every loss report instead of handing it to the decoder. */
  onLost?: (lostSamples: number, cpu: number) => void;
}

/** Options of {@link PerfReader.forEachRecord}. */
export interface PerfForEachOptions {
  /** Called for every loss report (also summed in {@link PerfReader.lostSamples}). */
  onLost?: PerfLostCallback;
  /** Aborting ends this loop (the promise rejects with the signal's reason); the reader stays open. */
  signal?: AbortSignal;
}

/** The callbacks of a running {@link PerfReader.forEachRecord} loop. */
interface Sink {
  readonly onSample: PerfSampleCallback;
  readonly onLost: PerfLostCallback;
}

/** One ring and everything that belongs to it. */
interface CPURing extends CPURingBase {
  /**
   * The core's `wakeUps` when this ring was last emptied (-1: treated as woken by #stalled).
   * While they differ, the kernel signalled since (a wake-up of any ring counts for all: see
   * #watchAll) and the ring is *ready*. Only ready rings are read by read()/readMany(): that
   * is what makes `watermark` and `wakeupEvents` mean something — a read resolves after a
   * wake-up, not as soon as one record sits below the watermark — and it hands control back to
   * the event loop after every batch instead of chasing a producer record by record.
   */
  emptiedAt: number;
}

const owners = Owner.kind<HeldRings>('PerfReader', releaseRings);

/**
 * Reads records from a `BPF_MAP_TYPE_PERF_EVENT_ARRAY`: one `PERF_COUNT_SW_BPF_OUTPUT` perf
 * event and one mmapped ring per online CPU (offline CPUs are skipped), each installed in the
 * map at the CPU's index so that `bpf_perf_event_output(ctx, &map, BPF_F_CURRENT_CPU, …)`
 * lands in the ring of the CPU the program runs on.
 *
 * Readiness comes from the event loop (the native backend: one libuv poll handle on an epoll set
 * of all the rings' fds, like libbpf's perf_buffer; the ffi-rs fallback polls every 5 ms): no
 * thread is blocked, nothing spins. A wake-up reads every ring. Records are copied out of
 * the rings only while a read is pending, so a reader that is not read from lets the rings
 * fill and the kernel count what it drops; those counts arrive as records with
 * `lostSamples > 0` and an empty `rawSample`.
 *
 * For high event rates, {@link PerfReader.forEachRecord} (and its synchronous form
 * {@link PerfReader.consume}) hand each record to a callback in place, without an object, a
 * view or a promise per record; `read()`, `readMany()` and `for await` are built for
 * convenience. The guide docs/reading-events.md covers both, lost samples and watermarks.
 *
 * Minimum kernel: 4.4 (`PERF_COUNT_SW_BPF_OUTPUT`, `bpf_perf_event_output`).
 *
 * @example
 * ```ts
 * using reader = new PerfReader(events, { perCpuBufferBytes: 64 * 1024 });
 * for await (const record of reader) {
 *   if (record.lostSamples > 0) console.warn(`lost ${record.lostSamples} on CPU ${record.cpu}`);
 *   else handle(record.rawSample);
 * }
 * ```
 *
 * Errors: the constructor throws {@link ArgumentError} for a map that is not a perf event
 * array or bad sizes, {@link SyscallError} when `perf_event_open`, `mmap` or the map update
 * fail (everything opened so far is released first); reads reject with {@link ClosedError}
 * once the reader is closed or aborted.
 */
export class PerfReader implements AsyncIterable<PerfRecord>, Disposable {
  readonly #backend: Backend;
  readonly #map: BpfMap;
  /** The rings, in the order opened; the owner's record holds the same list. */
  readonly #rings: CPURing[] = [];
  readonly #owner: Owner<HeldRings>;
  readonly #byCPU = new Map<number, CPURing>();
  readonly #paused = new Set<number>();
  /** Readiness of the rings: one watcher of all their fds, or one per ring (see #watchAll). */
  readonly #watchers: Watcher[] = [];
  /** The read loop (src/internal/reader/core.ts). */
  readonly #core: ReaderCore<PerfRecord, Sink>;
  readonly #key = new Uint8Array(4);
  readonly #value = new Uint8Array(4);
  #next = 0;
  #lost = 0;
  /** Unread bytes from which #stalled treats a silent ring as woken. */
  readonly #rescueBytes: number;
  /** Bytes of each CPU's ring (data area, a power-of-two number of pages). */
  readonly bufferBytes: number;

  /**
   * Opens the per-CPU events, maps their rings and installs them in `map`.
   *
   * @param map a `PERF_EVENT_ARRAY` with at least as many entries as the highest online CPU
   * number + 1 (the default `maxEntries` is the number of possible CPUs).
   * @throws {@link ArgumentError}, {@link SyscallError}: see the class.
   */
  constructor(map: BpfMap, options: PerfReaderOptions = {}) {
    if (map.type !== MapType.PerfEventArray) {
      throw new ArgumentError(`PerfReader needs a PERF_EVENT_ARRAY map; ${map.name} is of type ${MapType[map.type] ?? map.type}`);
    }
    const { watermark, wakeupEvents, signal } = options;
    if (watermark !== undefined && wakeupEvents !== undefined) {
      throw new ArgumentError('PerfReader: set either watermark or wakeupEvents, not both');
    }
    const page = pageSize();
    const pages = ringPages(options.perCpuBufferBytes, page, 'PerfReader');
    this.bufferBytes = pages * page;
    this.#rescueBytes = Math.max(watermark ?? 0, this.bufferBytes >>> 1);
    if (watermark !== undefined && (!Number.isInteger(watermark) || watermark < 0 || watermark >= this.bufferBytes)) {
      throw new ArgumentError(`PerfReader: watermark ${watermark} must be an integer from 0 to less than the ring size (${this.bufferBytes} bytes)`);
    }
    if (wakeupEvents !== undefined && (!Number.isInteger(wakeupEvents) || wakeupEvents < 1)) {
      throw new ArgumentError(`PerfReader: wakeupEvents must be a positive integer, got ${wakeupEvents}`);
    }
    if (signal?.aborted) throw closedError('PerfReader', signal.reason);

    this.#backend = backend();
    this.#map = map;
    const cpus = onlineCPUs();
    checkSlots(map, cpus, 'PerfReader');

    this.#owner = new Owner(owners, this, { backend: this.#backend, map, rings: this.#rings }, 'PerfReader is closed');
    try {
      for (const cpu of cpus) this.#openRing(cpu, pages, page, { watermark, wakeupEvents });
    } catch (err) {
      this.#release();
      throw err;
    }

    this.#core = new ReaderCore<PerfRecord, Sink>('PerfReader', {
      drain: this.#drain,
      consume: this.#consumeAll,
      // The watchers live as long as the reader (see #watchAll); demand only decides whether
      // they keep the event loop alive.
      watch: (want) => this.#setRef(want),
      stalled: () => this.#stalled(),
      release: () => this.#release(),
    });
    try {
      this.#watchAll();
    } catch (err) {
      this.#release();
      throw err;
    }
    this.#setRef(false);
    this.#lookOnceWatched();
    this.#core.closeOn(signal);
  }

  /**
   * Watches every ring from now until close, not only while a read is pending: perf_poll()
   * hands out each wake-up once, and an fd added to epoll later was seen not to report a
   * wake-up that happened before (6.18), so a watcher started on demand could wait forever for
   * data that is already there. Unwatched wake-ups cost one callback each and stop when a ring
   * is full (the kernel then drops instead of waking).
   *
   * A wake-up reads every ring, not only the one that woke us, and none is told apart: with the
   * native backend's one epoll set nobody can tell (polling the set took each perf fd's
   * wake-up, perf_poll() hands it out once), and an empty ring costs one load of `data_head`.
   * Records below the watermark in the other rings go out with the batch instead of taking room
   * until their own wake-up. With one watcher per ring (the ffi-rs backend) the first callback
   * of a poll empties every ring; the later ones find nothing.
   */
  #watchAll(): void {
    const b = this.#backend;
    const fds = this.#rings.map((r) => r.fd);
    const wake = this.#core.wake;
    // One watcher for all rings where the backend has it (the native addon: one epoll set,
    // one callback per wake-up); else one per ring, each callback reading every ring.
    if (b.watchAny !== undefined) this.#watchers.push(b.watchAny(fds, POLLIN, wake));
    else for (const fd of fds) this.#watchers.push(b.watch(fd, POLLIN, wake));
  }

  /**
   * Reads every ring once, as soon as libuv has put the watchers into its epoll set. libuv adds
   * a new poll handle only in its next poll phase, and adding a file to an epoll set polls it
   * (ep_insert()) while reporting it polls it again (ep_send_events()): perf_poll() hands a
   * wake-up to the first of the two only, so a wake-up from before that poll phase is lost.
   * If the rings fill meanwhile — a producer that starts right after the reader, faster than
   * the event loop gets going — no further wake-up comes, and only the safety net (#stalled)
   * would end the stall, 100 ms later (seen at the start of `npm run bench:perf`). The look
   * runs in the check phase after that poll phase: the second setImmediate from now (the first
   * one runs before it when the reader is created in a poll-phase callback). Unref'd: it does
   * not keep the process alive.
   */
  #lookOnceWatched(): void {
    setImmediate(() => {
      setImmediate(() => this.#core.look()).unref();
    }).unref();
  }

  #openRing(cpu: number, pages: number, page: number, wakeup: { watermark?: number | undefined; wakeupEvents?: number | undefined }): void {
    const w: { watermark?: number; wakeupEvents?: number } = {};
    if (wakeup.watermark !== undefined) w.watermark = wakeup.watermark;
    if (wakeup.wakeupEvents !== undefined) w.wakeupEvents = wakeup.wakeupEvents;
    const entry: CPURing = { ...openCPURing(this.#backend, cpu, pages, page, w), emptiedAt: 0 };
    this.#rings.push(entry);
    this.#byCPU.set(cpu, entry);
    // Installed last: once in the map, programs write to it. A failure here still leaves
    // the ring in #rings, so releaseRings() unmaps and closes it.
    this.#install(cpu);
  }

  /**
   * Whether the watchers keep the event loop alive: only while someone reads, so an idle
   * reader does not keep the process running. The ffi-rs backend's timer cannot be unref'd
   * per watcher: there an open reader keeps the process alive until close().
   */
  #setRef(ref: boolean): void {
    for (const watcher of this.#watchers) {
      const w = watcher as Watcher & { ref?: () => void; unref?: () => void };
      if (ref) w.ref?.();
      else w.unref?.();
    }
  }

  /**
   * The safety net's check (the why is in src/internal/reader/core.ts; one way to lose a
   * wake-up is known and handled: the start-up race of #lookOnceWatched): a ring more than half
   * full (or past its watermark, if that is higher) that has not signalled is marked woken.
   * With wakeupEvents the half-full threshold keeps the "every n samples" meaning.
   */
  #stalled(): boolean {
    const woken = this.#core.wakeUps;
    let found = false;
    for (const r of this.#rings) {
      if (r.emptiedAt === woken && r.ring.pending() >= this.#rescueBytes) {
        r.emptiedAt = -1;
        found = true;
      }
    }
    return found;
  }

  #install(cpu: number): void {
    installRing(this.#map, cpu, this.#byCPU.get(cpu)!.fd, this.#key, this.#value);
  }

  #uninstall(cpu: number): void {
    deleteSlot(this.#map, this.#key, cpu);
  }

  /** Constructor failure and close: stops watching, then the owner releases the rings (releaseRings). */
  #release(): void {
    for (const w of this.#watchers.splice(0)) w.stop();
    this.#owner.close();
    this.#byCPU.clear();
  }

  readonly #drain = (out: PerfRecord[], max: number, everything: boolean): number => {
    const rings = this.#rings;
    const n = rings.length;
    const woken = this.#core.wakeUps;
    let got = 0;
    // Start one ring further each time so that a busy CPU cannot starve the others when a
    // batch limit stops the walk early.
    const start = this.#next;
    this.#next = start + 1 >= n ? 0 : start + 1;
    for (let i = 0; i < n && got < max; i++) {
      let j = start + i;
      if (j >= n) j -= n;
      const r = rings[j]!;
      if (r.emptiedAt === woken && !everything) continue;
      const before = out.length;
      const k = r.ring.readInto(out, max - got);
      // Emptied (up to what the kernel had published): wait for its next wake-up.
      if (got + k < max) r.emptiedAt = woken;
      got += k;
      // Loss reports are rare: summing them here keeps the read paths free of extra promises.
      for (let x = before; x < out.length; x++) this.#lost += out[x]!.lostSamples;
    }
    return got;
  };

  /**
   * forEachRecord: hands everything the rings have published to the loop's callbacks (per
   * ring one batch, one data_tail store).
   */
  readonly #consumeAll = (sink: Sink): number => {
    const core = this.#core;
    const rings = this.#rings;
    const woken = core.wakeUps;
    let n = 0;
    for (let i = 0; i < rings.length; i++) {
      const r = rings[i]!;
      r.emptiedAt = woken;
      n += r.ring.consume(sink.onSample, sink.onLost, Infinity);
      if (core.sink !== sink) break;
    }
    return n;
  };

  /** The CPUs that have a ring (the CPUs online when the reader was created), ascending. */
  get cpus(): number[] {
    return this.#rings.map((r) => r.cpu);
  }

  /** Sum of `lostSamples` of every loss report copied out of the rings so far. */
  get lostSamples(): number {
    return this.#lost;
  }

  /** Records of types other than SAMPLE and LOST skipped so far. */
  get unknownRecords(): number {
    let n = 0;
    for (const r of this.#rings) n += r.ring.unknownRecords;
    return n;
  }

  /** True once closed (by {@link PerfReader.close} or the AbortSignal). */
  get closed(): boolean {
    return this.#owner.closed;
  }

  /**
   * The next record: a sample, or a loss report (`lostSamples > 0`, empty `rawSample`).
   * Resolves once a ring with records has woken the reader (every sample by default; with
   * `watermark`, once that many bytes are unread; see {@link PerfReader.readAvailable} for
   * the rest).
   *
   * @example
   * ```ts
   * const { cpu, rawSample, lostSamples } = await reader.read();
   * ```
   * @throws (rejects with) {@link ClosedError} if the reader is or gets closed; the
   * `options.signal`'s reason if that aborts first.
   */
  read(options?: ReadOptions): Promise<PerfRecord> {
    return this.#core.read(options);
  }

  /**
   * Between 1 and `max` records (default: up to 4096) from the rings that woke the reader, as
   * soon as there is one: one promise per batch instead of per record, for high event rates.
   *
   * @example
   * ```ts
   * for (;;) for (const r of await reader.readMany()) handle(r);
   * ```
   * @throws (rejects with) {@link ClosedError} as {@link PerfReader.read}.
   */
  readMany(max: number = DEFAULT_BATCH, options?: ReadOptions): Promise<PerfRecord[]> {
    return this.#core.readMany(max, options);
  }

  /**
   * Every record in the rings now, without waiting (possibly none), including records below
   * the watermark that have not woken the reader yet: for callers that drive reading
   * themselves, e.g. a final drain before close (like libbpf's `perf_buffer__consume()`).
   *
   * @throws {@link ClosedError} after close.
   */
  readAvailable(max: number = DEFAULT_BATCH): PerfRecord[] {
    return this.#core.readAvailable(max);
  }

  /**
   * The fast path, synchronous: hands every record in the rings now to the callbacks, in place
   * — no object, view or copy per record (only a sample that wraps around a ring's end is
   * copied, into a scratch buffer) — and returns how many records it handed over. Like
   * libbpf's `perf_buffer__consume()`, it reads every ring, including records below the
   * watermark. A ring's `data_tail` is written after its last callback returned, and every
   * 16 KiB of a long batch (a quarter of a smaller ring) so that the kernel gets room back
   * while the rest is read.
   *
   * The `bytes` given to `onSample` is the kernel's ring: read the sample during the call and
   * copy what you keep. Calling {@link PerfReader.close} from a callback stops the walk.
   *
   * @param onSample called per sample with `(cpu, bytes, offset, length)`: the sample is
   * `bytes[offset .. offset + length)`, padding included (see {@link PerfRecord.rawSample}).
   * @param onLost called per loss report; losses are summed in {@link PerfReader.lostSamples}
   * either way.
   * @param max stop after this many records (default: all).
   * @example
   * ```ts
   * let bytesSeen = 0;
   * reader.consume((cpu, bytes, offset, length) => {
   *   bytesSeen += length;
   *   if (length >= 8 && bytes[offset] === 0x2a) console.log(`answer from CPU ${cpu}`);
   * });
   * ```
   * Allowed while {@link PerfReader.forEachRecord} runs (e.g. a final drain of what sits
   * below the watermark).
   *
   * @throws {@link ClosedError} after close; whatever a callback throws (the record it threw on
   * counts as consumed).
   */
  consume(onSample: PerfSampleCallback, onLost?: PerfLostCallback, max = Infinity): number {
    if (this.#core.closedError !== undefined) throw this.#core.closedError;
    const lost = this.#lostCounter(onLost);
    let n = 0;
    for (const r of this.#rings) {
      if (n >= max) break;
      n += r.ring.consume(onSample, lost, max - n);
      if (this.#core.closedError !== undefined) break;
    }
    return n;
  }

  /**
   * The fast path, asynchronous: calls `onSample` for every sample (and `options.onLost` for
   * every loss report) straight from the event loop's readiness callbacks until the reader is
   * closed — no promise, object or copy per record or per batch. Each time a ring wakes the
   * reader (every sample, or every `watermark` bytes) everything the rings have published is
   * handed over and each ring's `data_tail` written (as in {@link PerfReader.consume}). Use it
   * instead of `for await` when the event rate is high; the callback arguments are as in
   * {@link PerfReader.consume}.
   *
   * One loop at a time; `read()` and `readMany()` reject while it runs (they would wait for
   * wake-ups the loop consumes); the synchronous `readAvailable()` and `consume()` still work.
   * While it runs, the watchers keep the process alive.
   *
   * @returns a promise that resolves when the reader is closed (or aborted by its own signal),
   * and rejects with the error a callback threw (the loop then ends; the reader stays open) or
   * with `options.signal`'s reason.
   * @example
   * ```ts
   * let events = 0;
   * await reader.forEachRecord((cpu, bytes, offset, length) => {
   *   events++;
   * }, { onLost: (cpu, n) => console.warn(`lost ${n} on CPU ${cpu}`) });
   * ```
   */
  forEachRecord(onSample: PerfSampleCallback, options: PerfForEachOptions = {}): Promise<void> {
    const core = this.#core;
    const sink: Sink = { onSample, onLost: this.#lostCounter(options.onLost) };
    const done = core.loop(sink, options.signal);
    // Look at every ring once: a wake-up that came before this loop started has been
    // consumed already (perf_poll() hands each out once), and data may sit below the watermark.
    queueMicrotask(() => {
      if (core.sink === sink) core.pump();
    });
    return done;
  }

  /**
   * The fast path for async code: yields the records in batches — one {@link RecordBatch},
   * reused, holding every record the rings have published (up to `options.max`), their bytes
   * copied into one reused buffer; no object, view or promise per record. A batch is valid until
   * the loop asks for the next one (copy what you keep). Loss reports are not records here: they
   * are summed in the batch's `lostSamples` (and {@link PerfReader.lostSamples}).
   *
   * Like {@link PerfReader.consume}, each batch reads every ring, records below the watermark
   * included; the iteration waits for a wake-up (every sample, or every `watermark` bytes) only
   * when the rings are empty. Ends when the reader is closed. One iteration (or
   * {@link PerfReader.forEachRecord} loop) at a time; `read()` and `readMany()` reject while it
   * runs. Leaving the loop (`break`) ends it; the reader stays open.
   *
   * @example
   * ```ts
   * for await (const batch of reader.batches()) {
   *   for (let i = 0; i < batch.count; i++) handle(batch.cpu(i), batch.bytes, batch.offset(i), batch.length(i));
   * }
   * ```
   * @throws {@link ArgumentError} for a bad `max`, or when another iteration or loop runs;
   * `options.signal`'s reason when it aborts.
   */
  batches(options?: BatchOptions): AsyncGenerator<RecordBatch, void, undefined> {
    const batch = new RecordBatch();
    const onLost: PerfLostCallback = (_cpu, n) => {
      this.#lost += n;
      batch.lostSamples += n;
    };
    return this.#core.batches(batch, (b, max) => this.#fillBatch(b, max, onLost), options);
  }

  /** batches(): every ring into `batch`, starting one ring further each time (see #drain). */
  #fillBatch(batch: RecordBatch, max: number, onLost: PerfLostCallback): number {
    batch.reset();
    const rings = this.#rings;
    const n = rings.length;
    const woken = this.#core.wakeUps;
    const start = this.#next;
    this.#next = start + 1 >= n ? 0 : start + 1;
    let got = 0;
    for (let i = 0; i < n && got < max; i++) {
      let j = start + i;
      if (j >= n) j -= n;
      const r = rings[j]!;
      r.emptiedAt = woken;
      got += r.ring.readIntoBatch(batch, max - got, onLost);
    }
    return got;
  }

  /** The loss callback the rings get: sums into lostSamples, then calls the caller's. */
  #lostCounter(onLost: PerfLostCallback | undefined): PerfLostCallback {
    return (cpu, n) => {
      this.#lost += n;
      onLost?.(cpu, n);
    };
  }

  /**
   * Async iteration over every record; ends (without error) when the reader is closed or
   * aborted.
   */
  [Symbol.asyncIterator](): AsyncIterator<PerfRecord> {
    return this.#core.records();
  }

  /**
   * Decodes every sample with a codec, or with BTF (`decodeValue`), and yields the JS objects;
   * loss reports go to `options.onLost` (and {@link PerfReader.lostSamples}), never to the
   * decoder. Ends when the reader is closed. Samples shorter than the type throw an
   * {@link ArgumentError}.
   *
   * @param type a {@link Codec} (`btf.codecFor(…)`), a BTF type, or a name like
   * `"struct event"` looked up in `options.btf` (the decode options apply to BTF types only).
   * @example
   * ```ts
   * for await (const ev of reader.decoded('struct event', { btf: spec.btf, charArraysAsStrings: true })) console.log(ev);
   * for await (const ev of reader.decoded(btf.codecFor<Event>(spec.btf, 'struct event'))) console.log(ev.pid);
   * ```
   */
  decoded<T>(type: Codec<T>, options?: PerfDecodeOptions): AsyncGenerator<T, void, undefined>;
  decoded(type: Type | string, options?: PerfDecodeOptions): AsyncGenerator<DecodedValue, void, undefined>;
  async *decoded<T>(type: Codec<T> | Type | string, options: PerfDecodeOptions = {}): AsyncGenerator<T | DecodedValue, void, undefined> {
    const codec = recordCodec(type, options);
    const { onLost } = options;
    for await (const r of this) {
      if (r.lostSamples > 0) {
        onLost?.(r.lostSamples, r.cpu);
        continue;
      }
      yield codec.decode(r.rawSample);
    }
  }

  /**
   * Stops `bpf_perf_event_output()` on `cpu` from reaching this reader by deleting the CPU's
   * map slot: the program's calls then fail with ENOENT (they are not counted as lost).
   * Idempotent.
   *
   * @throws {@link ArgumentError} if the reader has no ring for `cpu`; {@link ClosedError}.
   */
  pause(cpu: number): void {
    this.#ringOf(cpu, 'pause');
    if (this.#paused.has(cpu)) return;
    this.#uninstall(cpu);
    this.#paused.add(cpu);
  }

  /**
   * Undoes {@link PerfReader.pause}: puts the CPU's event back in its map slot. Idempotent.
   *
   * @throws {@link ArgumentError} if the reader has no ring for `cpu`; {@link ClosedError}.
   */
  resume(cpu: number): void {
    this.#ringOf(cpu, 'resume');
    if (!this.#paused.has(cpu)) return;
    this.#install(cpu);
    this.#paused.delete(cpu);
  }

  #ringOf(cpu: number, what: string): CPURing {
    if (this.#core.closedError !== undefined) throw this.#core.closedError;
    const r = this.#byCPU.get(cpu);
    if (r === undefined) throw new ArgumentError(`PerfReader.${what}: no ring for CPU ${cpu} (rings: ${this.cpus.join(', ')})`);
    return r;
  }

  /**
   * Removes the events from the map, unmaps the rings and closes the fds. Pending reads
   * reject with a {@link ClosedError}. Records still in the rings are discarded: call
   * {@link PerfReader.readAvailable} first to keep them. Idempotent.
   */
  close(): void {
    this.#core.close(closedError('PerfReader'));
  }

  /** Same as {@link PerfReader.close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
