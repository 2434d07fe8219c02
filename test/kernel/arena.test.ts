// Arena globals (testdata/arena.bpf.c, Linux 6.9): loading creates the ARENA map, maps it and
// copies the __arena globals' initial values into it; a syscall program run with testRun()
// and JS (coll.variables, coll.arenas) then see each other's writes through the same pages.
// Where the kernel cannot create the arena the load fails with a typed error instead: before
// 6.9 one naming 6.9, under lockdown (the host) one saying the security policy refused it.
import { describe, expect, it } from 'vitest';
import { loadCollection } from '../../src/collection.js';
import { ClosedError, NotSupportedError } from '../../src/errors.js';
import { mapTypeFeature } from '../../src/features/map-types.js';
import { kernelVersion } from '../../src/sys/kernel-version.js';
import { MapType } from '../../src/types.js';

const object = new URL('../../testdata/arena.bpfel.o', import.meta.url).pathname;
const root = process.getuid?.() === 0;
const probe = root ? mapTypeFeature(MapType.Arena).check() : undefined;
const refused = probe !== undefined && probe.supported === false;
// Each case runs on one side: the host (lockdown refuses ARENA) and kernels before 6.9 check the
// error; test:vm 6.12 checks the arena itself.
const refusedOnly = refused ? '' : ' (runs where ARENA is refused: the host under lockdown, test:vm 6.1)';
const supportedOnly = refused ? ' (runs in test:vm 6.12: needs Linux 6.9 and no lockdown)' : '';

describe('arena globals', () => {
  it.skipIf(!root || !refused)(`a kernel that cannot create the arena fails the load with a typed error${refusedOnly}`, async () => {
    const err = await loadCollection(object).then(
      (c) => {
        c.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(NotSupportedError);
    const message = (err as Error).message;
    expect(message).toContain('ARENA');
    if (probe?.supported === false && probe.refusedByPolicy === true) expect(message).toMatch(/refused by the kernel's security policy/);
    else if (!kernelVersion().atLeast('6.9')) expect(message).toContain('6.9');
  });

  it.skipIf(!root || refused)(`initial values, program writes and JS writes are shared through the arena${supportedOnly}`, async () => {
    const coll = await loadCollection(object);
    const memory = coll.arenas.arena!;
    try {
      const { counter, table, seen_from_js } = coll.variables;
      expect(counter!.mapped).toBe(true);
      expect(counter!.get()).toBe(40);
      expect(table!.get()).toEqual([1, 2, 3, 4]);
      expect(seen_from_js!.get()).toBe(0n);
      // The globals sit at the start of the arena's pages.
      expect(memory.length).toBe(coll.maps.arena!.maxEntries * 4096);
      expect(new DataView(memory.buffer, memory.byteOffset).getInt32(0, true)).toBe(40);

      // The program adds 2 to counter, stores table[3] * 1000 and returns the sum of table.
      const prog = coll.programs.arena_rw!;
      expect(prog.testRun().retval).toBe(10);
      expect(counter!.get()).toBe(42);
      expect(seen_from_js!.get()).toBe(4000n);

      // JS writes (through a Variable and through the raw memory) reach the program.
      table!.set([1, 2, 3, 100]);
      new DataView(memory.buffer, memory.byteOffset).setInt32(0, 1000, true);
      expect(prog.testRun().retval).toBe(106);
      expect(counter!.get()).toBe(1002);
      expect(seen_from_js!.get()).toBe(100000n);
    } finally {
      coll.close();
    }
    // close() unmaps the arena: the memory is gone and the variables say so.
    expect(memory.byteLength).toBe(0);
    expect(() => coll.variables.counter!.get()).toThrow(ClosedError);
  });
});
