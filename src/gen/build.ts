/**
 * `buildObject()`: the whole bpf2go-like flow of `ebpf-ts build` — `vmlinux.h` from the
 * running kernel's BTF (our own C formatter, no bpftool), clang for `bpfel` and `bpfeb`
 * with `-g -O2 -D__TARGET_ARCH_*`, then the bindings module.
 *
 * @module
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { dumpCHeader } from '../btf/format.js';
import { loadKernelSpec } from '../btf/kernel.js';
import { ArgumentError, BpfError } from '../errors.js';
import { defaultName, generateBindings } from './generate.js';
import { findClang, findLibbpfInclude, multiarchInclude, targetArch } from './toolchain.js';

/** Options of {@link buildObject}. */
export interface BuildOptions {
  /** Directory for vmlinux.h, the objects and the module. Default: the source's directory. */
  out?: string;
  /** Base name (`tracer` → tracer.bpfel.o, tracer.ts, loadTracer()). Default: the source's name. */
  name?: string;
  /** BTF for vmlinux.h (raw BTF or an ELF with .BTF). Default: /sys/kernel/btf/vmlinux. */
  kernelBTF?: string;
  /** Directory with bpf/bpf_helpers.h. Default: /usr/include (Debian's libbpf-dev). */
  libbpfInclude?: string;
  /** Byte orders to build. Default both. */
  targets?: ReadonlyArray<'bpfel' | 'bpfeb'>;
  /** Extra clang flags. */
  cflags?: readonly string[];
  /** Passed to gen: extra types (`'events=struct event'`). */
  types?: readonly string[];
  /** Passed to gen: embed the objects in the module. */
  embed?: boolean;
  /** Write JavaScript bindings, `<name>.js` and `<name>.d.ts`, instead of `<name>.ts` (needs the typescript package). */
  js?: boolean;
  /** Passed to gen: `char[N]` as strings (default) or bytes. */
  charArrays?: 'string' | 'bytes';
  /** Passed to gen: members kept as raw bytes (`'struct event.payload'`). */
  bytes?: readonly string[];
  /** Passed to gen: the runtime module. */
  importFrom?: string;
  /** Environment ($CLANG). Default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** The vmlinux.h files this process has written (with the kernel BTF they came from), not written again. */
const vmlinuxWritten = new Set<string>();

/** What {@link buildObject} wrote. */
export interface BuildResult {
  /** vmlinux.h, when the source includes it and it was written. */
  vmlinux: string | undefined;
  /** The objects, by target. */
  objects: Partial<Record<'bpfel' | 'bpfeb', string>>;
  /** The bindings module. */
  module: string;
  /** Its declarations, for JavaScript bindings (`js`). */
  declarations?: string;
}

/** clang refused the source; `output` is what it printed. */
export class CompileError extends BpfError {
  /** clang's diagnostics. */
  readonly output: string;

  constructor(source: string, target: string, output: string) {
    super(`clang could not compile ${source} for ${target}:\n${output.trimEnd()}`);
    this.output = output;
  }
}

/**
 * Builds `source` (a `.bpf.c`) into `<name>.bpfel.o`, `<name>.bpfeb.o` and `<name>.ts` (or,
 * with `js`, `<name>.js` and `<name>.d.ts`).
 * `vmlinux.h` is generated next to them when the source includes it and none is next to the
 * source already.
 *
 * @example
 * ```ts
 * const r = buildObject('src/tracer.bpf.c', { out: 'src/bpf' });
 * // r.module === 'src/bpf/tracer.ts'
 * ```
 * @throws {@link ToolNotFoundError} naming the package when clang or libbpf's headers are
 * missing; {@link CompileError} with clang's output; {@link ArgumentError} for a missing source.
 */
export function buildObject(source: string, options: BuildOptions = {}): BuildResult {
  if (!existsSync(source)) throw new ArgumentError(`build: ${source}: no such file`);
  const out = options.out ?? dirname(source);
  const name = options.name ?? defaultName(source.replace(/\.c$/, '.o'));
  mkdirSync(out, { recursive: true });
  const clang = findClang(options.env ?? process.env);
  const libbpf = findLibbpfInclude(options.libbpfInclude);

  let vmlinux: string | undefined;
  const text = readFileSync(source, 'utf8');
  if (/^\s*#\s*include\s*[<"]vmlinux\.h[>"]/m.test(text) && !existsSync(join(dirname(source), 'vmlinux.h'))) {
    const path = join(out, 'vmlinux.h');
    // Once per process and kernel BTF: --watch rebuilds reuse the header (dumping vmlinux takes seconds).
    const key = `${path}\0${options.kernelBTF ?? ''}`;
    if (!vmlinuxWritten.has(key) || !existsSync(path)) {
      writeFileSync(path, dumpCHeader(loadKernelSpec(options.kernelBTF)));
      vmlinuxWritten.add(key);
      vmlinux = path;
    }
  }

  const includes = [`-I${out}`, `-I${dirname(source)}`, `-I${libbpf}`];
  const multiarch = multiarchInclude();
  if (multiarch !== undefined) includes.push(`-I${multiarch}`);
  const objects: BuildResult['objects'] = {};
  for (const target of options.targets ?? ['bpfel', 'bpfeb']) {
    const object = join(out, `${name}.${target}.o`);
    const args = ['-target', target, '-g', '-O2', '-Wall', `-D__TARGET_ARCH_${targetArch()}`, ...includes, ...(options.cflags ?? []), '-c', source, '-o', object];
    const r = spawnSync(clang, args, { encoding: 'utf8' });
    if (r.error !== undefined) throw new CompileError(source, target, String(r.error));
    if (r.status !== 0) throw new CompileError(source, target, `${r.stderr}${r.stdout}`);
    objects[target] = object;
  }
  const first = objects.bpfel ?? objects.bpfeb;
  if (first === undefined) throw new ArgumentError('build: no targets');
  const bindings = generateBindings(first, {
    out: join(out, `${name}.${options.js === true ? 'js' : 'ts'}`),
    name,
    types: options.types ?? [],
    embed: options.embed === true,
    ...(options.charArrays !== undefined ? { charArrays: options.charArrays } : {}),
    ...(options.bytes !== undefined ? { bytes: options.bytes } : {}),
    command: ['npx ebpf-ts build', source, ...(options.out !== undefined ? ['--out', options.out] : []), ...(options.name !== undefined ? ['--name', options.name] : []), ...(options.js === true ? ['--js'] : [])].join(' '),
    ...(options.importFrom !== undefined ? { importFrom: options.importFrom } : {}),
  });
  writeFileSync(bindings.path, bindings.text);
  if (bindings.declarations !== undefined) writeFileSync(bindings.declarations.path, bindings.declarations.text);
  return { vmlinux, objects, module: bindings.path, ...(bindings.declarations !== undefined ? { declarations: bindings.declarations.path } : {}) };
}
