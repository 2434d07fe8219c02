// Deterministic bytes for the codec round trips (btf.codecFor and generated decoders), so a
// failure reproduces from its seed.

/** `n` xorshift bytes from `seed`, every third one zero (char arrays end early, enums sometimes hit their names). */
export function randomBytes(n: number, seed: number): Uint8Array {
  let x = seed | 1;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = i % 3 === 2 ? 0 : x & 0xff;
  }
  return out;
}
