// The token scope (src/sys/token-scope.ts): inside a loader's scope, encodeAttr() puts the token
// into the three commands that take one (BPF_MAP_CREATE, BPF_PROG_LOAD, BPF_BTF_LOAD) with
// BPF_F_TOKEN_FD in their flags, and into nothing else.
import { describe, expect, it } from 'vitest';
import { encodeAttr, readField } from '../../src/sys/attr.js';
import { BtfLoad, MapCreate, MapLookupElem, ProgLoad } from '../../src/sys/layouts.js';
import { inTokenScope, tokenInScope, withToken } from '../../src/sys/token-scope.js';
import { describeDelegation } from '../../src/token.js';

const token = { fd: 42, describe: () => 'the BPF token of /test' };
const BPF_F_TOKEN_FD = 1 << 16;

describe('the token scope', () => {
  it('adds the token and BPF_F_TOKEN_FD to map creation, keeping the caller flags', () => {
    const { attr } = withToken(token, () => encodeAttr(MapCreate, { map_type: 2, key_size: 4, value_size: 4, max_entries: 1, map_flags: 1 }));
    expect(attr.byteLength).toBe(80);
    expect(readField(attr, MapCreate.fields.map_token_fd)).toBe(42);
    expect(readField(attr, MapCreate.fields.map_flags)).toBe(1 | BPF_F_TOKEN_FD);
  });

  it('covers program and BTF loads', () => {
    const prog = withToken(token, () => encodeAttr(ProgLoad, { prog_type: 1, insn_cnt: 0 })).attr;
    expect(readField(prog, ProgLoad.fields.prog_token_fd)).toBe(42);
    expect(readField(prog, ProgLoad.fields.prog_flags)).toBe(BPF_F_TOKEN_FD);
    const btf = withToken(token, () => encodeAttr(BtfLoad, { btf_size: 0 })).attr;
    expect(readField(btf, BtfLoad.fields.btf_token_fd)).toBe(42);
    expect(readField(btf, BtfLoad.fields.btf_flags)).toBe(BPF_F_TOKEN_FD);
  });

  it('leaves other commands, explicit tokens and the no-token scope alone', () => {
    expect(withToken(token, () => encodeAttr(MapLookupElem, { map_fd: 3 })).attr.byteLength).toBe(4);
    const explicit = withToken(token, () => encodeAttr(MapCreate, { map_type: 2, map_token_fd: 7, map_flags: BPF_F_TOKEN_FD })).attr;
    expect(readField(explicit, MapCreate.fields.map_token_fd)).toBe(7);
    const none = withToken(null, () => encodeAttr(MapCreate, { map_type: 2, key_size: 4 })).attr;
    expect(none.byteLength).toBe(8); // nothing past key_size: kernels before 6.9 see no new field
    expect(encodeAttr(MapCreate, { map_type: 2 }).attr.byteLength).toBe(4);
  });

  it('nests and unwinds, also when the work throws', () => {
    expect(inTokenScope()).toBe(false);
    withToken(null, () => {
      expect(inTokenScope()).toBe(true);
      expect(tokenInScope()).toBeUndefined();
      withToken(token, () => expect(tokenInScope()).toBe(token));
      expect(tokenInScope()).toBeUndefined();
    });
    expect(() => withToken(token, () => { throw new Error('load failed'); })).toThrow('load failed');
    expect(inTokenScope()).toBe(false);
  });

  it('describes a delegation as the mount options read', () => {
    expect(describeDelegation({ cmds: ['map_create', 'prog_load'], maps: 'any', progs: [], attachs: ['cgroup_inet_ingress'] })).toBe(
      'delegate_cmds=map_create:prog_load, delegate_maps=any, delegate_progs=(none), delegate_attachs=cgroup_inet_ingress',
    );
  });
});
