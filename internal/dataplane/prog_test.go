package dataplane

import (
	"fmt"
	"net/netip"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/mxsensor/mxsensor/internal/synframe"
)

var (
	v4src  = netip.MustParseAddr("192.0.2.7")
	v4dst  = netip.MustParseAddr("198.51.100.25")
	v6src  = netip.MustParseAddr("2001:db8:1::7")
	v6dst  = netip.MustParseAddr("2001:db8:25::25")
	qinq   = []synframe.VLAN{{TPID: 0x88a8, TCI: 0x2064}, {TPID: 0x8100, TCI: 0x0fff}}
	dot1q  = []synframe.VLAN{{TPID: 0x8100, TCI: 0xe00a}}
	triple = []synframe.VLAN{{TPID: 0x88a8, TCI: 1}, {TPID: 0x8100, TCI: 2}, {TPID: 0x8100, TCI: 3}}
	hbh    = synframe.ExtHeader{Type: 0, Body: []byte{1, 4, 0, 0, 0, 0}} // PadN
	dstopt = synframe.ExtHeader{Type: 60, Body: []byte{1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}}
	rt0    = synframe.ExtHeader{Type: 43, Body: []byte{4, 0, 0, 0, 0, 0}} // SRH type 4, segments left 0
	rt1    = synframe.ExtHeader{Type: 43, Body: []byte{4, 1, 0, 0, 0, 0}} // segments left 1
	frag6  = synframe.ExtHeader{Type: 44, Body: []byte{0, 1, 0, 0, 0, 1}}
)

func syn4(mod func(*synframe.Spec)) synframe.Spec {
	s := synframe.Spec{Src: v4src, Dst: v4dst, SrcPort: 50123, DstPort: 25, Seq: 0x11223344, TTL: 57, ID: 0xbeef,
		DF: true, Window: 64240, TCPOptions: synframe.LinuxOptions}
	if mod != nil {
		mod(&s)
	}
	return s
}

func syn6(mod func(*synframe.Spec)) synframe.Spec {
	s := synframe.Spec{Src: v6src, Dst: v6dst, SrcPort: 50124, DstPort: 25, Seq: 0xfffffff0, TTL: 120,
		FlowLabel: 0xabcde, TOS: 0x02, Window: 64800, TCPOptions: synframe.WindowsOptions}
	if mod != nil {
		mod(&s)
	}
	return s
}

type progCase struct {
	name    string
	spec    synframe.Spec
	verdict Verdict
	outcome Counter
	anomaly Counter // CounterNone when none
}

func progCases() []progCase {
	none := CounterNone
	return []progCase{
		{"ipv4 linux syn", syn4(nil), XDPTX, CntRSTSent, none},
		{"ipv4 windows syn no DF", syn4(func(s *synframe.Spec) { s.TCPOptions = synframe.WindowsOptions; s.DF = false }), XDPTX, CntRSTSent, none},
		{"ipv4 options ihl 6", syn4(func(s *synframe.Spec) { s.IPOptions = []byte{1, 1, 1, 0} }), XDPTX, CntRSTSent, none},
		{"ipv4 options ihl 15", syn4(func(s *synframe.Spec) { s.IPOptions = make([]byte, 40) }), XDPTX, CntRSTSent, none},
		{"ipv4 syn with payload", syn4(func(s *synframe.Spec) { s.Payload = []byte("hello, sensor") }), XDPTX, CntRSTSent, none},
		{"ipv4 syn no options", syn4(func(s *synframe.Spec) { s.TCPOptions = nil }), XDPTX, CntRSTSent, none},
		{"ipv4 syn 40 option bytes", syn4(func(s *synframe.Spec) { s.TCPOptions = append(make([]byte, 36), 2, 4, 5, 0xb4) }), XDPTX, CntRSTSent, none},
		{"ipv4 reserved bit ecn ns urg psh", syn4(func(s *synframe.Spec) {
			s.Reserved, s.TOS, s.NS = true, 0x03, true
			s.Flags = synframe.SYN | synframe.ECE | synframe.CWR | synframe.PSH | synframe.URG | synframe.FIN
			s.Urgent, s.Ack = 7, 12345
		}), XDPTX, CntRSTSent, none},
		{"ipv4 syn+fin", syn4(func(s *synframe.Spec) { s.Flags = synframe.SYN | synframe.FIN }), XDPTX, CntRSTSent, none},
		{"ipv6 syn+fin payload seq wraps", syn6(func(s *synframe.Spec) {
			s.Flags, s.Payload, s.Seq = synframe.SYN|synframe.FIN, []byte("QUIT"), 0xfffffffa
		}), XDPTX, CntRSTSent, none},
		{"ipv4 seq wraps", syn4(func(s *synframe.Spec) { s.Seq = 0xffffffff }), XDPTX, CntRSTSent, none},
		{"ipv4 802.1q", syn4(func(s *synframe.Spec) { s.VLANs = dot1q }), XDPTX, CntRSTSent, none},
		{"ipv4 qinq", syn4(func(s *synframe.Spec) { s.VLANs = qinq }), XDPTX, CntRSTSent, none},
		{"ipv4 three tags", syn4(func(s *synframe.Spec) { s.VLANs = triple }), XDPPass, CntPassVLANDepth, none},
		{"ipv4 ethernet padding", syn4(nil), XDPTX, CntRSTSent, none}, // padded below
		{"ipv6 windows syn", syn6(nil), XDPTX, CntRSTSent, none},
		{"ipv6 payload", syn6(func(s *synframe.Spec) { s.Payload = []byte{1, 2, 3} }), XDPTX, CntRSTSent, none},
		{"ipv6 qinq", syn6(func(s *synframe.Spec) { s.VLANs = qinq }), XDPTX, CntRSTSent, none},
		{"ipv6 hop-by-hop", syn6(func(s *synframe.Spec) { s.Ext = []synframe.ExtHeader{hbh} }), XDPTX, CntRSTSent, none},
		{"ipv6 hbh dst rt dst", syn6(func(s *synframe.Spec) { s.Ext = []synframe.ExtHeader{hbh, dstopt, rt0, dstopt} }), XDPTX, CntRSTSent, none},
		{"ipv6 five ext headers", syn6(func(s *synframe.Spec) { s.Ext = []synframe.ExtHeader{hbh, dstopt, dstopt, dstopt, dstopt} }), XDPPass, CntPassExtHdr, CntAnomExtDepth},
		{"ipv6 routing segments left", syn6(func(s *synframe.Spec) { s.Ext = []synframe.ExtHeader{rt1} }), XDPPass, CntPassExtHdr, none},
		{"ipv6 fragment", syn6(func(s *synframe.Spec) { s.Ext = []synframe.ExtHeader{frag6} }), XDPPass, CntPassFragment, none},
		{"ipv6 hbh then fragment", syn6(func(s *synframe.Spec) { s.Ext = []synframe.ExtHeader{hbh, frag6} }), XDPPass, CntPassFragment, none},
		{"ipv4 MF", syn4(func(s *synframe.Spec) { s.MF = true }), XDPPass, CntPassFragment, none},
		{"ipv4 frag offset", syn4(func(s *synframe.Spec) { s.FragOffset = 3 }), XDPPass, CntPassFragment, none},
		{"port 443 data", syn4(func(s *synframe.Spec) {
			s.DstPort = 443
			s.Flags = synframe.ACK | synframe.PSH
			s.Payload = make([]byte, 100)
		}), XDPPass, CntPassOtherPort, none},
		{"port 443 syn", syn4(func(s *synframe.Spec) { s.DstPort = 443 }), XDPPass, CntPassOtherPort, none},
		{"source port 25 reply", syn4(func(s *synframe.Spec) { s.SrcPort, s.DstPort = 25, 40000; s.Flags = synframe.SYN | synframe.ACK }), XDPPass, CntPassOtherPort, none},
		{"port 25 ack", syn4(func(s *synframe.Spec) { s.Flags = synframe.ACK }), XDPPass, CntPassNotSYN, none},
		{"port 25 syn-ack", syn4(func(s *synframe.Spec) { s.Flags = synframe.SYN | synframe.ACK }), XDPPass, CntPassNotSYN, none},
		{"port 25 syn-rst", syn4(func(s *synframe.Spec) { s.Flags = synframe.SYN | synframe.RST }), XDPPass, CntPassNotSYN, none},
		{"port 25 rst", syn6(func(s *synframe.Spec) { s.Flags = synframe.RST }), XDPPass, CntPassNotSYN, none},
		{"udp 25", syn4(func(s *synframe.Spec) { s.Proto = 17; s.Payload = make([]byte, 8) }), XDPPass, CntPassNotTCP, none},
		{"icmpv6", syn6(func(s *synframe.Spec) { s.Proto = 58; s.Payload = make([]byte, 8) }), XDPPass, CntPassNotTCP, none},
		{"ipv6 no next header", syn6(func(s *synframe.Spec) { s.Proto = 59 }), XDPPass, CntPassNotTCP, none},
		{"arp", synframe.Spec{EtherType: 0x0806, Payload: make([]byte, 28)}, XDPPass, CntPassNotIP, none},
		{"multicast source mac", syn4(func(s *synframe.Spec) { s.SrcMAC = []byte{1, 0, 0x5e, 0, 0, 1} }), XDPPass, CntPassBadSource, none},
		{"loopback source", syn4(func(s *synframe.Spec) { s.Src = netip.MustParseAddr("127.0.0.1") }), XDPPass, CntPassBadSource, none},
		{"zero source", syn4(func(s *synframe.Spec) { s.Src = netip.MustParseAddr("0.0.0.0") }), XDPPass, CntPassBadSource, none},
		{"multicast source", syn4(func(s *synframe.Spec) { s.Src = netip.MustParseAddr("224.0.0.1") }), XDPPass, CntPassBadSource, none},
		{"broadcast source", syn4(func(s *synframe.Spec) { s.Src = netip.MustParseAddr("255.255.255.255") }), XDPPass, CntPassBadSource, none},
		{"land v4", syn4(func(s *synframe.Spec) { s.Src = v4dst }), XDPPass, CntPassBadSource, none},
		{"v6 loopback source", syn6(func(s *synframe.Spec) { s.Src = netip.MustParseAddr("::1") }), XDPPass, CntPassBadSource, none},
		{"v6 unspecified source", syn6(func(s *synframe.Spec) { s.Src = netip.MustParseAddr("::") }), XDPPass, CntPassBadSource, none},
		{"v6 multicast source", syn6(func(s *synframe.Spec) { s.Src = netip.MustParseAddr("ff02::1") }), XDPPass, CntPassBadSource, none},
		{"v6 mapped source", syn6(func(s *synframe.Spec) { s.Src = netip.MustParseAddr("::ffff:192.0.2.1") }), XDPPass, CntPassBadSource, none},
		{"land v6", syn6(func(s *synframe.Spec) { s.Src = v6dst }), XDPPass, CntPassBadSource, none},
		{"ipv4 ihl 4", syn4(func(s *synframe.Spec) {}), XDPPass, CntPassMalformed, CntAnomBadIHL},           // patched below
		{"ipv4 bad version", syn4(func(s *synframe.Spec) {}), XDPPass, CntPassMalformed, CntAnomBadVersion}, // patched below
		{"ipv4 total length too big", syn4(nil), XDPPass, CntPassMalformed, CntAnomBadIPLen},                // patched below
		{"ipv6 payload length too big", syn6(nil), XDPPass, CntPassMalformed, CntAnomBadIPLen},              // patched below
		{"tcp doff 4", syn4(func(s *synframe.Spec) { s.DataOffset = 4 }), XDPPass, CntPassMalformed, CntAnomBadDoff},
		{"tcp doff beyond segment", syn4(func(s *synframe.Spec) { s.DataOffset = 15 }), XDPPass, CntPassMalformed, CntAnomBadDoff},
	}
}

// patch applies the hand-made corruptions some cases need.
func patch(name string, f []byte) []byte {
	switch name {
	case "ipv4 ihl 4":
		f[14] = 0x44
	case "ipv4 bad version":
		f[14] = 0x55
	case "ipv4 total length too big":
		f[16], f[17] = 0x05, 0xdc
	case "ipv6 payload length too big":
		f[18], f[19] = 0x05, 0xdc
	case "ipv4 ethernet padding":
		f = append(f, make([]byte, 6)...)
	}
	return f
}

func TestRecordSize(t *testing.T) {
	if s := unsafe.Sizeof(Record{}); s != RecordSize {
		t.Fatalf("Record is %d bytes, RecordSize says %d: regenerate or fix the constant", s, RecordSize)
	}
	for i, n := range counterNames {
		if n == "" {
			t.Errorf("counter %d has no name", i)
		}
	}
}

func TestProgramTable(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RateLimit = 0
	cfg.ReplyTTL = 77
	h := newHarness(t, cfg)
	ref := NewReference(cfg)
	ref.IfIdx = 1 // BPF_PROG_TEST_RUN runs on the loopback device's queue 0
	for _, tc := range progCases() {
		t.Run(tc.name, func(t *testing.T) {
			frame := patch(tc.name, tc.spec.Build())
			r := h.run(frame)
			if r.verdict != tc.verdict {
				t.Fatalf("verdict %v, want %v", r.verdict, tc.verdict)
			}
			checkCounters(t, r.delta, tc.outcome, tc.anomaly, tc.verdict == XDPTX)
			var want Record
			refRes := ref.Run(frame, 0, &want)
			if refRes.Verdict != r.verdict || refRes.Outcome != tc.outcome || refRes.Anomaly != tc.anomaly {
				t.Errorf("reference: %+v, want verdict %v outcome %v anomaly %v", refRes, r.verdict, tc.outcome, tc.anomaly)
			}
			if tc.verdict != XDPTX {
				if r.rec != nil {
					t.Errorf("record written for a passed frame: %+v", r.rec)
				}
				if string(r.out) != string(frame) {
					t.Errorf("passed frame was modified")
				}
				return
			}
			if r.rec == nil {
				t.Fatal("no ring record for a matched SYN")
			}
			if r.rec.TsNs == 0 {
				t.Error("record has no timestamp")
			}
			want.TsNs = r.rec.TsNs
			if *r.rec != want {
				t.Errorf("record differs from reference:\n got %+v\nwant %+v", *r.rec, want)
			}
			checkRecordFields(t, tc.spec, r.rec)
			checkRST(t, tc.spec, frame, r.out, cfg.ReplyTTL)
		})
	}
}

// checkCounters asserts the one-outcome-per-packet invariant for one frame.
func checkCounters(t *testing.T, d Counters, outcome, anomaly Counter, matched bool) {
	t.Helper()
	want := Counters{}
	want[CntPackets] = 1
	want[outcome] = 1
	if anomaly != CounterNone {
		want[anomaly] = 1
	}
	if matched || outcome == CntObserved || outcome == CntDropped || outcome == CntRateLimited {
		want[CntSynMatched] = 1
		want[CntRecords] = 1
	}
	if d != want {
		t.Errorf("counter deltas:\n got %v\nwant %v", nonZero(d), nonZero(want))
	}
}

func nonZero(c Counters) string {
	s := ""
	for i, v := range c {
		if v != 0 {
			s += fmt.Sprintf("%s=%d ", Counter(i), v)
		}
	}
	return s
}

// checkRecordFields checks record fields against the frame's spec directly,
// independently of the reference parser.
func checkRecordFields(t *testing.T, s synframe.Spec, r *Record) {
	t.Helper()
	src, dst := recAddr(r, r.Saddr), recAddr(r, r.Daddr)
	if src != s.Src || dst != s.Dst {
		t.Errorf("addresses %v -> %v, want %v -> %v", src, dst, s.Src, s.Dst)
	}
	if r.Sport != s.SrcPort || r.Dport != s.DstPort || r.Seq != s.Seq || r.Window != s.Window || r.Ttl != s.TTL {
		t.Errorf("ports/seq/window/ttl: %d %d %d %d %d", r.Sport, r.Dport, r.Seq, r.Window, r.Ttl)
	}
	opts := make([]byte, (len(s.TCPOptions)+3)/4*4)
	copy(opts, s.TCPOptions)
	if int(r.OptLen) != len(opts) || string(r.Options[:r.OptLen]) != string(opts) {
		t.Errorf("options % x, want % x", r.Options[:r.OptLen], opts)
	}
	if int(r.PayloadLen) != len(s.Payload) {
		t.Errorf("payload length %d, want %d", r.PayloadLen, len(s.Payload))
	}
	if len(s.VLANs) > 0 && r.VlanOuter != s.VLANs[0].TCI&0xfff {
		t.Errorf("outer VLAN %d, want %d", r.VlanOuter, s.VLANs[0].TCI&0xfff)
	}
	if len(s.VLANs) > 1 && r.VlanInner != s.VLANs[1].TCI&0xfff {
		t.Errorf("inner VLAN %d, want %d", r.VlanInner, s.VLANs[1].TCI&0xfff)
	}
	if s.Src.Is4() {
		df := r.IpFlags&0x02 != 0
		if r.Family != 4 || r.IpId != s.ID || df != s.DF || r.Tos != s.TOS || int(r.IpOptLen) != (len(s.IPOptions)+3)/4*4 {
			t.Errorf("ipv4 fields: %+v", r)
		}
	} else if r.Family != 6 || r.FlowLabel != s.FlowLabel || r.Tos != s.TOS || int(r.ExtCount) != len(s.Ext) {
		t.Errorf("ipv6 fields: %+v", r)
	}
}

func recAddr(r *Record, a [16]byte) netip.Addr {
	if r.Family == 4 {
		return netip.AddrFrom4([4]byte(a[:4]))
	}
	return netip.AddrFrom16(a)
}

// TestTruncation cuts SYN frames of every shape at every byte offset: the
// program must pass each cut frame (never answer, never record, never abort)
// and agree with the reference on the reason.
func TestTruncation(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RateLimit = 0
	h := newHarness(t, cfg)
	ref := NewReference(cfg)
	specs := map[string]synframe.Spec{
		"ipv4 options qinq": syn4(func(s *synframe.Spec) { s.VLANs = qinq; s.IPOptions = []byte{1, 1, 1, 1, 1, 1, 1, 0} }),
		"ipv6 ext dot1q":    syn6(func(s *synframe.Spec) { s.VLANs = dot1q; s.Ext = []synframe.ExtHeader{hbh, dstopt} }),
		"ipv4 payload":      syn4(func(s *synframe.Spec) { s.Payload = []byte("data") }),
	}
	for name, spec := range specs {
		full := spec.Build()
		for cut := 14; cut < len(full); cut++ {
			frame := full[:cut]
			r := h.run(frame)
			var rec Record
			want := ref.Run(frame, 0, &rec)
			if r.verdict != XDPPass || r.rec != nil || r.delta[CntRSTSent] != 0 {
				t.Errorf("%s cut at %d: verdict %v record %v", name, cut, r.verdict, r.rec != nil)
			}
			if r.delta[want.Outcome] != 1 || (want.Anomaly != CounterNone && r.delta[want.Anomaly] != 1) {
				t.Errorf("%s cut at %d: counters %s, reference says %v/%v", name, cut, nonZero(r.delta), want.Outcome, want.Anomaly)
			}
			if want.Outcome != CntPassMalformed {
				t.Errorf("%s cut at %d: reference outcome %v, want malformed", name, cut, want.Outcome)
			}
		}
	}
	// Below 14 bytes BPF_PROG_TEST_RUN refuses the input; the reference must still cope.
	for cut := 0; cut < 14; cut++ {
		var rec Record
		if res := ref.Run(syn4(nil).Build()[:cut], 0, &rec); res.Anomaly != CntAnomTruncEth {
			t.Errorf("reference at %d bytes: %+v", cut, res)
		}
	}
}

func TestModes(t *testing.T) {
	for _, tc := range []struct {
		mode    Mode
		verdict Verdict
		outcome Counter
		action  Action
	}{
		{ModeObserve, XDPPass, CntObserved, ActionObserved},
		{ModeDrop, XDPDrop, CntDropped, ActionDropped},
		{ModeReject, XDPTX, CntRSTSent, ActionRST},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Mode = tc.mode
			h := newHarness(t, cfg)
			for _, spec := range []synframe.Spec{syn4(nil), syn6(nil)} {
				frame := spec.Build()
				r := h.run(frame)
				if r.verdict != tc.verdict || r.rec == nil || Action(r.rec.Action) != tc.action {
					t.Fatalf("verdict %v record %v", r.verdict, r.rec)
				}
				checkCounters(t, r.delta, tc.outcome, CounterNone, true)
				if tc.verdict != XDPTX && string(r.out) != string(frame) {
					t.Error("frame modified")
				}
			}
		})
	}
}

func TestPortsAndLocalAddrs(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Ports = []uint16{25, 587, 2525}
	cfg.LocalAddrs = []netip.Addr{v4dst, v6dst}
	h := newHarness(t, cfg)
	other4 := netip.MustParseAddr("198.51.100.26")
	other6 := netip.MustParseAddr("2001:db8:25::26")
	for _, tc := range []struct {
		spec    synframe.Spec
		outcome Counter
	}{
		{syn4(func(s *synframe.Spec) { s.DstPort = 587 }), CntRSTSent},
		{syn6(func(s *synframe.Spec) { s.DstPort = 2525 }), CntRSTSent},
		{syn4(func(s *synframe.Spec) { s.DstPort = 465 }), CntPassOtherPort},
		{syn4(func(s *synframe.Spec) { s.Dst = other4 }), CntPassNotLocal},
		{syn6(func(s *synframe.Spec) { s.Dst = other6 }), CntPassNotLocal},
		{syn6(nil), CntRSTSent},
	} {
		r := h.run(tc.spec.Build())
		if r.delta[tc.outcome] != 1 {
			t.Errorf("%v -> %v:%d: counters %s, want %v", tc.spec.Src, tc.spec.Dst, tc.spec.DstPort, nonZero(r.delta), tc.outcome)
		}
	}
}

// TestRateLimit: a burst of SYNs from one source gets `burst` RSTs, the rest
// are recorded and dropped; another /64 keeps its own budget; a source in the
// same /64 shares it. At 1 RST/s the bucket cannot refill during the test.
func TestRateLimit(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RateLimit = 1
	cfg.RateBurst = 3
	h := newHarness(t, cfg)
	sameNet := netip.MustParseAddr("2001:db8:1::8")
	other := netip.MustParseAddr("2001:db8:2::7")
	var tx, limited int
	for i := 0; i < 6; i++ {
		src := v6src
		if i%2 == 1 {
			src = sameNet
		}
		r := h.run(syn6(func(s *synframe.Spec) { s.Src = src; s.SrcPort = uint16(40000 + i) }).Build())
		switch {
		case r.verdict == XDPTX:
			tx++
		case r.verdict == XDPDrop && r.delta[CntRateLimited] == 1 && r.rec != nil && Action(r.rec.Action) == ActionRateLimited:
			limited++
		default:
			t.Fatalf("SYN %d: verdict %v counters %s", i, r.verdict, nonZero(r.delta))
		}
	}
	if tx != 3 || limited != 3 {
		t.Errorf("%d answered, %d limited; want 3 and 3", tx, limited)
	}
	if r := h.run(syn6(func(s *synframe.Spec) { s.Src = other }).Build()); r.verdict != XDPTX {
		t.Errorf("another /64 was limited: %v", r.verdict)
	}
	for i := 0; i < 3; i++ {
		if r := h.run(syn4(func(s *synframe.Spec) { s.SrcPort = uint16(1000 + i) }).Build()); r.verdict != XDPTX {
			t.Errorf("IPv4 SYN %d: %v", i, r.verdict)
		}
	}
	if r := h.run(syn4(nil).Build()); r.verdict != XDPDrop {
		t.Errorf("4th IPv4 SYN: %v, want XDP_DROP", r.verdict)
	}
}

// TestRingFull: with the ring full the SYN is still answered and the lost
// record is counted.
func TestRingFull(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RateLimit = 0
	cfg.RingSize = 4096
	requireBPF(t)
	obj, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	frame := syn4(nil).Build()
	const n = 100
	for i := 0; i < n; i++ {
		ret, err := obj.Program().Run(&ebpf.RunOptions{Data: append([]byte(nil), frame...), DataOut: make([]byte, 256)})
		if err != nil || Verdict(ret) != XDPTX {
			t.Fatalf("run %d: %v %v", i, Verdict(ret), err)
		}
	}
	c, _, err := obj.ReadCounters()
	if err != nil {
		t.Fatal(err)
	}
	// 4096 bytes hold 4096/(8+136) = 28 records.
	if c[CntRecords] != 28 || c[CntRecordsLost] != n-28 || c[CntRSTSent] != n {
		t.Errorf("records %d lost %d rst %d", c[CntRecords], c[CntRecordsLost], c[CntRSTSent])
	}
}

// TestReferenceLimiterBounded: offline, the mirrored rate limiter keeps at
// most RateLimitEntries sources, like the kernel's LRU map.
func TestReferenceLimiterBounded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RateLimitEntries = 100
	ref := NewReference(cfg)
	var rec Record
	for i := 0; i < 1000; i++ {
		f := syn4(func(s *synframe.Spec) { s.Src = netip.AddrFrom4([4]byte{192, 0, byte(i >> 8), byte(i)}) }).Build()
		if res := ref.Run(f, uint64(i), &rec); res.Verdict != XDPTX {
			t.Fatalf("SYN %d: %v", i, res.Verdict)
		}
		if len(ref.tat) > 100 {
			t.Fatalf("limiter holds %d sources", len(ref.tat))
		}
	}
}
