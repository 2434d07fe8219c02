/**
 * {@link TypedReader}: a perf event array or ring buffer reader whose records come out decoded
 * by a codec. It wraps a `PerfReader` or `RingBufReader` by shape (no import of either, so
 * this file stays below `perf/` and `ringbuf/`).
 *
 * @module
 */
import type { Codec } from './btf/codec.js';
import type { DecodeOptions } from './btf/decode.js';

/** A raw record: the sample's bytes, and for perf a loss report instead (`lostSamples > 0`). */
export interface RawRecord {
  /** The sample's bytes (empty in a loss report). */
  readonly rawSample: Uint8Array;
  /** Samples lost, when this is a perf loss report. */
  readonly lostSamples?: number;
  /** The CPU the record came from (perf). */
  readonly cpu?: number;
}

/** What {@link TypedReader} needs of a reader: `PerfReader` and `RingBufReader` both have it. */
export interface RecordSource<R extends RawRecord = RawRecord> {
  /** The next record, waiting for one. */
  read(options?: { signal?: AbortSignal }): Promise<R>;
  /** Up to `max` records as soon as there is one. */
  readMany(max?: number, options?: { signal?: AbortSignal }): Promise<R[]>;
  /** The records available now, without waiting. */
  readAvailable(max?: number): R[];
  /** Every sample decoded with `codec` until the reader closes; loss reports go to `options.onLost`. */
  decoded<T>(codec: Codec<T>, options?: DecodeOptions & { onLost?: (lostSamples: number, cpu: number) => void }): AsyncIterable<T>;
  /** Samples reported lost so far (perf; a ring buffer reports none). */
  readonly lostSamples?: number;
  /** Releases the reader. */
  close(): void;
}

/** Options of {@link TypedReader}. */
export interface TypedReaderOptions {
  /** Called with each perf loss report (the records never reach the codec). */
  onLost?: (lostSamples: number, cpu: number | undefined) => void;
}

/**
 * Records of a perf event array or ring buffer, decoded.
 *
 * @example
 * ```ts
 * using events = new TypedReader(new RingBufReader(coll.maps.events), eventCodec);
 * for await (const e of events) console.log(e.pid, e.comm);
 * ```
 * @throws (from reads) {@link ArgumentError} for a record shorter than the type, and what the
 * reader underneath rejects with (ClosedError once closed).
 */
export class TypedReader<T, R extends RawRecord = RawRecord> implements Disposable {
  /** The raw reader underneath (pause/resume, forEachRecord, statistics). */
  readonly reader: RecordSource<R>;
  readonly #codec: Codec<T>;
  readonly #onLost: TypedReaderOptions['onLost'];

  /**
   * Wraps `reader`, decoding every sample with `codec`. Closing this closes the reader.
   *
   * @example
   * ```ts
   * const events = new TypedReader(new PerfReader(map), btf.codecFor(spec.btf, 'struct event'));
   * ```
   */
  constructor(reader: RecordSource<R>, codec: Codec<T>, options: TypedReaderOptions = {}) {
    this.reader = reader;
    this.#codec = codec;
    this.#onLost = options.onLost;
  }

  /** Samples reported lost so far (perf only): the reader's count. */
  get lostSamples(): number {
    return this.reader.lostSamples ?? 0;
  }

  /** The samples of `records` decoded; loss reports go to onLost. */
  #decode(records: readonly R[]): T[] {
    const out: T[] = [];
    for (const r of records) {
      const lost = r.lostSamples ?? 0;
      if (lost === 0) out.push(this.#codec.decode(r.rawSample));
      else this.#onLost?.(lost, r.cpu);
    }
    return out;
  }

  /**
   * The next record, decoded (loss reports are skipped).
   *
   * @example
   * ```ts
   * const e = await events.read();
   * ```
   */
  async read(options?: { signal?: AbortSignal }): Promise<T> {
    for (;;) {
      const r = await this.reader.read(options);
      const lost = r.lostSamples ?? 0;
      if (lost === 0) return this.#codec.decode(r.rawSample);
      this.#onLost?.(lost, r.cpu);
    }
  }

  /**
   * Up to `max` records as soon as there is one, decoded (possibly none when all were loss reports).
   *
   * @example
   * ```ts
   * for (const e of await events.readMany(1024)) handle(e);
   * ```
   */
  async readMany(max?: number, options?: { signal?: AbortSignal }): Promise<T[]> {
    return this.#decode(await this.reader.readMany(max, options));
  }

  /**
   * The records in the rings now, decoded, without waiting.
   *
   * @example
   * ```ts
   * const rest = events.readAvailable();
   * ```
   */
  readAvailable(max?: number): T[] {
    return this.#decode(this.reader.readAvailable(max));
  }

  /** Decoded records until the reader is closed: the reader's own `decoded(codec)`. */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    const onLost = this.#onLost;
    return this.reader.decoded(this.#codec, onLost === undefined ? {} : { onLost })[Symbol.asyncIterator]();
  }

  /** Closes the reader underneath. Idempotent. */
  close(): void {
    this.reader.close();
  }

  /** Same as {@link TypedReader.close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
