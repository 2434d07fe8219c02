/**
 * Node's module compile cache for the `ebpf-ts` command: V8's compiled code for every module
 * is kept on disk, so the command's next run skips compiling the ~120 files it loads. Only
 * the command enables it — for a library it would be a process-wide decision taken on the
 * application's behalf.
 *
 * @module
 */
import module from 'node:module';

// `module.enableCompileCache()` (Node 22.1+); @types/node for Node 20 does not declare it.
type EnableCompileCache = (directory?: string) => { status: number; message?: string; directory?: string };

/**
 * Enables the compile cache where this Node has it, in its default directory (or
 * `NODE_COMPILE_CACHE`'s); `NODE_DISABLE_COMPILE_CACHE=1` keeps it off. Returns the directory
 * in use, or undefined when there is none (older Node, disabled, or failed: never an error, a
 * command that compiles again is only slower). Call it before importing the modules it should
 * cover: only modules loaded afterwards are cached.
 */
export function enableCompileCache(): string | undefined {
  const enable = (module as unknown as { enableCompileCache?: EnableCompileCache }).enableCompileCache;
  if (typeof enable !== 'function') return undefined;
  try {
    return enable().directory;
  } catch {
    return undefined;
  }
}
