/**
 * `OverwritablePerfReader`: a perf event array as a flight recorder. Each CPU's ring is
 * mapped read-only and written backward (`write_backward`, 4.7), so the kernel never waits for
 * a reader: when the ring is full, the newest record overwrites the oldest. Nothing is read
 * until asked; {@link OverwritablePerfReader.readRecent} then pauses each ring
 * (`PERF_EVENT_IOC_PAUSE_OUTPUT`), copies what it holds newest first, and lets writes in again.
 * cilium/ebpf's `perf.ReaderOptions{Overwritable: true}`, perf(1)'s `--overwrite`.
 *
 * ```
 *  data area of one CPU (size S), written downwards; data_head = -(bytes written)
 *  ┌───────────────┬────────┬────────┬────────┬──────────┬──────────────┐
 *  │ older … (tail │ newest │ newer  │ older  │ …        │ oldest, head │
 *  │ overwritten)  │ @ head │        │        │          │ cut off      │
 *  └───────────────┴────────┴────────┴────────┴──────────┴──────────────┘
 *                  ^ data_head & (S-1): the walk goes up from here, S bytes at most,
 *                    wrapping at the end, and stops at the record the window cuts.
 * ```
 *
 * @module
 */
import { ArgumentError } from '../errors.js';
import type { BpfMap } from '../map.js';
import { MapType } from '../types.js';
import type { Backend } from '../sys/backend.js';
import { backend } from '../sys/select.js';
import { onlineCPUs } from '../sys/cpus.js';
import { PERF_EVENT_IOC_PAUSE_OUTPUT, perfEventIoctl } from '../internal/perf-event.js';
import { pageSize } from '../internal/reader/mmap.js';
import { Owner } from '../internal/owner.js';
import type { PerfRecord } from './ring.js';
import { checkSlots, installRing, openCPURing, releaseRings, ringPages, type CPURingBase, type HeldRings } from './cpu-rings.js';

/** Options of {@link OverwritablePerfReader}. */
export interface OverwritablePerfReaderOptions {
  /**
   * Size of each CPU's ring in bytes, rounded up to a power-of-two number of pages. Default:
   * 64 pages. The ring holds the newest records that fit: this is how far back a snapshot sees.
   */
  perCpuBufferBytes?: number;
}

/** Options of {@link OverwritablePerfReader.readRecent}. */
export interface ReadRecentOptions {
  /** At most this many records per CPU (the newest ones). Default: everything the ring holds. */
  maxPerCPU?: number;
  /** Only this CPU's ring. Default: every ring, in ascending CPU order. */
  cpu?: number;
}

const owners = Owner.kind<HeldRings>('OverwritablePerfReader', releaseRings);

/**
 * Keeps the most recent records a BPF program sent with `bpf_perf_event_output()` through a
 * `BPF_MAP_TYPE_PERF_EVENT_ARRAY`, per CPU, and hands them out on demand, newest first: a
 * flight recorder (dump the last events when something goes wrong), not a stream.
 *
 * Each online CPU gets a `PERF_COUNT_SW_BPF_OUTPUT` event with `write_backward` and a ring
 * mapped read-only, which puts it in overwrite mode: the kernel never drops a sample for lack
 * of room, it overwrites the oldest records instead. So there is no reading loop, nothing is
 * counted as lost for a full ring, and no wake-up is waited for (nothing watches the fds). A
 * record of type LOST only appears for samples dropped while the ring was paused, e.g. during
 * a {@link OverwritablePerfReader.readRecent}.
 *
 * Records are ordered newest first within each CPU; there is no order across CPUs (a sample
 * carries no timestamp; put one in the record, e.g. `bpf_ktime_get_ns()`, to merge them).
 *
 * Minimum kernel: 4.7 (`write_backward`, `PERF_EVENT_IOC_PAUSE_OUTPUT`).
 *
 * @example
 * ```ts
 * using recorder = new OverwritablePerfReader(coll.maps.events, { perCpuBufferBytes: 1 << 20 });
 * // … later, when something interesting happened:
 * for (const { cpu, rawSample } of recorder.readRecent({ maxPerCPU: 100 })) dump(cpu, rawSample);
 * ```
 *
 * Errors: the constructor throws {@link ArgumentError} for a map that is not a perf event
 * array or bad sizes, {@link SyscallError} when `perf_event_open` (EINVAL before 4.7), `mmap` or
 * the map update fail (everything opened so far is released first); use after close throws
 * {@link ClosedError}.
 */
export class OverwritablePerfReader implements Disposable {
  readonly #map: BpfMap;
  readonly #rings: CPURingBase[] = [];
  readonly #owner: Owner<HeldRings>;
  /** Paused by {@link OverwritablePerfReader.pause} (readRecent then leaves it so). */
  #paused = false;
  /** Bytes of each CPU's ring (data area, a power-of-two number of pages). */
  readonly bufferBytes: number;

  /**
   * Opens the per-CPU events, maps their rings and installs them in `map`.
   *
   * @param map a `PERF_EVENT_ARRAY` with at least as many entries as the highest online CPU
   * number + 1.
   * @throws {@link ArgumentError}, {@link SyscallError}: see the class.
   */
  constructor(map: BpfMap, options: OverwritablePerfReaderOptions = {}) {
    if (map.type !== MapType.PerfEventArray) {
      throw new ArgumentError(`OverwritablePerfReader needs a PERF_EVENT_ARRAY map; ${map.name} is of type ${MapType[map.type] ?? map.type}`);
    }
    const page = pageSize();
    const pages = ringPages(options.perCpuBufferBytes, page, 'OverwritablePerfReader');
    this.bufferBytes = pages * page;
    const b: Backend = backend();
    this.#map = map;
    const cpus = onlineCPUs();
    checkSlots(map, cpus, 'OverwritablePerfReader');
    this.#owner = new Owner(owners, this, { backend: b, map, rings: this.#rings }, 'OverwritablePerfReader is closed');
    const key = new Uint8Array(4);
    const value = new Uint8Array(4);
    try {
      for (const cpu of cpus) {
        // No wake-up settings: nothing watches the fds (the kernel's default, a wake-up per
        // half ring, goes to nobody).
        const r = openCPURing(b, cpu, pages, page, {}, true);
        this.#rings.push(r);
        installRing(map, cpu, r.fd, key, value);
      }
    } catch (err) {
      this.#owner.close();
      throw err;
    }
  }

  /** The CPUs that have a ring (the CPUs online when the reader was created), ascending. */
  get cpus(): number[] {
    return this.#rings.map((r) => r.cpu);
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#owner.closed;
  }

  /** True between {@link OverwritablePerfReader.pause} and {@link OverwritablePerfReader.resume}. */
  get paused(): boolean {
    return this.#paused;
  }

  /**
   * A snapshot of what the rings hold now: per CPU (ascending), the newest record first, then
   * older ones, as far back as the ring reaches. Each ring is paused while it is copied (one
   * memcpy), so the records are whole and contiguous: samples that arrive on that CPU
   * meanwhile are dropped (and show up as a LOST record, `lostSamples > 0`, in later
   * snapshots). Records are copies: they stay valid as long as you keep them, and the rings
   * keep them too (a second call returns them again, with whatever came since).
   *
   * A record is a {@link PerfRecord} as {@link PerfReader} returns them (`rawSample` padded
   * by the kernel to 8 bytes minus 4).
   *
   * @throws {@link ArgumentError} for a CPU without a ring or a bad `maxPerCPU`;
   * {@link ClosedError} after close.
   */
  readRecent(options: ReadRecentOptions = {}): PerfRecord[] {
    const { maxPerCPU = Infinity, cpu } = options;
    this.#owner.held;
    if (!(maxPerCPU >= 0)) throw new ArgumentError(`OverwritablePerfReader.readRecent: maxPerCPU must be >= 0, got ${maxPerCPU}`);
    let rings = this.#rings;
    if (cpu !== undefined) {
      rings = rings.filter((r) => r.cpu === cpu);
      if (rings.length === 0) throw new ArgumentError(`OverwritablePerfReader.readRecent: no ring for CPU ${cpu} (rings: ${this.cpus.join(', ')})`);
    }
    const out: PerfRecord[] = [];
    for (const r of rings) {
      if (this.#paused) {
        r.ring.readRecentInto(out, maxPerCPU);
        continue;
      }
      // Paused while copied: a writer would otherwise overwrite the oldest records under the
      // copy (the kernel does not wait for readers of an overwritable ring).
      this.#pauseRing(r, true);
      try {
        r.ring.readRecentInto(out, maxPerCPU);
      } finally {
        this.#pauseRing(r, false);
      }
    }
    return out;
  }

  /**
   * Stops every ring: samples sent from now on are dropped (counted, and reported as a LOST
   * record once the ring is resumed and written again), so what the rings hold stays as it is
   * — freeze the recording when something went wrong, then read it at leisure.
   * Idempotent.
   * @throws {@link ClosedError} after close; {@link SyscallError} if the kernel refuses the ioctl.
   */
  pause(): void {
    this.#owner.held;
    if (this.#paused) return;
    for (const r of this.#rings) this.#pauseRing(r, true);
    this.#paused = true;
  }

  /**
   * Undoes {@link OverwritablePerfReader.pause}: the rings record again. Idempotent.
   * @throws {@link ClosedError} after close; {@link SyscallError} if the kernel refuses the ioctl.
   */
  resume(): void {
    this.#owner.held;
    if (!this.#paused) return;
    for (const r of this.#rings) this.#pauseRing(r, false);
    this.#paused = false;
  }

  #pauseRing(r: CPURingBase, pause: boolean): void {
    perfEventIoctl(r.fd, PERF_EVENT_IOC_PAUSE_OUTPUT, pause ? 1 : 0, `${pause ? 'pause' : 'resume'} the perf ring of CPU ${r.cpu}`);
  }

  /**
   * Removes the events from the map, unmaps the rings and closes the fds; what they held is
   * gone. The map itself stays open. Idempotent.
   */
  close(): void {
    this.#owner.close();
  }

  /** Same as {@link OverwritablePerfReader.close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** `OverwritablePerfReader(events, 4 CPUs × 262144 bytes)` or `…(closed)`. */
  toString(): string {
    return this.closed ? `OverwritablePerfReader(${this.#map.name}, closed)` : `OverwritablePerfReader(${this.#map.name}, ${this.#rings.length} CPUs × ${this.bufferBytes} bytes)`;
  }
}
