#!/usr/bin/env node
/**
 * The `ebpf-ts` executable (package.json `bin`): runs `runCLI()` (run.ts) on the process's
 * arguments and streams. Everything else lives in run.ts so tests need no child process.
 *
 * @module
 */
import { writeSync } from 'node:fs';
import { ChunkLoader } from './code-cache.js';

/**
 * Writes to fd 1 or 2 synchronously, as process.stdout and process.stderr do for files, pipes
 * and terminals on Linux, without setting up those streams (that alone costs a third of the
 * instructions `prog list` spends over a bare `node -e 0`). `ebpf-ts btf dump | head` closes
 * the pipe early: EPIPE on stdout ends the process quietly, on stderr drops the text. An fd
 * left non-blocking by the parent (EAGAIN) hands the rest to Node's stream, which waits.
 */
function writer(fd: 1 | 2): (text: string) => void {
  let stream: NodeJS.WriteStream | undefined;
  return (text) => {
    if (stream !== undefined) {
      stream.write(text);
      return;
    }
    const bytes = Buffer.from(text);
    let done = 0;
    try {
      while (done < bytes.length) done += writeSync(fd, bytes, done);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EPIPE') {
        if (fd === 1) process.exit(0);
        return;
      }
      if (code !== 'EAGAIN') throw e;
      stream = fd === 1 ? process.stdout : process.stderr;
      stream.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code !== 'EPIPE') throw err;
        if (fd === 1) process.exit(0);
      });
      stream.write(bytes.subarray(done));
    }
  };
}

// In dist/, the command table and the commands are scripts compiled through V8's code cache
// (code-cache.ts); from src/ (no dist/chunks/ manifest), run.ts is imported as a module. No
// top-level await: the package promises none anywhere, and the bin is part of it.
const chunks = ChunkLoader.besideMain(import.meta.url, process.env);
void (chunks !== undefined ? Promise.resolve(chunks.load('cli-run') as typeof import('./run.js')) : import('./run.js'))
  .then(({ runCLI }) => runCLI(process.argv.slice(2), { out: writer(1), err: writer(2), env: process.env }))
  .then((code) => {
    // exitCode rather than exit(): output handed to a stream after EAGAIN must drain first.
    process.exitCode = code;
  });
