/**
 * Kernel modules' BTF at load time: finding a name in vmlinux and then in the loaded modules
 * (the order libbpf uses), opening a module's BTF object in the kernel, and the `fd_array`
 * through which a program refers to it.
 *
 * Why an fd: BTF ids of a module are only meaningful together with the module's BTF object.
 * A kfunc call names it by index (`off` = index into `fd_array`, 0 meaning vmlinux), a typed
 * ksym's `ld_imm64` carries the fd itself in its second half, and a tracing program attached
 * to a module function passes it as `attach_btf_obj_fd`. The kernel has no "open module BTF
 * by name": like libbpf, we walk BPF_BTF_GET_NEXT_ID and match `bpf_btf_info.name`.
 *
 * This file talks to the kernel, so it lives outside src/btf (which never imports src/sys).
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { BTFHandle } from './btf-handle.js';
import { kernelBTFDir, kernelModuleNames, type KernelModuleBTF } from './btf/kernel.js';
import type { Spec } from './btf/spec.js';
import { ArgumentError, BpfError, NotSupportedError, SyscallError } from './errors.js';
import { kallsyms } from './internal/kallsyms.js';
import { Errno } from './sys/errno.js';
import { objectIds } from './sys/commands.js';

/** A kernel module's BTF object could not be found among the kernel's BTF objects. */
export class ModuleBTFNotFoundError extends BpfError {
  /** The module's name. */
  readonly module: string;

  constructor(module: string) {
    super(`kernel module ${module} has no BTF object in the kernel (is it loaded, and built with BTF? ${kernelBTFDir}/${module} should exist)`, {
      errno: Errno.ENOENT,
    });
    this.module = module;
  }
}

// Module name → the BTF object id it had last time; checked again on every use, since a
// module unloaded and loaded again gets a new id.
const knownIds = new Map<string, number>();

/**
 * Opens the kernel's BTF object of the loaded module `name` (`veth`), as libbpf does: walks
 * BPF_BTF_GET_NEXT_ID and keeps the object whose `bpf_btf_info` is kernel BTF named `name`.
 * The id found is remembered per process and verified on the next call. The caller owns the
 * handle.
 *
 * Minimum kernel: 5.11 (BTF object names); needs CAP_SYS_ADMIN.
 *
 * @example
 * ```ts
 * using veth = openKernelModuleBTF('veth');
 * ```
 * @throws {@link ModuleBTFNotFoundError} when no BTF object has that name;
 * {@link NotSupportedError} before 5.11; {@link SyscallError} for EPERM and the like.
 */
export function openKernelModuleBTF(name: string): BTFHandle {
  if (name === '' || name === 'vmlinux') throw new ArgumentError(`openKernelModuleBTF: ${JSON.stringify(name)} is not a module name`);
  const known = knownIds.get(name);
  if (known !== undefined) {
    const handle = tryOpen(known, name);
    if (handle !== undefined) return handle;
    knownIds.delete(name);
  }
  let sawNames = false;
  for (const id of objectIds('btf')) {
    let handle: BTFHandle;
    try {
      handle = BTFHandle.fromId(id);
    } catch (err) {
      if (err instanceof SyscallError && err.errno === Errno.ENOENT) continue; // freed meanwhile
      throw err;
    }
    const info = handle.info();
    if (info.name !== '') sawNames = true;
    if (info.kernelBTF && info.name === name) {
      knownIds.set(name, id);
      return handle;
    }
    handle.close();
  }
  if (!sawNames) throw new NotSupportedError('kernel module BTF objects (bpf_btf_info.name)', '5.11', { detail: `cannot find the BTF of module ${name}` });
  throw new ModuleBTFNotFoundError(name);
}

function tryOpen(id: number, name: string): BTFHandle | undefined {
  let handle: BTFHandle;
  try {
    handle = BTFHandle.fromId(id);
  } catch (err) {
    if (err instanceof SyscallError && err.errno === Errno.ENOENT) return undefined;
    throw err;
  }
  const info = handle.info();
  if (info.kernelBTF && info.name === name) return handle;
  handle.close();
  return undefined;
}

/** Where a name was found by {@link findInKernelBTF}. */
export interface KernelBTFMatch {
  /** The spec holding it: vmlinux's or a module's (split BTF). */
  readonly spec: Spec;
  /** Its BTF id (in the module's id space for a module: they continue vmlinux's). */
  readonly id: number;
  /** The module, or undefined for vmlinux. */
  readonly module: string | undefined;
}

/**
 * Looks a name up the way libbpf does: `find` in vmlinux first, then in each loaded module's
 * BTF (`modules()`, called only when vmlinux has no match; `loadKernelModules` in a load).
 * With `module` (the `veth` of a `veth:veth_open` target), only that module is searched
 * (`vmlinux` means vmlinux only). `find(spec, from)` must return an id ≥ `from`: for a module
 * only its own types count (those below are vmlinux's, which may have a static function of
 * the same name).
 */
export function findInKernelBTF(
  vmlinux: Spec,
  modules: () => readonly KernelModuleBTF[],
  find: (spec: Spec, from: number) => number | undefined,
  module?: string,
): KernelBTFMatch | undefined {
  if (module === undefined || module === 'vmlinux') {
    const id = find(vmlinux, 1);
    if (id !== undefined) return { spec: vmlinux, id, module: undefined };
    if (module === 'vmlinux') return undefined;
  }
  for (const m of modules()) {
    if (module !== undefined && m.name !== module) continue;
    const id = find(m.spec, m.spec.firstTypeId);
    if (id !== undefined && id >= m.spec.firstTypeId) return { spec: m.spec, id, module: m.name };
  }
  return undefined;
}

/**
 * Splits a libbpf-style `module:name` target (`veth:veth_open`) into its parts; a name without
 * a colon has no module.
 */
export function splitModuleTarget(target: string): { module: string | undefined; name: string } {
  const colon = target.indexOf(':');
  if (colon <= 0) return { module: undefined, name: target };
  return { module: target.slice(0, colon), name: target.slice(colon + 1) };
}

/**
 * Why `symbol` is in neither vmlinux's nor a loaded module's BTF, for error messages: whether
 * any module BTF is loaded at all, and which module might need loading when the system can
 * tell (the symbol is in a loaded module without BTF, per /proc/kallsyms, or exported by a
 * module, per `/lib/modules/$(uname -r)/modules.symbols`).
 */
export function missingFromModulesHint(symbol: string): string {
  const loaded = kernelModuleNames();
  const searched =
    loaded.length === 0
      ? `and no kernel module BTF is loaded (${kernelBTFDir} holds only vmlinux)`
      : `nor in the BTF of the ${loaded.length} loaded module${loaded.length === 1 ? '' : 's'} with BTF`;
  const owner = kallsyms().get(symbol)?.module;
  if (owner !== undefined && !loaded.includes(owner)) return `${searched}; /proc/kallsyms has it in module ${owner}, which has no BTF (${kernelBTFDir}/${owner} is missing)`;
  const exporter = moduleExporting(symbol);
  if (exporter !== undefined && !loaded.includes(exporter)) return `${searched}; module ${exporter} defines it: load it first (modprobe ${exporter})`;
  return `${searched}; if a module defines it, load that module first (modprobe)`;
}

let symbolsOf: { path: string; modules: Map<string, string> } | undefined;

/** The module that exports `symbol`, per modules.symbols (`alias symbol:NAME MODULE` lines). */
function moduleExporting(symbol: string): string | undefined {
  const path = `/lib/modules/${release()}/modules.symbols`;
  if (symbolsOf?.path !== path) {
    const modules = new Map<string, string>();
    let text = '';
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      // no module tree here (containers, VMs booted from a bare kernel)
    }
    for (const m of text.matchAll(/^alias symbol:(\S+) (\S+)$/gm)) modules.set(m[1]!, m[2]!);
    symbolsOf = { path, modules };
  }
  return symbolsOf.modules.get(symbol);
}

/**
 * The kernel module BTF objects one collection load refers to: each module's opened once, on
 * first use, and closed together when the programs are loaded (the programs then hold their
 * own references). `open` is {@link openKernelModuleBTF} unless a test passes another.
 */
export class ModuleBTFFds {
  readonly #open: (module: string) => { readonly fd: number; close(): void };
  readonly #handles = new Map<string, { readonly fd: number; close(): void }>();

  constructor(open: (module: string) => { readonly fd: number; close(): void } = openKernelModuleBTF) {
    this.#open = open;
  }

  /** The fd of `module`'s BTF object, opened on first use. */
  fd(module: string): number {
    let handle = this.#handles.get(module);
    if (handle === undefined) {
      handle = this.#open(module);
      this.#handles.set(module, handle);
    }
    return handle.fd;
  }

  /** How many module BTF objects are open. */
  get size(): number {
    return this.#handles.size;
  }

  /** Closes every fd opened. Safe to call twice. */
  close(): void {
    for (const h of this.#handles.values()) h.close();
    this.#handles.clear();
  }
}

/**
 * A program's `fd_array` (BPF_PROG_LOAD, Linux 5.14+), built as instructions ask for slots:
 * a kfunc call's `off` is the index of its module's BTF fd here. Index 0 is never handed out,
 * since `off` 0 means vmlinux: it holds 0 (or the caller's own first entry); the same fd
 * always gets the same index; `off` is 16 bits signed, so at most 32767 entries.
 */
export class FdArray {
  readonly #fds: number[];
  readonly #given: number;

  /** Starts from the program's own `fdArray`, if it has one. */
  constructor(initial: readonly number[] = []) {
    this.#fds = initial.length === 0 ? [0] : [...initial];
    this.#given = initial.length;
  }

  /** The index of `fd` (≥ 1), added on first use. */
  index(fd: number): number {
    const at = this.#fds.indexOf(fd, 1);
    if (at > 0) return at;
    if (this.#fds.length > 0x7fff) throw new BpfError('fd_array is full: a kfunc call can index only 32767 module BTF objects');
    this.#fds.push(fd);
    return this.#fds.length - 1;
  }

  /** The array to load with, or undefined when nothing was added to an empty one. */
  get fds(): readonly number[] | undefined {
    if (this.#given === 0 && this.#fds.length === 1) return undefined;
    return this.#fds;
  }
}
