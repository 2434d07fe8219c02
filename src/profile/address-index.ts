/**
 * The sorted-address index the symbol tables of `profile/` share: build one (sorted by address,
 * one entry per address) and find the entry at or below an address.
 *
 * @module
 */

/**
 * The index of the last of ascending `starts` at or below `address`, or -1 when `address` lies
 * below them all (an upper-bound binary search, minus one). @internal
 */
export function lastAtOrBelow(starts: BigUint64Array, address: bigint): number {
  let lo = 0;
  let hi = starts.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (starts[mid]! <= address) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/**
 * `entries` sorted by address with one entry per address, the lowest `rank` kept of several at
 * one address; `starts` holds their addresses for {@link lastAtOrBelow}. Sorts `entries` in place. @internal
 */
export function addressIndex<E>(entries: E[], address: (e: E) => bigint, rank: (e: E) => number): { starts: BigUint64Array; entries: E[] } {
  entries.sort((a, b) => {
    const x = address(a);
    const y = address(b);
    return x < y ? -1 : x > y ? 1 : rank(a) - rank(b);
  });
  const kept: E[] = [];
  const starts: bigint[] = [];
  for (const e of entries) {
    const at = address(e);
    if (starts.length > 0 && starts[starts.length - 1] === at) continue;
    kept.push(e);
    starts.push(at);
  }
  return { starts: BigUint64Array.from(starts), entries: kept };
}
