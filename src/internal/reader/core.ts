/**
 * The read loop shared by the perf and ring buffer readers (src/perf/reader.ts,
 * src/ringbuf/reader.ts), on top of the demand side in ./feed.ts: what a wake-up does, the
 * forEachRecord loop and its pump, the safety net against lost wake-ups, and closing. A reader
 * supplies what differs — how its rings are drained, consumed, watched, checked and released —
 * as {@link ReaderRings}; everything here is the same for both.
 *
 * @module
 */
import { ArgumentError, ClosedError } from '../../errors.js';
import { busyError, closedError, DEFAULT_BATCH, Feed, type Drain } from './feed.js';
import type { BatchOptions, RecordBatch } from './batch.js';

/** Period of the safety net against lost wake-ups (see ReaderCore's #rescue). */
export const RECHECK_MS = 100;

/** How many times one wake-up of forEachRecord looks at the rings for records written meanwhile. */
export const PUMP_ROUNDS = 4;

/** What a reader supplies: its rings as the core sees them. `S` is its loop's callbacks. @internal */
export interface ReaderRings<T, S> {
  /** read()/readMany(): copies records out (see {@link Drain}). */
  readonly drain: Drain<T>;
  /**
   * forEachRecord: hands everything the rings have published to `sink` in place and returns
   * how many records that was; stops early once the loop has ended (`core.sink !== sink`, e.g.
   * closed from a callback). Whatever a callback throws goes through.
   */
  readonly consume: (sink: S) => number;
  /**
   * `true` while someone reads (pending reads or a loop): watch the fds, or let their
   * watchers keep the event loop alive; `false`: the opposite.
   */
  watch(want: boolean): void;
  /**
   * The safety net's question (see ReaderCore's #rescue): whether a ring that has not
   * signalled holds enough that its wake-up must have been lost; such a ring is to be read as
   * if it had signalled.
   */
  stalled(): boolean;
  /** Closing, after everything else: stop the parsers (a callback may be running), unmap, close. */
  release(): void;
}

/** The promise of a running forEachRecord loop. */
interface Loop {
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: (() => void) | undefined;
}

/**
 * One reader's read loop. The reader holds it privately and forwards its public `read()`,
 * `readMany()`, `readAvailable()`, `forEachRecord()`, iteration and `close()` to it; the
 * watchers call {@link ReaderCore.wake}.
 * @internal
 */
export class ReaderCore<T, S> extends Feed<T, S> {
  readonly #rings: ReaderRings<T, S>;
  /**
   * Wake-ups handed to pending reads so far. A ring the reader has emptied since the last one
   * waits for the next (the perf reader keeps, per ring, the count at which it was emptied):
   * one counter instead of a flag per ring to set on every wake-up.
   */
  wakeUps = 0;
  /** Whether pending reads want the rings watched. */
  #demand = false;
  #loop: Loop | undefined;
  /** The safety-net timer (see #rescue), while someone reads. */
  #recheck: ReturnType<typeof setInterval> | undefined;
  #signal: AbortSignal | undefined;
  #onAbort: (() => void) | undefined;
  /** A batches() iteration waiting for a wake-up: resolves its wait. */
  #batchWait: (() => void) | undefined;

  constructor(name: string, rings: ReaderRings<T, S>) {
    super(name, rings.drain);
    this.#rings = rings;
  }

  /** Closes the reader when `signal` aborts. Called last in the reader's constructor. */
  closeOn(signal: AbortSignal | undefined): void {
    if (signal === undefined) return;
    this.#signal = signal;
    this.#onAbort = () => this.close(closedError(this.name, signal.reason));
    signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  /**
   * A wake-up: the kernel signalled on some ring (the watchers' callback). A running loop gets
   * what the rings hold; otherwise pending reads do, from every ring that was not emptied since.
   */
  readonly wake = (): void => {
    if (this.sink !== undefined) {
      this.pump();
      return;
    }
    if (this.batching) {
      this.#batchWait?.();
      return;
    }
    this.wakeUps++;
    this.readable();
  };

  /** Looks at every ring once, woken or not (records may sit below the watermark). */
  look(): void {
    if (this.closedError !== undefined) return;
    if (this.sink !== undefined) this.pump();
    else this.readable(true);
  }

  /** forEachRecord: hands everything the rings have published to the loop's callbacks. */
  pump(): void {
    const sink = this.sink!;
    try {
      // Look again while records keep arriving, bounded so that a producer faster than the
      // callback cannot keep the event loop from running. A ring buffer raises no wake-up for
      // records committed while a batch was handed over (bpf_ringbuf_commit() wakes the
      // consumer only when it had caught up, comparing consumer_pos with the record's
      // position); libbpf's ring_buffer__poll() looks again too. A perf ring wakes every
      // `watermark` bytes written, however much was consumed meanwhile: looking again leaves
      // it emptier when the reader goes back to sleep, so the next wake-up finds more room.
      for (let round = 0; round < PUMP_ROUNDS; round++) {
        if (this.#rings.consume(sink) === 0 || this.sink !== sink) return;
      }
    } catch (err) {
      // Thrown by the caller's callback: the loop ends with it (records after the one that
      // threw stay in the ring for the next reader call).
      this.#endLoop(err, true);
    }
  }

  /**
   * Runs a forEachRecord loop with the callbacks `sink` until the reader is closed (resolves),
   * a callback throws or `signal` aborts (rejects). One loop at a time.
   */
  loop(sink: S, signal: AbortSignal | undefined): Promise<void> {
    if (this.closedError !== undefined) return Promise.resolve();
    if (this.sink !== undefined || this.batching) return Promise.reject(busyError(this.name, 'forEachRecord'));
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const onAbort = signal === undefined ? undefined : () => this.#endLoop(signal.reason, true);
      this.#loop = { resolve, reject, signal, onAbort };
      this.sink = sink;
      if (onAbort !== undefined) signal!.addEventListener('abort', onAbort, { once: true });
      this.#update();
    });
  }

  /** Ends the forEachRecord loop, if one runs: resolves it, or rejects it with `err`. */
  #endLoop(err: unknown, failed = err !== undefined): void {
    const loop = this.#loop;
    if (loop === undefined) return;
    this.#loop = undefined;
    this.sink = undefined;
    if (loop.onAbort !== undefined) loop.signal?.removeEventListener('abort', loop.onAbort);
    this.#update();
    if (failed) loop.reject(err);
    else loop.resolve();
  }

  protected override setDemand(demand: boolean): void {
    this.#demand = demand;
    this.#update();
  }

  /** Watches the rings, and runs the safety net, exactly while someone reads. */
  #update(): void {
    // A batches() iteration only while it waits: a ring buffer fd is level-triggered, and a
    // consumer busy with its batch would otherwise have its unserved watcher spin the loop.
    const open = this.closedError === undefined;
    const want = (this.#demand || this.sink !== undefined || this.#batchWait !== undefined) && open;
    this.#rings.watch(want);
    // The safety net runs for the whole batches() iteration, not only while it waits: made and
    // cleared per batch, its timer was a Timeout, an async resource and two timer-list updates
    // per batch, and the most code V8 compiled on background threads during a fast iteration
    // (threads that share the reader's CPU on a busy machine).
    if ((want || this.batching) && open) {
      if (this.#recheck === undefined) {
        this.#recheck = setInterval(this.#rescue, RECHECK_MS);
        this.#recheck.unref();
      }
    } else if (this.#recheck !== undefined) {
      clearInterval(this.#recheck);
      this.#recheck = undefined;
    }
  }

  /**
   * The safety net behind the wake-ups. A full ring raises no more wake-ups (a perf ring:
   * perf_output_begin() fails before any wake-up accounting; a ring buffer: the producers'
   * bpf_ringbuf_reserve() fails, so nothing more is committed), so one wake-up that never
   * reaches the event loop would stop the reader for good — and on a 6.18 guest, readers (ours
   * and libbpf-style epoll loops alike) were seen to stop for seconds with full perf rings and
   * nothing pending in epoll: the wake-up's irq_work did not run (bpf_ringbuf_commit() wakes
   * through irq_work too). Every RECHECK_MS, a ring the reader finds {@link ReaderRings.stalled}
   * is read as if it had signalled. Normal operation never gets there (the thresholds lie
   * above the watermark), so this only bounds how long a lost wake-up can cost.
   */
  readonly #rescue = (): void => {
    if (this.closedError !== undefined || !this.#rings.stalled()) return;
    if (this.#batchWait !== undefined) this.#batchWait();
    else if (this.sink !== undefined) this.pump();
    else if (!this.batching) this.readable();
    // A batches() consumer busy with its batch reads every ring on its next turn anyway.
  };

  /**
   * Rejects pending reads with `err`, ends the loop, stops watching and releases the rings.
   * Idempotent.
   */
  override close(err: Error): void {
    if (this.closedError !== undefined) return;
    super.close(err);
    this.#endLoop(undefined);
    this.#batchWait?.();
    if (this.#onAbort !== undefined) this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#rings.release();
  }

  /** Every record, batch by batch; ends (without error) when the reader is closed or aborted. */
  async *records(): AsyncGenerator<T, void, undefined> {
    for (;;) {
      let batch: T[];
      try {
        batch = await this.readMany(DEFAULT_BATCH);
      } catch (err) {
        if (err instanceof ClosedError) return;
        throw err;
      }
      for (const r of batch) yield r;
    }
  }

  /**
   * batches(): `fill` empties the rings into `batch` (at most `max` records, the batch reset
   * first) and returns how many records it took; each non-empty batch is yielded, and the
   * iteration waits for a wake-up only when the rings are empty. Ends (without error) when the
   * reader is closed; throws the signal's reason when `options.signal` aborts. One iteration
   * or forEachRecord loop at a time; read()/readMany() reject meanwhile.
   */
  async *batches(batch: RecordBatch, fill: (batch: RecordBatch, max: number) => number, options: BatchOptions = {}): AsyncGenerator<RecordBatch, void, undefined> {
    const { max = DEFAULT_BATCH, signal } = options;
    if (!Number.isInteger(max) || max < 1) throw new ArgumentError(`${this.name}.batches: max must be a positive integer, got ${max}`);
    if (this.closedError !== undefined) return;
    if (this.sink !== undefined || this.batching) throw busyError(this.name, 'batches');
    this.batching = true;
    try {
      for (;;) {
        signal?.throwIfAborted();
        if (this.closedError !== undefined) return;
        fill(batch, max);
        if (batch.count > 0 || batch.lostSamples > 0) {
          yield batch;
          continue;
        }
        await this.#nextWake(signal);
      }
    } finally {
      this.batching = false;
      this.#batchWait = undefined;
      this.#update();
    }
  }

  /** Resolves on the next wake-up (or safety-net rescue, or close); rejects when `signal` aborts. */
  #nextWake(signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => done(signal!.reason);
      const done = (err?: unknown): void => {
        this.#batchWait = undefined;
        signal?.removeEventListener('abort', onAbort);
        this.#update();
        if (err !== undefined) reject(err);
        else resolve();
      };
      this.#batchWait = () => done();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#update();
    });
  }
}
