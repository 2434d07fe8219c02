// UserRingBuf against the running kernel (root, 6.1+): records written from JS are drained by
// testdata/user_ringbuf.bpf.c (`drain`, BPF_PROG_TEST_RUN), which sums what they say into
// globals. Exact counts and sums, records of many sizes including ones that wrap around the
// ring's end, discards skipped, the typed error of a full ring, reserveWait() woken by a
// drain, and close() releasing the mappings and discarding what was reserved. Before 6.1
// the map cannot be created: the test checks that the error names 6.1.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCollection, type Collection } from '../../src/collection.js';
import { MapTypeNotSupportedError } from '../../src/collection-errors.js';
import { ArgumentError, ClosedError } from '../../src/errors.js';
import { BpfMap } from '../../src/map.js';
import { MapType } from '../../src/types.js';
import { kernelVersion } from '../../src/sys/kernel-version.js';
import { UserRingBuf, UserRingBufFullError, type UserRingBufSample } from '../../src/ringbuf/user-writer.js';

const object = new URL('../../testdata/user_ringbuf.bpfel.o', import.meta.url).pathname;
const root = process.getuid?.() === 0;
const has61 = root && kernelVersion().atLeast('6.1');
const skip = !root ? 'needs root for bpf()' : !has61 ? `runs in test:vm: USER_RINGBUF needs Linux 6.1 (this is ${kernelVersion()})` : '';
if (skip !== '') console.warn(`skipping user ring buffer tests: ${skip}`);

const HEADER = 16;
const RING = 64 * 1024;

let coll: Collection;
let map: BpfMap;

beforeAll(async () => {
  if (skip !== '') return;
  coll = await loadCollection(object);
  map = coll.maps.user_rb!;
});

afterAll(() => coll?.close());

/** Fills `bytes` as the program expects: { u32 len; u32 seq; u64 value; } then filler ending in seq & 0xff. */
function fill(bytes: Uint8Array, seq: number, value: bigint): void {
  const len = bytes.length;
  bytes.fill(0xa5);
  const v = new DataView(bytes.buffer, bytes.byteOffset, len);
  v.setUint32(0, len, true);
  v.setUint32(4, seq, true);
  v.setBigUint64(8, value, true);
  if (len > HEADER) bytes[len - 1] = seq & 0xff;
}

function record(len: number, seq: number, value: bigint): Uint8Array {
  const b = new Uint8Array(len);
  fill(b, seq, value);
  return b;
}

const globals = () => {
  const v = coll.variables;
  const n = (name: string) => Number(v[name]!.get() as bigint);
  return {
    records: n('records'),
    shortRecords: n('short_records'),
    valueSum: v.value_sum!.get() as bigint,
    lenSum: n('len_sum'),
    tailSum: n('tail_sum'),
    badLen: n('bad_len'),
    orderErrors: n('order_errors'),
    nextSeq: n('next_seq'),
    lastDrain: Number(v.last_drain!.get() as bigint),
  };
};

function reset(nextSeq: number): void {
  for (const name of ['records', 'short_records', 'value_sum', 'len_sum', 'tail_sum', 'bad_len', 'order_errors']) coll.variables[name]!.set(0n);
  coll.variables.next_seq!.set(nextSeq);
  coll.variables.stop_after!.set(0);
}

const drain = () => coll.programs.drain!.testRun().retval;
let seq = 0;

describe.skipIf(skip !== '')('UserRingBuf', () => {
  it('delivers records of every size, in order and whole, across many wraps of the ring', () => {
    using ring = new UserRingBuf(map);
    expect(ring.bufferBytes).toBe(RING);
    expect(ring.availableBytes).toBe(RING);
    reset(seq);
    // Sizes from the bare header to 3 KiB, with every remainder mod 8, so that records wrap
    // around the ring's end at all alignments; written in rounds that each fit the ring.
    let count = 0;
    let lenSum = 0;
    let tailSum = 0;
    let valueSum = 0n;
    for (let round = 0; round < 40; round++) {
      let used = 0;
      for (;;) {
        const len = HEADER + ((count * 97 + round * 13) % 3072);
        const total = (len + 8 + 7) & ~7;
        if (used + total > RING) break;
        const value = BigInt(count) * 1_000_003n;
        if (count % 2 === 0) {
          ring.write(record(len, seq, value));
        } else {
          const s = ring.reserve(len);
          expect(s.bytes.length).toBe(len);
          fill(s.bytes, seq, value);
          s.submit();
        }
        used += total;
        count++;
        seq++;
        lenSum += len;
        valueSum += value;
        if (len > HEADER) tailSum += (seq - 1) & 0xff;
      }
      expect(ring.availableBytes).toBe(RING - used);
      expect(drain()).toBe(0);
      expect(globals().lastDrain).toBeGreaterThan(0);
      expect(ring.availableBytes).toBe(RING);
    }
    const g = globals();
    expect(g).toMatchObject({ records: count, shortRecords: 0, lenSum, tailSum, badLen: 0, orderErrors: 0, nextSeq: seq });
    expect(g.valueSum).toBe(valueSum);
    console.log(`user ring buffer: ${count} records (${lenSum} bytes) in 40 drains`);
  });

  it('skips discarded records and counts records shorter than the header', () => {
    using ring = new UserRingBuf(map);
    reset(seq);
    const kept: number[] = [];
    for (let i = 0; i < 30; i++) {
      const s = ring.reserve(HEADER + i);
      fill(s.bytes, i % 3 === 0 ? 0xdead : seq, 1n);
      if (i % 3 === 0) {
        s.discard();
        continue;
      }
      s.submit();
      kept.push(seq++);
    }
    ring.write(new Uint8Array(0));
    ring.write(new Uint8Array(7));
    drain();
    const g = globals();
    expect(g).toMatchObject({ records: kept.length, shortRecords: 2, orderErrors: 0, badLen: 0, lastDrain: kept.length + 2 });
    expect(g.valueSum).toBe(BigInt(kept.length));
  });

  it('a record reserved and not submitted holds back the ones after it until it is committed', () => {
    using ring = new UserRingBuf(map);
    reset(seq);
    const first = ring.reserve(32);
    ring.write(record(40, seq + 1, 2n));
    drain();
    expect(globals()).toMatchObject({ records: 0, lastDrain: 0 });
    fill(first.bytes, seq, 1n);
    first.submit();
    expect(first.pending).toBe(false);
    expect(() => first.submit()).toThrow(ArgumentError);
    drain();
    expect(globals()).toMatchObject({ records: 2, orderErrors: 0, lastDrain: 2 });
    seq += 2;
  });

  it('a full ring gives UserRingBufFullError (ENOSPC) until a drain frees room; sizes that never fit are ArgumentErrors', () => {
    using ring = new UserRingBuf(map);
    reset(seq);
    let n = 0;
    let last: unknown;
    for (;;) {
      try {
        ring.write(record(1000, seq, 1n));
      } catch (err) {
        last = err;
        break;
      }
      seq++;
      n++;
    }
    expect(last).toBeInstanceOf(UserRingBufFullError);
    const full = last as UserRingBufFullError;
    expect(full.code).toBe('ENOSPC');
    expect(full.needed).toBe(1008);
    expect(full.available).toBeLessThan(1008);
    expect(n).toBe(Math.floor(RING / 1008));
    expect(ring.tryReserve(1000)).toBeUndefined();
    // The rest still fits a smaller record (here one shorter than the program's header, which
    // it only counts): fill it exactly.
    const rest = ring.availableBytes;
    expect(rest).toBe(RING - n * 1008);
    ring.write(new Uint8Array(rest - 8));
    expect(ring.availableBytes).toBe(0);
    expect(() => ring.reserve(0)).toThrow(UserRingBufFullError);
    expect(() => ring.reserve(RING)).toThrow(ArgumentError);
    expect(() => ring.reserve(-1)).toThrow(ArgumentError);
    expect(() => ring.reserve(1.5)).toThrow(ArgumentError);
    drain();
    expect(globals()).toMatchObject({ records: n, shortRecords: 1, orderErrors: 0, badLen: 0 });
    expect(ring.availableBytes).toBe(RING);
    // The whole ring in one record.
    ring.write(record(RING - 8, seq++, 1n));
    drain();
    expect(globals()).toMatchObject({ records: n + 1, badLen: 0, orderErrors: 0 });
  });

  it('reserveWait() waits without spinning until a drain frees room, in call order; times out with ETIMEDOUT', async () => {
    using ring = new UserRingBuf(map);
    reset(seq);
    // Leave less room than one 4 KiB record needs.
    while (ring.availableBytes >= 4104 + 4104) ring.write(record(4096, seq++, 1n));
    const before = ring.availableBytes;
    expect(before).toBeGreaterThanOrEqual(4104);
    const now = await ring.reserveWait(4096);
    fill(now.bytes, seq++, 1n);
    now.submit();
    const order: number[] = [];
    const a = ring.reserveWait(4096, { timeoutMs: 10_000 }).then((s) => (order.push(1), s));
    const b = ring.reserveWait(100, { timeoutMs: 10_000 }).then((s) => (order.push(2), s));
    // While they wait the rest of the ring is held for them (a discarded filler): a plain
    // reserve fails even for a small record, and the ring reads full.
    expect(ring.availableBytes).toBe(0);
    expect(() => ring.reserve(8)).toThrow(UserRingBufFullError);
    // Waiting costs no CPU: the process sleeps until the kernel's wake-up.
    const cpu = process.cpuUsage();
    await new Promise((r) => setTimeout(r, 200));
    const used = process.cpuUsage(cpu);
    expect(order).toEqual([]);
    const drained = globals().records;
    drain();
    const sa = await a;
    const sb = await b;
    expect(order).toEqual([1, 2]);
    fill(sa.bytes, seq++, 1n);
    sa.submit();
    fill(sb.bytes, seq++, 1n);
    sb.submit();
    drain();
    const g = globals();
    expect(g).toMatchObject({ orderErrors: 0, badLen: 0, nextSeq: seq });
    expect(g.records).toBeGreaterThan(drained);
    console.log(`reserveWait: ${(used.user + used.system) / 1000} ms CPU in a 200 ms wait`);

    // Full with a record nobody commits: only the timeout ends the wait.
    const stuck = ring.reserve(ring.availableBytes - 8);
    const err = await ring.reserveWait(64, { timeoutMs: 50 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserRingBufFullError);
    expect((err as UserRingBufFullError).code).toBe('ETIMEDOUT');
    const abort = new AbortController();
    const aborted = ring.reserveWait(64, { signal: abort.signal }).catch((e: unknown) => e);
    abort.abort(new Error('stop'));
    expect(((await aborted) as Error).message).toBe('stop');
    stuck.discard();
    drain();
    expect(ring.availableBytes).toBe(RING);
  });

  it('close() discards what is reserved, rejects waiters, unmaps and leaves the map usable', async () => {
    const mapsBefore = mappingsOf();
    const ring = new UserRingBuf(map);
    expect(mappingsOf()).toBe(mapsBefore + 2);
    reset(seq);
    const open: UserRingBufSample = ring.reserve(100);
    while (ring.availableBytes >= 1008) ring.write(record(1000, seq + 1000, 1n));
    const waiting = ring.reserveWait(4096).catch((e: unknown) => e);
    ring.close();
    expect(await waiting).toBeInstanceOf(ClosedError);
    expect(ring.closed).toBe(true);
    expect(() => ring.reserve(8)).toThrow(ClosedError);
    expect(() => open.submit()).toThrow(ArgumentError);
    expect(mappingsOf()).toBe(mapsBefore);
    ring.close();
    // The records behind the discarded one were written with other sequence numbers: drain
    // them out, then a new writer starts on an empty ring.
    coll.variables.next_seq!.set(seq + 1000);
    drain();
    expect(globals().records).toBeGreaterThan(0);
    using again = new UserRingBuf(map);
    expect(again.availableBytes).toBe(RING);
    reset(seq);
    again.write(record(HEADER, seq++, 5n));
    drain();
    expect(globals()).toMatchObject({ records: 1, orderErrors: 0 });
  });

  it('refuses maps of other types', () => {
    using other = BpfMap.create({ type: MapType.RingBuf, keySize: 0, valueSize: 0, maxEntries: RING });
    expect(() => new UserRingBuf(other)).toThrow(ArgumentError);
  });
});

describe.skipIf(!root || has61)('UserRingBuf before 6.1', () => {
  it('loading a USER_RINGBUF map fails with MapTypeNotSupportedError naming 6.1', async () => {
    const err = await loadCollection(object).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MapTypeNotSupportedError);
    expect((err as Error).message).toMatch(/6\.1/);
  });
});

/** Mappings of the map's anon inode in this process (the writer maps the ring twice). */
function mappingsOf(): number {
  return readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((l) => l.includes('anon_inode:bpf-map')).length;
}
