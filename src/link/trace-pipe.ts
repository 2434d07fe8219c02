/**
 * Reading `bpf_printk()` output: the kernel writes it into the global trace buffer, which
 * tracefs's `trace_pipe` drains line by line (a consuming read: each line is seen once, by
 * one reader). The file is opened non-blocking and watched through the backend's `watch()`
 * (libuv poll for the native backend): no thread sits in a blocking read and nothing spins.
 * tracing_poll_pipe() reports POLLIN when the buffer holds data.
 *
 * @module
 */
import { closeSync, constants as fsConstants, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { ArgumentError } from '../errors.js';
import { POLLIN, type Watcher } from '../sys/backend.js';
import { backend } from '../sys/select.js';
import { appendTracefsFile, tracefsPath } from '../internal/tracefs.js';

/** One line of trace output, split into the fields the kernel prints before the message. */
export interface TraceLine {
  /** The whole line as the kernel wrote it. */
  readonly raw: string;
  /** The task's comm (`<...>` when the kernel did not record it). */
  readonly task: string;
  /** The thread id. */
  readonly pid: number;
  /** The CPU the line was written on. */
  readonly cpu: number;
  /** The irq/preempt flags column (`d..31`), if present. */
  readonly flags: string;
  /** Seconds since boot, as printed. */
  readonly timestamp: number;
  /** The event that wrote the line, e.g. `bpf_trace_printk`. */
  readonly event: string;
  /** The message (what the program passed to bpf_printk). */
  readonly message: string;
}

// `  task-pid  [cpu] flags  timestamp: event: message`; the task may contain spaces and
// dashes, so the pid is the last `-<digits>` before the CPU column.
const LINE = /^\s*(.*)-(\d+)\s+(?:\(\s*[-\d]+\)\s+)?\[(\d+)\]\s+(?:(\S{4,5})\s+)?(\d+\.\d+):\s+([^:]+):\s?(.*)$/;

/**
 * Splits a trace_pipe line into its fields; undefined for lines of another shape (comments,
 * `CPU:N [LOST M EVENTS]` notices).
 *
 * @example
 * ```ts
 * parseTraceLine('  node-4242  [001] d..31  1234.567890: bpf_trace_printk: hello');
 * // { task: 'node', pid: 4242, cpu: 1, flags: 'd..31', timestamp: 1234.56789, event: 'bpf_trace_printk', message: 'hello', … }
 * ```
 */
export function parseTraceLine(raw: string): TraceLine | undefined {
  const m = LINE.exec(raw);
  if (m === null) return undefined;
  return {
    raw,
    task: m[1]!.trim(),
    pid: Number(m[2]),
    cpu: Number(m[3]),
    flags: m[4] ?? '',
    timestamp: Number(m[5]),
    event: m[6]!.trim(),
    message: m[7]!,
  };
}

/** Options of {@link TracePipeReader}. */
export interface TracePipeOptions {
  /** Stops the reader (pending reads then end the iteration) when aborted. */
  signal?: AbortSignal;
  /** Read another file than tracefs's `trace_pipe` (tests, instance buffers under `instances/`). */
  path?: string;
}

const CHUNK = 64 * 1024;

/**
 * An async iterator over the lines of tracefs's `trace_pipe`: what `bpf_printk()` (and any
 * other trace event enabled in the global buffer) writes. Reading consumes the lines.
 *
 * Minimum kernel: 4.1 (`bpf_trace_printk`); any kernel with tracefs.
 *
 * @example
 * ```ts
 * import { TracePipeReader } from 'ebpf-ts';
 * using pipe = await TracePipeReader.open();
 * for await (const line of pipe) {
 *   console.log(line.pid, line.message);
 * }
 * ```
 *
 * Errors: {@link TracefsNotMountedError} when tracefs is not mounted (from the constructor), the
 * Node.js error of `open` (EACCES without root, EBUSY while another reader holds the pipe:
 * {@link TracePipeReader.open} waits for it). After `close()`, `next()` does not throw: the iteration ends.
 */
export class TracePipeReader implements AsyncIterableIterator<TraceLine>, Disposable {
  #fd: number;
  #watcher: Watcher | undefined;
  #partial = '';
  #lines: string[] = [];
  #waiters: Array<{ resolve: (r: IteratorResult<TraceLine>) => void; reject: (e: unknown) => void }> = [];
  #error: unknown;
  readonly #decoder = new TextDecoder();
  readonly #buf = Buffer.alloc(CHUNK);
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = (): void => this.close();

  /** Opens `trace_pipe` (non-blocking) and starts watching it. */
  constructor(options: TracePipeOptions = {}) {
    const path = options.path ?? join(tracefsPath(), 'trace_pipe');
    this.#fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    this.#signal = options.signal;
    if (this.#signal?.aborted === true) {
      this.close();
      return;
    }
    this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /**
   * Opens a reader like the constructor, but waits (up to `waitMs`, default 1 s) while the
   * pipe is busy. The kernel lets one reader at a time hold `trace_pipe` and answers EBUSY to
   * another open (seen on 6.18); a reader closed just before may still hold it until the next
   * event-loop turn, because the backend's watcher closes its duplicate of the fd
   * asynchronously (libuv closes poll handles in the loop's close phase).
   *
   * @example
   * ```ts
   * using pipe = await TracePipeReader.open();
   * ```
   * @throws what the constructor throws; EBUSY when the pipe stays busy for `waitMs`.
   */
  static async open(options: TracePipeOptions & { waitMs?: number } = {}): Promise<TracePipeReader> {
    const deadline = Date.now() + (options.waitMs ?? 1000);
    for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
      try {
        return new TracePipeReader(options);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EBUSY' || Date.now() >= deadline) throw err;
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  /** True once `close()` has run. */
  get closed(): boolean {
    return this.#fd < 0;
  }

  // The watcher runs only while someone waits, so an idle reader keeps no event-loop handle
  // alive and wastes no wakeups.
  #startWatching(): void {
    if (this.#watcher !== undefined || this.#fd < 0) return;
    this.#watcher = backend().watch(this.#fd, POLLIN, () => this.#drain());
  }

  #stopWatching(): void {
    this.#watcher?.stop();
    this.#watcher = undefined;
  }

  /** Reads everything available without blocking; returns false when the fd is closed. */
  #readAvailable(): void {
    for (;;) {
      let n: number;
      try {
        n = readSync(this.#fd, this.#buf, 0, CHUNK, null);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN' || code === 'EWOULDBLOCK') return;
        if (code === 'EINTR') continue;
        throw err;
      }
      if (n === 0) return;
      const text = this.#partial + this.#decoder.decode(this.#buf.subarray(0, n), { stream: true });
      const parts = text.split('\n');
      this.#partial = parts.pop()!;
      for (const line of parts) if (line !== '') this.#lines.push(line);
    }
  }

  #drain(): void {
    if (this.#fd < 0) return;
    try {
      this.#readAvailable();
    } catch (err) {
      this.#error = err;
    }
    this.#deliver();
  }

  #deliver(): void {
    while (this.#waiters.length > 0 && this.#lines.length > 0) {
      const raw = this.#lines.shift()!;
      this.#waiters.shift()!.resolve({ done: false, value: toLine(raw) });
    }
    if (this.#waiters.length > 0 && this.#error !== undefined) {
      const err = this.#error;
      this.#error = undefined;
      for (const w of this.#waiters.splice(0)) w.reject(err);
    }
    if (this.#waiters.length === 0) this.#stopWatching();
  }

  /**
   * The next line; waits (asynchronously) until one is written. Resolves `{done: true}` once
   * the reader is closed.
   */
  next(): Promise<IteratorResult<TraceLine>> {
    if (this.#lines.length > 0) return Promise.resolve({ done: false, value: toLine(this.#lines.shift()!) });
    if (this.#fd < 0) return Promise.resolve({ done: true, value: undefined });
    try {
      this.#readAvailable();
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.#lines.length > 0) return Promise.resolve({ done: false, value: toLine(this.#lines.shift()!) });
    return new Promise((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      this.#startWatching();
    });
  }

  /** Lines already read from the pipe but not yet handed out, without waiting. */
  readBuffered(): TraceLine[] {
    if (this.#fd >= 0) this.#readAvailable();
    return this.#lines.splice(0).map(toLine);
  }

  /** Ends the iteration (`for await … break` calls this) and closes the pipe. */
  return(): Promise<IteratorResult<TraceLine>> {
    this.close();
    return Promise.resolve({ done: true, value: undefined });
  }

  /** The reader is its own iterator: `for await (const line of reader)`. */
  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Closes the pipe; pending `next()` calls resolve `{done: true}`. Idempotent. */
  close(): void {
    if (this.#fd < 0) return;
    this.#stopWatching();
    this.#signal?.removeEventListener('abort', this.#onAbort);
    const fd = this.#fd;
    this.#fd = -1;
    closeSync(fd);
    for (const w of this.#waiters.splice(0)) w.resolve({ done: true, value: undefined });
  }

  /** `using pipe = new TracePipeReader()` closes it at the end of the scope. */
  [Symbol.dispose](): void {
    this.close();
  }
}

function toLine(raw: string): TraceLine {
  return parseTraceLine(raw) ?? { raw, task: '', pid: 0, cpu: -1, flags: '', timestamp: 0, event: '', message: raw };
}

/**
 * Empties the global trace buffer (what `trace_pipe` would still deliver), like
 * `echo > /sys/kernel/tracing/trace`: opening `trace` with O_TRUNC resets the ring buffer
 * (tracing_open() → tracing_reset_online_cpus()).
 *
 * Minimum kernel: any with tracefs.
 *
 * @example
 * ```ts
 * clearTraceBuffer();
 * ```
 * @throws {@link TracefsNotMountedError} when tracefs is not mounted; the Node.js error of
 * `open` (EACCES without root).
 */
export function clearTraceBuffer(): void {
  const fd = openSync(join(tracefsPath(), 'trace'), fsConstants.O_WRONLY | fsConstants.O_TRUNC);
  closeSync(fd);
}

/**
 * Writes `message` into the trace buffer through `trace_marker` (it shows up in trace_pipe as
 * a `tracing_mark_write` line): a way to mark a point in the output, and for tests.
 *
 * @example
 * ```ts
 * writeTraceMarker('test started');
 * ```
 * @throws {@link ArgumentError} for a message with a newline; {@link TracefsNotMountedError}.
 */
export function writeTraceMarker(message: string): void {
  if (message.includes('\n')) throw new ArgumentError('a trace marker is one line');
  appendTracefsFile('trace_marker', message);
}
