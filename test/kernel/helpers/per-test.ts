// What the attach tests with real traffic share: what a test opens is closed after it, the
// counters their BPF programs keep are read from the collection, and errors are caught to
// look at.
import { afterEach } from 'vitest';
import type { Collection } from '../../../src/collection.js';

/**
 * Registers an afterEach that closes what the returned `track` was given during the test,
 * last first (links before their collections, those before namespaces and cgroups), all of
 * them even when one close throws; the first error then fails the test.
 */
export function closeAfterEach(): <T extends { close(): void }>(x: T) => T {
  const open: Array<{ close(): void }> = [];
  afterEach(() => {
    const errors: unknown[] = [];
    for (const x of open.splice(0).reverse()) {
      try {
        x.close();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw errors[0];
  });
  return (x) => {
    open.push(x);
    return x;
  };
}

/** The u64 global variable `name` of `coll`. */
export const u64 = (coll: Collection, name: string): bigint => coll.variables[name]!.get() as bigint;

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Reads `read` until it reaches `want` or a second passes (softirq work may trail the sender by a moment). */
export function settle(read: () => bigint, want: bigint): bigint {
  const deadline = Date.now() + 1000;
  let v = read();
  while (v < want && Date.now() < deadline) {
    Atomics.wait(sleeper, 0, 0, 10);
    v = read();
  }
  return v;
}

/** The error `fn` throws; fails the test when it throws none. */
export function caught(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}
