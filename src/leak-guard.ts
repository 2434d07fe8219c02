/**
 * The safety net behind every object that owns kernel resources (maps, programs, links, BTF,
 * readers): if one is garbage-collected without `close()`, a FinalizationRegistry releases
 * what it still held and warns once per kind. It is a net, not the mechanism: finalizers run
 * late or never, so callers should close objects or use `using`.
 *
 * @module
 */

/**
 * A registry for objects of one `kind` (e.g. `"BpfMap"`): register each object with what it
 * holds, unregister it on close. `release` frees the held resources; `describe` names one
 * object in the warning.
 */
export function leakGuard<T>(kind: string, release: (held: T) => void, describe?: (held: T) => string): FinalizationRegistry<T> {
  let warned = false;
  return new FinalizationRegistry<T>((held) => {
    if (!warned) {
      warned = true;
      const what = describe === undefined ? kind : `${kind} ${describe(held)}`;
      process.emitWarning(
        `ebpf-ts: ${what} was garbage-collected without close(); its kernel resources are released now, ` +
          'but call close() or use `using` to release them deterministically',
        { code: 'EBPF_TS_LEAKED_FD' },
      );
    }
    try {
      release(held);
    } catch {
      // Nothing to report to: this runs outside any caller.
    }
  });
}
