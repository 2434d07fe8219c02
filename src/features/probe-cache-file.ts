/**
 * The file that keeps feature probe answers for the rest of a boot, so that the next process
 * does not ask the kernel again: one small JSON file in a directory only its owner may write.
 * It is trusted only when everything about it checks out — the directory is a real directory
 * (not a symlink) owned by us with no group or other access, the file a regular file owned by
 * us that nobody else may write, the JSON well-formed, and the key (boot id, kernel release,
 * library version and build) equal to ours. Anything else is ignored, and the next write
 * replaces it. Writes go to a temporary file renamed over the old one, so a reader never sees
 * half a file; two processes writing at once may lose one's new entries, which only costs a
 * probe later.
 *
 * @module
 */
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FeatureResult } from './feature.js';

/** What a cache file is valid for: a file with any other key is ignored. */
export interface ProbeCacheKey {
  /** `/proc/sys/kernel/random/boot_id`: new on every boot (kexec included). */
  readonly bootId: string;
  /** The kernel release (`uname -r`). */
  readonly release: string;
  /** The ebpf-ts version, and a stamp of this build (probe code changes between builds). */
  readonly version: string;
}

/** A conclusive answer, the only kind a file may hold (and never a policy refusal). */
export type StoredResult = Exclude<FeatureResult, { supported: 'unknown' }>;

/** The file's name inside the cache directory. */
export const probeCacheFileName = 'probes.json';

// Answers for a few hundred features fit in far less; anything bigger is not ours.
const maxFileBytes = 1 << 20;
const format = 1;

/** One directory's cache file, read at most once and written back on {@link ProbeCacheFile.flush}. */
export class ProbeCacheFile {
  private loaded: Map<string, StoredResult> | undefined;
  private readonly added = new Map<string, StoredResult>();

  /**
   * @param dir The directory (created with mode 0700 if missing; its parent must exist).
   * @param key What the answers are valid for.
   * @param uid The owner the directory and file must have (default: the effective uid).
   */
  constructor(
    readonly dir: string,
    readonly key: ProbeCacheKey,
    private readonly uid: number = process.geteuid?.() ?? -1,
  ) {}

  /** The stored answer for the feature called `name`, if the file has a valid one. */
  get(name: string): StoredResult | undefined {
    return this.added.get(name) ?? this.stored().get(name);
  }

  /** Records an answer; {@link ProbeCacheFile.flush} writes it. */
  set(name: string, result: StoredResult): void {
    this.added.set(name, result);
  }

  /** Whether {@link ProbeCacheFile.set} recorded answers that are not written yet. */
  get dirty(): boolean {
    return this.added.size > 0;
  }

  /**
   * Writes the file: the valid answers it holds now (another process may have added some)
   * with ours on top. Returns false, writing nothing, when the directory cannot be trusted
   * or created, or writing fails; never throws.
   */
  flush(): boolean {
    if (this.added.size === 0) return true;
    if (!trustedDir(this.dir, this.uid, true)) return false;
    const merged = new Map([...this.read(), ...this.added]);
    const text = JSON.stringify({ format, ...this.key, results: Object.fromEntries(merged) });
    if (!writeReplacing(this.dir, probeCacheFileName, text)) return false;
    this.loaded = merged;
    this.added.clear();
    return true;
  }

  private stored(): Map<string, StoredResult> {
    this.loaded ??= trustedDir(this.dir, this.uid, false) ? this.read() : new Map();
    return this.loaded;
  }

  /** The valid answers the file holds now; empty when it is missing, foreign or corrupt. */
  private read(): Map<string, StoredResult> {
    const bytes = readTrusted(join(this.dir, probeCacheFileName), this.uid, maxFileBytes);
    return bytes === undefined ? new Map() : parseCacheText(bytes.toString('utf8'), this.key);
  }
}

/**
 * Whether `dir` is a directory (not a symlink) that `uid` owns and no one else may enter; with
 * `create`, makes it (0700) when missing. What every per-boot cache file is kept in.
 */
export function trustedDir(dir: string, uid: number, create: boolean): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const st = lstatSync(dir);
      return st.isDirectory() && st.uid === uid && (st.mode & 0o077) === 0;
    } catch (err) {
      if (!create || (err as NodeJS.ErrnoException).code !== 'ENOENT') return false;
      try {
        mkdirSync(dir, { mode: 0o700 });
      } catch {
        // Someone else made it in between: the next lstat judges it.
      }
    }
  }
  return false;
}

/**
 * The bytes of `path` if it is a regular file (not a symlink) that `uid` owns, that no one else
 * may write and that holds at most `maxBytes`; undefined otherwise (missing, foreign, too big).
 */
export function readTrusted(path: string, uid: number, maxBytes: number): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.uid !== uid || (st.mode & 0o022) !== 0 || st.size > maxBytes) return undefined;
    return readFileSync(fd);
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes `data` as `dir/name` through a new temporary file (mode 0600) renamed over it, so that
 * a reader never sees half a file. False, having written nothing, when that fails.
 */
export function writeReplacing(dir: string, name: string, data: string | Uint8Array): boolean {
  const tmp = join(dir, `${name}.${process.pid}.${Math.random().toString(36).slice(2)}`);
  let fd: number | undefined;
  try {
    // O_EXCL: never write through a file (or symlink) someone else put there.
    fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    writeFileSync(fd, data);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, join(dir, name));
    return true;
  } catch {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // Nothing was created.
    }
    return false;
  }
}

/**
 * The answers in a cache file's text, if it is a cache file for `key`; empty for anything else
 * (malformed JSON, another format, boot, release or version, a malformed entry).
 */
export function parseCacheText(text: string, key: ProbeCacheKey): Map<string, StoredResult> {
  const none = new Map<string, StoredResult>();
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return none;
  }
  if (!isRecord(doc) || doc.format !== format) return none;
  if (doc.bootId !== key.bootId || doc.release !== key.release || doc.version !== key.version) return none;
  if (!isRecord(doc.results)) return none;
  const out = new Map<string, StoredResult>();
  for (const [name, value] of Object.entries(doc.results)) {
    const r = storedResult(value);
    // One bad entry means the file is not what we wrote: trust none of it.
    if (r === undefined) return none;
    out.set(name, r);
  }
  return out;
}

function storedResult(v: unknown): StoredResult | undefined {
  if (!isRecord(v)) return undefined;
  if (v.supported === true) return { supported: true };
  if (v.supported !== false || typeof v.reason !== 'string') return undefined;
  if (v.minimumVersion !== undefined && typeof v.minimumVersion !== 'string') return undefined;
  if (v.missingConfig !== undefined && typeof v.missingConfig !== 'string') return undefined;
  // Policy refusals belong to the process that met them; a file never holds one.
  if (v.refusedByPolicy !== undefined) return undefined;
  const minimumVersion = v.minimumVersion as string | undefined;
  if (v.missingConfig === undefined) return { supported: false, minimumVersion, reason: v.reason };
  return { supported: false, minimumVersion, reason: v.reason, missingConfig: v.missingConfig as string };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
