/**
 * `ebpf-ts cleanup`: removes what dead ebpf-ts processes left in tracefs — the kprobe and
 * uprobe events of `ebpf_ts_<pid>_<n>` groups whose process no longer exists (killed with
 * SIGKILL, crashed). Events of live processes are kept.
 *
 * @module
 */
import { sweepStaleProbeEvents } from '../link/probe-events.js';
import { tracefsAvailable } from '../internal/tracefs.js';
import type { ParsedArgs } from './args.js';
import { toJSON, type CLIContext } from './output.js';

/** Runs `ebpf-ts cleanup` (its help text and options are in commands.ts). */
export function runCleanup(args: ParsedArgs, ctx: CLIContext): void {
  const removed = tracefsAvailable() ? sweepStaleProbeEvents() : [];
  if (args.options.json === true) {
    ctx.out(toJSON({ tracefs: tracefsAvailable(), removed }));
    return;
  }
  if (!tracefsAvailable()) ctx.out('tracefs is not mounted: no probe events to remove\n');
  else if (removed.length === 0) ctx.out('nothing to remove: no probe events of exited ebpf-ts processes\n');
  else ctx.out(`removed ${removed.length} probe event(s) of exited ebpf-ts processes:\n${removed.map((e) => `  ${e}\n`).join('')}`);
}
