package xdpbench

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/mxsensor/mxsensor/internal/dataplane"
	"github.com/mxsensor/mxsensor/internal/synframe"
)

// Frame is one input of the benchmark.
type Frame struct {
	Name string
	Data []byte
	// SYN reports a SYN to port 25: the sensor's path, and the reflectors'.
	SYN bool
}

// Frames are the inputs the issue names: an IPv4 SYN, an IPv6 SYN, an IPv6
// SYN behind extension headers, a VLAN-tagged SYN, and a non-target packet
// (port 443 data); and two more non-target packets: the same data over IPv6,
// and an ARP request (the program's shortest path: it stops after the
// Ethernet header).
func Frames() []Frame {
	v4 := synframe.Spec{SrcPort: 40000, DstPort: 25, Seq: 1000, TTL: 57, TCPOptions: synframe.LinuxOptions}
	v6 := v4
	v6.Src, v6.Dst = netip.MustParseAddr("2001:db8::7"), netip.MustParseAddr("2001:db8:25::25")
	ext := v6
	ext.Ext = []synframe.ExtHeader{{Type: 0, Body: make([]byte, 6)}, {Type: 60, Body: make([]byte, 6)}}
	vlan := v4
	vlan.VLANs = []synframe.VLAN{{TPID: 0x8100, TCI: 100}}
	data := v4
	data.DstPort, data.Flags, data.Payload, data.TCPOptions = 443, synframe.ACK|synframe.PSH, make([]byte, 512), nil
	data6 := data
	data6.Src, data6.Dst = v6.Src, v6.Dst
	arp := synframe.Spec{DstMAC: net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, EtherType: 0x0806, Payload: arpRequest()}
	return []Frame{
		{"ipv4-syn", v4.Build(), true},
		{"ipv6-syn", v6.Build(), true},
		{"ipv6-ext-syn", ext.Build(), true},
		{"vlan-syn", vlan.Build(), true},
		{"non-target", data.Build(), false},
		{"non-target-ipv6", data6.Build(), false},
		{"arp", arp.Build(), false},
	}
}

// arpRequest is the body of an ARP request (who has 192.0.2.25, tell 192.0.2.7).
func arpRequest() []byte {
	return []byte{
		0, 1, 8, 0, 6, 4, 0, 1, // Ethernet, IPv4, 6- and 4-byte addresses, request
		0x02, 0, 0, 0, 0, 0x01, 192, 0, 2, 7, // sender
		0, 0, 0, 0, 0, 0, 192, 0, 2, 25, // target
	}
}

// Program is one program under test.
type Program struct {
	Name string
	Prog *ebpf.Program
	Ring *ebpf.Map // drained between measurements, when the program records
}

// Set is the sensor's program and the baselines, loaded.
type Set struct {
	Programs []Program
	close    []func() error
}

// Load loads the sensor's program (rejecting, with its rate limiter on but
// never biting, so that its code runs) and the three baselines.
func Load() (*Set, error) {
	cfg := dataplane.DefaultConfig()
	cfg.RateLimit, cfg.RateBurst = 1e9, 1<<30
	cfg.RingSize = 1 << 24
	ours, err := dataplane.Load(cfg)
	if err != nil {
		return nil, fmt.Errorf("loading the sensor's program: %w", err)
	}
	var base baselinesObjects
	if err := loadBaselinesObjects(&base, nil); err != nil {
		ours.Close()
		return nil, fmt.Errorf("loading the baselines: %w", err)
	}
	return &Set{
		Programs: []Program{
			{"mxsensor", ours.Program(), ours.Events()},
			{"pass-only", base.XdpPass, nil},
			{"reflector", base.XdpReflect, nil},
			{"reflector+record", base.XdpReflectRecord, base.BenchEvents},
		},
		close: []func() error{ours.Close, base.Close},
	}, nil
}

// Close unloads everything.
func (s *Set) Close() error {
	var errs []error
	for _, c := range s.close {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

// Result is one program on one frame.
type Result struct {
	Program, Frame string
	Verdict        uint32
	// NsPerRun is the median over batches of the kernel's mean run time,
	// each run on a fresh copy of the frame.
	NsPerRun float64
}

// Measure runs p on a fresh copy of frame runs times (BPF_PROG_TEST_RUN
// with repeat 1: the kernel copies the frame in for every call, so a
// SYN->RST program is always timed on the SYN, never on its own output),
// in batches, and returns the median batch mean.
func Measure(p Program, frame []byte, runs, batches int) (Result, error) {
	var rd *ringbuf.Reader
	if p.Ring != nil {
		var err error
		if rd, err = ringbuf.NewReader(p.Ring); err != nil {
			return Result{}, err
		}
		defer rd.Close()
	}
	means := make([]float64, 0, batches)
	var verdict uint32
	for range batches {
		var total time.Duration
		for range runs {
			ret, d, err := p.Prog.Benchmark(frame, 1, nil)
			if err != nil {
				return Result{}, fmt.Errorf("%s: %w", p.Name, err)
			}
			verdict = ret
			total += d
		}
		means = append(means, float64(total.Nanoseconds())/float64(runs))
		if rd != nil {
			drain(rd)
		}
	}
	sort.Float64s(means)
	return Result{Program: p.Name, Verdict: verdict, NsPerRun: means[len(means)/2]}, nil
}

// Bars of issue 9 and 19: the SYN path against the reflector plus record,
// a non-target frame against pass-only.
const (
	SYNBar       = 1.5
	NonTargetBar = 1.3
)

// Row is one line of the report: the sensor's time on a frame beside its
// baseline, the ratio and the bar.
type Row struct {
	Frame          string
	Ours, Baseline float64
	BaselineName   string
	Ratio, Bar     float64
	Met            bool
}

// Rows compares: a SYN frame with the reflector plus record on the same
// frame (or, where that minimal baseline does not handle the frame — VLAN,
// extension headers — on the plain SYN of the same family: what it would
// cost the least possible program); the non-target frame with pass-only.
func Rows(rs []Result, frames []Frame) []Row {
	get := func(p, f string) float64 {
		for _, r := range rs {
			if r.Program == p && r.Frame == f {
				return r.NsPerRun
			}
		}
		return 0
	}
	plain := map[string]string{"ipv6-ext-syn": "ipv6-syn", "vlan-syn": "ipv4-syn"}
	var rows []Row
	for _, f := range frames {
		row := Row{Frame: f.Name, Ours: get("mxsensor", f.Name)}
		if f.SYN {
			bf := f.Name
			if p, ok := plain[f.Name]; ok {
				bf = p
			}
			row.BaselineName, row.Baseline, row.Bar = "reflector+record on "+bf, get("reflector+record", bf), SYNBar
		} else {
			row.BaselineName, row.Baseline, row.Bar = "pass-only", get("pass-only", f.Name), NonTargetBar
		}
		if row.Baseline > 0 {
			row.Ratio = row.Ours / row.Baseline
		}
		row.Met = row.Ratio > 0 && row.Ratio <= row.Bar
		rows = append(rows, row)
	}
	return rows
}

// MeasureAll measures every program on every frame, interleaving the
// batches (one batch of each pair in turn) so that a noisy machine's drift
// hits all of them alike. It returns the results in program, frame order.
func MeasureAll(s *Set, frames []Frame, runs, batches int) ([]Result, error) {
	type key struct{ p, f int }
	means := map[key][]float64{}
	verdicts := map[key]uint32{}
	for range batches {
		for pi, p := range s.Programs {
			for fi, f := range frames {
				r, err := Measure(p, f.Data, runs, 1)
				if err != nil {
					return nil, err
				}
				k := key{pi, fi}
				means[k] = append(means[k], r.NsPerRun)
				verdicts[k] = r.Verdict
			}
		}
	}
	var out []Result
	for pi, p := range s.Programs {
		for fi, f := range frames {
			m := means[key{pi, fi}]
			sort.Float64s(m)
			out = append(out, Result{Program: p.Name, Frame: f.Name, Verdict: verdicts[key{pi, fi}], NsPerRun: m[len(m)/2]})
		}
	}
	return out, nil
}

// drain empties a ring, so that a recording program never runs on a full one.
func drain(rd *ringbuf.Reader) {
	rd.SetDeadline(time.Now())
	var rec ringbuf.Record
	for rd.ReadInto(&rec) == nil {
	}
}
