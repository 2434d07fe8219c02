// The per-boot feature probe cache: the file (keyed by boot id, kernel release and version;
// ignored when the key differs, when corrupt, foreign-owned or writable by others, and then
// rewritten), where it lives and the opt-out, and which Feature answers go through it. Uses
// temporary directories only; the real /run/ebpf-ts is never touched.
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Feature, kernelAtLeast, notSupported, Supported, unknown, type FeatureResult } from '../../src/features/feature.js';
import { ProbeCacheFile, parseCacheText, probeCacheFileName, type ProbeCacheKey, type StoredResult } from '../../src/features/probe-cache-file.js';
import { probeCacheDir, setProbeCache } from '../../src/features/probe-cache.js';
import { lockdownMode, overrideCapabilities } from '../../src/internal/privileges.js';
import { FakeBackend } from '../../src/sys/backend-fake.js';
import { overrideKernelVersion } from '../../src/sys/kernel-version.js';
import { setBackend } from '../../src/sys/select.js';

const key: ProbeCacheKey = { bootId: '8c1d0c1a-0000-4000-8000-000000000001', release: '6.18.0-test', version: '0.1.0+1' };
const no = notSupported('BPF_MAP_CREATE of ARENA answered EINVAL', '6.9') as StoredResult;
const yes = Supported as StoredResult;
let root: string;
let dir: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'ebpf-ts-probe-cache-'));
  dir = join(root, 'ebpf-ts');
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
  setProbeCache('default');
  overrideCapabilities();
  setBackend(undefined);
  overrideKernelVersion(undefined);
});

const cacheFile = (): string => join(dir, probeCacheFileName);

/** A file written under `k` holding two answers. */
function written(k: ProbeCacheKey = key): void {
  const f = new ProbeCacheFile(dir, k);
  f.set('map type HASH', yes);
  f.set('map type ARENA', no);
  expect(f.flush()).toBe(true);
}

describe('ProbeCacheFile', () => {
  it('writes the answers under its key into a 0700 directory and a 0600 file, and reads them back', () => {
    written();
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(cacheFile()).mode & 0o777).toBe(0o600);
    const doc = JSON.parse(readFileSync(cacheFile(), 'utf8')) as Record<string, unknown>;
    expect(doc).toMatchObject({ bootId: key.bootId, release: key.release, version: key.version });
    const again = new ProbeCacheFile(dir, key);
    expect(again.get('map type HASH')).toEqual(Supported);
    expect(again.get('map type ARENA')).toEqual(no);
    expect(again.get('map type RINGBUF')).toBeUndefined();
  });

  it('keeps what another process wrote meanwhile when it writes', () => {
    const a = new ProbeCacheFile(dir, key);
    const b = new ProbeCacheFile(dir, key);
    a.set('map type HASH', yes);
    b.set('map type ARENA', no);
    expect(a.flush()).toBe(true);
    expect(b.flush()).toBe(true);
    const c = new ProbeCacheFile(dir, key);
    expect(c.get('map type HASH')).toEqual(Supported);
    expect(c.get('map type ARENA')).toEqual(no);
  });

  for (const [what, other] of [
    ['boot id', { ...key, bootId: '8c1d0c1a-0000-4000-8000-000000000002' }],
    ['kernel release', { ...key, release: '6.17.0-test' }],
    ['library version or build', { ...key, version: '0.1.0+2' }],
  ] as const) {
    it(`ignores a file from another ${what}, and replaces it on the next write`, () => {
      written(other);
      const f = new ProbeCacheFile(dir, key);
      expect(f.get('map type HASH')).toBeUndefined();
      f.set('map type RINGBUF', yes);
      expect(f.flush()).toBe(true);
      const doc = JSON.parse(readFileSync(cacheFile(), 'utf8')) as { results: Record<string, unknown> };
      expect(Object.keys(doc.results)).toEqual(['map type RINGBUF']);
    });
  }

  it('ignores a corrupt file (bad JSON, bad entries, a stored policy refusal) and rewrites it', () => {
    mkdirSync(dir, { mode: 0o700 });
    const good = JSON.parse(JSON.stringify({ format: 1, ...key, results: { 'map type HASH': Supported } })) as Record<string, unknown>;
    const bad: string[] = [
      '{"format":1,',
      '[]',
      JSON.stringify({ ...good, format: 2 }),
      JSON.stringify({ ...good, results: [] }),
      JSON.stringify({ ...good, results: { 'map type HASH': { supported: 'yes' } } }),
      JSON.stringify({ ...good, results: { x: { supported: false } } }),
      JSON.stringify({ ...good, results: { x: { supported: false, reason: 'r', minimumVersion: 6 } } }),
      JSON.stringify({ ...good, results: { x: { supported: false, reason: 'r', refusedByPolicy: true } } }),
      JSON.stringify({ ...good, results: { 'map type HASH': Supported, x: { supported: 'unknown', reason: 'r' } } }),
    ];
    for (const text of bad) {
      expect(parseCacheText(text, key).size).toBe(0);
      writeFileSync(cacheFile(), text, { mode: 0o600 });
      const f = new ProbeCacheFile(dir, key);
      expect(f.get('map type HASH')).toBeUndefined();
      f.set('map type ARENA', no);
      expect(f.flush()).toBe(true);
      expect(new ProbeCacheFile(dir, key).get('map type ARENA')).toEqual(no);
    }
    expect(parseCacheText(JSON.stringify(good), key).get('map type HASH')).toEqual(Supported);
  });

  it('ignores a file others may write, and a symlink in its place', () => {
    written();
    chmodSync(cacheFile(), 0o622);
    expect(new ProbeCacheFile(dir, key).get('map type HASH')).toBeUndefined();
    rmSync(cacheFile());
    written();
    const elsewhere = join(root, 'elsewhere.json');
    writeFileSync(elsewhere, readFileSync(cacheFile()), { mode: 0o600 });
    rmSync(cacheFile());
    symlinkSync(elsewhere, cacheFile());
    expect(new ProbeCacheFile(dir, key).get('map type HASH')).toBeUndefined();
  });

  it('ignores a file owned by another user (needs root to make one)', (ctx) => {
    if (process.geteuid?.() !== 0) ctx.skip('chown needs root');
    written();
    chownSync(cacheFile(), 65534, 65534);
    const f = new ProbeCacheFile(dir, key);
    expect(f.get('map type HASH')).toBeUndefined();
    f.set('map type RINGBUF', yes);
    expect(f.flush()).toBe(true);
    expect(statSync(cacheFile()).uid).toBe(0);
  });

  it('neither reads nor writes through a directory others may enter, or one that is a symlink', () => {
    written();
    chmodSync(dir, 0o755);
    const f = new ProbeCacheFile(dir, key);
    expect(f.get('map type HASH')).toBeUndefined();
    f.set('map type RINGBUF', yes);
    expect(f.flush()).toBe(false);
    chmodSync(dir, 0o700);
    const link = join(root, 'link');
    symlinkSync(dir, link);
    expect(new ProbeCacheFile(link, key).get('map type HASH')).toBeUndefined();
    // A directory owned by someone else (as the uid it must have says).
    const uid = statSync(dir).uid;
    expect(new ProbeCacheFile(dir, key, uid + 1).get('map type HASH')).toBeUndefined();
  });
});

describe('probeCacheDir', () => {
  it('is /run/ebpf-ts for root, $XDG_RUNTIME_DIR/ebpf-ts for others, none without either', () => {
    expect(probeCacheDir(0, {})).toBe('/run/ebpf-ts');
    expect(probeCacheDir(1000, { XDG_RUNTIME_DIR: '/run/user/1000' })).toBe('/run/user/1000/ebpf-ts');
    expect(probeCacheDir(1000, {})).toBeUndefined();
    expect(probeCacheDir(1000, { XDG_RUNTIME_DIR: 'relative' })).toBeUndefined();
  });

  it('is none when EBPF_TS_NO_PROBE_CACHE opts out', () => {
    expect(probeCacheDir(0, { EBPF_TS_NO_PROBE_CACHE: '1' })).toBeUndefined();
    expect(probeCacheDir(1000, { EBPF_TS_NO_PROBE_CACHE: '1', XDG_RUNTIME_DIR: '/run/user/1000' })).toBeUndefined();
    expect(probeCacheDir(0, { EBPF_TS_NO_PROBE_CACHE: '0' })).toBe('/run/ebpf-ts');
  });
});

describe('Feature answers kept for the boot', () => {
  /** A feature whose probe counts its runs. */
  function counted(name: string, answer: FeatureResult, perBoot?: 'kernel' | 'privileged'): { feature: Feature; runs: () => number } {
    let n = 0;
    const feature = new Feature(name, '6.9', () => (n++, answer), perBoot === undefined ? {} : { perBoot });
    return { feature, runs: () => n };
  }
  const flushed = (): Promise<void> => new Promise((r) => setImmediate(r));

  it('a kernel-scope answer is written once the probes are done and skips the probe in a later process', async () => {
    setProbeCache(new ProbeCacheFile(dir, key));
    const first = counted('map type ARENA', no, 'kernel');
    expect(first.feature.check()).toEqual(no);
    expect(counted('map type HASH', Supported, 'kernel').feature.check()).toEqual(Supported);
    await flushed();
    // A later process: a fresh file object, fresh features.
    setProbeCache(new ProbeCacheFile(dir, key));
    const later = counted('map type ARENA', Supported, 'kernel');
    expect(later.feature.check()).toEqual(no);
    expect(later.runs()).toBe(0);
    const other = counted('map type HASH', no, 'kernel');
    expect(other.feature.supported()).toBe(true);
    // Another boot: probed again.
    setProbeCache(new ProbeCacheFile(dir, { ...key, bootId: 'another' }));
    const reboot = counted('map type ARENA', Supported, 'kernel');
    expect(reboot.feature.check()).toEqual(Supported);
    expect(reboot.runs()).toBe(1);
  });

  it('features without perBoot, unknown answers and policy refusals stay in the process', async () => {
    setProbeCache(new ProbeCacheFile(dir, key));
    counted('plain', Supported).feature.check();
    counted('unknown', unknown('EPERM'), 'kernel').feature.check();
    counted('policy', { supported: false, minimumVersion: undefined, reason: 'lockdown', refusedByPolicy: true }, 'kernel').feature.check();
    await flushed();
    setProbeCache(new ProbeCacheFile(dir, key));
    for (const name of ['plain', 'unknown', 'policy']) {
      const again = counted(name, Supported, 'kernel');
      again.feature.check();
      expect(again.runs()).toBe(1);
    }
  });

  it('privileged-scope answers are shared only between processes with CAP_SYS_ADMIN under no lockdown', async () => {
    const all = (1n << 41n) - 1n;
    const open = [undefined, 'none'].includes(lockdownMode());
    overrideCapabilities(0n);
    setProbeCache(new ProbeCacheFile(dir, key));
    counted('helper X in KPROBE programs', Supported, 'privileged').feature.check();
    await flushed();
    overrideCapabilities(all);
    setProbeCache(new ProbeCacheFile(dir, key));
    const privileged = counted('helper X in KPROBE programs', no, 'privileged');
    expect(privileged.feature.check()).toEqual(no);
    expect(privileged.runs()).toBe(1); // the unprivileged answer was not kept
    await flushed();
    setProbeCache(new ProbeCacheFile(dir, key));
    const again = counted('helper X in KPROBE programs', Supported, 'privileged');
    // Under lockdown even CAP_SYS_ADMIN does not see every helper: nothing is kept then.
    expect(again.feature.check()).toEqual(open ? no : Supported);
    expect(again.runs()).toBe(open ? 0 : 1);
    overrideCapabilities(0n);
    setProbeCache(new ProbeCacheFile(dir, key));
    const unprivileged = counted('helper X in KPROBE programs', Supported, 'privileged');
    expect(unprivileged.feature.check()).toEqual(Supported);
    expect(unprivileged.runs()).toBe(1);
  });

  it('is not used on the fake backend, nor when there is no cache', async () => {
    setBackend(new FakeBackend());
    setProbeCache(new ProbeCacheFile(dir, key));
    counted('map type HASH', Supported, 'kernel').feature.check();
    await flushed();
    setBackend(undefined);
    setProbeCache(new ProbeCacheFile(dir, key));
    const f = counted('map type HASH', no, 'kernel');
    expect(f.feature.check()).toEqual(no);
    expect(f.runs()).toBe(1);
    setProbeCache(undefined);
    const none = counted('map type HASH', Supported, 'kernel');
    none.feature.check();
    expect(none.runs()).toBe(1);
  });
});

describe('features the kernel version decides', () => {
  function feature(since: string): { feature: Feature; runs: () => number } {
    let n = 0;
    const f = new Feature('BTF kind TEST', since, () => (n++, notSupported('probe blob rejected', since)), { perBoot: 'kernel', versionSuffices: true });
    return { feature: f, runs: () => n };
  }

  // Versions below and above any kernel the tests run on: what decides is the release the
  // running kernel reports (uname), not a pretended version.
  it('are supported without a probe or the cache file on a kernel at least their version', () => {
    setProbeCache(new ProbeCacheFile(dir, key));
    const f = feature('4.0');
    expect(f.feature.check()).toEqual(Supported);
    expect(f.runs()).toBe(0);
  });

  it('are probed on older kernels (backports) and on the fake kernel of tests', () => {
    setProbeCache(undefined);
    const old = feature('99.0');
    expect(old.feature.check().supported).toBe(false);
    expect(old.runs()).toBe(1);
    // The fake kernel answers its own probes, whatever version it pretends to be.
    setBackend(new FakeBackend());
    overrideKernelVersion('6.18.0');
    const fake = feature('5.13');
    expect(fake.feature.check().supported).toBe(false);
    expect(fake.runs()).toBe(1);
    expect(kernelAtLeast('6.18')).toBe(true);
    overrideKernelVersion('5.1.0');
    expect(kernelAtLeast('5.2')).toBe(false);
  });
});
