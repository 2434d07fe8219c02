#!/usr/bin/env node
/**
 * The `ebpf-ts` executable (package.json `bin`): runs {@link runCLI} on the process's
 * arguments and streams. Everything else lives in run.ts so tests need no child process.
 *
 * @module
 */
import { runCLI } from './run.js';

// `ebpf-ts btf dump | head` closes the pipe early; that is not an error worth a stack trace.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

// No top-level await: the package promises none anywhere, and the bin is part of it.
void runCLI(process.argv.slice(2), {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
  env: process.env,
}).then((code) => {
  // exitCode rather than exit(): buffered output of a large dump must drain first.
  process.exitCode = code;
});
