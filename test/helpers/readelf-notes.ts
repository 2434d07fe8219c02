// `readelf -n` (binutils) output about USDT notes, read back into plain records: the ground
// truth the note reader (test/unit/usdt-notes.test.ts) and `ebpf-ts usdt list`
// (test/unit/cli-usdt.test.ts) are compared with. testdata/usdt/readelf.txt holds the
// recorded output of every fixture, in `== <file>` blocks (testdata/usdt/build.sh).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { testdata } from './tools.js';

/** One NT_STAPSDT note as readelf prints it. */
export interface ReadelfProbe {
  readonly provider: string;
  readonly name: string;
  readonly location: bigint;
  readonly base: bigint;
  readonly semaphore: bigint;
  readonly arguments: string;
}

const NOTE = /Provider: (\S+)\n\s+Name: (\S+)\n\s+Location: 0x([0-9a-f]+), Base: 0x([0-9a-f]+), Semaphore: 0x([0-9a-f]+)\n\s+Arguments: ?(.*)/g;

/** The USDT notes in `readelf -n` output of one file. */
export function parseReadelfNotes(text: string): ReadelfProbe[] {
  return [...text.matchAll(NOTE)].map((m) => ({
    provider: m[1]!,
    name: m[2]!,
    location: BigInt(`0x${m[3]}`),
    base: BigInt(`0x${m[4]}`),
    semaphore: BigInt(`0x${m[5]}`),
    arguments: m[6]!.trim(),
  }));
}

/** testdata/usdt/`file`. */
export function usdtFixture(file: string): string {
  return join(testdata, 'usdt', file);
}

/** testdata/usdt/readelf.txt, by file name. */
export function recordedNotes(): Map<string, ReadelfProbe[]> {
  const text = readFileSync(usdtFixture('readelf.txt'), 'utf8');
  const out = new Map<string, ReadelfProbe[]>();
  for (const block of text.split(/^== /m).slice(1)) {
    const nl = block.indexOf('\n');
    out.set(block.slice(0, nl).trim(), parseReadelfNotes(block.slice(nl + 1)));
  }
  return out;
}
