package xdpbench

import (
	"encoding/binary"
	"os"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/mxsensor/mxsensor/internal/synframe"
)

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true but not root: the XDP benchmarks' programs must load in CI")
	}
	t.Skip("loading XDP programs needs root")
}

// The baselines are honest: the reflectors answer plain SYNs with a valid
// RST|ACK (checksums verified independently) and pass what they do not
// handle, and the sensor's program answers every SYN frame.
func TestBaselinesBehave(t *testing.T) {
	requireRoot(t)
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const tx, pass = 3, 2
	want := map[string]map[string]uint32{
		"mxsensor":         {"ipv4-syn": tx, "ipv6-syn": tx, "ipv6-ext-syn": tx, "vlan-syn": tx},
		"pass-only":        {"ipv4-syn": pass, "ipv6-syn": pass, "ipv6-ext-syn": pass, "vlan-syn": pass},
		"reflector":        {"ipv4-syn": tx, "ipv6-syn": tx, "ipv6-ext-syn": pass, "vlan-syn": pass},
		"reflector+record": {"ipv4-syn": tx, "ipv6-syn": tx, "ipv6-ext-syn": pass, "vlan-syn": pass},
	}
	for _, f := range Frames() {
		if !f.SYN {
			for _, w := range want {
				w[f.Name] = pass // every program passes every non-target frame
			}
		}
	}
	for _, p := range s.Programs {
		for _, f := range Frames() {
			out := make([]byte, 2048)
			opts := &ebpf.RunOptions{Data: f.Data, DataOut: out}
			ret, err := p.Prog.Run(opts)
			if err != nil {
				t.Fatal(err)
			}
			if ret != want[p.Name][f.Name] {
				t.Errorf("%s on %s: verdict %d, want %d", p.Name, f.Name, ret, want[p.Name][f.Name])
			}
			if ret == tx && (p.Name == "reflector" || p.Name == "reflector+record") {
				checkRST(t, p.Name+"/"+f.Name, opts.DataOut)
			}
		}
	}
	// One measurement, to see the runner work.
	r, err := Measure(s.Programs[0], Frames()[0].Data, 100, 3)
	if err != nil || r.NsPerRun <= 0 || r.Verdict != tx {
		t.Errorf("measure: %+v %v", r, err)
	}
}

// checkRST verifies an untagged RST|ACK: IP and TCP checksums, flags, size.
func checkRST(t *testing.T, name string, b []byte) {
	t.Helper()
	var l3, tcp []byte
	var pseudo []byte
	switch binary.BigEndian.Uint16(b[12:]) {
	case 0x0800:
		l3, tcp = b[14:34], b[34:]
		if synframe.Checksum(l3) != 0 {
			t.Errorf("%s: bad IPv4 checksum", name)
		}
		pseudo = append(append(append([]byte{}, l3[12:20]...), 0, 6), byte(len(tcp)>>8), byte(len(tcp)))
	case 0x86dd:
		l3, tcp = b[14:54], b[54:]
		pseudo = append(append([]byte{}, l3[8:40]...), 0, 0, byte(len(tcp)>>8), byte(len(tcp)), 0, 0, 0, 6)
	default:
		t.Fatalf("%s: ethertype %x", name, b[12:14])
	}
	if len(tcp) != 20 || tcp[13] != 0x14 || synframe.Checksum(pseudo, tcp) != 0 {
		t.Errorf("%s: TCP len %d flags %#x checksum %#x", name, len(tcp), tcp[13], synframe.Checksum(pseudo, tcp))
	}
}

func BenchmarkXDP(b *testing.B) {
	requireRoot(b)
	s, err := Load()
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for _, p := range s.Programs {
		for _, f := range Frames() {
			b.Run(p.Name+"/"+f.Name, func(b *testing.B) {
				r, err := Measure(p, f.Data, max(b.N/5, 1), 5)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(r.NsPerRun, "kernel-ns/pkt")
			})
		}
	}
}
