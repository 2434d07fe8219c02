/**
 * The shape every feature probe shares. A probe asks the running kernel (creates a tiny map,
 * loads a two-instruction program) and answers supported, not supported (with the first
 * kernel version that has the feature), or unknown when the kernel's answer was inconclusive
 * (e.g. EPERM: we lack privileges, which says nothing about the feature). Only conclusive
 * answers are cached, so a probe that failed for lack of privileges is asked again later.
 * Features that say so also keep their conclusive answers for the rest of the boot, for later
 * processes (probe-cache.ts).
 *
 * @module
 */
import { NotSupportedError } from '../errors.js';
import { configEnabled, kernelConfigSource } from '../internal/kconfig.js';
import { policyRefusal } from '../internal/privileges.js';
import { release as osRelease } from 'node:os';
import { KernelVersion, kernelVersion } from '../sys/kernel-version.js';
import { loadedBackend } from '../sys/select.js';
import { persistedResult, persistResult, type ProbeScope } from './probe-cache.js';

/** A probe's answer. */
export type FeatureResult =
  | {
      /** The kernel has the feature. */
      readonly supported: true;
    }
  | {
      /** The kernel lacks the feature. */
      readonly supported: false;
      /** First kernel version with the feature, if known. */
      readonly minimumVersion: string | undefined;
      /** What the kernel answered. */
      readonly reason: string;
      /**
       * True when the kernel has the feature but a security policy (lockdown, an LSM) refuses
       * it to this process although it holds CAP_SYS_ADMIN; `minimumVersion` is then undefined.
       */
      readonly refusedByPolicy?: true;
      /**
       * The CONFIG_ option the running kernel was built without, when its config says so and
       * the kernel is new enough to have the feature; `minimumVersion` is then undefined.
       */
      readonly missingConfig?: string;
    }
  | {
      /** The probe could not tell (e.g. EPERM); not cached. */
      readonly supported: 'unknown';
      /** Why the answer is unknown. */
      readonly reason: string;
    };

/** Options of a {@link Feature}. */
export interface FeatureOptions {
  /**
   * Keep conclusive answers for later processes of the same boot (see {@link ProbeScope}); the
   * default keeps them for this process only. Only for answers that cannot change before the
   * next boot: never for ones that hang on modules loaded later or on sysctls.
   */
  readonly perBoot?: ProbeScope;
  /**
   * The feature depends on the kernel version alone (no config option turns it off, no policy
   * refuses it apart from bpf() as a whole: BTF kinds, object names): a running kernel at least
   * `minimumVersion` has it, and is not probed. Older ones (a distribution kernel may have it
   * backported) are, and so is the fake kernel of unit tests.
   */
  readonly versionSuffices?: boolean;
}

/** A named, cached kernel feature probe. */
export class Feature {
  private result: FeatureResult | undefined;
  private readonly perBoot: ProbeScope | undefined;
  private readonly versionSuffices: boolean;

  /**
   * @param name What is probed, e.g. `"map type RINGBUF"`; also the answer's key in the per-boot
   *   cache, so unique among features that use it.
   * @param minimumVersion The first mainline kernel with the feature.
   * @param probe Asks the kernel; throws only on programming errors.
   * @param options Whether answers outlive the process.
   */
  constructor(
    readonly name: string,
    readonly minimumVersion: string | undefined,
    private readonly probe: () => FeatureResult,
    options: FeatureOptions = {},
  ) {
    this.perBoot = options.perBoot;
    this.versionSuffices = options.versionSuffices === true && minimumVersion !== undefined;
  }

  /**
   * Returns the answer: cached in this process, else supported on a kernel new enough for a
   * feature whose version suffices, else kept from an earlier process of this boot (features
   * with `perBoot`), else the probe's (cached if conclusive).
   */
  check(): FeatureResult {
    if (this.result !== undefined) return this.result;
    // A fake kernel (unit tests) answers its own probes, whatever version it pretends to be.
    if (this.versionSuffices && loadedBackend()?.kind !== 'fake' && kernelAtLeast(this.minimumVersion!)) return (this.result = Supported);
    if (this.perBoot !== undefined) {
      const kept = persistedResult(this.name, this.perBoot);
      if (kept !== undefined) return (this.result = kept);
    }
    const r = this.probe();
    if (r.supported !== 'unknown') {
      this.result = r;
      if (this.perBoot !== undefined) persistResult(this.name, this.perBoot, r);
    }
    return r;
  }

  /** True if supported; false if not or unknown. */
  supported(): boolean {
    return this.check().supported === true;
  }

  /** Throws {@link NotSupportedError} unless the kernel has the feature. */
  require(): void {
    const r = this.check();
    if (r.supported === true) return;
    if (r.supported === false) {
      const since = r.refusedByPolicy || r.missingConfig !== undefined ? undefined : (r.minimumVersion ?? this.minimumVersion);
      throw new NotSupportedError(this.name, since, { detail: r.reason });
    }
    throw new NotSupportedError(this.name, this.minimumVersion, { detail: `probe inconclusive: ${r.reason}` });
  }

  /** Forgets the answer cached in this process (tests); a per-boot answer is kept. */
  reset(): void {
    this.result = undefined;
  }
}

let release: KernelVersion | null | undefined;

/**
 * Whether the running kernel is at least `version`, for checks that need only a lower bound.
 * The release uname reports decides when it is new enough: it has the major and minor numbers
 * of the vDSO's version, which {@link kernelVersion} reads for the exact patch level and which
 * can take milliseconds to read. Otherwise, and on the fake kernel of unit tests (whose version
 * tests set), {@link kernelVersion} does.
 */
export function kernelAtLeast(version: string): boolean {
  if (loadedBackend()?.kind !== 'fake') {
    if (release === undefined) {
      try {
        release = KernelVersion.parse(osRelease());
      } catch {
        release = null;
      }
    }
    if (release !== null && release.atLeast(version)) return true;
  }
  return kernelVersion().atLeast(version);
}

/** Shorthand constructors for probe results. */
export const Supported: FeatureResult = { supported: true };

/** A conclusive "no". */
export function notSupported(reason: string, minimumVersion?: string): FeatureResult {
  return { supported: false, minimumVersion, reason };
}

/** An inconclusive answer: not cached. */
export function unknown(reason: string): FeatureResult {
  return { supported: 'unknown', reason };
}

/**
 * The answer to a probe that the kernel refused with EPERM (`what` says which call, e.g.
 * `"BPF_MAP_CREATE of map type ARENA"`). Without CAP_SYS_ADMIN that says only that we may not
 * ask: unknown, not cached. With it, every capability check bpf() makes has passed, so a
 * security policy (lockdown, an LSM) refused the feature: a conclusive "not usable here".
 */
export function permissionDenied(what: string): FeatureResult {
  const policy = policyRefusal();
  if (policy === undefined) return unknown(`${what} answered EPERM: no privileges to probe (needs CAP_BPF or CAP_SYS_ADMIN)`);
  return { supported: false, minimumVersion: undefined, reason: `${what} answered EPERM: ${policy}`, refusedByPolicy: true };
}

/**
 * A conclusive "no" for a feature that also hangs on kernel config options (`config` names
 * them, e.g. `"CONFIG_BPF_LIRC_MODE2"`). On a kernel at least `since`, an option the config
 * leaves out is the real cause: the answer names it instead of a version, as bpftool does.
 * Otherwise (older kernel, options on, or no readable config) the version is the answer and
 * the options are a hint.
 */
export function notSupportedUnlessConfigured(reason: string, since: string | undefined, config: string | undefined): FeatureResult {
  const options = config === undefined ? [] : [...config.matchAll(/CONFIG_\w+/g)].map((m) => m[0]);
  if (options.length > 0 && (since === undefined || kernelVersion().atLeast(since))) {
    const off = options.find((o) => configEnabled(o) === false);
    if (off !== undefined) {
      return configuredOut(`${reason}; ${off} is not set in this kernel's config (${kernelConfigSource()})`, off);
    }
  }
  return notSupported(config === undefined ? reason : `${reason}; check ${config}`, since);
}

/** A conclusive "no" because the kernel was built without `option` (no version would help). */
export function configuredOut(reason: string, option: string): FeatureResult {
  return { supported: false, minimumVersion: undefined, reason, missingConfig: option };
}
