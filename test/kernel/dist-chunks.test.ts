// The published build loads parts of the package on first use (dist/chunks/lib-*.cjs, see
// docs/architecture.md): tests of src/ never run that code path. Here a child process imports
// dist/index.js as a user does and calls one public function of each part, then checks that each
// chunk file was read once, that the call did its work, and that errors thrown from inside a
// chunk are the package's own classes (one class per name, shared with the index).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ensureBuiltDist, repo } from './helpers/dist.js';

const noRoot = process.getuid?.() === 0 ? '' : 'needs root: one call loads a collection';

const script = (index: string): string => `
const fs = process.getBuiltinModule('node:fs');
const read = fs.readFileSync;
const chunks = [];
fs.readFileSync = (f, ...rest) => { const m = /(lib-[\\w-]+)\\.cjs$/.exec(String(f)); if (m) chunks.push(m[1]); return read(f, ...rest); };
const lib = await import(${JSON.stringify(index)});
const atImport = [...chunks];
const out = { atImport };
const typed = (e) => ({ typed: e instanceof lib.BpfError, name: e.constructor.name, message: String(e.message).slice(0, 200) });
const object = ${JSON.stringify(join(repo, 'testdata/sock_filter.bpfel.o'))};
// elf: parsing an object file.
const spec = await lib.loadCollectionSpec(object);
out.elf = Object.keys(spec.programs);
// rare: the C formatter and the disassembler.
out.rare = lib.btf.dumpCHeader(spec.btf).includes('struct __sk_buff') && lib.asm.disassemble(spec.programs.drop_large.instructions).length > 0;
// load: loading and running a collection.
const coll = await lib.loadCollection(object);
out.load = coll.programs.drop_large.testRun({ data: new Uint8Array(64) }).retval;
coll.close();
// attach: a cgroup that does not exist is a typed error from inside the chunk.
try { lib.attachCgroup(coll.programs.drop_large, { cgroup: '/no/such/cgroup' }); out.attach = 'attached?'; } catch (e) { out.attach = typed(e); }
// probe: the tracepoint list (tracefs may be missing: a typed error then).
try { out.probe = Array.isArray(lib.listTracepoints('sched')); } catch (e) { out.probe = typed(e); }
// ffi: the ffi-rs backend, chosen as EBPF_TS_BACKEND chooses it.
lib.setBackend(undefined);
process.env.EBPF_TS_BACKEND = 'ffi-rs';
out.ffi = lib.backend().kind;
out.chunks = chunks;
console.log(JSON.stringify(out));
`;

describe.skipIf(noRoot !== '')(`dist/: the parts loaded on first use${noRoot === '' ? '' : ` (skipped: ${noRoot})`}`, () => {
  it('each chunk loads once, on the call that needs it, and works', () => {
    const index = ensureBuiltDist();
    const built = readdirSync(join(repo, 'dist', 'chunks')).filter((f) => /^lib-.*\.cjs$/.test(f)).map((f) => f.replace(/\.cjs$/, '')).sort();
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script(pathToFileURL(index).href)], { cwd: repo, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown> & { chunks: string[]; atImport: string[] };
    expect(out.atImport).toEqual([]);
    expect(out.elf).toEqual(['drop_large']);
    expect(out.rare).toBe(true);
    expect(typeof out.load).toBe('number');
    expect(out.attach).toMatchObject({ typed: true });
    expect(out.probe === true || (out.probe as { typed: boolean }).typed).toBe(true);
    expect(out.ffi).toBe('ffi-rs');
    // Every chunk the build made was needed by one of the calls, and read once.
    expect([...out.chunks].sort()).toEqual(built);
  });
});
