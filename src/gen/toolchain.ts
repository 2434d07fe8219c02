/**
 * The build tools `ebpf-ts build` needs — clang and the libbpf headers — found where Debian
 * and most distributions put them, with an error naming the package when they are missing.
 * Only building needs them: a generated module loads its object with no compiler around.
 *
 * @module
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BpfError } from '../errors.js';

/** A build tool is missing (clang, libbpf's headers, TypeScript for JavaScript bindings); `tool` says which and `package` what to install. */
export class ToolNotFoundError extends BpfError {
  /** `clang`, `libbpf headers` or `typescript 5.5+`. */
  readonly tool: string;
  /** The package that brings it (Debian/Ubuntu's, or npm's for typescript). */
  readonly package: string;

  /**
   * `how` overrides the install command (default: Debian's apt-get) and what the tool is
   * needed for (default: building BPF objects).
   */
  constructor(tool: string, pkg: string, detail: string, how: { install?: string; neededFor?: string } = {}) {
    super(`${tool} not found: ${detail}. Install it (${how.install ?? `Debian/Ubuntu: apt-get install ${pkg}`}); it is needed ${how.neededFor ?? 'to build BPF objects only'}, never at run time`);
    this.tool = tool;
    this.package = pkg;
  }
}

/**
 * The clang to run: `$CLANG` when set, else the first of `clang`, `clang-19` … `clang-14` that
 * runs.
 *
 * @example
 * ```ts
 * const cc = findClang(process.env); // 'clang-14'
 * ```
 * @throws {@link ToolNotFoundError} naming clang-14 when none runs.
 */
export function findClang(env: Readonly<Record<string, string | undefined>> = process.env): string {
  const names = env.CLANG !== undefined && env.CLANG !== '' ? [env.CLANG] : ['clang', 'clang-19', 'clang-18', 'clang-17', 'clang-16', 'clang-15', 'clang-14'];
  for (const name of names) {
    const r = spawnSync(name, ['--version'], { stdio: 'ignore' });
    if (r.error === undefined && r.status === 0) return name;
  }
  throw new ToolNotFoundError('clang', 'clang-14', env.CLANG !== undefined && env.CLANG !== '' ? `$CLANG (${env.CLANG}) does not run` : `none of ${names.join(', ')} is on PATH`);
}

/**
 * The directory holding `bpf/bpf_helpers.h`: `given` when set, else /usr/include or
 * /usr/local/include.
 *
 * @example
 * ```ts
 * findLibbpfInclude(); // '/usr/include'
 * ```
 * @throws {@link ToolNotFoundError} naming libbpf-dev when the headers are not there.
 */
export function findLibbpfInclude(given?: string): string {
  const candidates = given !== undefined ? [given, join(given, '..')] : ['/usr/include', '/usr/local/include'];
  for (const dir of candidates) if (existsSync(join(dir, 'bpf', 'bpf_helpers.h'))) return dir;
  throw new ToolNotFoundError('libbpf headers', 'libbpf-dev', `no bpf/bpf_helpers.h under ${candidates.join(' or ')}${given === undefined ? ' (or give the directory with --libbpf-include)' : ''}`);
}

/**
 * The `__TARGET_ARCH_*` name bpf_tracing.h wants for a Node `process.arch`.
 *
 * @example
 * ```ts
 * targetArch('x64'); // 'x86'
 * ```
 */
export function targetArch(arch: string = process.arch): string {
  const names: Record<string, string> = { x64: 'x86', ia32: 'x86', arm64: 'arm64', arm: 'arm', s390x: 's390', ppc64: 'powerpc', riscv64: 'riscv', loong64: 'loongarch', mips: 'mips', mipsel: 'mips' };
  return names[arch] ?? arch;
}

/**
 * The multiarch include directory (`/usr/include/x86_64-linux-gnu`) where Debian keeps
 * `asm/types.h`, which `<linux/bpf.h>` includes; undefined when there is none.
 *
 * @example
 * ```ts
 * multiarchInclude('x64'); // '/usr/include/x86_64-linux-gnu'
 * ```
 */
export function multiarchInclude(arch: string = process.arch): string | undefined {
  const triples: Record<string, string> = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu', arm: 'arm-linux-gnueabihf', s390x: 's390x-linux-gnu', ppc64: 'powerpc64le-linux-gnu', riscv64: 'riscv64-linux-gnu' };
  const triple = triples[arch];
  if (triple === undefined) return undefined;
  const dir = join('/usr/include', triple);
  return existsSync(dir) ? dir : undefined;
}
