/**
 * Ownership of kernel resources, written once for every object that holds them (BpfMap,
 * Program, BTFHandle, Link, PerfReader, RingBufReader), in the spirit of cilium/ebpf's
 * internal/sys FD.
 *
 * An {@link Owner} holds what one object owns — an fd, or a small record (a link's fds and its
 * tracefs cleanup, a reader's rings) — and releases it exactly once: on `close()`, or, if the
 * object is garbage-collected while open, from its kind's FinalizationRegistry, which then
 * warns once per kind (`EBPF_TS_LEAKED_FD`). Both paths hand the record to the one `release`
 * function of the kind, so what close() frees and what the safety net frees cannot differ.
 * After close, {@link Owner.held} throws the object's own {@link ClosedError}.
 *
 * The registry is a net, not the mechanism: finalizers run late or never, so callers should
 * close objects or use `using`.
 *
 * Hot paths (map element operations, the readers' loops) keep their fd or rings in plain fields
 * of their own and use the owner only for the lifecycle: reading through it costs one more load.
 *
 * @module
 */
import { ClosedError } from '../errors.js';
import { backend } from '../sys/select.js';

/**
 * One kind of owning object, e.g. `"BpfMap"`: how to release what one of them holds, how to
 * name it in the warning, and the kind's one registry. Made once per class, at module level, by
 * {@link Owner.kind} or {@link Owner.fdKind}.
 */
export interface OwnerKind<T> {
  /** The kind's name in the leak warning, e.g. `"BpfMap"`. */
  readonly name: string;
  /** Frees what one object holds. Called once per object, by close() or by the registry. */
  readonly release: (held: T) => void;
  /** Names one object in the warning (after the kind's name). */
  readonly describe: ((held: T) => string) | undefined;
  /** The registry of every open object of this kind; each entry's held value is its owner. */
  readonly registry: FinalizationRegistry<Owner<T>>;
}

/** What an object owning one fd holds: the fd, and the name its leak warning gives it (may be empty). */
export interface HeldFd {
  readonly fd: number;
  readonly name: string;
}

function warnLeaked(what: string): void {
  process.emitWarning(
    `ebpf-ts: ${what} was garbage-collected without close(); its kernel resources are released now, ` +
      'but call close() or use `using` to release them deterministically',
    { code: 'EBPF_TS_LEAKED_FD' },
  );
}

/**
 * What one object owns, from its constructor to its release. The object keeps the owner in a
 * private field and forwards `close()`, `closed` and use (through {@link Owner.held}) to it.
 *
 * The owner must not refer to the object (the registry holds the owner strongly): `held` and
 * the closed message are plain data, never closures over the object.
 *
 * @example
 * ```ts
 * const kind = Owner.fdKind('Program');
 * class Program {
 *   readonly #owner: Owner<HeldFd>;
 *   constructor(fd: number, name: string) {
 *     this.#owner = new Owner(kind, this, { fd, name }, `program ${name} is closed`);
 *   }
 *   get fd(): number { return this.#owner.held.fd; }
 *   close(): void { this.#owner.close(); }
 * }
 * ```
 */
export class Owner<T> {
  #held: T | undefined;
  readonly #kind: OwnerKind<T>;
  readonly #closedMessage: string;

  /**
   * Defines a kind: its one `release` function (used by close() and by the safety net alike),
   * how its warning names one object, and its registry, which warns once for the whole kind.
   */
  static kind<T>(name: string, release: (held: T) => void, describe?: (held: T) => string): OwnerKind<T> {
    let warned = false;
    const registry = new FinalizationRegistry<Owner<T>>((owner) => {
      // The object is gone, so nothing can close the owner any more; take what it held.
      const held = owner.#held;
      if (held === undefined) return;
      owner.#held = undefined;
      if (!warned) {
        warned = true;
        warnLeaked(describe === undefined ? name : `${name} ${describe(held)}`);
      }
      try {
        release(held);
      } catch {
        // Nothing to report to: this runs outside any caller.
      }
    });
    return Object.freeze({ name, release, describe, registry });
  }

  /**
   * A kind of object that owns one fd: released by closing it; the warning names the object
   * as `<name> (fd N)`, or `(fd N)` for an empty name.
   */
  static fdKind(name: string): OwnerKind<HeldFd> {
    return Owner.kind<HeldFd>(
      name,
      ({ fd }) => {
        backend().close(fd);
      },
      ({ fd, name }) => (name === '' ? `(fd ${fd})` : `${name} (fd ${fd})`),
    );
  }

  /**
   * Takes ownership of `held` for `object`, registering it with the kind's safety net.
   *
   * @param closedMessage the message of the {@link ClosedError} thrown on use after close,
   * e.g. `program counter is closed`.
   */
  constructor(kind: OwnerKind<T>, object: object, held: T, closedMessage: string) {
    this.#kind = kind;
    this.#held = held;
    this.#closedMessage = closedMessage;
    kind.registry.register(object, this, this);
  }

  /** True once released (by {@link Owner.close}). */
  get closed(): boolean {
    return this.#held === undefined;
  }

  /**
   * What the object holds, for using it.
   * @throws {@link ClosedError} with the object's message after close.
   */
  get held(): T {
    const held = this.#held;
    if (held === undefined) throw this.closedError();
    return held;
  }

  /** What the object holds, or undefined after close (for `toString()` and the like). */
  peek(): T | undefined {
    return this.#held;
  }

  /** The error of a use after close, with the object's message. */
  closedError(): ClosedError {
    return new ClosedError(this.#closedMessage);
  }

  /**
   * Releases what the object holds, once: takes it out of the registry and hands it to the
   * kind's `release`. Later calls do nothing, also when `release` threw (it is not retried).
   */
  close(): void {
    const held = this.#held;
    if (held === undefined) return;
    this.#held = undefined;
    this.#kind.registry.unregister(this);
    this.#kind.release(held);
  }
}

/** `fd N` while the owner is open, `closed` after: the state in an object's `toString()`. */
export function fdState<T extends { readonly fd: number }>(owner: Owner<T>): string {
  const held = owner.peek();
  return held === undefined ? 'closed' : `fd ${held.fd}`;
}
