/**
 * {@link MultiLink}: several {@link Link}s made by one attach call and owned as one, such as a
 * sampling event on every CPU. Closing it closes every link; a failure half-way through an
 * attach call closes the links made so far (see {@link MultiLink.build}), so a caller never
 * holds half an attachment.
 *
 * The links keep their own owners (each is a complete {@link Link}); the multi-link's owner
 * holds the list, so one `close()`, `using` or the leak safety net releases them all.
 *
 * @module
 */
import { Owner } from '../internal/owner.js';
import type { Link } from './link.js';

function release(links: readonly Link[]): void {
  // Close every link even when one throws, then report the first failure.
  let failure: unknown;
  for (const link of links) {
    try {
      link.close();
    } catch (err) {
      failure ??= err;
    }
  }
  if (failure !== undefined) throw failure;
}

const owners = Owner.kind<readonly Link[]>('MultiLink', release, (links) => `of ${links.length} links (${links[0]?.what ?? 'none'}, …)`);

/**
 * Links created together and released together: one attachment per CPU, per process or per
 * probe site, handled like a single {@link Link}.
 *
 * Minimum kernel: that of the links it holds.
 *
 * @example
 * ```ts
 * using sampling = attachPerfEventAllCPUs(prog, { type: PerfType.Software, config: PERF_COUNT_SW_CPU_CLOCK, frequency: 99 });
 * sampling.links.length; // one per online CPU
 * ```
 *
 * Errors: {@link ClosedError} from {@link MultiLink.links} after `close()`.
 */
export class MultiLink implements Disposable {
  readonly #owner: Owner<readonly Link[]>;
  /** What is attached, e.g. `perf event cpu-clock at 99 Hz on CPUs 0-3`. */
  readonly what: string;

  /** Takes ownership of `links` (made by an attach function of this package). */
  protected constructor(links: readonly Link[], what: string) {
    this.what = what;
    this.#owner = new Owner(owners, this, Object.freeze([...links]), `${what} is closed`);
  }

  /**
   * Runs `attachEach` once per item and returns the links made, closing them all if any call
   * throws (the error is rethrown). For attach functions that build a {@link MultiLink}.
   * @internal
   */
  static build<T>(items: readonly T[], attachEach: (item: T, index: number) => Link): Link[] {
    const links: Link[] = [];
    try {
      items.forEach((item, index) => links.push(attachEach(item, index)));
      return links;
    } catch (err) {
      try {
        release(links);
      } catch {
        // The attach error is the one that explains what happened.
      }
      throw err;
    }
  }

  /**
   * The links, in the order they were made.
   * @throws {@link ClosedError} after `close()`.
   */
  get links(): readonly Link[] {
    return this.#owner.held;
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#owner.closed;
  }

  /**
   * Detaches everything: closes every link, also when closing one of them throws (the first
   * error is rethrown after all were tried). Idempotent.
   */
  close(): void {
    this.#owner.close();
  }

  /** `using group = attach…()` detaches every link at the end of the scope. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** `MultiLink(perf event cpu-clock …, 4 links)`, or `closed`. */
  toString(): string {
    const links = this.#owner.peek();
    return `${this.constructor.name}(${this.what}, ${links === undefined ? 'closed' : `${links.length} links`})`;
  }
}
