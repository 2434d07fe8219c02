// Probe events created through tracefs outlive a process that does not remove them, so ebpf-ts
// removes them on close, at exit, on SIGINT/SIGTERM/SIGHUP when the application has no handler
// of its own, and sweeps those of processes that died anyway (SIGKILL). Each case runs the
// built package in a child process that attaches a uprobe through uprobe_events.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tracefsPath } from '../../src/internal/tracefs.js';
import { sweepStaleProbeEvents } from '../../src/link/probe-events.js';
import { uprobeSupport } from '../../src/link/uprobe.js';
import { runCLI } from '../../src/cli/run.js';
import { ensureBuiltDist, repo } from './helpers/dist.js';
import { TARGET } from './helpers/uprobe-target.js';
import { ensureTracefs } from './link-helpers.js';

const root = process.getuid?.() === 0;
if (root) ensureTracefs();
const skip = !root ? 'needs root' : uprobeSupport().tracefsEvents ? '' : 'tracefs has no uprobe_events (CONFIG_UPROBE_EVENTS)';
const uprobeEvents = (): string => readFileSync(join(tracefsPath(), 'uprobe_events'), 'utf8');

/** A child that attaches one uprobe through tracefs, prints its events, then waits. */
function startChild(ownHandler: boolean): Promise<{ child: ReturnType<typeof spawn>; events: string[]; output: () => string }> {
  const script = `
    import { loadCollection, attachUprobe, liveTracefsProbeEvents } from ${JSON.stringify(join(repo, 'dist', 'index.js'))};
    const coll = await loadCollection(${JSON.stringify(join(repo, 'testdata', 'uprobe.bpfel.o'))}, { programs: ['on_add'] });
    ${ownHandler ? "process.on('SIGINT', () => { console.log('handled by the application'); process.exit(0); });" : ''}
    globalThis.link = attachUprobe(coll.programs.on_add, ${JSON.stringify(TARGET)}, 'ebpf_ts_uprobe_add', { via: 'tracefs' });
    console.log(JSON.stringify(liveTracefsProbeEvents()));
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  return new Promise((resolve, reject) => {
    child.once('exit', (code, signal) => reject(new Error(`child exited early (${code ?? signal}): ${out}${err}`)));
    const wait = setInterval(() => {
      const line = out.split('\n')[0];
      if (line === undefined || !out.includes('\n')) return;
      clearInterval(wait);
      child.removeAllListeners('exit');
      resolve({ child, events: JSON.parse(line) as string[], output: () => out + err });
    }, 20);
  });
}

const exited = (child: ReturnType<typeof spawn>): Promise<{ code: number | null; signal: NodeJS.Signals | null }> =>
  new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve({ code: child.exitCode, signal: child.signalCode }) : child.once('exit', (code, signal) => resolve({ code, signal }))));

describe.skipIf(skip !== '')(`tracefs probe events do not outlive their process${skip === '' ? '' : ` (skipped: ${skip})`}`, () => {
  beforeAll(() => void ensureBuiltDist(), 300_000);

  it('SIGINT with no handler of the application: the events go, then the signal ends the process as usual', async () => {
    const { child, events } = await startChild(false);
    expect(events).toHaveLength(1);
    expect(uprobeEvents()).toContain(events[0]);
    child.kill('SIGINT');
    expect(await exited(child)).toEqual({ code: null, signal: 'SIGINT' });
    expect(uprobeEvents()).not.toContain(events[0]!.split('/')[0]);
  });

  it("SIGINT with the application's own handler: it decides, and its process.exit() removes the events", async () => {
    const { child, events, output } = await startChild(true);
    child.kill('SIGINT');
    expect(await exited(child)).toEqual({ code: 0, signal: null });
    expect(output()).toContain('handled by the application');
    expect(uprobeEvents()).not.toContain(events[0]!.split('/')[0]);
  });

  it('SIGKILL leaves them behind; the next sweep (and ebpf-ts cleanup) removes exactly those', async () => {
    const a = await startChild(false);
    const b = await startChild(false);
    a.child.kill('SIGKILL');
    await exited(a.child);
    expect(uprobeEvents()).toContain(a.events[0]);
    let out = '';
    const code = await runCLI(['cleanup', '--json'], { out: (t) => void (out += t), err: (t) => void (out += t), env: {} });
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual({ tracefs: true, removed: a.events });
    expect(uprobeEvents()).not.toContain(a.events[0]);
    // The live process keeps its event.
    expect(uprobeEvents()).toContain(b.events[0]);
    expect(sweepStaleProbeEvents()).toEqual([]);
    b.child.kill('SIGTERM');
    expect(await exited(b.child)).toEqual({ code: null, signal: 'SIGTERM' });
    expect(uprobeEvents()).not.toContain(b.events[0]!.split('/')[0]);
  });
});
