/**
 * The demand side shared by the perf and ring buffer readers: pending `read()`/`readMany()`
 * calls, a small queue of records already copied out of the rings, the rule that decides
 * when the fds are watched, and the refusal of reads while a forEachRecord loop runs.
 *
 * Records are only copied out of the kernel's rings when someone asks for them. A reader
 * nobody reads from leaves the data where it is, so a full ring makes the *kernel* drop and
 * count samples (PERF_RECORD_LOST, or a failed `bpf_ringbuf_reserve()`) instead of this process
 * buffering without bound. For the same reason the fds are watched only while a read is
 * pending: a readiness callback that finds nobody waiting stops the watchers (a ring buffer
 * fd is level-triggered — `ringbuf_map_poll_kern()` reports EPOLLIN while data is unread — so
 * leaving it watched would spin the event loop). In a read loop the next read is issued from
 * the microtasks of the previous one, before the event loop polls again, so the watchers stay
 * armed and cost nothing per batch.
 *
 * @module
 */
import { ArgumentError, ClosedError } from '../../errors.js';

/** Records copied out per drain when the caller sets no limit: bounds one callback's work. */
export const DEFAULT_BATCH = 4096;

/**
 * A pending read. A class, not an object literal: V8 gives each literal in the code an
 * allocation site and, when most objects of a site are still alive at a young-generation GC,
 * allocates that site's later objects straight in the old generation ("pretenuring"). A waiter
 * lives through the whole wait, so its literal was pretenured; a dead waiter in the old
 * generation then kept its resolved promise's batch — records and views — alive through every
 * young GC until the next full one: in `npm run bench:perf` readMany spent a quarter of its time
 * in GC and lost samples while the rings overflowed during the pauses. Objects made with `new`
 * have no allocation site.
 */
class Waiter<T> {
  /** Maximum records for readMany; 0 for a single read(). */
  readonly max: number;
  readonly resolve: (value: T & T[]) => void;
  readonly reject: (err: unknown) => void;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined = undefined;

  constructor(max: number, resolve: (value: T & T[]) => void, reject: (err: unknown) => void, signal: AbortSignal | undefined) {
    this.max = max;
    this.resolve = resolve;
    this.reject = reject;
    this.signal = signal;
  }
}

/** The queue when nothing is in it: shared, never written (#fill makes a new array per batch). */
const NONE: readonly never[] = Object.freeze([]);

/** Options of a single read. */
export interface ReadOptions {
  /** Aborting rejects this read (with the signal's reason); the reader stays open. */
  signal?: AbortSignal;
}

/**
 * Appends up to `max` records to `out`; returns how many. `everything` false: only from rings
 * the kernel has signalled since they were last emptied; true: from every ring.
 * @internal
 */
export type Drain<T> = (out: T[], max: number, everything: boolean) => number;

/**
 * Pending reads and copied-out records of one reader, and the rule that reads are refused
 * while a forEachRecord loop runs (they would wait for wake-ups the loop consumes). What
 * happens when demand appears or goes is the subclass's (ReaderCore, ./core.ts).
 * @internal
 */
export abstract class Feed<T, S> {
  /** The reader's name in errors (`PerfReader`). */
  readonly name: string;
  /** The callbacks of the forEachRecord loop, while one runs (set by the subclass). */
  sink: S | undefined = undefined;
  /** Whether a batches() iteration runs (set by the subclass); reads are refused meanwhile. */
  batching = false;
  /** Records copied out and not handed over yet: `#queue[#head ..]`. */
  #queue: readonly T[] = NONE;
  #head = 0;
  readonly #waiters: Waiter<T>[] = [];
  readonly #drain: Drain<T>;
  #armed = false;
  #closed: Error | undefined;

  constructor(name: string, drain: Drain<T>) {
    this.name = name;
    this.#drain = drain;
  }

  /**
   * Demand appeared (`true`: watch the fds, or let their watchers keep the event loop alive) or
   * went (`false`: stop watching, or let the event loop exit despite the watchers).
   */
  protected abstract setDemand(demand: boolean): void;

  /** The error reads fail with after close, or undefined while open. */
  get closedError(): Error | undefined {
    return this.#closed;
  }

  /** One record, as soon as one is available. */
  read(options?: ReadOptions): Promise<T> {
    if (this.sink !== undefined || this.batching) return Promise.reject(busyError(this.name, 'read'));
    if (this.#closed !== undefined) return Promise.reject(this.#closed);
    if (this.#head < this.#queue.length || this.#fill(DEFAULT_BATCH) > 0) return Promise.resolve(this.#take());
    return this.#wait(0, options?.signal) as Promise<T>;
  }

  /** Between 1 and `max` records, as soon as at least one is available. */
  readMany(max: number, options?: ReadOptions): Promise<T[]> {
    if (!Number.isInteger(max) || max < 1) return Promise.reject(new ArgumentError(`readMany: max must be a positive integer, got ${max}`));
    if (this.sink !== undefined || this.batching) return Promise.reject(busyError(this.name, 'readMany'));
    if (this.#closed !== undefined) return Promise.reject(this.#closed);
    if (this.#head < this.#queue.length || this.#fill(max) > 0) return Promise.resolve(this.#takeMany(max));
    return this.#wait(max, options?.signal) as Promise<T[]>;
  }

  /** Every record available now (possibly none), without waiting. */
  readAvailable(max: number): T[] {
    if (this.#closed !== undefined) throw this.#closed;
    if (this.#head >= this.#queue.length) this.#fill(max, true);
    return this.#takeMany(max);
  }

  /**
   * Called from a watcher callback: data may be ready. `everything`: read every ring, not
   * only those that signalled.
   */
  readable(everything = false): void {
    if (this.#closed !== undefined) return;
    if (this.#waiters.length === 0) {
      this.#disarm();
      return;
    }
    while (this.#waiters.length > 0) {
      if (this.#head >= this.#queue.length) {
        const w = this.#waiters[0]!;
        if (this.#fill(w.max > 0 ? w.max : DEFAULT_BATCH, everything) === 0) return;
      }
      const w = this.#waiters.shift()!;
      w.signal?.removeEventListener('abort', w.onAbort!);
      w.resolve((w.max > 0 ? this.#takeMany(w.max) : this.#take()) as T & T[]);
    }
  }

  /** Rejects every pending read with `err`; later reads reject with it too. */
  close(err: Error): void {
    if (this.#closed !== undefined) return;
    this.#closed = err;
    this.#disarm();
    this.#queue = NONE;
    this.#head = 0;
    for (const w of this.#waiters.splice(0)) {
      w.signal?.removeEventListener('abort', w.onAbort!);
      w.reject(err);
    }
  }

  /**
   * Copies up to `max` records out of the rings into a new queue; called only once the queue
   * has been handed over. The array is made here, right before it is filled, and kept only if
   * something went in: an empty array kept through the wait would be a long-lived object per
   * batch, which V8 may pretenure (see Waiter).
   */
  #fill(max: number, everything = false): number {
    const q: T[] = [];
    const n = this.#drain(q, max, everything);
    if (n > 0) {
      this.#queue = q;
      this.#head = 0;
    }
    return n;
  }

  #take(): T {
    const item = this.#queue[this.#head++]!;
    if (this.#head === this.#queue.length) {
      this.#queue = NONE;
      this.#head = 0;
    }
    return item;
  }

  #takeMany(max: number): T[] {
    const q = this.#queue;
    if (this.#head === 0 && q.length <= max) {
      // Hand over the whole array: no copy.
      this.#queue = NONE;
      return q.length === 0 ? [] : (q as T[]);
    }
    const end = Math.min(q.length, this.#head + max);
    const out = q.slice(this.#head, end);
    this.#head = end;
    if (end === q.length) {
      this.#queue = NONE;
      this.#head = 0;
    }
    return out;
  }

  #wait(max: number, signal: AbortSignal | undefined): Promise<T | T[]> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<T | T[]>((resolve, reject) => {
      const waiter = new Waiter<T>(max, resolve as (value: T & T[]) => void, reject, signal);
      if (signal !== undefined) {
        const onAbort = (): void => {
          const i = this.#waiters.indexOf(waiter);
          if (i >= 0) this.#waiters.splice(i, 1);
          reject(signal.reason);
        };
        waiter.onAbort = onAbort;
        signal.addEventListener('abort', onAbort, { once: true });
      }
      this.#waiters.push(waiter);
      this.#arm();
    });
  }

  #arm(): void {
    if (this.#armed) return;
    this.#armed = true;
    this.setDemand(true);
    // Demand has just appeared: look at every ring once. A wake-up that came while nobody
    // was waiting may not be reported again (a perf fd's readiness is consumed by the poll
    // that saw it: perf_poll() clears rb->poll), and records may be waiting below the
    // watermark since before this read.
    queueMicrotask(() => this.readable(true));
  }

  #disarm(): void {
    if (!this.#armed) return;
    this.#armed = false;
    this.setDemand(false);
  }
}

/** The error a reader's pending and later reads fail with once it is closed. @internal */
export function closedError(what: string, reason?: unknown): ClosedError {
  return reason === undefined
    ? new ClosedError(`${what} is closed`)
    : new ClosedError(`${what} was closed by its AbortSignal`, { cause: reason });
}

/** The error of a read or a second loop while a forEachRecord loop runs. @internal */
export function busyError(name: string, what: string): ArgumentError {
  return new ArgumentError(`${name}.${what}: forEachRecord() or batches() is running on this reader; end it (close, its signal, or leaving the loop) first`);
}
