/**
 * A UDP receiver inside a test namespace that runs while the test sends from another one:
 * {@link TestNetns.node} waits for its script, so it cannot listen and let the sender run at
 * the same time. Start it, send, then `done()` returns what it received.
 */
import { spawn } from 'node:child_process';
import { sendUdp, type TestNetns } from './netns.js';

/** A listening receiver; `done()` says the sending is over and returns the datagrams it got. */
export interface UdpReceiver {
  /** Stops listening after a short grace period and returns the count and total bytes received. */
  done(): Promise<{ datagrams: number; bytes: number }>;
}

/**
 * Starts Node inside `ns` listening on `port` (udp4, all addresses) and resolves once it is
 * bound. It ends on `done()` (after `graceMs` for datagrams in flight) or after 60 s.
 */
export function startUdpReceiver(ns: TestNetns, port: number, graceMs = 300): Promise<UdpReceiver> {
  const script = `
    import dgram from 'node:dgram';
    const s = dgram.createSocket('udp4');
    let datagrams = 0, bytes = 0;
    s.on('message', (m) => { datagrams++; bytes += m.length; });
    const finish = () => { s.close(); console.log(JSON.stringify({ datagrams, bytes })); process.exit(0); };
    s.bind(${port}, () => console.log('ready'));
    process.stdin.on('end', () => setTimeout(finish, ${graceMs}));
    process.stdin.resume();
    setTimeout(finish, 60000).unref();
  `;
  const child = spawn('nsenter', [`--net=${ns.path}`, '--', process.execPath, '--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      if (!out.includes('ready')) reject(new Error(`UDP receiver in netns ${ns.pid} exited (${code}) before binding: ${err}`));
    });
    child.stdout.on('data', (c: Buffer) => {
      const before = out.includes('ready');
      out += c.toString();
      if (!before && out.includes('ready')) {
        resolve({
          async done() {
            child.stdin.end();
            await exited;
            const line = out.split('\n').find((l) => l.startsWith('{'));
            if (line === undefined) throw new Error(`UDP receiver printed no result: ${out} ${err}`);
            return JSON.parse(line) as { datagrams: number; bytes: number };
          },
        });
      }
    });
  });
}

/** Sends `count` datagrams of `size` bytes from `from` to `host`:`port`, received in `to`: how many were sent and how many arrived. */
export async function udpTraffic(from: TestNetns, to: TestNetns, host: string, port: number, count: number, size = 32): Promise<{ sent: number; received: number }> {
  const rx = await startUdpReceiver(to, port);
  const sent = sendUdp(from, host, port, count, size);
  const { datagrams } = await rx.done();
  return { sent, received: datagrams };
}
