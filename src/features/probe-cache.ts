/**
 * Which feature answers outlive the process, and where they go. A conclusive answer that
 * depends only on the running kernel (does it know this program type, map type, BTF kind,
 * link type?) cannot change until the next boot, so it is written to a per-boot cache file
 * (probe-cache-file.ts) and the next process skips the probe. Answers that hang on this
 * process — its capabilities, the lockdown mode (which can be raised at any time), a security
 * policy's refusal, a module that may be loaded later — stay per process, except helper answers
 * of a process that passes every check (CAP_SYS_ADMIN, no lockdown), shared only with processes
 * that pass them too.
 *
 * Where: `/run/ebpf-ts/` for root, `$XDG_RUNTIME_DIR/ebpf-ts/` for other users, nowhere when
 * neither applies; both are directories only their owner may enter (mode 0700, checked on every
 * use). Keyed by the boot id, the kernel release, and the ebpf-ts version and build. Off when
 * `EBPF_TS_NO_PROBE_CACHE=1` (read once per process), on the fake backend, and when the library
 * runs from its TypeScript sources (tests of changed probes must not see old answers).
 *
 * @module
 */
import { readFileSync, statSync } from 'node:fs';
import { release } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Capability, hasCapability, inInitialUserNamespace, lockdownMode } from '../internal/privileges.js';
import { packageRoot } from '../sys/backend-native.js';
import { loadedBackend } from '../sys/select.js';
import type { FeatureResult } from './feature.js';
import { ProbeCacheFile, type ProbeCacheKey } from './probe-cache-file.js';

/**
 * How widely a feature's conclusive answers may be shared beyond the process that probed:
 * `kernel` — by every later process of the boot (the answer depends on the kernel alone);
 * `privileged` — by later processes that, like the prober, hold CAP_SYS_ADMIN under no
 * lockdown (the answer depends on privileges too: helpers).
 */
export type ProbeScope = 'kernel' | 'privileged';

/** The environment variable that turns the per-boot cache off (`1`). */
export const noProbeCacheEnv = 'EBPF_TS_NO_PROBE_CACHE';

/**
 * The cache directory for a process with effective uid `euid` and environment `env`:
 * `/run/ebpf-ts` for root, `$XDG_RUNTIME_DIR/ebpf-ts` (an absolute one) for others, none when
 * neither applies or `EBPF_TS_NO_PROBE_CACHE` is set (to anything but `0`).
 */
export function probeCacheDir(euid: number, env: NodeJS.ProcessEnv): string | undefined {
  const off = env[noProbeCacheEnv];
  if (off !== undefined && off !== '' && off !== '0') return undefined;
  if (euid === 0) return '/run/ebpf-ts';
  const xdg = env.XDG_RUNTIME_DIR;
  return xdg !== undefined && xdg !== '' && isAbsolute(xdg) ? join(xdg, 'ebpf-ts') : undefined;
}

// undefined: not decided yet; null: no cache in this process.
let file: ProbeCacheFile | null | undefined;
let privileged: boolean | undefined;
let flushQueued = false;

/**
 * Uses `next` as this process's cache (a {@link ProbeCacheFile} over a test directory, or
 * undefined for none); `'default'` decides again from the environment on next use. For tests.
 * @internal
 */
export function setProbeCache(next: ProbeCacheFile | undefined | 'default'): void {
  file = next === 'default' ? undefined : (next ?? null);
  privileged = undefined;
}

/** The answer a previous process of this boot stored for the feature `name`, if usable here. */
export function persistedResult(name: string, scope: ProbeScope): FeatureResult | undefined {
  const f = usable(scope);
  return f?.get(name);
}

/**
 * Stores a conclusive answer for later processes when `scope` allows it here. Unknown answers
 * and policy refusals are never stored. The file is written once the current synchronous work
 * is done (a microtask), so a burst of probes costs one write.
 */
export function persistResult(name: string, scope: ProbeScope, result: FeatureResult): void {
  if (result.supported === 'unknown' || (result.supported === false && result.refusedByPolicy === true)) return;
  const f = usable(scope);
  if (f === undefined) return;
  f.set(name, result);
  if (flushQueued) return;
  flushQueued = true;
  queueMicrotask(() => {
    flushQueued = false;
    f.flush();
  });
}

function usable(scope: ProbeScope): ProbeCacheFile | undefined {
  // Answers of a fake kernel are not the kernel's.
  if (loadedBackend()?.kind === 'fake') return undefined;
  file ??= defaultFile() ?? null;
  if (file === null) return undefined;
  if (scope === 'privileged') {
    privileged ??= hasCapability(Capability.CAP_SYS_ADMIN) && inInitialUserNamespace() && [undefined, 'none'].includes(lockdownMode());
    if (!privileged) return undefined;
  }
  return file;
}

function defaultFile(): ProbeCacheFile | undefined {
  const self = fileURLToPath(import.meta.url);
  if (self.endsWith('.ts')) return undefined;
  const dir = probeCacheDir(process.geteuid?.() ?? -1, process.env);
  if (dir === undefined) return undefined;
  const key = cacheKey(self);
  return key === undefined ? undefined : new ProbeCacheFile(dir, key);
}

/** This boot, kernel and build; undefined when any part cannot be read. */
function cacheKey(self: string): ProbeCacheKey | undefined {
  try {
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: unknown };
    if (bootId === '' || typeof pkg.version !== 'string') return undefined;
    // The build: a rebuilt dist/ (changed probes, same version) has new modification times.
    const build = Math.trunc(statSync(self).mtimeMs);
    return { bootId, release: release(), version: `${pkg.version}+${build}` };
  } catch {
    return undefined;
  }
}
