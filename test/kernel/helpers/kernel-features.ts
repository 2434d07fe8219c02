/**
 * Shared expectations for feature self-checks on whatever kernel the tests run on (the host
 * or a test:vm guest): a feature newer than the running kernel must answer "not supported"
 * naming exactly its first version; one the kernel has must answer "supported", unless the
 * kernel's config leaves it out.
 */
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { release } from 'node:os';
import { expect } from 'vitest';
import type { FeatureResult } from '../../../src/features/feature.js';
import { kernelVersion } from '../../../src/sys/kernel-version.js';

/** The running kernel's config, or undefined when neither /proc/config.gz nor /boot/config-* is readable. */
export function kernelConfig(): string | undefined {
  try {
    return gunzipSync(readFileSync('/proc/config.gz')).toString('utf8');
  } catch {
    const boot = `/boot/config-${release()}`;
    return existsSync(boot) ? readFileSync(boot, 'utf8') : undefined;
  }
}

/** True/false if the config says whether `option` is built in or a module; undefined if unknown. */
export function configHas(option: string): boolean | undefined {
  const config = kernelConfig();
  if (config === undefined) return undefined;
  return new RegExp(`^${option}=[ym]`, 'm').test(config);
}

/**
 * Checks a probe's answer against the running kernel's version: before `since` it must be
 * "not supported" with `minimumVersion === since`; from `since` on, "supported" — except
 * when `configGate` (a CONFIG_ option) is known to be off, or unknown (then either answer is
 * accepted, and a "no" must name the option).
 */
export function expectVersionedFeature(r: FeatureResult, since: string | undefined, configGate?: string): void {
  if (since !== undefined && !kernelVersion().atLeast(since)) {
    expect(r.supported, `kernel ${kernelVersion()} predates ${since}`).toBe(false);
    expect((r as { minimumVersion?: string }).minimumVersion).toBe(since);
    return;
  }
  if (configGate !== undefined) {
    const option = /CONFIG_[A-Z0-9_]+/.exec(configGate)?.[0];
    const has = option === undefined ? undefined : configHas(option);
    if (has === false) {
      expect(r.supported).toBe(false);
      return;
    }
    if (has === undefined && r.supported === false) {
      expect((r as { reason: string }).reason + String((r as { minimumVersion?: string }).minimumVersion)).toBeTruthy();
      return;
    }
  }
  expect(r).toEqual({ supported: true });
}
