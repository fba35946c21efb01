// SPDX-License-Identifier: (GPL-2.0-only OR MIT)
/*
 * mxsensor XDP program: records every inbound TCP SYN to a configured port in
 * a ring buffer and answers it with a RST|ACK from the driver, so the sensor
 * MX never accepts a connection. Everything else passes untouched and is
 * counted by reason.
 *
 * dataplane.Reference (internal/dataplane/reference.go) mirrors this parser in
 * Go; FuzzDifferential keeps the two in step. Change both together.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "mxsensor.h"

char __license[] SEC("license") = "Dual MIT/GPL";

/* Defaults match the agent's; it always overwrites them before load. */
volatile const struct mxs_config cfg = {
	.rl_interval_ns = 0,
	.rl_burst_ns = 0,
	.ports = {25},
	.nports = 1,
	.mode = MXS_MODE_REJECT,
	.reply_ttl = 64,
	.filter_dst = 0,
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 24);
} events SEC(".maps");

/*
 * Counters: a plain array with one slot per possible CPU (the agent sets
 * max_entries before load), indexed by the CPU we run on. XDP runs with
 * migration disabled, so a slot has one writer, as in a per-CPU array; but
 * the slot is found without a per-CPU array's dependent load of its pointer
 * table, and lies in the map's own memory, not in a per-CPU chunk. Every
 * packet touches it first, so it must be cheap to reach when cold: under
 * BPF_PROG_TEST_RUN (a syscall, so a cold TLB, per packet on the project's
 * VMs) a bare per-CPU array increment cost ~30 ns, one in this array ~15.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32); /* CPU id */
	__type(value, struct mxs_counters);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct mxs_rl_key);
	__type(value, __u64); /* GCRA theoretical arrival time, ns */
} ratelimit SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32); /* network order */
	__type(value, __u8);
} local_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct mxs_addr6);
	__type(value, __u8);
} local_v6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mxs_info);
} info SEC(".maps");

/* Force BTF for types only the Go side uses, so bpf2go can generate them. */
const enum mxs_counter *unused_counter __attribute__((unused));
const enum mxs_action *unused_action __attribute__((unused));
const enum mxs_mode *unused_mode __attribute__((unused));
const struct mxs_syn_event *unused_event __attribute__((unused));

/* Minimal header layouts: only what we touch, all fields network order. */
struct vlanhdr {
	__be16 tci;
	__be16 proto;
};

struct ip4hdr {
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

struct ip6hdr {
	__be32 vtcfl; /* version, traffic class, flow label */
	__be16 plen;
	__u8 nexthdr;
	__u8 hlim;
	__u8 saddr[16];
	__u8 daddr[16];
};

struct tcphdr_raw {
	__be16 sport;
	__be16 dport;
	__be32 seq;
	__be32 ack;
	__u8 doff_ns; /* data offset << 4 | reserved | NS */
	__u8 flags;
	__be16 window;
	__be16 check;
	__be16 urg;
};

#define TCPF_FIN 0x01
#define TCPF_SYN 0x02
#define TCPF_RST 0x04
#define TCPF_ACK 0x10

#define IPPROTO_HOPOPTS_ 0
#define IPPROTO_ROUTING_ 43
#define IPPROTO_FRAGMENT_ 44
#define IPPROTO_DSTOPTS_ 60

#define OUT(reason)                   \
	do {                          \
		cnt->c[reason]++;     \
		return XDP_PASS;      \
	} while (0)

#define MALFORMED(anomaly)                          \
	do {                                        \
		cnt->c[anomaly]++;                  \
		cnt->c[MXS_CNT_PASS_MALFORMED]++;   \
		return XDP_PASS;                    \
	} while (0)

/*
 * port_wanted returns 1 when port (host order) is one of the first nports
 * configured ports.
 */
static __always_inline int port_wanted(__u16 port, __u8 nports)
{
#pragma unroll
	for (int i = 0; i < MXS_MAX_PORTS; i++) {
		if (i >= nports)
			return 0;
		if (cfg.ports[i] == port)
			return 1;
	}
	return 0;
}

/* bad_source4 returns 1 for sources no real client has (and RSTs must never reach). */
static __always_inline int bad_source4(__u32 saddr, __u32 daddr)
{
	__u32 s = bpf_ntohl(saddr);
	__u8 top = s >> 24;
	/* 0/8 this-network, 127/8 loopback, 224/4 multicast, 240/4 reserved and broadcast */
	if (top == 0 || top == 127 || top >= 224)
		return 1;
	return saddr == daddr; /* LAND */
}

/* bad_source6 is bad_source4 for IPv6: unspecified, loopback, multicast, v4-mapped, LAND. */
static __always_inline int bad_source6(const __u8 *s, const __u8 *d)
{
	if (s[0] == 0xff)
		return 1;
	__u64 hi = *(const __u64 *)s, lo = *(const __u64 *)(s + 8);
	if (hi == 0) {
		__u64 l = bpf_be64_to_cpu(lo);
		if (l == 0 || l == 1 || (l >> 32) == 0xffff)
			return 1;
	}
	return hi == *(const __u64 *)d && lo == *(const __u64 *)(d + 8);
}

/* csum_fold folds a 32-bit one's-complement sum into 16 bits. */
static __always_inline __u16 csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum & 0xffff;
}

/* sum16 adds the 16-bit big-endian words of a 16-byte address to sum. */
static __always_inline __u32 sum_addr6(const __u8 *a, __u32 sum)
{
#pragma unroll
	for (int i = 0; i < 16; i += 2)
		sum += ((__u32)a[i] << 8) | a[i + 1];
	return sum;
}

/* rate_ok returns 1 when the source still has RST budget (GCRA per /32 or /64). */
static __always_inline int rate_ok(__u8 family, const __u8 *src, __u64 now)
{
	if (cfg.rl_interval_ns == 0)
		return 1;
	struct mxs_rl_key k = {};
	k.family = family;
	if (family == 4)
		__builtin_memcpy(k.prefix, src, 4);
	else
		__builtin_memcpy(k.prefix, src, 8);
	__u64 *tat = bpf_map_lookup_elem(&ratelimit, &k);
	if (!tat) {
		__u64 t = now + cfg.rl_interval_ns;
		bpf_map_update_elem(&ratelimit, &k, &t, BPF_ANY);
		return 1;
	}
	/* Racy across CPUs by design: a lost update only lets a few more RSTs out. */
	__u64 t = *tat;
	if (t < now)
		t = now;
	if (t - now > cfg.rl_burst_ns)
		return 0;
	*tat = t + cfg.rl_interval_ns;
	return 1;
}

SEC("xdp")
int mxsensor_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	/*
	 * Read the port count here, not when the TCP header is reached: the
	 * line of cfg it lies on (with the ports) is then fetched while the
	 * counters' line is, not after it, when both are cold.
	 */
	__u8 nports = cfg.nports;
	__u32 cpu = bpf_get_smp_processor_id();
	struct mxs_counters *cnt = bpf_map_lookup_elem(&counters, &cpu);
	if (!cnt)
		return XDP_PASS; /* unreachable: the map has a slot per possible CPU */
	/*
	 * MXS_CNT_PACKETS is not bumped here: every packet bumps exactly one
	 * outcome counter, and the agent sums those (dataplane.ReadCounters).
	 * One read-modify-write less on every packet.
	 */

	/* L2: Ethernet and up to two VLAN tags. */
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		MALFORMED(MXS_CNT_ANOM_TRUNC_ETH);
	__u16 proto = eth->h_proto;
	__u32 l3off = sizeof(struct ethhdr);
	__u16 vlan[MXS_MAX_VLANS] = {0, 0};
#pragma unroll
	for (int i = 0; i < MXS_MAX_VLANS; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		struct vlanhdr *vh = data + l3off;
		if ((void *)(vh + 1) > data_end)
			MALFORMED(MXS_CNT_ANOM_TRUNC_VLAN);
		vlan[i] = bpf_ntohs(vh->tci) & 0x0fff;
		proto = vh->proto;
		l3off += sizeof(struct vlanhdr);
	}
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD))
		OUT(MXS_CNT_PASS_VLAN_DEPTH);

	/*
	 * L3 and L4: only what finds the TCP header and decides "a SYN to a
	 * wanted port". What the record keeps of the IP header is read after
	 * that, so that the path of a packet the sensor does not want (most of
	 * them) loads and keeps no more than it needs.
	 */
	__u8 family, ext_count = 0;
	__u16 ip_hdr_len;
	__u32 l3_payload; /* bytes after the L3 header(s), per the IP length field */
	void *l4;

	if (proto == bpf_htons(ETH_P_IP)) {
		struct ip4hdr *ip = data + l3off;
		if ((void *)(ip + 1) > data_end)
			MALFORMED(MXS_CNT_ANOM_TRUNC_IP);
		if ((ip->ver_ihl >> 4) != 4)
			MALFORMED(MXS_CNT_ANOM_BAD_VERSION);
		__u32 ihl = (ip->ver_ihl & 0x0f) * 4;
		if (ihl < 20)
			MALFORMED(MXS_CNT_ANOM_BAD_IHL);
		if ((void *)ip + ihl > data_end)
			MALFORMED(MXS_CNT_ANOM_TRUNC_IP);
		__u32 tot = bpf_ntohs(ip->tot_len);
		if (tot < ihl || (void *)ip + tot > data_end)
			MALFORMED(MXS_CNT_ANOM_BAD_IP_LEN);
		if (ip->frag & bpf_htons(0x3fff)) /* MF or a fragment offset */
			OUT(MXS_CNT_PASS_FRAGMENT);
		if (ip->proto != IPPROTO_TCP)
			OUT(MXS_CNT_PASS_NOT_TCP);
		family = 4;
		ip_hdr_len = ihl;
		l3_payload = tot - ihl;
		l4 = (void *)ip + ihl;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ip6hdr *ip6 = data + l3off;
		if ((void *)(ip6 + 1) > data_end)
			MALFORMED(MXS_CNT_ANOM_TRUNC_IP);
		if ((*(__u8 *)ip6 >> 4) != 6)
			MALFORMED(MXS_CNT_ANOM_BAD_VERSION);
		__u32 plen = bpf_ntohs(ip6->plen);
		if ((void *)(ip6 + 1) + plen > data_end)
			MALFORMED(MXS_CNT_ANOM_BAD_IP_LEN);
		family = 6;
		__u8 nh = ip6->nexthdr;
		__u32 ext = 0; /* bytes of extension headers */
		void *pos = ip6 + 1;
#pragma unroll
		for (int i = 0; i < MXS_MAX_EXT_HDRS; i++) {
			if (nh != IPPROTO_HOPOPTS_ && nh != IPPROTO_ROUTING_ && nh != IPPROTO_DSTOPTS_)
				break;
			__u8 *eh = pos;
			if ((void *)(eh + 4) > data_end || ext + 8 > plen)
				MALFORMED(MXS_CNT_ANOM_TRUNC_EXT);
			__u32 len = ((__u32)eh[1] + 1) * 8;
			if (ext + len > plen)
				MALFORMED(MXS_CNT_ANOM_TRUNC_EXT);
			/* A routing header with segments left sends the packet on: not ours to answer. */
			if (nh == IPPROTO_ROUTING_ && eh[3] != 0)
				OUT(MXS_CNT_PASS_EXT_HDR);
			nh = eh[0];
			ext += len;
			ext_count++;
			pos = (void *)ip6 + sizeof(*ip6) + ext;
		}
		if (nh == IPPROTO_HOPOPTS_ || nh == IPPROTO_ROUTING_ || nh == IPPROTO_DSTOPTS_) {
			cnt->c[MXS_CNT_ANOM_EXT_DEPTH]++;
			OUT(MXS_CNT_PASS_EXT_HDR);
		}
		if (nh == IPPROTO_FRAGMENT_)
			OUT(MXS_CNT_PASS_FRAGMENT);
		if (nh != IPPROTO_TCP)
			OUT(MXS_CNT_PASS_NOT_TCP);
		ext &= 0x3fff; /* bounded for the verifier: 4 * 2048 at most */
		ip_hdr_len = sizeof(*ip6) + ext;
		l3_payload = plen - ext;
		l4 = (void *)ip6 + sizeof(*ip6) + ext;
	} else {
		OUT(MXS_CNT_PASS_NOT_IP);
	}

	/* L4: TCP. */
	struct tcphdr_raw *tcp = l4;
	if ((void *)(tcp + 1) > data_end || l3_payload < sizeof(*tcp))
		MALFORMED(MXS_CNT_ANOM_TRUNC_TCP);
	__u32 doff = (tcp->doff_ns >> 4) * 4;
	if (doff < 20 || doff > l3_payload)
		MALFORMED(MXS_CNT_ANOM_BAD_DOFF);
	__u16 dport = bpf_ntohs(tcp->dport);
	if (!port_wanted(dport, nports))
		OUT(MXS_CNT_PASS_OTHER_PORT);
	__u8 flags = tcp->flags;
	if ((flags & (TCPF_SYN | TCPF_ACK | TCPF_RST)) != TCPF_SYN)
		OUT(MXS_CNT_PASS_NOT_SYN);

	/* A SYN to a wanted port: what the record keeps of the IP header, and
	 * the addresses, read before the reply overwrites the packet. */
	__u8 ttl, tos, ip_flags = 0;
	__u16 ip_id = 0, ip_opt_len;
	__u32 flow = 0, saddr4 = 0, daddr4 = 0;
	/* 8-byte aligned: bad_source6 reads them as two u64 (stack access must be aligned). */
	__u8 src[16] __attribute__((aligned(8))) = {}, dst[16] __attribute__((aligned(8))) = {};
	if (family == 4) {
		struct ip4hdr *ip = data + l3off;
		if ((void *)(ip + 1) > data_end)
			return XDP_PASS; /* unreachable: checked above */
		ttl = ip->ttl;
		tos = ip->tos;
		ip_id = bpf_ntohs(ip->id);
		__u16 frag = bpf_ntohs(ip->frag);
		if (frag & 0x4000)
			ip_flags |= MXS_IPF_DF;
		if (frag & 0x8000)
			ip_flags |= MXS_IPF_RESERVED;
		ip_opt_len = ip_hdr_len - sizeof(*ip);
		saddr4 = ip->saddr;
		daddr4 = ip->daddr;
		__builtin_memcpy(src, &saddr4, 4);
		__builtin_memcpy(dst, &daddr4, 4);
	} else {
		struct ip6hdr *ip6 = data + l3off;
		if ((void *)(ip6 + 1) > data_end)
			return XDP_PASS; /* unreachable: checked above */
		__u32 vtcfl = bpf_ntohl(ip6->vtcfl);
		ttl = ip6->hlim;
		tos = (vtcfl >> 20) & 0xff;
		flow = vtcfl & 0xfffff;
		ip_opt_len = ip_hdr_len - sizeof(*ip6);
		__builtin_memcpy(src, ip6->saddr, 16);
		__builtin_memcpy(dst, ip6->daddr, 16);
	}

	if (cfg.filter_dst) {
		void *hit;
		if (family == 4)
			hit = bpf_map_lookup_elem(&local_v4, &daddr4);
		else
			hit = bpf_map_lookup_elem(&local_v6, dst);
		if (!hit)
			OUT(MXS_CNT_PASS_NOT_LOCAL);
	}

	if (eth->h_source[0] & 1)
		OUT(MXS_CNT_PASS_BAD_SOURCE);
	if (family == 4 ? bad_source4(saddr4, daddr4) : bad_source6(src, dst))
		OUT(MXS_CNT_PASS_BAD_SOURCE);

	/* A SYN for us. Decide, record, then act. */
	cnt->c[MXS_CNT_SYN_MATCHED]++;
	__u64 now = bpf_ktime_get_ns();
	__u16 sport = bpf_ntohs(tcp->sport);
	__u32 seq = bpf_ntohl(tcp->seq);
	__u32 payload = l3_payload - doff;
	__u8 action;
	if (cfg.mode == MXS_MODE_OBSERVE)
		action = MXS_ACTION_OBSERVED;
	else if (cfg.mode == MXS_MODE_DROP)
		action = MXS_ACTION_DROPPED;
	else if (!rate_ok(family, src, now))
		action = MXS_ACTION_RATE_LIMITED;
	else
		action = MXS_ACTION_RST;

	struct mxs_syn_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		cnt->c[MXS_CNT_RECORDS_LOST]++;
	} else {
		ev->ts_ns = now;
		ev->ifindex = ctx->ingress_ifindex;
		ev->rx_queue = ctx->rx_queue_index;
		__builtin_memcpy(ev->saddr, src, 16);
		__builtin_memcpy(ev->daddr, dst, 16);
		ev->sport = sport;
		ev->dport = dport;
		ev->seq = seq;
		ev->ack = bpf_ntohl(tcp->ack);
		ev->window = bpf_ntohs(tcp->window);
		ev->urg_ptr = bpf_ntohs(tcp->urg);
		ev->tcp_flags = flags | ((__u16)(tcp->doff_ns & 1) << 8);
		ev->vlan_outer = vlan[0];
		ev->vlan_inner = vlan[1];
		ev->payload_len = payload;
		ev->flow_label = flow;
		ev->ip_id = ip_id;
		ev->ip_hdr_len = ip_hdr_len;
		ev->ip_opt_len = ip_opt_len;
		ev->family = family;
		ev->ttl = ttl;
		ev->tos = tos;
		ev->ip_flags = ip_flags;
		ev->doff = doff / 4;
		ev->action = action;
		ev->ext_count = ext_count;
		__builtin_memset(ev->_pad, 0, sizeof(ev->_pad));
		/* Options come in 4-byte words (doff counts words): copy word by word. */
		__u32 olen = doff - 20;
		__u8 *opts = (__u8 *)(tcp + 1);
		ev->opt_len = olen;
#pragma unroll
		for (int i = 0; i < MXS_MAX_TCP_OPTS; i += 4) {
			if (i < olen && (void *)(opts + i + 4) <= data_end)
				__builtin_memcpy(ev->options + i, opts + i, 4);
			else
				__builtin_memset(ev->options + i, 0, 4);
		}
		bpf_ringbuf_submit(ev, 0);
		cnt->c[MXS_CNT_RECORDS]++;
	}

	if (action == MXS_ACTION_OBSERVED) {
		cnt->c[MXS_CNT_OBSERVED]++;
		return XDP_PASS;
	}
	if (action == MXS_ACTION_DROPPED) {
		cnt->c[MXS_CNT_DROPPED]++;
		return XDP_DROP;
	}
	if (action == MXS_ACTION_RATE_LIMITED) {
		/* Dropped, not passed: the kernel's own RST would defeat the limit. */
		cnt->c[MXS_CNT_RATE_LIMITED]++;
		return XDP_DROP;
	}

	/* Reply: RST|ACK, seq 0, ack = ISN + 1 + payload (+ 1 for a FIN: SYN and FIN each take a sequence
	 * number, as Linux counts them), no options, no IP options or extension headers. */
	__u8 mac_src[ETH_ALEN], mac_dst[ETH_ALEN];
	__builtin_memcpy(mac_src, eth->h_source, ETH_ALEN);
	__builtin_memcpy(mac_dst, eth->h_dest, ETH_ALEN);
	__u32 ackn = seq + 1 + payload + (flags & TCPF_FIN);
	__u32 l4len = sizeof(struct tcphdr_raw);
	__u32 l3len = family == 4 ? sizeof(struct ip4hdr) : sizeof(struct ip6hdr);
	l3off &= 0x1f; /* 14, 18 or 22 */
	int delta = (int)(l3off + l3len + l4len) - (int)(data_end - data);
	if (delta != 0 && bpf_xdp_adjust_tail(ctx, delta)) {
		cnt->c[MXS_CNT_PASS_REPLY_FAILED]++;
		return XDP_PASS;
	}
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end) {
		cnt->c[MXS_CNT_PASS_REPLY_FAILED]++;
		return XDP_PASS;
	}
	__builtin_memcpy(eth->h_dest, mac_src, ETH_ALEN);
	__builtin_memcpy(eth->h_source, mac_dst, ETH_ALEN);

	__u32 sum = 0; /* TCP pseudo-header */
	if (family == 4) {
		struct ip4hdr *ip = data + l3off;
		if ((void *)(ip + 1) + sizeof(struct tcphdr_raw) > data_end) {
			cnt->c[MXS_CNT_PASS_REPLY_FAILED]++;
			return XDP_PASS;
		}
		tcp = (void *)(ip + 1);
		ip->ver_ihl = 0x45;
		ip->tos = 0;
		ip->tot_len = bpf_htons(sizeof(struct ip4hdr) + sizeof(struct tcphdr_raw));
		ip->id = 0;
		ip->frag = bpf_htons(0x4000);
		ip->ttl = cfg.reply_ttl;
		ip->proto = IPPROTO_TCP;
		ip->saddr = daddr4;
		ip->daddr = saddr4;
		ip->check = 0;
		__u32 isum = 0x4500 + 40 + 0x4000 + ((__u32)cfg.reply_ttl << 8) + IPPROTO_TCP;
		__u32 s = bpf_ntohl(saddr4), d = bpf_ntohl(daddr4);
		isum += (s >> 16) + (s & 0xffff) + (d >> 16) + (d & 0xffff);
		ip->check = bpf_htons(csum_fold(isum));
		sum = (s >> 16) + (s & 0xffff) + (d >> 16) + (d & 0xffff);
	} else {
		struct ip6hdr *ip6 = data + l3off;
		if ((void *)(ip6 + 1) + sizeof(struct tcphdr_raw) > data_end) {
			cnt->c[MXS_CNT_PASS_REPLY_FAILED]++;
			return XDP_PASS;
		}
		tcp = (void *)(ip6 + 1);
		ip6->vtcfl = bpf_htonl(0x60000000);
		ip6->plen = bpf_htons(sizeof(struct tcphdr_raw));
		ip6->nexthdr = IPPROTO_TCP;
		ip6->hlim = cfg.reply_ttl;
		__builtin_memcpy(ip6->saddr, dst, 16);
		__builtin_memcpy(ip6->daddr, src, 16);
		sum = sum_addr6(src, 0);
		sum = sum_addr6(dst, sum);
	}
	sum += IPPROTO_TCP + sizeof(struct tcphdr_raw);

	tcp->sport = bpf_htons(dport);
	tcp->dport = bpf_htons(sport);
	tcp->seq = 0;
	tcp->ack = bpf_htonl(ackn);
	tcp->doff_ns = 5 << 4;
	tcp->flags = TCPF_RST | TCPF_ACK;
	tcp->window = 0;
	tcp->urg = 0;
	sum += dport + sport + (ackn >> 16) + (ackn & 0xffff) + ((5 << 12) | TCPF_RST | TCPF_ACK);
	tcp->check = bpf_htons(csum_fold(sum));

	cnt->c[MXS_CNT_RST_SENT]++;
	return XDP_TX;
}
