// What every tracer example shares and none of them is about: command-line options, making
// sure tracefs is there, and stopping cleanly on Ctrl-C or after --duration seconds. The BPF
// part of each example lives in the example itself and its generated bindings (bpf/).
import { readdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as ebpf from 'ebpf-ts';

/**
 * Parses `--duration <seconds>` (stop by itself, for tests and CI) plus the example's own
 * flags; prints usage and exits on `--help` or an unknown option.
 *
 * @param {string} usage
 * @param {Record<string, { type: 'string' | 'boolean' }>} [flags]
 * @returns {Record<string, any> & { duration: number | undefined }}
 */
export function options(usage, flags = {}) {
  let parsed;
  try {
    parsed = parseArgs({
      options: { duration: { type: 'string' }, help: { type: 'boolean', short: 'h' }, ...flags },
    }).values;
  } catch (err) {
    console.error(`${err.message}\n${usage}`);
    process.exit(2);
  }
  if (parsed.help) {
    console.log(usage);
    process.exit(0);
  }
  const duration = parsed.duration === undefined ? undefined : Number(parsed.duration);
  if (duration !== undefined && !(duration > 0)) {
    console.error(`--duration needs a positive number of seconds\n${usage}`);
    process.exit(2);
  }
  return { ...parsed, duration };
}

/**
 * Tracepoint ids and bpf_printk output come from tracefs. Many distributions mount it at
 * boot; minimal systems and containers may not. We mount it (we are root anyway) and say so;
 * it stays mounted, as it would after `mount -t tracefs tracefs /sys/kernel/tracing`.
 */
export function ensureTracefs() {
  if (ebpf.tracefsAvailable()) return;
  const path = ebpf.mountTracefs();
  console.error(`tracefs was not mounted: mounted it at ${path}`);
}

/**
 * An AbortSignal that fires on Ctrl-C, SIGTERM or after `duration` seconds. Handling the
 * signals ourselves (instead of letting Node die) is what lets the example close its links
 * and readers and print totals.
 */
export function stopSignal(duration) {
  const controller = new AbortController();
  const stop = (why) => () => controller.abort(why);
  process.once('SIGINT', stop('SIGINT'));
  process.once('SIGTERM', stop('SIGTERM'));
  if (duration !== undefined) setTimeout(stop('duration'), duration * 1000).unref();
  // `… | head` closes the pipe early: leave quietly. process.exit runs the 'exit' hooks,
  // which remove any tracefs probe events; the kernel releases the rest with the fds.
  process.stdout.on('error', (err) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  return controller.signal;
}

/** Open file descriptors of this process, for the leak check below. */
export function openFds() {
  // Node creates the stdout/stderr streams (and, for pipes, an fd of libuv's) on first use:
  // create them now so that they do not count as a leak of the example's.
  void process.stdout;
  void process.stderr;
  return readdirSync('/proc/self/fd').length;
}

/**
 * With EBPF_TS_EXAMPLE_CHECK_LEAKS=1 (set by test/kernel/examples.test.ts), prints how many
 * fds and tracefs probe events outlive close(), and fails the run if any do. The check
 * waits a moment: fd watchers are closed by the event loop after close() returns.
 */
export async function checkLeaks(fdsBefore) {
  if (process.env.EBPF_TS_EXAMPLE_CHECK_LEAKS !== '1') return;
  await new Promise((resolve) => setTimeout(resolve, 50));
  const fds = openFds() - fdsBefore;
  const probes = ebpf.liveTracefsProbeEvents().length;
  console.log(`leak check: fds +${fds}, probe events ${probes}`);
  if (fds !== 0 || probes !== 0) process.exitCode = 1;
}

/** Left-aligned columns of fixed widths; the last column takes the rest of the line. */
export function row(widths, cells) {
  return cells.map((c, i) => (i < widths.length ? String(c).padEnd(widths[i]) : String(c))).join(' ');
}
