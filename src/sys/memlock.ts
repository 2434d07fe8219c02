/**
 * RLIMIT_MEMLOCK. Before Linux 5.11 the kernel charged every map's and program's memory to the
 * locked-memory rlimit, whose default (64 KiB or 8 MiB) is far too small; 5.11 moved the
 * charging to memory cgroups. Distributions backport that change, so the version number is no
 * guide: we probe. With the soft limit set to 0, creating a one-element array map fails with
 * EPERM exactly when the kernel still charges memlock; then we raise the limit to infinity, as
 * libbpf and cilium/ebpf do. Needs CAP_SYS_RESOURCE to raise above the hard limit.
 *
 * @module
 */
import { RLIMIT_MEMLOCK, RLIM_INFINITY, type Backend } from './backend.js';
import { encodeAttr } from './attr.js';
import { MapCreate } from './layouts.js';

/** What the memlock probe found. */
export interface MemlockState {
  /** True if the kernel charges BPF memory to RLIMIT_MEMLOCK; undefined before probing. */
  chargesMemlock: boolean | undefined;
  /** True once the limit was raised to infinity by us. */
  raised: boolean | undefined;
  /** The soft limit at probe time, in bytes ("unlimited" for infinity). */
  limit: string | undefined;
}

const state: MemlockState = { chargesMemlock: undefined, raised: undefined, limit: undefined };

/** The probe's result so far (for error hints and tests). */
export function memlockState(): Readonly<MemlockState> {
  return state;
}

const EPERM = 1;

/**
 * Makes sure RLIMIT_MEMLOCK will not make map/program creation fail. Runs the probe once per
 * process; cheap afterwards. Called by the bpf() funnel before commands that allocate kernel
 * memory.
 */
export function ensureMemlock(b: Backend): void {
  if (state.chargesMemlock !== undefined) return;
  const limits = b.getrlimit(RLIMIT_MEMLOCK);
  if (typeof limits === 'number') {
    state.chargesMemlock = false; // cannot tell; leave the limit alone
    return;
  }
  const [soft, hard] = limits;
  state.limit = soft === RLIM_INFINITY ? 'unlimited' : `${soft} bytes`;
  if (soft === RLIM_INFINITY) {
    state.chargesMemlock = false;
    return;
  }
  if (b.setrlimit(RLIMIT_MEMLOCK, 0n, hard) < 0) {
    state.chargesMemlock = false;
    return;
  }
  // BPF_MAP_CREATE of ARRAY(key 4, value 4, 1 entry): the smallest allocation the kernel makes.
  const { attr } = encodeAttr(MapCreate, { map_type: 2, key_size: 4, value_size: 4, max_entries: 1 });
  const fd = b.bpf(MapCreate.cmd, attr);
  b.setrlimit(RLIMIT_MEMLOCK, soft, hard);
  if (fd >= 0) {
    b.close(fd);
    state.chargesMemlock = false;
    return;
  }
  state.chargesMemlock = fd === -EPERM;
  if (state.chargesMemlock) state.raised = b.setrlimit(RLIMIT_MEMLOCK, RLIM_INFINITY, RLIM_INFINITY) === 0;
}

/** Forgets the probe result (tests). */
export function resetMemlockProbe(): void {
  state.chargesMemlock = undefined;
  state.raised = undefined;
  state.limit = undefined;
}
