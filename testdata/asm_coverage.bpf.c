// SPDX-License-Identifier: MIT
// ebpf-ts-cflags: -mcpu=v3
// Exercises as many instruction forms as clang-14 emits: ALU32/ALU64 with immediates and
// registers, every conditional jump (64- and 32-bit), loads and stores of every size, atomics
// with and without fetch, byte swaps, 64-bit immediates, map references and BPF-to-BPF calls.
// Built with -mcpu=v3 (see build.sh) so that ALU32, JMP32 and the fetching atomics appear.
// The programs are not meant to compute anything useful; they only need to stay verifiable.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u64);
	__type(value, __u32);
} small SEC(".maps");

struct sizes {
	__u8 b;
	__u16 h;
	__u32 w;
	__u64 dw;
	__s8 sb;
	__s16 sh;
	__s32 sw;
};

volatile __u64 global_counter;
volatile __u32 global_word;

static __noinline __u64 mix64(__u64 a, __u64 b)
{
	__u64 r = a * 0x9e3779b97f4a7c15ULL;
	r ^= b >> 7;
	r += b << 3;
	r |= a & 0xff00ff00ULL;
	r -= a / (b | 1);
	r = (__s64)r >> 5;
	return r;
}

static __noinline __u32 mix32(__u32 a, __u32 b)
{
	__u32 r = a * 2654435761U;
	r ^= b >> 3;
	r += b << 2;
	r &= ~0xf0U;
	r |= a - b;
	r = r / (b | 1);
	r = (__s32)r >> 1;
	return -r;
}

static __noinline int branches64(__u64 a, __u64 b, __s64 c, __s64 d)
{
	int r = 0;
	if (a == b) r += 1;
	if (a != 7) r += 2;
	if (a > b) r += 3;
	if (a >= 100) r += 4;
	if (a < b) r += 5;
	if (a <= 1000) r += 6;
	if (c > d) r += 7;
	if (c >= -3) r += 8;
	if (c < d) r += 9;
	if (c <= -9) r += 10;
	return r;
}

static __noinline int branches32(__u32 a, __u32 b, __s32 c, __s32 d)
{
	int r = 0;
	if (a == b) r += 1;
	if (a != 7) r += 2;
	if (a > b) r += 3;
	if (a >= 100) r += 4;
	if (a < b) r += 5;
	if (a <= 1000) r += 6;
	if (c > d) r += 7;
	if (c >= -3) r += 8;
	if (c < d) r += 9;
	if (c <= -9) r += 10;
	return r;
}

static __noinline __u64 swaps(__u64 x)
{
	__u64 r = __builtin_bswap64(x);
	r += __builtin_bswap32((__u32)x);
	r += __builtin_bswap16((__u16)x);
	return r;
}

static __noinline void memory(struct sizes *s, __u64 v)
{
	s->b = v;
	s->h = v >> 8;
	s->w = v >> 16;
	s->dw = v;
	s->sb = -(__s8)v;
	s->sh = -(__s16)v;
	s->sw = -(__s32)v;
}

static __noinline __s64 loads(struct sizes *s)
{
	return s->b + s->h + s->w + s->dw + s->sb + s->sh + s->sw;
}

SEC("socket")
int alu_and_jumps(struct __sk_buff *skb)
{
	__u64 a = skb->len, b = skb->protocol;
	__u64 r = mix64(a, b);
	r += mix32(a, b);
	r += branches64(a, b, (__s64)a - 50, (__s64)b);
	r += branches32(a, b, (__s32)a - 50, (__s32)b);
	r += swaps(r);
	r += 0x123456789abcdefULL;
	return r & 0xffff;
}

SEC("socket")
int memory_and_atomics(struct __sk_buff *skb)
{
	struct sizes s = {};
	__u32 key = skb->len & 7;
	__u64 *val;
	__u32 *small_val;
	__u64 hkey = 0xdeadbeefcafe;

	memory(&s, skb->len);
	val = bpf_map_lookup_elem(&counters, &key);
	if (!val)
		return 0;
	__sync_fetch_and_add(val, 1);
	__u64 old = __sync_fetch_and_add(val, 2);
	old += __sync_fetch_and_or(val, 4);
	old += __sync_fetch_and_and(val, ~8ULL);
	old += __sync_fetch_and_xor(val, 16);
	__sync_fetch_and_or(val, 32);
	__sync_fetch_and_and(val, ~64ULL);
	__sync_fetch_and_xor(val, 128);
	old += __sync_lock_test_and_set(val, old);
	old += __sync_val_compare_and_swap(val, old, 7);

	small_val = bpf_map_lookup_elem(&small, &hkey);
	if (small_val) {
		__sync_fetch_and_add(small_val, 1);
		old += __sync_fetch_and_add(small_val, 3);
		old += __sync_fetch_and_or(small_val, 1);
		old += __sync_fetch_and_and(small_val, 3);
		old += __sync_fetch_and_xor(small_val, 2);
		old += __sync_lock_test_and_set(small_val, 9);
		old += __sync_val_compare_and_swap(small_val, 9, 10);
	}
	global_counter += 1;
	global_word = old;
	return loads(&s) + old;
}

char _license[] SEC("license") = "GPL";
