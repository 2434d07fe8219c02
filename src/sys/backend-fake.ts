/**
 * A fake syscall backend for unit tests: records every call and answers from a script, so the
 * TypeScript layers (attr encoding, error mapping, map and program logic) run without a kernel
 * and every errno path is reachable.
 *
 * @example
 * ```ts
 * const fake = new FakeBackend();
 * fake.onBpf(Cmd.MapCreate, () => -Errno.E2BIG);
 * setBackend(fake);
 * expect(() => BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 1 << 20, maxEntries: 1 })).toThrow(/E2BIG/);
 * ```
 *
 * @module
 */
import type { Backend, Mapping, PointerList, Watcher } from './backend.js';
import { RLIM_INFINITY, elemManyLoop, zeroAsUndefined } from './backend.js';

/** One recorded bpf() call. `attr` is a copy taken before the handler ran. */
export interface FakeBpfCall {
  /** The bpf() command number. */
  readonly cmd: number;
  /** A copy of the attr as it was sent. */
  readonly attr: Uint8Array;
  /** The pointer fields as `offset → buffer` (live buffers, not copies). */
  readonly pointers: ReadonlyMap<number, Uint8Array | null>;
  /**
   * The caller's attr itself, for handlers that write results back into it as the kernel
   * does (e.g. `batch.count`, `next_id`). Read it during the call only: callers may reuse it.
   */
  readonly liveAttr: Uint8Array;
}

/** A scripted answer: the syscall's result (`-errno` for failure), computed from the call. */
export type FakeBpfHandler = (call: FakeBpfCall) => number;

const ENOSYS = 38;

/** The fake backend. Unscripted bpf() commands answer `-ENOSYS`. */
export class FakeBackend implements Backend {
  readonly kind = 'fake' as const;
  /** Every bpf() call so far, oldest first. */
  readonly calls: FakeBpfCall[] = [];
  /** Every fd passed to close(). */
  readonly closed: number[] = [];
  private readonly handlers = new Map<number, FakeBpfHandler[]>();
  private readonly defaults = new Map<number, FakeBpfHandler>();
  private nextFd = 100;
  private memlock: [bigint, bigint] = [RLIM_INFINITY, RLIM_INFINITY];

  /**
   * Answers the next call of `cmd` with `handler` (queued: each handler is used once). Use
   * {@link FakeBackend.alwaysBpf} for a standing answer.
   */
  onBpf(cmd: number, handler: FakeBpfHandler | number): this {
    const h = typeof handler === 'number' ? () => handler : handler;
    const queue = this.handlers.get(cmd) ?? [];
    queue.push(h);
    this.handlers.set(cmd, queue);
    return this;
  }

  /** Answers every call of `cmd` (after queued ones are used up) with `handler`. */
  alwaysBpf(cmd: number, handler: FakeBpfHandler | number): this {
    this.defaults.set(cmd, typeof handler === 'number' ? () => handler : handler);
    return this;
  }

  /** A fresh fake fd number (never 0–2). */
  allocFd(): number {
    return this.nextFd++;
  }

  /** The calls of one command. */
  callsOf(cmd: number): FakeBpfCall[] {
    return this.calls.filter((c) => c.cmd === cmd);
  }

  bpf(cmd: number, attr: Uint8Array, pointers?: PointerList): number {
    const ptrs = new Map<number, Uint8Array | null>();
    if (pointers !== undefined) {
      for (let i = 0; i < pointers.length; i += 2) ptrs.set(pointers[i] as number, pointers[i + 1] as Uint8Array | null);
    }
    const call: FakeBpfCall = { cmd, attr: attr.slice(), pointers: ptrs, liveAttr: attr };
    this.calls.push(call);
    const queued = this.handlers.get(cmd);
    const handler = queued !== undefined && queued.length > 0 ? queued.shift() : this.defaults.get(cmd);
    return handler === undefined ? -ENOSYS : handler(call);
  }

  prepare(attr: Uint8Array, pointers: PointerList): (cmd: number) => number {
    return (cmd) => this.bpf(cmd, attr, pointers);
  }

  prepareCmd(cmd: number, attr: Uint8Array, pointers: PointerList): () => number | undefined {
    return () => zeroAsUndefined(this.bpf(cmd, attr, pointers));
  }

  elemMany(
    cmd: number,
    attr: Uint8Array,
    keys: Uint8Array,
    keyStride: number,
    values: Uint8Array | null,
    valueStride: number,
    n: number,
    results: Int32Array,
    tolerated: number,
  ): number {
    return elemManyLoop(this, cmd, attr, keys, keyStride, values, valueStride, n, results, tolerated);
  }

  perfEventOpen(): number {
    return this.allocFd();
  }

  ioctl(): number {
    return 0;
  }

  /** Sockets are not scripted: unit tests of netlink encode and decode bytes without a kernel. */
  socket(): number {
    return -ENOSYS;
  }

  bind(): number {
    return -ENOSYS;
  }

  sendto(): number {
    return -ENOSYS;
  }

  recv(): number {
    return -ENOSYS;
  }

  setsockopt(): number {
    return -ENOSYS;
  }

  getsockopt(): number {
    return -ENOSYS;
  }

  /** Namespace switches succeed and change nothing: code that enters a namespace runs on. */
  setns(): number {
    return 0;
  }

  close(fd: number): number {
    this.closed.push(fd);
    return 0;
  }

  dupAbove(_fd: number, minFd: number): number {
    return Math.max(this.allocFd(), minFd);
  }

  mmap(_fd: number, length: number): Mapping {
    return { buffer: new ArrayBuffer(length), length };
  }

  munmap(): number {
    return 0;
  }

  loadAcquire64(mapping: Mapping, offset: number): bigint {
    return new DataView(mapping.buffer).getBigUint64(offset, true);
  }

  storeRelease64(mapping: Mapping, offset: number, value: bigint): void {
    new DataView(mapping.buffer).setBigUint64(offset, value, true);
  }

  loadAcquire32(mapping: Mapping, offset: number): number {
    return new DataView(mapping.buffer).getUint32(offset, true);
  }

  watch(): Watcher {
    return { stop() {} };
  }

  getrlimit(): [bigint, bigint] {
    return [...this.memlock];
  }

  setrlimit(_resource: number, soft: bigint, hard: bigint): number {
    this.memlock = [soft, hard];
    return 0;
  }
}
