/**
 * One CPU's perf ring buffer, as `perf_event_open(2)` + `mmap(2)` expose it, and the parser of
 * the records a `BPF_MAP_TYPE_PERF_EVENT_ARRAY` writes into it.
 *
 * ```
 *  mmap(fd, (1 + 2^n) * PAGE_SIZE)
 *  ┌──────────────────────────── metadata page: struct perf_event_mmap_page ─────────────┐
 *  │ version, lock, index, … (ignored here)                                              │
 *  │ @1024 data_head   u64  kernel → us: bytes written so far (free-running, never wraps │
 *  │                        back to 0); read with ACQUIRE before reading records         │
 *  │ @1032 data_tail   u64  us → kernel: bytes consumed so far; written with RELEASE     │
 *  │                        only after the records below it are copied out               │
 *  │ @1040 data_offset u64  where the data area starts in the mapping (4.1+, else 1 page) │
 *  │ @1048 data_size   u64  size of the data area, 2^n pages (4.1+, else length - 1 page) │
 *  ├──────────────────────────── data area: 2^n pages, a ring ───────────────────────────┤
 *  │ … │ hdr│u32 size│raw bytes+pad │ hdr│id│lost │ hdr│u32 size│raw by│                 │
 *  │   ^ data_tail & mask                           ^ data_head & mask     tes+pad ──┐   │
 *  │ ←── the last record may straddle the end: its tail continues at offset 0 ───────┘   │
 *  └──────────────────────────────────────────────────────────────────────────────────────┘
 *  record  = struct perf_event_header { u32 type; u16 misc; u16 size }  + body
 *  SAMPLE  (type 9) with sample_type = PERF_SAMPLE_RAW: u32 size, then `size` bytes. The kernel
 *           rounds `4 + size` up to 8 (perf_prepare_sample()), so `size` includes the padding.
 *  LOST    (type 2): u64 id, u64 lost — samples dropped because the ring was full.
 *  others  skipped whole, by header.size.
 * ```
 *
 * The kernel writes a LOST record only when the next sample finds room again
 * (`perf_output_begin()` emits the pending `rb->lost` first), so a ring that stays full reports
 * its losses late, never twice.
 *
 * Three ways out of a ring, one parser:
 * - in place: headers are read through Uint32Array/Uint16Array views of the mapping (native
 *   byte order, which is the kernel's), samples are handed to a callback as (buffer, offset,
 *   length) into the mapping itself; only a sample that wraps around the end is copied, into a
 *   scratch buffer of the ring. Nothing is allocated per record.
 * - as objects ({@link PerfRing.readInto}): the published bytes are first copied out with one
 *   or two memcpys into one new buffer per batch (which also straightens wrapped records) and
 *   the same parser walks that copy; per record only the sample view and the record object are
 *   allocated.
 * - into a reused batch ({@link PerfRing.readIntoBatch}, `batches()`): the same copy, into the
 *   batch's own buffer, where the parser only notes each sample's place.
 * Either way `data_tail` is written after the records were handed over: once per batch, and in
 * place also every {@link RELEASE_BYTES} of a long batch.
 *
 * @module
 */
import type { Mapping } from '../sys/backend.js';
import { hostLittleEndian } from '../sys/attr.js';
import type { RecordBatch } from '../internal/reader/batch.js';

/** `PERF_RECORD_LOST` (include/uapi/linux/perf_event.h). */
export const PERF_RECORD_LOST = 2;
/** `PERF_RECORD_SAMPLE`. */
export const PERF_RECORD_SAMPLE = 9;

/** Offset of `data_head` in `struct perf_event_mmap_page`. */
export const DATA_HEAD_OFFSET = 1024;
/** Offset of `data_tail`. */
export const DATA_TAIL_OFFSET = 1032;
/** Offset of `data_offset` (Linux 4.1+; 0 before). */
export const DATA_OFFSET_OFFSET = 1040;
/** Offset of `data_size` (Linux 4.1+; 0 before). */
export const DATA_SIZE_OFFSET = 1048;

/** `sizeof(struct perf_event_header)`. */
const HEADER_SIZE = 8;

/** In a long consume() batch, `data_tail` is advanced every this many bytes (see consume()). */
export const RELEASE_BYTES = 16 * 1024;

/** Samples up to this size that wrap around a ring's end are straightened by a loop, not views. */
const STRAIGHTEN_BY_LOOP = 512;

/**
 * Most bytes copied out of a ring per batch. Larger than any record (header.size is a u16),
 * small enough that a huge ring is not copied whole for a read that wants few records.
 */
export const SLAB_BYTES = 256 * 1024;

/**
 * One record read from a perf event array.
 *
 * A sample has `lostSamples === 0` and the bytes the BPF program passed to
 * `bpf_perf_event_output()` in `rawSample`, followed by up to 7 bytes of padding (the kernel
 * aligns the raw data to 8 bytes and reports the padded size). A loss report has
 * `lostSamples > 0` and an empty `rawSample`: never hand it to a decoder.
 */
export interface PerfRecord {
  /** The CPU whose ring the record came from. */
  readonly cpu: number;
  /**
   * The sample's bytes, padded by the kernel to 8 bytes minus 4 (the padding is not cleared:
   * expect stale bytes there); empty for a loss report. A view into a buffer shared with the
   * other records of the same batch and owned by the caller: `slice()` it to keep one sample
   * without keeping its batch.
   */
  readonly rawSample: Uint8Array;
  /** Samples the kernel dropped on this CPU because the ring was full; 0 for a sample. */
  readonly lostSamples: number;
}

/** The shared, empty `rawSample` of every loss report (no allocation per LOST record). */
export const EMPTY_SAMPLE: Uint8Array = new Uint8Array(0);

/**
 * The {@link PerfRecord}s readInto() and readRecentInto() make. Made with `new`, not as object
 * literals: V8 may pretenure a literal's allocation site once most of its objects survive a
 * young GC (a batch kept across one does), and records allocated in the old generation would
 * then keep their views alive through young GCs until the next full one (see the reader
 * core's Waiter).
 */
class Record implements PerfRecord {
  readonly cpu: number;
  readonly rawSample: Uint8Array;
  readonly lostSamples: number;

  constructor(cpu: number, rawSample: Uint8Array, lostSamples: number) {
    this.cpu = cpu;
    this.rawSample = rawSample;
    this.lostSamples = lostSamples;
  }
}

/**
 * The two ordered accesses of `data_head`/`data_tail` as 64-bit values: what a test gives a
 * {@link PerfRing} to watch (and log) them. Without one, the ring does them itself (see
 * {@link PerfRing}'s constructor).
 */
export interface RingAtomics {
  /** `smp_load_acquire` of a u64 in the mapping. */
  loadAcquire64(mapping: Mapping, offset: number): bigint;
  /** `smp_store_release` of a u64 in the mapping. */
  storeRelease64(mapping: Mapping, offset: number, value: bigint): void;
}

/**
 * Receives one sample in place: its bytes are `bytes[offset .. offset + length)` (the raw data
 * the program passed to `bpf_perf_event_output()`, followed by up to 7 bytes of kernel padding,
 * as in {@link PerfRecord.rawSample}). `bytes` is the kernel's ring itself (or, for a sample
 * that wraps around the ring's end, a scratch buffer): valid only until the callback returns.
 * Copy what you keep.
 */
export type PerfSampleCallback = (cpu: number, bytes: Uint8Array, offset: number, length: number) => void;

/** Receives a loss report: the kernel dropped `lostSamples` samples on `cpu` (ring full). */
export type PerfLostCallback = (cpu: number, lostSamples: number) => void;

/** The typed views one parse walks over: the ring's data area, or a batch's copy of it. */
interface Area {
  readonly bytes: Uint8Array;
  /** Same bytes as u32/u16 in host order (the kernel writes headers in host order). */
  readonly words: Uint32Array;
  readonly halves: Uint16Array;
  /** `size - 1` of a ring; 0x7fffffff for a straight copy (offsets never wrap there). */
  readonly mask: number;
}

const U32_HIGH = 2 ** 32;

/**
 * Reads records out of one mmapped perf ring. The owner (the reader) maps and unmaps; this
 * class only reads, and writes `data_tail`.
 * @internal
 */
export class PerfRing {
  /** The CPU this ring belongs to (stamped on every record). */
  readonly cpu: number;
  readonly #mapping: Mapping;
  /** A test's accessors of data_head/data_tail, or undefined for our own (#meta). */
  readonly #atomics: RingAtomics | undefined;
  /** The metadata page as host-order u32 words, for Atomics on data_head and data_tail. */
  readonly #meta: Uint32Array;
  /** Indexes in #meta of the low and high words of data_head and data_tail. */
  readonly #headLow: number;
  readonly #headHigh: number;
  readonly #tailLow: number;
  readonly #tailHigh: number;
  /** The high word of data_tail as last written (it changes every 4 GiB). */
  #tailHighWritten: number;
  /** The data area, as bytes and as host-order words (views created once). */
  readonly #ring: Area;
  /** Size of the data area (a power of two). */
  readonly size: number;
  /**
   * Our copy of `data_tail`. Only we write it, so there is no need to read it back; a JS
   * number is exact up to 2^53 bytes (decades at any rate the kernel can write).
   */
  #tail: number;
  /** Where a sample that wraps around the ring's end is made contiguous (allocated on first use). */
  #scratch: Uint8Array | undefined;
  /** Records handed over by the last parse (samples and loss reports). */
  #count = 0;
  /** Bytes the last parse moved past (what `data_tail` advances by). */
  #progress = 0;
  /** Of those, bytes already given back to the kernel during the parse (consume()). */
  #released = 0;
  /** consume() gives the kernel back its space every this many bytes (see consume()). */
  readonly #releaseEvery: number;
  /** Set by {@link PerfRing.stop}: the mapping is going away, touch nothing more. */
  #stopped = false;
  /** Records of unknown types skipped so far. */
  unknownRecords = 0;

  /**
   * `atomics`: for tests, accessors that replace the ring's own. Those are `Atomics.load` and
   * `Atomics.store` on u32 words of the metadata page: sequentially consistent, hence at least
   * the acquire and release the ring needs (a plain MOV load and an XCHG store on x86-64,
   * LDAR/STLR on arm64: the reasoning of src/sys/backend-ffi.ts's loadAcquire64), with no call
   * into the backend and no BigInt per access — a wake-up costs a few nanoseconds per ring
   * here instead of an N-API call and BigInt conversions.
   *
   * Only the low words are ordered, and that is all the kernel needs: it only ever uses
   * `data_tail` modulo the ring size (`CIRC_SPACE()` in perf_output_begin(), since 4.4 at least;
   * `ring_buffer_has_space()` today), and the bytes published, `data_head - data_tail`, never
   * exceed the ring size (≤ 1 GiB here), so they are exact modulo 2^32. `data_tail`'s high word
   * is written after the low one, and only when it changes (every 4 GiB): a value the kernel
   * might read in between differs from the real one by 2^32, a multiple of the ring size.
   */
  constructor(cpu: number, mapping: Mapping, pageSize: number, atomics?: RingAtomics) {
    this.cpu = cpu;
    this.#mapping = mapping;
    this.#atomics = atomics;
    this.#meta = new Uint32Array(mapping.buffer, 0, pageSize >>> 2);
    const low = hostLittleEndian ? 0 : 1;
    this.#headLow = (DATA_HEAD_OFFSET >>> 2) + low;
    this.#headHigh = (DATA_HEAD_OFFSET >>> 2) + 1 - low;
    this.#tailLow = (DATA_TAIL_OFFSET >>> 2) + low;
    this.#tailHigh = (DATA_TAIL_OFFSET >>> 2) + 1 - low;
    const meta = new DataView(mapping.buffer, 0, pageSize);
    // data_offset/data_size appeared in 4.1 (commit e8c6deac69629, "perf: Add data_{offset,size}
    // to user_page"); earlier kernels leave them 0 and the data follows the metadata page.
    let offset = Number(meta.getBigUint64(DATA_OFFSET_OFFSET, hostLittleEndian));
    let size = Number(meta.getBigUint64(DATA_SIZE_OFFSET, hostLittleEndian));
    if (size === 0) {
      offset = pageSize;
      size = mapping.length - pageSize;
    }
    if (size <= 0 || (size & (size - 1)) !== 0 || offset + size > mapping.length || offset % 8 !== 0 || size > 2 ** 30) {
      throw new RangeError(`perf ring of CPU ${cpu}: data area ${offset}+${size} does not fit a ${mapping.length}-byte mapping as a power of two`);
    }
    this.size = size;
    this.#releaseEvery = Math.min(RELEASE_BYTES, size >>> 2);
    this.#ring = {
      bytes: new Uint8Array(mapping.buffer, offset, size),
      words: new Uint32Array(mapping.buffer, offset, size >>> 2),
      halves: new Uint16Array(mapping.buffer, offset, size >>> 1),
      mask: size - 1,
    };
    this.#tail = Number(meta.getBigUint64(DATA_TAIL_OFFSET, hostLittleEndian));
    this.#tailHighWritten = Math.floor(this.#tail / U32_HIGH);
  }

  /** Bytes published and not consumed: `data_head` (acquire) minus our tail, modulo 2^32. */
  #published(): number {
    const a = this.#atomics;
    const head = a === undefined ? Atomics.load(this.#meta, this.#headLow) : Number(BigInt.asUintN(32, a.loadAcquire64(this.#mapping, DATA_HEAD_OFFSET)));
    return (head - this.#tail) >>> 0;
  }

  /** Moves `data_tail` forward by `used` bytes (release). */
  #advance(used: number): void {
    const tail = this.#tail + used;
    this.#tail = tail;
    const a = this.#atomics;
    if (a !== undefined) {
      a.storeRelease64(this.#mapping, DATA_TAIL_OFFSET, BigInt(tail));
      return;
    }
    Atomics.store(this.#meta, this.#tailLow, tail >>> 0);
    const high = Math.floor(tail / U32_HIGH);
    if (high !== this.#tailHighWritten) {
      this.#tailHighWritten = high;
      Atomics.store(this.#meta, this.#tailHigh, high);
    }
  }

  /**
   * Ends parsing for good (the owner is about to unmap): a walk in progress — the owner may be
   * closed from inside a callback — stops after the current record and writes nothing.
   */
  stop(): void {
    this.#stopped = true;
  }

  /** Bytes published by the kernel and not consumed yet (one acquire load). */
  pending(): number {
    return this.#published();
  }

  /**
   * Hands up to `max` records to the callbacks, in place (see {@link PerfSampleCallback}), and
   * returns how many it handed over (samples and loss reports). `data_tail` is advanced, with
   * release ordering, after the last callback returned — also when a callback throws: the
   * record it threw on counts as delivered, and the error propagates — and, in a long batch,
   * also every {@link RELEASE_BYTES} (a quarter of a smaller ring) once the callbacks of those
   * records have returned: the kernel gets room back while the rest is read, instead of
   * dropping samples until the whole batch is done (a full ring takes a while to walk, and the
   * reader may be preempted meanwhile). A record's bytes are valid only during its callback
   * either way.
   */
  consume(onSample: PerfSampleCallback, onLost: PerfLostCallback | undefined, max: number): number {
    if (max <= 0 || this.#stopped) return 0;
    const published = this.#published();
    if (published === 0) return 0;
    try {
      this.#parse(this.#ring, this.#tail & this.#ring.mask, published, published, max, onSample, onLost, this.#releaseEvery);
    } finally {
      // #parse keeps #progress and #released exact even when a callback throws.
      const rest = this.#progress - this.#released;
      if (rest > 0 && !this.#stopped) this.#advance(rest);
    }
    return this.#count;
  }

  /**
   * Appends up to `max` records to `out` as objects and returns how many it appended.
   *
   * The published bytes (at most {@link SLAB_BYTES}) are first copied out in one or two
   * memcpys into a fresh buffer — which also straightens a record that wraps around the end —
   * and `data_tail` is then advanced past the records parsed, once, with release ordering, so
   * the kernel never overwrites bytes still being read. Samples are views into that buffer:
   * one allocation per batch instead of one per record.
   */
  readInto(out: PerfRecord[], max: number): number {
    if (max <= 0) return 0;
    const published = this.#published();
    if (published === 0) return 0;
    const tail = this.#tail;
    const ring = this.#ring;
    const avail = Math.min(published, SLAB_BYTES, this.size);
    // Rounded up to 8 so that the u32/u16 views cover it (records are 8-byte multiples).
    const buffer = new ArrayBuffer((avail + 7) & ~7);
    const slab = new Uint8Array(buffer);
    const off = tail & ring.mask;
    const first = Math.min(avail, this.size - off);
    slab.set(ring.bytes.subarray(off, off + first), 0);
    if (first < avail) slab.set(ring.bytes.subarray(0, avail - first), first);
    const copy: Area = { bytes: slab, words: new Uint32Array(buffer), halves: new Uint16Array(buffer), mask: 0x7fffffff };
    const cpu = this.cpu;
    this.#parse(
      copy,
      0,
      avail,
      published,
      max,
      (_cpu, bytes, offset, length) => {
        out.push(new Record(cpu, bytes.subarray(offset, offset + length), 0));
      },
      (_cpu, lostSamples) => {
        out.push(new Record(cpu, EMPTY_SAMPLE, lostSamples));
      },
    );
    const used = this.#progress;
    if (used > 0) this.#advance(used);
    return this.#count;
  }

  /**
   * batches(): copies the published bytes (at most {@link SLAB_BYTES}) into `batch` in one or
   * two memcpys, notes the samples in that copy (RecordBatch.addCopied: no per-record copy),
   * sends loss reports to `onLost`, and advances `data_tail` past up to `max` records right
   * after — a walk with no user callback in it, so the kernel gets its room back within
   * microseconds of the wake-up, whatever the consumer then does with the batch. Returns how
   * many records (samples and loss reports) it took.
   */
  readIntoBatch(batch: RecordBatch, max: number, onLost: PerfLostCallback): number {
    if (max <= 0 || this.#stopped) return 0;
    const published = this.#published();
    if (published === 0) return 0;
    const ring = this.#ring;
    const avail = Math.min(published, SLAB_BYTES, this.size);
    const at = batch.room(avail);
    const area = batch.area();
    const off = this.#tail & ring.mask;
    const first = Math.min(avail, this.size - off);
    area.bytes.set(ring.bytes.subarray(off, off + first), at);
    if (first < avail) area.bytes.set(ring.bytes.subarray(0, avail - first), at + first);
    this.#parse(area, at, avail, published, max, batch.addCopied, onLost);
    const used = this.#progress;
    batch.used(at + used);
    if (used > 0) this.#advance(used);
    return this.#count;
  }

  /**
   * An overwritable ring (`write_backward`, mapped read-only): appends up to `max` of the
   * records it holds now to `out`, newest first, and returns how many. Reads nothing back to
   * the kernel (there is no data_tail to write).
   *
   * The kernel writes such a ring downwards: `data_head` starts at 0 and drops by each
   * record's size (__perf_output_begin() with `backward`), so the newest record starts at
   * `data_head & mask`, the next older one right after it, and so on; `-data_head` bytes were
   * written in all. The window read is the ring's size from `data_head` (or fewer bytes if
   * fewer were written); the oldest record in it may run past the window's end, where newer
   * records overwrote its tail, and is left out. The caller pauses the ring first
   * (PERF_EVENT_IOC_PAUSE_OUTPUT); a write that had begun before the pause publishes a new
   * `data_head` when it ends, so the copy is taken again when the head moved meanwhile.
   */
  readRecentInto(out: PerfRecord[], max: number): number {
    if (max <= 0 || this.#stopped) return 0;
    const ring = this.#ring;
    const size = this.size;
    let slab = new Uint8Array(0);
    let avail = 0;
    for (let attempt = 0; attempt < 4; attempt++) {
      const low = Atomics.load(this.#meta, this.#headLow);
      const high = Atomics.load(this.#meta, this.#headHigh);
      // -data_head as a u64: the bytes written since the event was opened.
      const written = low === 0 && high === 0 ? 0 : (U32_HIGH - high - 1) * U32_HIGH + (U32_HIGH - low);
      avail = Math.min(written, size);
      slab = new Uint8Array((avail + 7) & ~7);
      const off = low & ring.mask;
      const first = Math.min(avail, size - off);
      slab.set(ring.bytes.subarray(off, off + first), 0);
      if (first < avail) slab.set(ring.bytes.subarray(0, avail - first), first);
      if (Atomics.load(this.#meta, this.#headLow) === low && Atomics.load(this.#meta, this.#headHigh) === high) break;
    }
    if (avail === 0) return 0;
    const buffer = slab.buffer;
    const copy: Area = { bytes: slab, words: new Uint32Array(buffer), halves: new Uint16Array(buffer), mask: 0x7fffffff };
    const cpu = this.cpu;
    // `published` unbounded: the record cut by the window's end is not corrupt, only
    // incomplete, and stops the walk like a record that continues past a batch copy.
    this.#parse(
      copy,
      0,
      avail,
      Infinity,
      max,
      (_cpu, bytes, offset, length) => {
        out.push(new Record(cpu, bytes.subarray(offset, offset + length), 0));
      },
      (_cpu, lostSamples) => {
        out.push(new Record(cpu, EMPTY_SAMPLE, lostSamples));
      },
    );
    return this.#count;
  }

  /**
   * The record parser. Walks `area` from offset `start` over at most `avail` bytes (the whole
   * published region for the ring itself, the copied part for a batch copy); `published` is
   * what the kernel published from there (a header claiming more is corrupt). Offsets relative
   * to `start` stay small integers, so the loop does no float arithmetic. Progress is kept in
   * #progress/#count as it goes, so that a throwing callback leaves them exact.
   *
   * Runs of samples go through #samples, a loop that meets nothing else; every other record
   * (a loss report, an unknown type, a corrupt header, one that continues past a copy) through
   * #other, one at a time. The split keeps the hot loop's optimized code valid when the first
   * loss report comes, seconds into a run: V8 compiles a path no record has taken yet as a
   * bail-out, and that bail-out threw the whole loop back to the interpreter and had it
   * compiled again, ~10 ms of a background thread that then shared the reader's CPU.
   */
  #parse(
    area: Area,
    start: number,
    avail: number,
    published: number,
    max: number,
    onSample: PerfSampleCallback,
    onLost: PerfLostCallback | undefined,
    releaseEvery = Infinity,
  ): number {
    let rel = 0;
    this.#progress = 0;
    this.#released = 0;
    this.#count = 0;
    while (rel + HEADER_SIZE <= avail && this.#count < max && !this.#stopped) {
      const next = this.#samples(area, start, rel, avail, published, max, onSample, releaseEvery);
      if (next !== rel) {
        rel = next;
        continue;
      }
      rel = this.#other(area, start, rel, avail, published, onSample, onLost);
      if (rel < 0) break;
    }
    return this.#progress;
  }

  /**
   * Hands over consecutive samples from `rel` (straightening one that wraps around the ring's
   * end, and giving the kernel its room back every `releaseEvery` bytes on the way) and returns
   * where it stopped: at the first record that is not a well-formed sample lying whole in
   * `avail` (left to #other), at `max` records, or when stopped. V8 may optimize this loop
   * before a run's first wrapping sample or first due release (at ~0.6M samples/s, within the
   * first lap of a 256 KiB ring), and then compiles it once more when one comes (~5 ms of a
   * background thread). Moving both paths out of the loop removed that compile but lowered no
   * loss figure in A/B runs (bench/results/issue14-jit-2026-12-07.md), so they stay here.
   */
  #samples(area: Area, start: number, rel: number, avail: number, published: number, max: number, onSample: PerfSampleCallback, releaseEvery: number): number {
    const { bytes, words, halves, mask } = area;
    const end = bytes.length;
    const cpu = this.cpu;
    let n = this.#count;
    let released = this.#released;
    while (rel + HEADER_SIZE <= avail && n < max) {
      if (rel - released >= releaseEvery) {
        // Every record before `rel` has been handed over and its callback has returned.
        this.#advance(rel - released);
        released = rel;
        this.#released = rel;
      }
      const off = (start + rel) & mask;
      const recSize = halves[(off + 6) >>> 1]!;
      // struct { header; u32 size; u8 data[size]; }, `size` at most what the record holds. The
      // header never straddles the end (8-byte records in a power-of-two ring); the size word
      // may start the ring over (a header in its last 8 bytes), the data may wrap anywhere.
      if (words[off >>> 2] !== PERF_RECORD_SAMPLE || recSize < HEADER_SIZE + 8 || (recSize & 7) !== 0 || recSize > published - rel || rel + recSize > avail) break;
      let size = words[((off + HEADER_SIZE) & mask) >>> 2]!;
      if (size > recSize - HEADER_SIZE - 4) size = recSize - HEADER_SIZE - 4;
      const from = (off + HEADER_SIZE + 4) & mask;
      rel += recSize;
      n++;
      this.#progress = rel;
      this.#count = n;
      if (from + size <= end) onSample(cpu, bytes, from, size);
      else onSample(cpu, this.#straighten(bytes, from, size), 0, size);
      if (this.#stopped) break;
    }
    return rel;
  }

  /**
   * One record that #samples leaves: returns the offset after it, or -1 to end the walk (a
   * record that continues past this copy, or a corrupt header).
   */
  #other(area: Area, start: number, rel: number, avail: number, published: number, onSample: PerfSampleCallback, onLost: PerfLostCallback | undefined): number {
    const { bytes, words, halves, mask } = area;
    const cpu = this.cpu;
    const off = (start + rel) & mask;
    const type = words[off >>> 2]!;
    const recSize = halves[(off + 6) >>> 1]!;
    if (recSize < HEADER_SIZE || (recSize & 7) !== 0 || recSize > published - rel) {
      // A corrupt header (never produced by the kernel): nothing after it can be trusted.
      // Drop everything published so far rather than loop forever.
      this.unknownRecords++;
      this.#progress = published;
      return -1;
    }
    if (rel + recSize > avail) return -1; // continues past this copy: next batch
    rel += recSize;
    if (type === PERF_RECORD_SAMPLE) {
      // The header never straddles the end (8-byte records in a power-of-two ring); the body may.
      let size = recSize >= HEADER_SIZE + 4 ? words[((off + HEADER_SIZE) & mask) >>> 2]! : 0;
      if (size > recSize - HEADER_SIZE - 4) size = Math.max(0, recSize - HEADER_SIZE - 4);
      const from = (off + HEADER_SIZE + 4) & mask;
      this.#progress = rel;
      this.#count++;
      if (from + size <= bytes.length) onSample(cpu, bytes, from, size);
      else onSample(cpu, this.#straighten(bytes, from, size), 0, size);
    } else if (type === PERF_RECORD_LOST) {
      // struct { header; u64 id; u64 lost; }: the u64 as two host-order words.
      let lost = 0;
      if (recSize >= HEADER_SIZE + 16) {
        const w = ((off + HEADER_SIZE + 8) & mask) >>> 2;
        const a = words[w]!;
        const b = words[w + 1]!;
        lost = hostLittleEndian ? a + b * U32_HIGH : b + a * U32_HIGH;
      }
      this.#progress = rel;
      if (lost > 0) {
        this.#count++;
        onLost?.(cpu, lost);
      }
    } else {
      this.unknownRecords++;
      this.#progress = rel;
    }
    return rel;
  }

  /**
   * Copies a sample that wraps around the ring's end into the scratch buffer. Small samples are
   * copied byte by byte: two subarray() views per wrap were the read path's only garbage, and
   * every young-generation collection stops the reader for milliseconds on a busy machine.
   */
  #straighten(bytes: Uint8Array, from: number, size: number): Uint8Array {
    // A record is at most 64 KiB (header.size is a u16).
    const scratch = (this.#scratch ??= new Uint8Array(65536));
    const first = bytes.length - from;
    if (size <= STRAIGHTEN_BY_LOOP) {
      for (let i = 0; i < first; i++) scratch[i] = bytes[from + i]!;
      for (let i = first; i < size; i++) scratch[i] = bytes[i - first]!;
      return scratch;
    }
    scratch.set(bytes.subarray(from), 0);
    scratch.set(bytes.subarray(0, size - first), first);
    return scratch;
  }
}
