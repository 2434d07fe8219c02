// An XDP program redirecting into an XSKMAP: loads where the kernel has CONFIG_XDP_SOCKETS.
// The unit tests load it on the fake backend that refuses the map type, to check the message
// "map xsk_map: map type XSKMAP is not supported by this kernel (check CONFIG_XDP_SOCKETS)".
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} xsk_map SEC(".maps");

SEC("xdp")
int redirect_to_xsk(struct xdp_md *ctx)
{
	return bpf_redirect_map(&xsk_map, ctx->rx_queue_index, XDP_PASS);
}

char LICENSE[] SEC("license") = "GPL";
