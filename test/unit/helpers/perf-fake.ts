// The fake syscall backend the link unit tests share: it records perf_event_open and ioctl
// calls, and installFakeKernel() sets it up the way every such test starts (a 6.18 kernel,
// program loads that succeed, features probed afresh).
import { programNameDotFeature, programNameFeature } from '../../../src/features/prog-types.js';
import { perfLinkFeature } from '../../../src/link/perf-event.js';
import { FakeBackend } from '../../../src/sys/backend-fake.js';
import type { PointerList } from '../../../src/sys/backend.js';
import { overrideKernelVersion } from '../../../src/sys/kernel-version.js';
import { Cmd } from '../../../src/sys/layouts.js';
import { setBackend } from '../../../src/sys/select.js';

/** One recorded perf_event_open. */
export interface RecordedOpen {
  readonly attr: Uint8Array;
  readonly pid: number;
  readonly cpu: number;
  /** Pointer fields of the attr by offset (config1 as kprobe_func/uprobe_path). */
  readonly pointers: Map<number, Uint8Array | null>;
}

/** A FakeBackend that records perf_event_open and ioctl calls. */
export class PerfFake extends FakeBackend {
  readonly opens: RecordedOpen[] = [];
  readonly ioctls: Array<[number, number, number | bigint | Uint8Array]> = [];
  /** The fds perf_event_open returned. */
  readonly perfFds: number[] = [];
  /** What perf_event_open returns instead of a new fd (e.g. -EINVAL). */
  openResult: number | undefined;
  /** What an ioctl returns, by request; 0 for others. */
  readonly ioctlResults = new Map<number, number>();

  // Optional parameters keep the overrides compatible with FakeBackend's parameterless ones.
  override perfEventOpen(attr: Uint8Array = new Uint8Array(0), pid = -1, cpu = -1, _g = -1, _f = 0, pointers?: PointerList): number {
    const ptrs = new Map<number, Uint8Array | null>();
    for (let i = 0; pointers !== undefined && i < pointers.length; i += 2) ptrs.set(pointers[i] as number, pointers[i + 1] as Uint8Array | null);
    this.opens.push({ attr: attr.slice(), pid, cpu, pointers: ptrs });
    if (this.openResult !== undefined) return this.openResult;
    const fd = this.allocFd();
    this.perfFds.push(fd);
    return fd;
  }

  override ioctl(fd = -1, request = 0, arg: number | bigint | Uint8Array = 0): number {
    this.ioctls.push([fd, request, arg]);
    return this.ioctlResults.get(request) ?? 0;
  }
}

/** Installs a fresh {@link PerfFake} as the backend of a 6.18 kernel; undo with {@link uninstallFakeKernel}. */
export function installFakeKernel(): PerfFake {
  const fake = new PerfFake();
  setBackend(fake);
  overrideKernelVersion('6.18.0');
  programNameFeature.reset();
  programNameDotFeature.reset();
  perfLinkFeature.reset();
  fake.alwaysBpf(Cmd.ProgLoad, () => fake.allocFd());
  return fake;
}

/** Restores the real backend and kernel version. */
export function uninstallFakeKernel(): void {
  setBackend(undefined);
  overrideKernelVersion(undefined);
  perfLinkFeature.reset();
}

/** The exception `f` throws; fails the test if it returns. */
export function caught(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected an exception');
}
