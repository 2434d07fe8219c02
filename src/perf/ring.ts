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
 * Per batch, the published bytes are copied out with one or two memcpys into one new buffer;
 * per record, only the sample view and the record object are allocated.
 *
 * @module
 */
import type { Mapping } from '../sys/backend.js';
import { hostLittleEndian } from '../sys/attr.js';

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

/** The two ordered accesses a ring needs; the syscall backend provides them. */
export interface RingAtomics {
  /** `smp_load_acquire` of a u64 in the mapping. */
  loadAcquire64(mapping: Mapping, offset: number): bigint;
  /** `smp_store_release` of a u64 in the mapping. */
  storeRelease64(mapping: Mapping, offset: number, value: bigint): void;
}

/**
 * Reads records out of one mmapped perf ring. The owner (the reader) maps and unmaps; this
 * class only reads, and writes `data_tail`.
 * @internal
 */
export class PerfRing {
  /** The CPU this ring belongs to (stamped on every record). */
  readonly cpu: number;
  readonly #mapping: Mapping;
  readonly #atomics: RingAtomics;
  /** The data area (a view created once). */
  readonly #data: Uint8Array;
  /** Size of the data area (a power of two) and `size - 1`. */
  readonly size: number;
  readonly #mask: number;
  /**
   * Our copy of `data_tail`. Only we write it, so there is no need to read it back; a JS
   * number is exact up to 2^53 bytes (decades at any rate the kernel can write).
   */
  #tail: number;
  /** Records of unknown types skipped so far. */
  unknownRecords = 0;

  constructor(cpu: number, mapping: Mapping, pageSize: number, atomics: RingAtomics) {
    this.cpu = cpu;
    this.#mapping = mapping;
    this.#atomics = atomics;
    const meta = new DataView(mapping.buffer, 0, pageSize);
    // data_offset/data_size appeared in 4.1 (commit e8c6deac69629, "perf: Add data_{offset,size}
    // to user_page"); earlier kernels leave them 0 and the data follows the metadata page.
    let offset = Number(meta.getBigUint64(DATA_OFFSET_OFFSET, hostLittleEndian));
    let size = Number(meta.getBigUint64(DATA_SIZE_OFFSET, hostLittleEndian));
    if (size === 0) {
      offset = pageSize;
      size = mapping.length - pageSize;
    }
    if (size <= 0 || (size & (size - 1)) !== 0 || offset + size > mapping.length) {
      throw new RangeError(`perf ring of CPU ${cpu}: data area ${offset}+${size} does not fit a ${mapping.length}-byte mapping as a power of two`);
    }
    this.size = size;
    this.#mask = size - 1;
    this.#data = new Uint8Array(mapping.buffer, offset, size);
    this.#tail = Number(meta.getBigUint64(DATA_TAIL_OFFSET, hostLittleEndian));
  }

  /** Bytes published by the kernel and not consumed yet (one acquire load). */
  pending(): number {
    return Number(this.#atomics.loadAcquire64(this.#mapping, DATA_HEAD_OFFSET)) - this.#tail;
  }

  /**
   * Appends up to `max` records to `out` and returns how many it appended.
   *
   * The published bytes (at most {@link SLAB_BYTES}) are first copied out in one or two
   * memcpys into a fresh buffer — which also straightens a record that wraps around the end —
   * and `data_tail` is then advanced past the records parsed, once, with release ordering, so
   * the kernel never overwrites bytes still being read. Samples are views into that buffer:
   * one allocation per batch instead of one per record.
   */
  readInto(out: PerfRecord[], max: number): number {
    const head = Number(this.#atomics.loadAcquire64(this.#mapping, DATA_HEAD_OFFSET));
    const tail = this.#tail;
    if (head === tail || max <= 0) return 0;
    const avail = Math.min(head - tail, SLAB_BYTES, this.size);
    const slab = new Uint8Array(avail);
    const off = tail & this.#mask;
    const first = Math.min(avail, this.size - off);
    slab.set(this.#data.subarray(off, off + first), 0);
    if (first < avail) slab.set(this.#data.subarray(0, avail - first), first);
    const view = new DataView(slab.buffer);
    const le = hostLittleEndian;
    const cpu = this.cpu;
    let pos = 0;
    let n = 0;
    while (pos + HEADER_SIZE <= avail && n < max) {
      const type = view.getUint32(pos, le);
      const recSize = view.getUint16(pos + 6, le);
      if (recSize < HEADER_SIZE || (recSize & 7) !== 0 || recSize > head - tail - pos) {
        // A corrupt header (never produced by the kernel): nothing after it can be trusted.
        // Drop everything published so far rather than loop forever.
        this.unknownRecords++;
        pos = head - tail;
        break;
      }
      if (pos + recSize > avail) break; // continues past this slab: next batch
      if (type === PERF_RECORD_SAMPLE) {
        // struct { header; u32 size; u8 data[size]; }
        let size = recSize >= HEADER_SIZE + 4 ? view.getUint32(pos + HEADER_SIZE, le) : 0;
        if (size > recSize - HEADER_SIZE - 4) size = Math.max(0, recSize - HEADER_SIZE - 4);
        const start = pos + HEADER_SIZE + 4;
        out.push({ cpu, rawSample: slab.subarray(start, start + size), lostSamples: 0 });
        n++;
      } else if (type === PERF_RECORD_LOST) {
        // struct { header; u64 id; u64 lost; }
        const lost = recSize >= HEADER_SIZE + 16 ? Number(view.getBigUint64(pos + HEADER_SIZE + 8, le)) : 0;
        if (lost > 0) {
          out.push({ cpu, rawSample: EMPTY_SAMPLE, lostSamples: lost });
          n++;
        }
      } else {
        this.unknownRecords++;
      }
      pos += recSize;
    }
    if (pos > 0) {
      this.#tail = tail + pos;
      this.#atomics.storeRelease64(this.#mapping, DATA_TAIL_OFFSET, BigInt(this.#tail));
    }
    return n;
  }
}
