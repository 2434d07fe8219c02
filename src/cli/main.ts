#!/usr/bin/env node
/**
 * The `ebpf-ts` executable (package.json `bin`): runs `runCLI()` (run.ts) on the process's
 * arguments and streams. Everything else lives in run.ts so tests need no child process.
 *
 * @module
 */
import { ChunkLoader } from './code-cache.js';

// `ebpf-ts btf dump | head` closes the pipe early; that is not an error worth a stack trace.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

// In dist/, the command table and the commands are scripts compiled through V8's code cache
// (code-cache.ts); from src/ (no dist/chunks/ manifest), run.ts is imported as a module. No
// top-level await: the package promises none anywhere, and the bin is part of it.
const chunks = ChunkLoader.besideMain(import.meta.url, process.env);
void (chunks !== undefined ? Promise.resolve(chunks.load('cli-run') as typeof import('./run.js')) : import('./run.js'))
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
