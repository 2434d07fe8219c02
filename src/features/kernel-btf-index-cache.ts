/**
 * The per-boot store of the running kernel's vmlinux BTF index (internal/kernel-btf-index.ts):
 * where every 32nd of its ~126k type records starts and a hash table of their names, as the
 * first process of a boot made them, so that later processes read ~0.5 MB instead of walking
 * the 3 MB type section and searching the 2.3 MB string table for each name. One file,
 * `vmlinux-btf-index.bin`, in the probe cache's directory and under its rules (probe-cache.ts: a
 * directory only its owner may enter, a file only its owner may write; off with
 * `EBPF_TS_NO_PROBE_CACHE=1` and when running from the TypeScript sources). It is keyed by the
 * boot id, the kernel release, the BTF's length, the file format and the code of the index
 * pass; btf/parse.ts checks each part it uses against the BTF (a file that proves wrong is
 * dropped for the rest of the process, which then indexes the BTF as without one).
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { indexModule } from '../btf/index-wasm.js';
import { setKernelBTFIndexStore, type KernelBTFIndex, type KernelBTFIndexStore } from '../internal/kernel-btf-index.js';
import { readTrusted, trustedDir, writeReplacing } from './probe-cache-file.js';
import { probeCacheDir } from './probe-cache.js';

// Named by format: library versions with another format do not replace each other's file.
/** The file's name inside the cache directory. */
export const kernelBTFIndexFileName = 'vmlinux-btf-index-2.bin';

const magic = 0x58495442; // "BTIX"
const format = 2;
// Words 0–7: magic, format, BTF length, type count, key length, log2 of the checkpoint stride,
// checkpoint count, name table slots; the key text from byte 32; the arrays from headerBytes.
const headerBytes = 256;
const maxKeyBytes = headerBytes - 32;
// vmlinux has ~126k types; 16M would be far more than any kernel: not ours.
const maxTypes = 1 << 24;
const maxSlots = 1 << 26;

/** One directory's index file (words in host byte order: it never leaves the machine). */
export class KernelBTFIndexFile implements KernelBTFIndexStore {
  /**
   * @param dir The directory (created with mode 0700 if missing; its parent must exist).
   * @param key What the index is valid for (boot, kernel, index code).
   * @param uid The owner the directory and file must have (default: the effective uid).
   */
  constructor(
    readonly dir: string,
    readonly key: string,
    private readonly uid: number = process.geteuid?.() ?? -1,
  ) {}

  /**
   * The stored index for a BTF of `blobLength` bytes under this key, if the file has one of
   * the right shape (what it says is checked against the BTF where parsing uses it).
   */
  load(blobLength: number): KernelBTFIndex | undefined {
    if (!trustedDir(this.dir, this.uid, false)) return undefined;
    const b = readTrusted(join(this.dir, kernelBTFIndexFileName), this.uid, headerBytes + 4 * (maxTypes + maxSlots));
    if (b === undefined || b.length < headerBytes || b.byteOffset % 4 !== 0) return undefined;
    const [m, f, length, count, keyLength, strideLog2, checkpointCount, slots] = new Uint32Array(b.buffer, b.byteOffset, 8);
    if (m !== magic || f !== format || length !== blobLength || keyLength! > maxKeyBytes || count! > maxTypes || slots! > maxSlots) return undefined;
    if (strideLog2! > 16 || checkpointCount !== Math.ceil(count! / 2 ** strideLog2!) + 1) return undefined;
    if (b.length !== headerBytes + 4 * (checkpointCount + slots!) || b.toString('utf8', 32, 32 + keyLength!) !== this.key) return undefined;
    const at = b.byteOffset + headerBytes;
    return {
      count: count!,
      strideLog2: strideLog2!,
      checkpoints: new Uint32Array(b.buffer, at, checkpointCount),
      names: new Uint32Array(b.buffer, at + 4 * checkpointCount, slots),
    };
  }

  /** Writes the index for a BTF of `blobLength` bytes; false when that is not possible. */
  save(blobLength: number, index: KernelBTFIndex): boolean {
    const { count, strideLog2, checkpoints, names } = index;
    const key = Buffer.from(this.key, 'utf8');
    if (key.length > maxKeyBytes || count > maxTypes || names.length > maxSlots || strideLog2 > 16) return false;
    if (checkpoints.length !== Math.ceil(count / 2 ** strideLog2) + 1) return false;
    if (!trustedDir(this.dir, this.uid, true)) return false;
    const out = new Uint8Array(headerBytes + 4 * (checkpoints.length + names.length));
    new Uint32Array(out.buffer, 0, 8).set([magic, format, blobLength, count, key.length, strideLog2, checkpoints.length, names.length]);
    out.set(key, 32);
    const words = new Uint32Array(out.buffer, headerBytes);
    words.set(checkpoints, 0);
    words.set(names, checkpoints.length);
    return writeReplacing(this.dir, kernelBTFIndexFileName, out);
  }
}

/** What a stored index is valid for: this boot and kernel, and this index pass's code. */
export function kernelBTFIndexKey(bootId: string, kernelRelease: string): string {
  // FNV-1a of the WebAssembly module: another index pass means another index.
  let h = 0x811c9dc5;
  for (let i = 0; i < indexModule.length; i++) h = Math.imul(h ^ indexModule.charCodeAt(i), 0x01000193);
  return `${bootId}\n${kernelRelease}\nindex ${(h >>> 0).toString(16)}`;
}

// undefined: not decided yet; null: no store in this process.
let file: KernelBTFIndexFile | null | undefined;

function defaultFile(): KernelBTFIndexFile | null {
  // Tests of a changed index pass must not see an older one's file.
  if (fileURLToPath(import.meta.url).endsWith('.ts')) return null;
  const dir = probeCacheDir(process.geteuid?.() ?? -1, process.env);
  if (dir === undefined) return null;
  try {
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    return bootId === '' ? null : new KernelBTFIndexFile(dir, kernelBTFIndexKey(bootId, release()));
  } catch {
    return null;
  }
}

/**
 * Uses `next` as this process's store (a {@link KernelBTFIndexFile} over a test directory, or
 * undefined for none); `'default'` decides again from the environment on next use. For tests.
 * @internal
 */
export function setKernelBTFIndexFile(next: KernelBTFIndexFile | undefined | 'default'): void {
  file = next === 'default' ? undefined : (next ?? null);
}

setKernelBTFIndexStore({
  load: (blobLength) => (file ??= defaultFile())?.load(blobLength),
  save: (blobLength, index) => {
    (file ??= defaultFile())?.save(blobLength, index);
  },
});
