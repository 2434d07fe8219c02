/**
 * Finding and caching the running kernel's BTF. `/sys/kernel/btf/vmlinux` (Linux 5.4+ with
 * `CONFIG_DEBUG_INFO_BTF`) is loaded once per process, mapped read-only where the kernel allows
 * it (6.16+) and read otherwise (see kernel-file.ts), and indexed lazily; without it, the
 * vmlinux images libbpf also searches are tried (`btf__load_vmlinux_btf` in libbpf's btf.c).
 * Module BTF (`/sys/kernel/btf/<module>`, split BTF on top of vmlinux) is loaded only when asked
 * for: one module by name, or every loaded module's when a CO-RE type, kfunc, typed ksym or
 * tracing target is not in vmlinux (libbpf searches vmlinux first and only then the modules).
 *
 * @module
 */
import { readdirSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { ArgumentError, ParseError } from '../errors.js';
import { findELFSection, isELF } from './elf-section.js';
import { BTFNotFoundError } from './errors.js';
import { kernelBTFIndexStore } from '../internal/kernel-btf-index.js';
import { readBTFFile } from './kernel-file.js';
import { detectByteOrder } from './parse.js';
import { parseSpec, type Spec } from './spec.js';

/** Where the kernel exposes its own BTF. */
export const kernelBTFPath = '/sys/kernel/btf/vmlinux';

/**
 * vmlinux ELF images that may carry a `.BTF` section, in libbpf's search order, for kernel
 * release `rel` (default: the running kernel's `uname -r`).
 */
export function vmlinuxSearchPaths(rel: string = release()): string[] {
  return [
    `/boot/vmlinux-${rel}`,
    `/lib/modules/${rel}/vmlinux-${rel}`,
    `/lib/modules/${rel}/build/vmlinux`,
    `/usr/lib/modules/${rel}/kernel/vmlinux`,
    `/usr/lib/debug/boot/vmlinux-${rel}`,
    `/usr/lib/debug/boot/vmlinux-${rel}.debug`,
    `/usr/lib/debug/lib/modules/${rel}/vmlinux`,
  ];
}

/**
 * Parses bytes that hold BTF either raw (as in /sys/kernel/btf/vmlinux or a `.btf` file) or as
 * the `.BTF` section of an ELF file (a vmlinux image, a BTFHub archive's content, a BPF object).
 * `base` makes it split BTF. Throws {@link ParseError} when neither applies.
 */
export function parseBTFOrELF(bytes: Uint8Array, base?: Spec): Spec {
  if (detectByteOrder(bytes) !== undefined) return parseSpec(bytes, { base });
  if (isELF(bytes)) {
    const section = findELFSection(bytes, '.BTF');
    if (section === undefined) throw new ParseError('ELF file has no .BTF section');
    return parseSpec(section.data, { base });
  }
  throw new ParseError('neither raw BTF (magic 0xeB9F) nor an ELF file', 0);
}

const specCache = new Map<string, Spec>();
const moduleCache = new Map<string, Spec>();
let moduleNames: string[] | undefined;
// Which module a cached module spec belongs to, for messages and for finding its BTF fd.
const moduleOfSpec = new WeakMap<Spec, string>();

/** Where the kernel exposes its BTF objects: vmlinux and one file per loaded module with BTF. */
export const kernelBTFDir = '/sys/kernel/btf';

/**
 * The BTF of the running kernel, or of the file / bytes given. Results for paths are cached
 * per process and shared: do not edit the returned spec's types; {@link Spec.copy} it first.
 *
 * - no argument: `/sys/kernel/btf/vmlinux`, else the first readable vmlinux image of
 *   {@link vmlinuxSearchPaths} that has a `.BTF` section;
 * - a path: raw BTF or an ELF file with `.BTF` (libbpf's `btf_custom_path`, the `kernelBTF`
 *   option of `loadCollection`);
 * - a Uint8Array: raw BTF or ELF bytes (not cached).
 *
 * Files under /sys/kernel/btf/ are mapped read-only when a syscall backend is loaded (anything
 * kernel-facing, such as the package index, loads one) and the kernel allows it; the mapping
 * then lives as long as the spec (for the whole process, unless {@link flushKernelSpecCache}
 * drops the cached spec and nothing else refers to it). Other files, and sysfs without mmap
 * support, are read.
 *
 * Throws {@link BTFNotFoundError} when no kernel BTF exists, {@link ParseError} when a file is
 * malformed.
 *
 * @example
 * ```ts
 * const spec = loadKernelSpec();
 * const task = spec.typeByName('task_struct', Struct);
 * ```
 */
export function loadKernelSpec(source?: string | Uint8Array): Spec {
  if (source instanceof Uint8Array) return parseBTFOrELF(source);
  const key = source ?? '';
  const cached = specCache.get(key);
  if (cached !== undefined) return cached;
  const spec = source === undefined ? findKernelSpec() : loadFile(source);
  specCache.set(key, spec);
  return spec;
}

/**
 * The BTF of a kernel module, from `/sys/kernel/btf/<name>`, as split BTF on top of `base`
 * (default: {@link loadKernelSpec}()). Cached per process like the kernel spec. Throws
 * {@link BTFNotFoundError} if the module is not loaded or has no BTF.
 */
export function loadKernelModuleSpec(name: string, base?: Spec): Spec {
  if (!/^[A-Za-z0-9_.-]+$/.test(name) || name === 'vmlinux' || name === '.' || name === '..') {
    throw new ArgumentError(`invalid kernel module name ${JSON.stringify(name)}`);
  }
  const baseSpec = base ?? loadKernelSpec();
  const useCache = base === undefined;
  const cached = useCache ? moduleCache.get(name) : undefined;
  if (cached !== undefined) return cached;
  const path = `/sys/kernel/btf/${name}`;
  let bytes: Uint8Array;
  try {
    bytes = readBTFFile(path);
  } catch (err) {
    throw new BTFNotFoundError([path], err);
  }
  const spec = parseSpec(bytes, { base: baseSpec, verified: true });
  moduleOfSpec.set(spec, name);
  if (useCache) moduleCache.set(name, spec);
  return spec;
}

/**
 * Names of the loaded kernel modules that have BTF: the entries of `/sys/kernel/btf` except
 * `vmlinux` (Linux 5.11+ with `CONFIG_DEBUG_INFO_BTF_MODULES`), sorted. Read once per process
 * (a module loaded later is seen after {@link flushKernelSpecCache}); empty when the
 * directory is missing.
 */
export function kernelModuleNames(): readonly string[] {
  if (moduleNames !== undefined) return moduleNames;
  let entries: string[];
  try {
    entries = readdirSync(kernelBTFDir);
  } catch {
    entries = [];
  }
  moduleNames = entries.filter((n) => n !== 'vmlinux').sort();
  return moduleNames;
}

/** A loaded kernel module's BTF, as {@link loadKernelModules} lists it. */
export interface KernelModuleBTF {
  /** The module's name (`veth`). */
  readonly name: string;
  /** Its BTF: split BTF on top of the running kernel's. */
  readonly spec: Spec;
}

/**
 * The BTF of every loaded module with BTF ({@link kernelModuleNames}), as split BTF on the
 * running kernel's ({@link loadKernelSpec}), in name order. Each module is parsed the first
 * time it is asked for and cached per process; a module unloaded since the list was read is
 * skipped. What kfuncs, typed ksyms and tracing targets fall back to when vmlinux lacks a
 * name.
 */
export function loadKernelModules(): KernelModuleBTF[] {
  const out: KernelModuleBTF[] = [];
  for (const name of kernelModuleNames()) {
    try {
      out.push({ name, spec: loadKernelModuleSpec(name) });
    } catch (err) {
      if (err instanceof BTFNotFoundError) continue; // unloaded meanwhile
      throw err;
    }
  }
  return out;
}

/**
 * The specs of {@link loadKernelModules}: the CO-RE candidates searched when vmlinux has none
 * for a type (the `moduleTargets` option of `coreRelocate`).
 */
export function loadKernelModuleSpecs(): Spec[] {
  return loadKernelModules().map((m) => m.spec);
}

/**
 * The module a spec returned by {@link loadKernelModuleSpec} or {@link loadKernelModuleSpecs}
 * belongs to (`veth`), or undefined for vmlinux and any other spec.
 */
export function kernelModuleOf(spec: Spec): string | undefined {
  return moduleOfSpec.get(spec);
}

/**
 * Forgets cached kernel and module specs (e.g. after a test swapped files). The kernel BTF a
 * cached spec was mapped from stays mapped as long as anything still refers to that spec (or
 * to its raw bytes): the pages are released when the garbage collector frees them, never
 * while they can still be read. Without this call a mapping lives for the whole process.
 */
export function flushKernelSpecCache(): void {
  specCache.clear();
  moduleCache.clear();
  moduleNames = undefined;
}

function findKernelSpec(): Spec {
  const searched = [kernelBTFPath];
  let bytes: Uint8Array | undefined;
  try {
    bytes = readBTFFile(kernelBTFPath);
  } catch (err) {
    if (!isMissing(err)) throw new BTFNotFoundError(searched, err);
  }
  if (bytes !== undefined) return parseVmlinux(bytes);
  for (const path of vmlinuxSearchPaths()) {
    searched.push(path);
    let image: Uint8Array;
    try {
      image = readFileSync(path);
    } catch {
      continue;
    }
    if (!isELF(image)) continue;
    const section = findELFSection(image, '.BTF');
    // A vmlinux without .BTF (built without CONFIG_DEBUG_INFO_BTF) is no use; keep looking.
    if (section !== undefined) return parseSpec(section.data);
  }
  throw new BTFNotFoundError(searched);
}

// The running kernel's vmlinux BTF, indexed by an earlier process of this boot when the store
// has that index (see internal/kernel-btf-index.ts), else here (and then stored).
function parseVmlinux(bytes: Uint8Array): Spec {
  const store = kernelBTFIndexStore();
  const spec = parseSpec(bytes, { verified: true, index: store?.load(bytes.length) });
  if (store !== undefined && !spec.raw!.reusedIndex) {
    // Hashing every name for the table costs the first process of a boot tens of ms in cold
    // code: done once the caller's synchronous work is over, not inside this call.
    setImmediate(() => {
      try {
        const kept = spec.raw!.keptIndex();
        if (kept !== undefined) store.save(bytes.length, kept);
      } catch {
        // Only a later process's start is at stake: it indexes the BTF itself.
      }
    });
  }
  return spec;
}

function loadFile(path: string): Spec {
  let bytes: Uint8Array;
  try {
    bytes = readBTFFile(path);
  } catch (err) {
    throw new BTFNotFoundError([path], err);
  }
  return parseBTFOrELF(bytes);
}

function isMissing(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
