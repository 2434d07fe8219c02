/**
 * {@link RecordBatch}: what `PerfReader.batches()` and `RingBufReader.batches()` hand over per
 * iteration — many records in one reused object, their bytes copied out of the kernel's rings
 * into one reused buffer, nothing allocated per record.
 *
 * Why a copy: a ring's space goes back to the kernel (`data_tail`, `consumer_pos`) when the
 * walk ends, and an async consumer reads the batch later, after an `await`; the kernel may have
 * overwritten the ring by then. A perf ring's published bytes are copied in one go (one or two
 * memcpys, records and all: room() and addCopied()) and only indexed; a ring buffer's records
 * one by one, word-wise (addRecord()), as its walk has to skip discarded and busy records.
 * Either costs less than the object, view and promise per record that `readMany()` pays.
 *
 * @module
 */

/** Options of `PerfReader.batches()` and `RingBufReader.batches()`. */
export interface BatchOptions {
  /** At most this many records per batch (default 4096). */
  max?: number;
  /** Aborting ends the iteration: the loop throws the signal's reason; the reader stays open. */
  signal?: AbortSignal;
}

/** Initial room of a batch's byte buffer; it doubles as needed and is then kept. */
const INITIAL_BYTES = 64 * 1024;

/**
 * A batch of records from {@link PerfReader.batches} or {@link RingBufReader.batches}: `count`
 * records, record `i` being `bytes[offset(i) .. offset(i) + length(i))`.
 *
 * Validity: the same object, and the same `bytes`, are reused for the next batch. Everything
 * here is valid until the loop asks for the next batch (the next turn of `for await`); copy
 * what you keep longer (e.g. `batch.sample(i).slice()`).
 *
 * @example
 * ```ts
 * for await (const batch of reader.batches()) {
 *   for (let i = 0; i < batch.count; i++) handle(batch.bytes, batch.offset(i), batch.length(i));
 *   if (batch.lostSamples > 0) console.warn(`lost ${batch.lostSamples}`);
 * }
 * ```
 */
export class RecordBatch {
  /** Number of records in this batch. */
  count = 0;
  /**
   * Samples the kernel reported lost while this batch was read (perf rings: the sum of the
   * PERF_RECORD_LOST reports met; a ring buffer reports no losses: always 0).
   */
  lostSamples = 0;
  #bytes = new Uint8Array(INITIAL_BYTES);
  #words = new Int32Array(this.#bytes.buffer);
  #offsets = new Uint32Array(256);
  #lengths = new Uint32Array(256);
  #cpus = new Int32Array(256);
  /** Bytes of #bytes in use (a multiple of 4). */
  #end = 0;
  /** #bytes as the perf parser walks it (see area()), made again when #bytes grows. */
  #area: { readonly bytes: Uint8Array; readonly words: Uint32Array; readonly halves: Uint16Array; readonly mask: number } | undefined;
  /** The last source buffer seen and its 32-bit view (one ring, or its scratch, at a time). */
  #src: Uint8Array | undefined;
  #srcWords: Int32Array | undefined;

  /** The buffer the records' bytes are in (all records of the batch, one after the other). */
  get bytes(): Uint8Array {
    return this.#bytes;
  }

  /** Where record `i` starts in {@link RecordBatch.bytes}. */
  offset(i: number): number {
    return this.#offsets[i]!;
  }

  /**
   * Length of record `i` in bytes (a perf sample: `size` from the kernel, padding included, as
   * {@link PerfRecord.rawSample}; a ring buffer record: the length the program reserved).
   */
  length(i: number): number {
    return this.#lengths[i]!;
  }

  /** The CPU record `i` was written on (perf); -1 for ring buffer records, which carry none. */
  cpu(i: number): number {
    return this.#cpus[i]!;
  }

  /** Record `i` as a view of {@link RecordBatch.bytes} (one object per call; same validity). */
  sample(i: number): Uint8Array {
    const o = this.#offsets[i]!;
    return this.#bytes.subarray(o, o + this.#lengths[i]!);
  }

  /** Empties the batch for the next fill. @internal */
  reset(): void {
    this.count = 0;
    this.lostSamples = 0;
    this.#end = 0;
  }

  /**
   * Makes room for `n` more bytes at an 8-byte boundary after the records so far and returns
   * where they start in {@link RecordBatch.bytes}: a reader copies a run of its ring there in
   * one go and indexes the records in it with `addCopied()`. @internal
   */
  room(n: number): number {
    const at = (this.#end + 7) & ~7;
    if (at + n > this.#bytes.length) this.#growBytes(at + n);
    return at;
  }

  /** After `room()`: the bytes up to `end` are in use. @internal */
  used(end: number): void {
    this.#end = end;
  }

  /**
   * The buffer as the perf record parser walks it (bytes, host-order u32 and u16 views, no
   * wrap-around): the same object until the buffer grows. @internal
   */
  area(): { readonly bytes: Uint8Array; readonly words: Uint32Array; readonly halves: Uint16Array; readonly mask: number } {
    const b = this.#bytes;
    if (this.#area?.bytes !== b) this.#area = { bytes: b, words: new Uint32Array(b.buffer), halves: new Uint16Array(b.buffer), mask: 0x7fffffff };
    return this.#area;
  }

  /**
   * Adds a perf sample whose bytes are already in {@link RecordBatch.bytes} (copied there after
   * `room()`): only its place is noted. A PerfSampleCallback. @internal
   */
  readonly addCopied = (cpu: number, _bytes: Uint8Array, offset: number, length: number): void => {
    const i = this.count;
    if (i === this.#offsets.length) this.#growIndex();
    this.#offsets[i] = offset;
    this.#lengths[i] = length;
    this.#cpus[i] = cpu;
    this.count = i + 1;
  };

  /** Adds a ring buffer record (a RingBufRecordCallback). @internal */
  readonly addRecord = (src: Uint8Array, offset: number, length: number): void => {
    this.#add(-1, src, offset, length);
  };

  #add(cpu: number, src: Uint8Array, offset: number, length: number): void {
    const i = this.count;
    if (i === this.#offsets.length) this.#growIndex();
    const at = this.#end;
    const words = (length + 3) >>> 2;
    if (at + words * 4 > this.#bytes.length) this.#growBytes(at + words * 4);
    if (src !== this.#src) this.#source(src);
    const sw = this.#srcWords;
    if (sw !== undefined && (offset & 3) === 0 && offset + words * 4 <= src.length) {
      // Whole 32-bit words (records are 4- or 8-byte aligned in the rings): a few loads and
      // stores instead of a view and a memcpy call per record.
      const dw = this.#words;
      let s = offset >>> 2;
      let d = at >>> 2;
      for (const e = s + words; s < e; s++, d++) dw[d] = sw[s]!;
    } else {
      const db = this.#bytes;
      for (let k = 0; k < length; k++) db[at + k] = src[offset + k]!;
    }
    this.#offsets[i] = at;
    this.#lengths[i] = length;
    this.#cpus[i] = cpu;
    this.#end = at + words * 4;
    this.count = i + 1;
  }

  #source(src: Uint8Array): void {
    this.#src = src;
    this.#srcWords = (src.byteOffset & 3) === 0 ? new Int32Array(src.buffer, src.byteOffset, src.length >>> 2) : undefined;
  }

  #growIndex(): void {
    const n = this.#offsets.length * 2;
    const grow = <A extends Uint32Array | Int32Array>(a: A, b: A): A => (b.set(a), b);
    this.#offsets = grow(this.#offsets, new Uint32Array(n));
    this.#lengths = grow(this.#lengths, new Uint32Array(n));
    this.#cpus = grow(this.#cpus, new Int32Array(n));
  }

  #growBytes(need: number): void {
    let n = this.#bytes.length * 2;
    while (n < need) n *= 2;
    const b = new Uint8Array(n);
    b.set(this.#bytes.subarray(0, this.#end));
    this.#bytes = b;
    this.#words = new Int32Array(b.buffer);
  }
}
