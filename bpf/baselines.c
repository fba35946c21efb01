// SPDX-License-Identifier: (GPL-2.0-only OR MIT)
/*
 * Baselines for `make bench` (issue 9): the least an XDP program can do,
 * and the least a SYN recorder and responder must do, timed beside the
 * sensor's program with BPF_PROG_TEST_RUN.
 *
 *   xdp_pass           returns XDP_PASS: the cost of running a program at all.
 *   xdp_reflect        answers a SYN to port 25 with a RST|ACK (untagged
 *                      Ethernet, IPv4 without options or IPv6 without
 *                      extension headers, options dropped): no parser
 *                      beyond that, no counters, no rate limit.
 *   xdp_reflect_record the same, plus a 128-byte ring record per SYN.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char __license[] SEC("license") = "Dual MIT/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 24);
} bench_events SEC(".maps");

struct b_ip4 {
	__u8 ver_ihl;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag;
	__u8 ttl;
	__u8 proto;
	__be16 check;
	__be32 saddr;
	__be32 daddr;
};

struct b_ip6 {
	__be32 vtcfl;
	__be16 plen;
	__u8 nexthdr;
	__u8 hlim;
	__u8 saddr[16];
	__u8 daddr[16];
};

struct b_tcp {
	__be16 sport;
	__be16 dport;
	__be32 seq;
	__be32 ack;
	__u8 doff;
	__u8 flags;
	__be16 window;
	__be16 check;
	__be16 urg;
};

/* The record: 128 bytes, as a recorder must keep at least this much. */
struct b_record {
	__u64 ts_ns;
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u32 seq;
	__u8 family;
	__u8 ttl;
	__u8 flags;
	__u8 opt_len;
	__u8 options[40];
	__u8 _pad[36];
};

_Static_assert(sizeof(struct b_record) == 128, "record is 128 bytes");

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

static __always_inline __u16 fold(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

static __always_inline __u32 sum16(const __u8 *a, int n, __u32 s)
{
#pragma unroll
	for (int i = 0; i < 16; i += 2) {
		if (i >= n)
			break;
		s += ((__u32)a[i] << 8) | a[i + 1];
	}
	return s;
}

static __always_inline int reflect(struct xdp_md *ctx, int record)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	__u16 proto = eth->h_proto;
	struct b_tcp *tcp;
	__u8 family, ttl;
	__u32 l3len;
	if (proto == bpf_htons(ETH_P_IP)) {
		struct b_ip4 *ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > end || ip->ver_ihl != 0x45 || ip->proto != IPPROTO_TCP)
			return XDP_PASS;
		tcp = (void *)(ip + 1);
		ttl = ip->ttl;
		l3len = sizeof(*ip);
		family = 4;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct b_ip6 *ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > end || ip6->nexthdr != IPPROTO_TCP)
			return XDP_PASS;
		tcp = (void *)(ip6 + 1);
		ttl = ip6->hlim;
		l3len = sizeof(*ip6);
		family = 6;
	} else {
		return XDP_PASS;
	}
	if ((void *)(tcp + 1) > end || tcp->dport != bpf_htons(25) || (tcp->flags & 0x17) != 0x02)
		return XDP_PASS;
	__u32 seq = bpf_ntohl(tcp->seq);
	__u16 sport = bpf_ntohs(tcp->sport);

	if (record) {
		struct b_record *r = bpf_ringbuf_reserve(&bench_events, sizeof(*r), 0);
		if (r) {
			r->ts_ns = bpf_ktime_get_ns();
			r->family = family;
			r->ttl = ttl;
			r->sport = sport;
			r->dport = 25;
			r->seq = seq;
			r->flags = tcp->flags;
			if (family == 4) {
				struct b_ip4 *ip = (void *)(eth + 1);
				__builtin_memcpy(r->saddr, &ip->saddr, 4);
				__builtin_memcpy(r->daddr, &ip->daddr, 4);
			} else {
				struct b_ip6 *ip6 = (void *)(eth + 1);
				__builtin_memcpy(r->saddr, ip6->saddr, 16);
				__builtin_memcpy(r->daddr, ip6->daddr, 16);
			}
			/* The options: a recorder keeps them for fingerprinting. */
			__u8 olen = 0;
			__u8 *opt = (void *)(tcp + 1);
#pragma unroll
			for (int i = 0; i < 40; i++) {
				if ((void *)(opt + i + 1) > end || i >= ((tcp->doff >> 4) * 4 - 20))
					break;
				r->options[i] = opt[i];
				olen++;
			}
			r->opt_len = olen;
			bpf_ringbuf_submit(r, 0);
		}
	}

	/* The RST|ACK: the frame cut to Ethernet + IP + 20 bytes of TCP. */
	int delta = (int)(sizeof(*eth) + l3len + sizeof(*tcp)) - (int)(end - data);
	if (delta && bpf_xdp_adjust_tail(ctx, delta))
		return XDP_PASS;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	__u8 mac[ETH_ALEN];
	__builtin_memcpy(mac, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, mac, ETH_ALEN);
	__u32 sum;
	if (family == 4) {
		struct b_ip4 *ip = (void *)(eth + 1);
		if ((void *)(ip + 1) + sizeof(*tcp) > end)
			return XDP_PASS;
		tcp = (void *)(ip + 1);
		__be32 a = ip->saddr;
		ip->saddr = ip->daddr;
		ip->daddr = a;
		ip->tot_len = bpf_htons(sizeof(*ip) + sizeof(*tcp));
		ip->ttl = 64;
		ip->check = 0;
		__u32 is = 0;
		__u16 *w = (void *)ip;
#pragma unroll
		for (int i = 0; i < 10; i++)
			is += bpf_ntohs(w[i]);
		ip->check = bpf_htons(fold(is));
		sum = sum16((void *)&ip->saddr, 4, 0);
		sum = sum16((void *)&ip->daddr, 4, sum);
	} else {
		struct b_ip6 *ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) + sizeof(*tcp) > end)
			return XDP_PASS;
		tcp = (void *)(ip6 + 1);
		__u8 a[16];
		__builtin_memcpy(a, ip6->saddr, 16);
		__builtin_memcpy(ip6->saddr, ip6->daddr, 16);
		__builtin_memcpy(ip6->daddr, a, 16);
		ip6->plen = bpf_htons(sizeof(*tcp));
		ip6->hlim = 64;
		sum = sum16(ip6->saddr, 16, 0);
		sum = sum16(ip6->daddr, 16, sum);
	}
	__u32 ack = seq + 1;
	tcp->dport = tcp->sport;
	tcp->sport = bpf_htons(25);
	tcp->seq = 0;
	tcp->ack = bpf_htonl(ack);
	tcp->doff = 5 << 4;
	tcp->flags = 0x14; /* RST|ACK */
	tcp->window = 0;
	tcp->urg = 0;
	tcp->check = 0;
	sum += IPPROTO_TCP + sizeof(*tcp) + 25 + sport + (ack >> 16) + (ack & 0xffff) + ((5 << 12) | 0x14);
	tcp->check = bpf_htons(fold(sum));
	return XDP_TX;
}

SEC("xdp")
int xdp_reflect(struct xdp_md *ctx)
{
	return reflect(ctx, 0);
}

SEC("xdp")
int xdp_reflect_record(struct xdp_md *ctx)
{
	return reflect(ctx, 1);
}
