// `ebpf-ts usdt list`, in-process and without a kernel: for every fixture the JSON records are
// what readelf -n says about its notes (testdata/usdt/readelf.txt; and readelf run now where
// binutils is installed) plus the file offsets; the table; a process (its executable and the
// shared library it maps); a name searched in LD_LIBRARY_PATH; errors.
import { spawn, spawnSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runCLI } from '../../src/cli/run.js';
import type { USDTRecord } from '../../src/cli/usdt.js';
import { parseReadelfNotes, recordedNotes, usdtFixture, type ReadelfProbe } from '../helpers/readelf-notes.js';
import { findTool, missingToolReason } from '../helpers/tools.js';

async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCLI(args, { out: (t) => void (stdout += t), err: (t) => void (stderr += t), env });
  return { code, stdout, stderr };
}

const asReadelf = (records: USDTRecord[]): ReadelfProbe[] =>
  records.map((r) => ({ provider: r.provider, name: r.name, location: BigInt(r.location), base: BigInt(r.base), semaphore: BigInt(r.semaphore), arguments: r.arguments }));

const FILES = ['target', 'target-nopie', 'libusdtfixture.so', 'target-arm64'];
const readelf = findTool('readelf');

describe('ebpf-ts usdt list', () => {
  it.each(FILES)('%s: --json agrees with readelf -n (testdata/usdt/readelf.txt)', async (file) => {
    const r = await cli(['usdt', 'list', '--json', usdtFixture(file)]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const records = JSON.parse(r.stdout) as USDTRecord[];
    expect(asReadelf(records)).toEqual(recordedNotes().get(file));
    expect(new Set(records.map((x) => x.binary))).toEqual(new Set([realpathSync(usdtFixture(file))]));
  });

  it.skipIf(readelf === undefined)(`agrees with readelf -n run now ${readelf === undefined ? `(skipped: ${missingToolReason('readelf')})` : ''}`, async () => {
    for (const file of FILES) {
      const r = await cli(['usdt', 'list', '-j', usdtFixture(file)]);
      const live = spawnSync(readelf!, ['-W', '-n', usdtFixture(file)], { encoding: 'utf8' });
      expect(asReadelf(JSON.parse(r.stdout) as USDTRecord[])).toEqual(parseReadelfNotes(live.stdout));
    }
  });

  it('offsets: the probe and the semaphore in the file; keys in a stable order', async () => {
    const records = JSON.parse((await cli(['usdt', 'list', '-j', usdtFixture('target-nopie')])).stdout) as USDTRecord[];
    expect(Object.keys(records[0]!)).toEqual(['binary', 'provider', 'name', 'location', 'base', 'semaphore', 'arguments', 'offset', 'semaphoreOffset']);
    expect(records.find((x) => x.name === 'guarded')).toMatchObject({ location: '0x401385', offset: '0x1385', semaphore: '0x404044', semaphoreOffset: '0x3044' });
    expect(records.find((x) => x.name === 'regs')).toMatchObject({ semaphoreOffset: null, arguments: '-4@%edi -4@%eax -8@%rdx 1@%cl -2@%si 8@%r8' });
  });

  it('the table: one row per location, - for no semaphore', async () => {
    const r = await cli(['usdt', 'list', usdtFixture('target')]);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^PROVIDER\s+NAME\s+LOCATION\s+OFFSET\s+SEMAPHORE\s+ARGUMENTS$/);
    expect(lines).toHaveLength(10);
    expect(lines.find((l) => l.includes(' guarded '))).toMatch(/ebpf_ts\s+guarded\s+0x1395\s+0x1395\s+0x4044\s+-8@%rdi -8@%rax/);
    expect(lines.find((l) => l.includes(' noargs '))).toMatch(/ebpf_ts\s+noargs\s+0x12d0\s+0x12d0\s+-\s*$/);
  });

  it('a process: its executable and the shared library it maps, with a BINARY column', async () => {
    const child = spawn(usdtFixture('target'), [], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.once('error', reject);
        child.stdout.once('data', () => resolve());
      });
      const records = JSON.parse((await cli(['usdt', 'list', '-j', String(child.pid)])).stdout) as USDTRecord[];
      expect(records.filter((x) => x.binary === realpathSync(usdtFixture('libusdtfixture.so'))).map((x) => `${x.provider}:${x.name}`)).toEqual(['ebpf_ts_lib:hello']);
      expect(records.filter((x) => x.binary === realpathSync(usdtFixture('target')))).toHaveLength(9);
      const table = (await cli(['usdt', 'list', String(child.pid)])).stdout;
      expect(table.split('\n')[0]).toMatch(/^BINARY\s+PROVIDER\s+NAME/);
    } finally {
      child.kill();
    }
  });

  it('a library name is searched like a uprobe target (LD_LIBRARY_PATH first)', async () => {
    const saved = process.env.LD_LIBRARY_PATH;
    process.env.LD_LIBRARY_PATH = usdtFixture('');
    try {
      const records = JSON.parse((await cli(['usdt', 'list', '-j', 'libusdtfixture.so'])).stdout) as USDTRecord[];
      expect(records.map((x) => [x.binary, x.name])).toEqual([[realpathSync(usdtFixture('libusdtfixture.so')), 'hello']]);
    } finally {
      if (saved === undefined) delete process.env.LD_LIBRARY_PATH;
      else process.env.LD_LIBRARY_PATH = saved;
    }
  });

  it('errors: a file that is not there, a file that is not ELF, a process that does not exist; no target', async () => {
    const missing = await cli(['usdt', 'list', usdtFixture('nope')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^ebpf-ts usdt list: uprobe target .*nope not found/);
    expect((await cli(['usdt', 'list', usdtFixture('target.c')])).stderr).toMatch(/is not an ELF file/);
    expect((await cli(['usdt', 'list', '2147483646'])).stderr).toMatch(/cannot read \/proc\/2147483646\/maps: no such process/);
    expect((await cli(['usdt', 'list'])).code).toBe(2);
  });
});
