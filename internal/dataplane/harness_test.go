package dataplane

import (
	"encoding/binary"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/mxsensor/mxsensor/internal/synframe"
)

// requireBPF skips tests that load BPF programs when not root, except in CI
// (CI=true), where lacking the privilege is a failure.
func requireBPF(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true but not running as root: BPF tests must run in CI")
	}
	t.Skip("skipping: loading XDP programs needs root (CAP_BPF, CAP_PERFMON); run as root or set up CI")
}

// harness runs frames through the real program with BPF_PROG_TEST_RUN.
type harness struct {
	t    testing.TB
	obj  *Objects
	ring *RingReader
	out  []byte
}

func newHarness(t testing.TB, cfg Config) *harness {
	t.Helper()
	requireBPF(t)
	obj, err := Load(cfg)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	ring, err := NewRingReader(obj.Events())
	if err != nil {
		obj.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ring.Close()
		obj.Close()
	})
	return &harness{t: t, obj: obj, ring: ring, out: make([]byte, 4096)}
}

type runResult struct {
	verdict Verdict
	out     []byte
	rec     *Record // nil when the program wrote no record
	delta   Counters
}

func (h *harness) counters() Counters {
	c, _, err := h.obj.ReadCounters()
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

func (h *harness) run(frame []byte) runResult {
	h.t.Helper()
	before := h.counters()
	opts := &ebpf.RunOptions{Data: append([]byte(nil), frame...), DataOut: h.out[:cap(h.out)]}
	ret, err := h.obj.Program().Run(opts)
	if err != nil {
		h.t.Fatalf("Program.Run: %v", err)
	}
	var r runResult
	r.verdict = Verdict(ret)
	r.out = append([]byte(nil), opts.DataOut...) // resliced by Run to the output length
	after := h.counters()
	for i := range after {
		r.delta[i] = after[i] - before[i]
	}
	if h.ring.Pending() > 0 {
		h.ring.SetDeadline(time.Now().Add(time.Second))
		rec, err := h.ring.Next()
		if err != nil {
			h.t.Fatalf("reading ring: %v", err)
		}
		cp := *rec
		r.rec = &cp
		if h.ring.Pending() != 0 {
			h.t.Fatalf("more than one record for one frame (%d bytes pending)", h.ring.Pending())
		}
	}
	return r
}

// checkRST verifies that reply is a correct RST|ACK answer to syn (built from
// spec) using only independent Go code, and returns nothing on success.
func checkRST(t *testing.T, spec synframe.Spec, syn, reply []byte, ttl uint8) {
	t.Helper()
	be := binary.BigEndian
	l2 := 14 + 4*len(spec.VLANs)
	v6 := spec.Src.Is6()
	l3len := 20
	if v6 {
		l3len = 40
	}
	if len(reply) != l2+l3len+20 {
		t.Fatalf("reply is %d bytes, want %d", len(reply), l2+l3len+20)
	}
	if string(reply[0:6]) != string(syn[6:12]) || string(reply[6:12]) != string(syn[0:6]) {
		t.Errorf("MACs not swapped: % x", reply[:12])
	}
	if string(reply[12:l2]) != string(syn[12:l2]) {
		t.Errorf("VLAN tags / ethertype changed: % x, want % x", reply[12:l2], syn[12:l2])
	}
	// Locate the SYN's TCP header and payload length the slow way.
	sl3 := syn[l2:]
	var stcp []byte
	var payload int
	if !v6 {
		ihl := int(sl3[0]&0xf) * 4
		tot := int(be.Uint16(sl3[2:]))
		stcp = sl3[ihl:tot]
	} else {
		plen := int(be.Uint16(sl3[4:]))
		off := 40
		nh := sl3[6]
		for nh == 0 || nh == 43 || nh == 60 {
			nh = sl3[off]
			off += (int(sl3[off+1]) + 1) * 8
		}
		stcp = sl3[off : 40+plen]
	}
	payload = len(stcp) - int(stcp[12]>>4)*4
	ip := reply[l2:]
	var src, dst netip.Addr
	if !v6 {
		if ip[0] != 0x45 {
			t.Errorf("IPv4 version/IHL %#x, want 0x45 (options stripped)", ip[0])
		}
		if be.Uint16(ip[2:]) != 40 || ip[8] != ttl || ip[9] != 6 {
			t.Errorf("IPv4 header len %d ttl %d proto %d", be.Uint16(ip[2:]), ip[8], ip[9])
		}
		if be.Uint16(ip[6:])&0x3fff != 0 {
			t.Errorf("reply is a fragment: %#x", be.Uint16(ip[6:]))
		}
		if synframe.Checksum(ip[:20]) != 0 {
			t.Errorf("bad IPv4 header checksum")
		}
		src = netip.AddrFrom4([4]byte(ip[12:16]))
		dst = netip.AddrFrom4([4]byte(ip[16:20]))
		if string(ip[12:16]) != string(sl3[16:20]) || string(ip[16:20]) != string(sl3[12:16]) {
			t.Errorf("IPv4 addresses not swapped")
		}
	} else {
		if be.Uint32(ip) != 0x60000000 {
			t.Errorf("IPv6 version/class/flow %#x, want 0x60000000", be.Uint32(ip))
		}
		if be.Uint16(ip[4:]) != 20 || ip[6] != 6 || ip[7] != ttl {
			t.Errorf("IPv6 plen %d nh %d hlim %d", be.Uint16(ip[4:]), ip[6], ip[7])
		}
		src = netip.AddrFrom16([16]byte(ip[8:24]))
		dst = netip.AddrFrom16([16]byte(ip[24:40]))
		if string(ip[8:24]) != string(sl3[24:40]) || string(ip[24:40]) != string(sl3[8:24]) {
			t.Errorf("IPv6 addresses not swapped")
		}
	}
	tcp := ip[l3len:]
	if be.Uint16(tcp[0:]) != be.Uint16(stcp[2:]) || be.Uint16(tcp[2:]) != be.Uint16(stcp[0:]) {
		t.Errorf("ports not swapped")
	}
	if be.Uint32(tcp[4:]) != 0 {
		t.Errorf("seq %d, want 0", be.Uint32(tcp[4:]))
	}
	// SYN and FIN take one sequence number each, as the payload's bytes do.
	if want := be.Uint32(stcp[4:]) + 1 + uint32(payload) + uint32(stcp[13]&synframe.FIN); be.Uint32(tcp[8:]) != want {
		t.Errorf("ack %d, want %d", be.Uint32(tcp[8:]), want)
	}
	if tcp[12] != 0x50 || tcp[13] != synframe.RST|synframe.ACK || be.Uint16(tcp[14:]) != 0 || be.Uint16(tcp[18:]) != 0 {
		t.Errorf("TCP doff/flags/window/urg: % x", tcp[12:20])
	}
	if synframe.Checksum(synframe.PseudoHeader(src, dst, 6, 20), tcp[:20]) != 0 {
		t.Errorf("bad TCP checksum")
	}
}
