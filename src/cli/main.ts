#!/usr/bin/env node
/**
 * The `ebpf-ts` executable (package.json `bin`): runs `runCLI()` (run.ts) on the process's
 * arguments and streams. Everything else lives in run.ts so tests need no child process.
 *
 * @module
 */
import { enableCompileCache } from './compile-cache.js';

// First, so that the modules imported below are compiled through the cache (Node 22.1+).
enableCompileCache();

// `ebpf-ts btf dump | head` closes the pipe early; that is not an error worth a stack trace.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

// No top-level await: the package promises none anywhere, and the bin is part of it. A
// dynamic import, because a static one would be loaded before the cache above is enabled.
void import('./run.js')
  .then(({ runCLI }) =>
    runCLI(process.argv.slice(2), {
      out: (text) => void process.stdout.write(text),
      err: (text) => void process.stderr.write(text),
      env: process.env,
    }),
  )
  .then((code) => {
    // exitCode rather than exit(): buffered output of a large dump must drain first.
    process.exitCode = code;
  });
