/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * Definitions shared by the XDP program and the Go agent. bpf2go generates the
 * Go types from these (one definition of each struct); do not mirror them by
 * hand on the Go side.
 */
#ifndef MXSENSOR_H
#define MXSENSOR_H

#include <linux/types.h>

#define MXS_MAX_PORTS 8     /* destination ports the sensor answers */
#define MXS_MAX_TCP_OPTS 40 /* TCP options are at most 40 bytes (doff 15) */
#define MXS_MAX_EXT_HDRS 4  /* IPv6 extension headers walked before giving up */
#define MXS_MAX_VLANS 2     /* 802.1Q / 802.1ad tags parsed */

/* What the program did with a matched SYN; recorded in every ring record. */
enum mxs_action {
	MXS_ACTION_RST = 0,          /* answered with RST|ACK (XDP_TX) */
	MXS_ACTION_RATE_LIMITED = 1, /* over the per-source RST budget: dropped, not answered */
	MXS_ACTION_OBSERVED = 2,     /* observe mode: passed to the kernel */
	MXS_ACTION_DROPPED = 3,      /* drop mode: dropped */
	MXS_ACTION_REPLY_FAILED = 4, /* reply could not be built: passed to the kernel */
};

/* Reply mode, fixed at load time. */
enum mxs_mode {
	MXS_MODE_REJECT = 0,
	MXS_MODE_OBSERVE = 1,
	MXS_MODE_DROP = 2,
};

/* Bits of mxs_syn_event.ip_flags. */
#define MXS_IPF_MF 0x01
#define MXS_IPF_DF 0x02
#define MXS_IPF_RESERVED 0x04 /* IPv4 must-be-zero bit (p0f quirk 0+) */

/*
 * Counters, one slot each in a CPU's mxs_counters (the counters map holds one
 * per possible CPU). Every packet the program sees increments exactly one
 * "outcome" counter: RST_SENT, RATE_LIMITED, OBSERVED, DROPPED or one of the
 * PASS_* reasons. The program leaves MXS_CNT_PACKETS at 0: the agent fills it
 * in as the sum of the outcomes. Anomaly counters say why a PASS_MALFORMED
 * packet was malformed.
 */
enum mxs_counter {
	MXS_CNT_PACKETS = 0,
	MXS_CNT_SYN_MATCHED,
	MXS_CNT_RECORDS,
	MXS_CNT_RECORDS_LOST,
	MXS_CNT_RST_SENT,
	MXS_CNT_RATE_LIMITED,
	MXS_CNT_OBSERVED,
	MXS_CNT_DROPPED,
	MXS_CNT_PASS_NOT_IP,
	MXS_CNT_PASS_VLAN_DEPTH,
	MXS_CNT_PASS_NOT_TCP,
	MXS_CNT_PASS_FRAGMENT,
	MXS_CNT_PASS_EXT_HDR,
	MXS_CNT_PASS_OTHER_PORT,
	MXS_CNT_PASS_NOT_SYN,
	MXS_CNT_PASS_NOT_LOCAL,
	MXS_CNT_PASS_BAD_SOURCE,
	MXS_CNT_PASS_MALFORMED,
	MXS_CNT_PASS_REPLY_FAILED,
	MXS_CNT_ANOM_TRUNC_ETH,
	MXS_CNT_ANOM_TRUNC_VLAN,
	MXS_CNT_ANOM_TRUNC_IP,
	MXS_CNT_ANOM_BAD_VERSION,
	MXS_CNT_ANOM_BAD_IHL,
	MXS_CNT_ANOM_BAD_IP_LEN,
	MXS_CNT_ANOM_TRUNC_EXT,
	MXS_CNT_ANOM_EXT_DEPTH,
	MXS_CNT_ANOM_TRUNC_TCP,
	MXS_CNT_ANOM_BAD_DOFF,
	MXS_CNT_MAX,
};

/* One CPU's counters, padded to 256 bytes so that CPUs write apart. */
struct mxs_counters {
	__u64 c[MXS_CNT_MAX];
	__u64 _pad[3];
};

_Static_assert(sizeof(struct mxs_counters) == 256, "pad mxs_counters to 256 bytes");

/*
 * Load-time configuration, a volatile const global set by the agent before
 * the program is loaded, so the verifier prunes what a mode does not use.
 */
struct mxs_config {
	__u64 rl_interval_ns; /* ns between RSTs to one source; 0 disables the limit */
	__u64 rl_burst_ns;    /* tolerance: (burst - 1) * rl_interval_ns */
	__u16 ports[MXS_MAX_PORTS]; /* host byte order; only the first nports count */
	__u8 nports;
	__u8 mode;       /* enum mxs_mode */
	__u8 reply_ttl;  /* TTL / hop limit of our RSTs */
	__u8 filter_dst; /* 1: only SYNs to addresses in local_v4 / local_v6 */
	__u8 _pad[4];
};

/*
 * One ring record per matched SYN. Multi-byte fields are host byte order,
 * addresses network order (IPv4 in the first 4 bytes). Fixed size, explicit
 * padding: the Go side decodes it in place.
 */
struct mxs_syn_event {
	__u64 ts_ns; /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 ifindex;
	__u32 rx_queue;
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u32 seq;
	__u32 ack;
	__u16 window;
	__u16 urg_ptr;
	__u16 tcp_flags;   /* FIN..CWR in bits 0-7, NS (AE) in bit 8 */
	__u16 vlan_outer;  /* VLAN ID of the outer tag, 0 when untagged */
	__u16 vlan_inner;  /* VLAN ID of the inner tag, 0 when none */
	__u16 payload_len; /* TCP payload bytes carried by the SYN */
	__u32 flow_label;  /* IPv6 flow label, 0 for IPv4 */
	__u16 ip_id;       /* IPv4 identification, 0 for IPv6 */
	__u16 ip_hdr_len;  /* L3 header bytes incl. IPv4 options / IPv6 extension headers */
	__u16 ip_opt_len;  /* IPv4 option bytes / IPv6 extension header bytes */
	__u8 family;       /* 4 or 6 */
	__u8 ttl;          /* IPv4 TTL / IPv6 hop limit */
	__u8 tos;          /* IPv4 TOS / IPv6 traffic class (ECN in the low 2 bits) */
	__u8 ip_flags;     /* MXS_IPF_* */
	__u8 doff;         /* TCP data offset in 32-bit words */
	__u8 opt_len;      /* bytes of options[] in use: doff * 4 - 20 */
	__u8 action;       /* enum mxs_action */
	__u8 ext_count;    /* IPv6 extension headers skipped */
	__u8 options[MXS_MAX_TCP_OPTS];
	__u8 _pad[6];
};

/* An IPv6 address as a map key (network order). */
struct mxs_addr6 {
	__u8 a[16];
};

/* Key of the per-source RST rate limiter: an IPv4 /32 or an IPv6 /64. */
struct mxs_rl_key {
	__u8 family;
	__u8 _pad[7];
	__u8 prefix[8];
};

/* Written by the agent into the pinned info map, read by `mxsensor stats`. */
struct mxs_info {
	__u64 start_unix_ns;
	__u64 ring_size;
	__u32 ifindex;
	__u32 pid;
	__u8 attach_mode; /* 1 native, 2 generic */
	__u8 mode;        /* enum mxs_mode */
	__u8 _pad[6];
	char ifname[16];
};

#endif /* MXSENSOR_H */
