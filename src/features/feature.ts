/**
 * The shape every feature probe shares. A probe asks the running kernel (creates a tiny map,
 * loads a two-instruction program) and answers supported, not supported (with the first
 * kernel version that has the feature), or unknown when the kernel's answer was inconclusive
 * (e.g. EPERM: we lack privileges, which says nothing about the feature). Only conclusive
 * answers are cached, so a probe that failed for lack of privileges is asked again later.
 *
 * @module
 */
import { NotSupportedError } from '../errors.js';

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
    }
  | {
      /** The probe could not tell (e.g. EPERM); not cached. */
      readonly supported: 'unknown';
      /** Why the answer is unknown. */
      readonly reason: string;
    };

/** A named, cached kernel feature probe. */
export class Feature {
  private result: FeatureResult | undefined;

  /**
   * @param name What is probed, e.g. `"map type RINGBUF"`.
   * @param minimumVersion The first mainline kernel with the feature.
   * @param probe Asks the kernel; throws only on programming errors.
   */
  constructor(
    readonly name: string,
    readonly minimumVersion: string | undefined,
    private readonly probe: () => FeatureResult,
  ) {}

  /** Runs the probe (once, if conclusive) and returns its answer. */
  check(): FeatureResult {
    if (this.result !== undefined) return this.result;
    const r = this.probe();
    if (r.supported !== 'unknown') this.result = r;
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
    if (r.supported === false) throw new NotSupportedError(this.name, r.minimumVersion ?? this.minimumVersion, { detail: r.reason });
    throw new NotSupportedError(this.name, this.minimumVersion, { detail: `probe inconclusive: ${r.reason}` });
  }

  /** Forgets a cached answer (tests). */
  reset(): void {
    this.result = undefined;
  }
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
