// Kernel module BTF (test/kernel/module-btf.test.ts, in test:vm where Debian's modules carry
// BTF): CO-RE against a type only a module defines (struct veth_priv, veth.ko), fentry and
// fexit on a module function (veth_open; the fexit names it libbpf's module:function way),
// a kprobe on it (attached by name and as veth:veth_open),
// a kfunc a module defines (nf_conntrack's bpf_xdp_ct_lookup / bpf_ct_release) and a typed
// per-CPU variable a module defines (x_tables' xt_recseq).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#define __pai __attribute__((preserve_access_index))

struct net_device {
	int ifindex;
} __pai;

/* Fields in another order than the kernel's (peer, dropped, _xdp_prog, rq,
 * requested_headroom): only relocation puts them where veth.ko has them. */
struct veth_priv {
	unsigned int requested_headroom;
	void *rq;
	struct net_device *peer;
} __pai;

struct veth_priv___missing_field {
	int no_such_field;
} __pai;

char LICENSE[] SEC("license") = "GPL";

/* What CO-RE computed, read back by the test and compared with veth.ko's BTF. */
__u32 peer_offset;
__u32 rq_offset;
__u32 headroom_offset;
__u32 priv_size;
__u32 priv_exists;
__u32 missing_field_exists;

SEC("socket")
int core_veth(struct __sk_buff *skb)
{
	peer_offset = bpf_core_field_offset(struct veth_priv, peer);
	rq_offset = bpf_core_field_offset(struct veth_priv, rq);
	headroom_offset = bpf_core_field_offset(struct veth_priv, requested_headroom);
	priv_size = bpf_core_type_size(struct veth_priv);
	priv_exists = bpf_core_type_exists(struct veth_priv);
	missing_field_exists = bpf_core_field_exists(struct veth_priv___missing_field, no_such_field);
	return 0;
}

/* Set by the test: only this device counts. */
volatile const int watch_ifindex;

__u64 open_entries;
__u64 open_exits;
int open_ret = -1;
int peer_ifindex;
__u32 headroom;

SEC("fentry/veth_open")
int BPF_PROG(veth_open_entry, struct net_device *dev)
{
	if (dev->ifindex != watch_ifindex)
		return 0;
	/* netdev_priv(): the private area follows struct net_device, 32-byte aligned. */
	struct veth_priv *priv = (void *)dev + ((bpf_core_type_size(struct net_device) + 31) & ~31);

	peer_ifindex = BPF_CORE_READ(priv, peer, ifindex);
	headroom = BPF_CORE_READ(priv, requested_headroom);
	__sync_fetch_and_add(&open_entries, 1);
	return 0;
}

SEC("fexit/veth:veth_open")
int BPF_PROG(veth_open_exit, struct net_device *dev, int ret)
{
	if (dev->ifindex != watch_ifindex)
		return 0;
	open_ret = ret;
	__sync_fetch_and_add(&open_exits, 1);
	return 0;
}

__u64 kprobe_hits;

SEC("kprobe/veth_open")
int veth_open_kprobe(void *ctx)
{
	__sync_fetch_and_add(&kprobe_hits, 1);
	return 0;
}

/* nf_conntrack's kfuncs (net/netfilter/nf_conntrack_bpf.c). */
struct nf_conn;

struct bpf_ct_opts {
	__s32 netns_id;
	__s32 error;
	__u8 l4proto;
	__u8 dir;
	__u16 ct_zone_id;
	__u8 ct_zone_dir;
	__u8 reserved[3];
};

extern struct nf_conn *bpf_xdp_ct_lookup(struct xdp_md *xdp_ctx, struct bpf_sock_tuple *bpf_tuple, __u32 tuple__sz,
					 struct bpf_ct_opts *opts, __u32 opts__sz) __ksym;
extern void bpf_ct_release(struct nf_conn *ct) __ksym;

int ct_error;
int ct_found = -1;

/* Read from .rodata rather than written as constants: the compiler would merge constant
 * stores into words that differ between the bpfel and bpfeb objects. */
volatile const __u32 ct_addr = 0x0100007f; /* 127.0.0.1 as a little-endian host stores it */
volatile const __u16 ct_port = 0x0101;
volatile const __s32 ct_netns = -1;     /* BPF_F_CURRENT_NETNS */
volatile const __u8 ct_proto = 6;       /* IPPROTO_TCP */

SEC("xdp")
int ct_lookup(struct xdp_md *ctx)
{
	struct bpf_sock_tuple tuple;
	struct bpf_ct_opts opts;

	__builtin_memset(&tuple, 0, sizeof(tuple));
	__builtin_memset(&opts, 0, sizeof(opts));
	tuple.ipv4.saddr = ct_addr;
	tuple.ipv4.daddr = ct_addr;
	tuple.ipv4.sport = ct_port;
	tuple.ipv4.dport = ct_port;
	opts.netns_id = ct_netns;
	opts.l4proto = ct_proto;
	struct nf_conn *ct = bpf_xdp_ct_lookup(ctx, &tuple, sizeof(tuple.ipv4), &opts, sizeof(opts));
	if (ct) {
		ct_found = 1;
		bpf_ct_release(ct);
	} else {
		ct_found = 0;
	}
	ct_error = opts.error;
	return XDP_PASS;
}

/* x_tables' per-CPU sequence counter: a typed __ksym a module defines. */
typedef struct seqcount {
	unsigned int sequence;
} seqcount_t;

extern const seqcount_t xt_recseq __ksym;

__u32 recseq_read;

SEC("fentry/veth_open")
int BPF_PROG(read_recseq, struct net_device *dev)
{
	const seqcount_t *seq = bpf_this_cpu_ptr(&xt_recseq);

	recseq_read = seq->sequence | 0x80000000;
	return 0;
}
