/**
 * The per-boot store of the running kernel's vmlinux BTF index (internal/kernel-btf-index.ts):
 * where each of its ~126k type records starts, its name, and each kind's largest name offset,
 * as the first process of a boot found them, so that later processes read ~1 MB instead of
 * walking the 3 MB type section. One file, `vmlinux-btf-index.bin`, in the probe cache's
 * directory and under its rules (probe-cache.ts: a directory only its owner may enter, a file
 * only its owner may write; off with `EBPF_TS_NO_PROBE_CACHE=1` and when running from the
 * TypeScript sources). It is keyed by the boot id, the kernel release, the BTF's length and the
 * code of the index pass; btf/parse.ts checks a sample of it against the BTF before use.
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

/** The file's name inside the cache directory. */
export const kernelBTFIndexFileName = 'vmlinux-btf-index.bin';

const magic = 0x58495442; // "BTIX"
const format = 1;
// Words 0–4: magic, format, BTF length, type count, key length; the key text from byte 32.
const headerBytes = 256;
const maxKeyBytes = headerBytes - 32;
// vmlinux has ~126k types; 16M would be 128 MB of index: not ours.
const maxTypes = 1 << 24;

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

  /** The stored index for a BTF of `blobLength` bytes under this key, if the file has one. */
  load(blobLength: number): KernelBTFIndex | undefined {
    if (!trustedDir(this.dir, this.uid, false)) return undefined;
    const b = readTrusted(join(this.dir, kernelBTFIndexFileName), this.uid, headerBytes + 128 + 8 * maxTypes);
    if (b === undefined || b.length < headerBytes + 128 || b.byteOffset % 4 !== 0) return undefined;
    const w = new Uint32Array(b.buffer, b.byteOffset, 5);
    const n = w[3]!;
    const keyLength = w[4]!;
    if (w[0] !== magic || w[1] !== format || w[2] !== blobLength || keyLength > maxKeyBytes) return undefined;
    if (b.length !== headerBytes + 128 + 8 * n || b.toString('utf8', 32, 32 + keyLength) !== this.key) return undefined;
    const at = b.byteOffset + headerBytes;
    return {
      maxNames: new Uint32Array(b.buffer, at, 32),
      offsets: new Uint32Array(b.buffer, at + 128, n),
      names: new Uint32Array(b.buffer, at + 128 + 4 * n, n),
    };
  }

  /** Writes the index for a BTF of `blobLength` bytes; false when that is not possible. */
  save(blobLength: number, index: KernelBTFIndex): boolean {
    const n = index.offsets.length;
    const key = Buffer.from(this.key, 'utf8');
    if (key.length > maxKeyBytes || index.names.length !== n || index.maxNames.length !== 32 || n > maxTypes) return false;
    if (!trustedDir(this.dir, this.uid, true)) return false;
    const out = new Uint8Array(headerBytes + 128 + 8 * n);
    new Uint32Array(out.buffer, 0, 5).set([magic, format, blobLength, n, key.length]);
    out.set(key, 32);
    const words = new Uint32Array(out.buffer, headerBytes);
    words.set(index.maxNames, 0);
    words.set(index.offsets, 32);
    words.set(index.names, 32 + n);
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
