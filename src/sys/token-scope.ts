/**
 * The BPF token in effect (Linux 6.9). Inside a user namespace bpf() honours only the
 * capabilities a token carries, and every object-creating command must name it: map creation,
 * program loads, BTF loads, and the feature probes the loader issues on their way (libbpf hands
 * its object's token to its probes too). Rather than thread a token through every probe, a
 * load runs in a scope: `encodeAttr()` adds the token to each command whose layout says where a
 * token goes. The loaders are synchronous, so a scope cannot leak into other work.
 *
 * @module
 */

/** The token of the current scope: its fd and, for errors, where it came from and what it allows. */
export interface TokenInScope {
  /** The token's fd (BPF_TOKEN_CREATE's result). */
  readonly fd: number;
  /** A short description for error messages, e.g. `the BPF token of /sys/fs/bpf (delegate_cmds=…)`. */
  readonly describe: () => string;
}

// undefined: no loader decided; null: a loader decided on no token (nested loaders keep that).
let current: TokenInScope | null | undefined;

/** The token every object-creating command carries now, if any. */
export function tokenInScope(): TokenInScope | undefined {
  return current ?? undefined;
}

/** True inside a loader's scope, with or without a token: nested loaders keep its choice. */
export function inTokenScope(): boolean {
  return current !== undefined;
}

/**
 * Runs `fn` with `token` added to every BPF_MAP_CREATE, BPF_PROG_LOAD and BPF_BTF_LOAD it
 * issues, or with none for `null`. Scopes nest: the inner choice holds until it returns.
 */
export function withToken<T>(token: TokenInScope | null, fn: () => T): T {
  const outer = current;
  current = token;
  try {
    return fn();
  } finally {
    current = outer;
  }
}
