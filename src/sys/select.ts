/**
 * Chooses the syscall backend once per process (per worker thread): the native addon when it
 * loads, else ffi-rs. `EBPF_TS_BACKEND=native|ffi-rs` forces one; forcing a backend that
 * cannot load is an error rather than a silent fallback, so CI can prove both work.
 *
 * @module
 */
import type { Backend } from './backend.js';
import { loadNativeBackend } from './backend-native.js';
import { loadFfiBackend } from './backend-ffi.js';
import { BackendUnavailableError } from '../errors.js';
import { setReadOnlyMapper } from '../internal/read-only-mapper.js';
import { readOnlyMapperFor } from './map-file.js';

let current: Backend | undefined;

// Kernel BTF is mapped through this thread's backend once anything kernel-facing is loaded
// (btf/ may not import sys/: see internal/read-only-mapper.ts). Loads no backend by itself.
setReadOnlyMapper(readOnlyMapperFor(backend));

/** Names accepted by `EBPF_TS_BACKEND`. */
export type BackendName = 'native' | 'ffi-rs';

function load(name: BackendName): Backend {
  return name === 'native' ? loadNativeBackend() : loadFfiBackend();
}

/**
 * The backend every syscall goes through. Loaded on first use; the choice is fixed for the
 * rest of the thread unless {@link setBackend} replaces it (tests do that with the fake one).
 */
export function backend(): Backend {
  if (current !== undefined) return current;
  const forced = process.env.EBPF_TS_BACKEND;
  if (forced !== undefined && forced !== '') {
    if (forced !== 'native' && forced !== 'ffi-rs') {
      throw new BackendUnavailableError(
        `EBPF_TS_BACKEND=${forced} is not a backend; use "native" or "ffi-rs"`,
        [],
      );
    }
    try {
      current = load(forced);
    } catch (err) {
      throw new BackendUnavailableError(`EBPF_TS_BACKEND=${forced} but that backend cannot load`, [
        err,
      ]);
    }
    return current;
  }
  const causes: unknown[] = [];
  for (const name of ['native', 'ffi-rs'] as const) {
    try {
      current = load(name);
      return current;
    } catch (err) {
      causes.push(err);
    }
  }
  throw new BackendUnavailableError(
    'no syscall backend could load: the native addon is missing (no prebuilt binary for ' +
      `${process.platform}-${process.arch} and no source build) and ffi-rs is not installed`,
    causes,
  );
}

/**
 * Replaces the backend for this thread (e.g. a {@link FakeBackend} in unit tests). Returns the
 * previous one, or undefined if none was loaded yet.
 */
export function setBackend(next: Backend | undefined): Backend | undefined {
  const prev = current;
  current = next;
  return prev;
}

/** The backend this thread uses if one is loaded or set, without loading one. */
export function loadedBackend(): Backend | undefined {
  return current;
}
