// Command gensyns writes a small, deterministic pcap of SYNs to a sensor MX
// (and some traffic it must ignore), for trying `mxsensor read` and for tests:
//
//	go run ./tools/gensyns -o testdata/syns.pcap
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"time"

	"github.com/mxsensor/mxsensor/internal/addr"
	"github.com/mxsensor/mxsensor/internal/capture"
	"github.com/mxsensor/mxsensor/internal/synframe"
)

func main() {
	out := flag.String("o", "syns.pcap", "output pcap file")
	n := flag.Int("n", 0, "instead of the sample, write N SYNs of mixed stacks from distinct flows (for benchmarks)")
	flood := flag.Int("flood", 0, "instead of the sample, write N SYNs from distinct random IPv4 sources (-gap apart), as `hping3 --rand-source --flood` sends them")
	seed := flag.Uint64("seed", 1, "with -flood: the seed of the random sources")
	gap := flag.Duration("gap", 10*time.Microsecond, "with -flood: time between SYNs")
	crafted := flag.Bool("crafted", false, "with -flood: every other source is IPv6 and every SYN carries the same TCP timestamp, as a flood tool's fixed template does (the engine's worst case for its clock index)")
	flag.Parse()
	var err error
	if *flood > 0 {
		err = runFlood(*out, *flood, *seed, *gap, *crafted)
	} else if *n > 0 {
		err = runMix(*out, *n)
	} else {
		err = run(*out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gensyns:", err)
		os.Exit(1)
	}
}

// runMix writes n SYNs cycling through common stacks, each from its own
// source address and port, 1 ms apart.
func runMix(path string, n int) error {
	_ = os.Remove(path)
	w, err := capture.NewRotatingWriter(path, 0, 0, 0)
	if err != nil {
		return err
	}
	t := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	sensor4 := netip.MustParseAddr("198.51.100.25")
	sensor6 := netip.MustParseAddr("2001:db8:25::25")
	macOS := []byte{2, 4, 5, 0xb4, 1, 3, 3, 6, 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 4, 2, 0, 0}
	freeBSD := []byte{2, 4, 5, 0xb4, 1, 3, 3, 6, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0}
	for i := 0; i < n; i++ {
		v4 := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		v6 := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0xbe, 0, 0, 12: byte(i >> 24), 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)})
		s := synframe.Spec{SrcPort: uint16(1024 + i%60000), Seq: uint32(i) * 7919, DF: true, ID: uint16(i) | 1}
		switch i % 6 {
		case 0:
			s.Src, s.Dst, s.TTL, s.Window, s.TCPOptions = v4, sensor4, 52, 64240, synframe.LinuxOptions
		case 1:
			s.Src, s.Dst, s.TTL, s.Window, s.TCPOptions, s.FlowLabel = v6, sensor6, 52, 64800, linux6(), uint32(i)&0xfffff|1
		case 2:
			s.Src, s.Dst, s.TTL, s.Window, s.TCPOptions = v4, sensor4, 116, 64240, synframe.WindowsOptions
		case 3:
			s.Src, s.Dst, s.TTL, s.Window, s.TCPOptions = v4, sensor4, 55, 65535, macOS
		case 4:
			s.Src, s.Dst, s.TTL, s.Window, s.TCPOptions = v4, sensor4, 60, 65535, freeBSD
		case 5:
			s.Src, s.Dst, s.TTL, s.Window, s.TCPOptions = v4, sensor4, 240, 1024, nil // scanner-like
		}
		if err := w.WriteFrame(t.Add(time.Duration(i)*time.Millisecond), s.Build()); err != nil {
			return err
		}
	}
	return w.Close()
}

// runFlood writes n SYNs from distinct pseudo-random IPv4 sources, gap
// apart: each source is new, so every SYN is a new attempt that no IPv6
// attempt will explain (the engine's worst case for held state). Half carry
// hping3's bare header, half a Linux SYN's options with a random TCP
// timestamp (which fills the clock index). Crafted, every other source is a
// random IPv6 address, and every SYN has the same options and timestamp:
// one clock bucket holds them all.
func runFlood(path string, n int, seed uint64, gap time.Duration, crafted bool) error {
	_ = os.Remove(path)
	w, err := capture.NewRotatingWriter(path, 0, 0, 0)
	if err != nil {
		return err
	}
	t := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	sensor4 := netip.MustParseAddr("198.51.100.25")
	sensor6 := netip.MustParseAddr("2001:db8:25::25")
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	// A multiplicative permutation of the 2^32 addresses: distinct sources
	// without a set to remember them.
	start := rng.Uint32()
	for i, k := 0, uint32(0); i < n; i++ {
		var src netip.Addr
		for {
			// Sources the sensor would drop as bogons are skipped: all n count.
			a := (start + k) * 2654435761
			k++
			if src = netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}); addr.PlausiblePublicIPv4(src) {
				break
			}
		}
		s := synframe.Spec{Src: src, Dst: sensor4, SrcPort: uint16(1024 + rng.IntN(64000)), Seq: rng.Uint32(), TTL: 64, ID: uint16(rng.Uint32()), Window: 512}
		if crafted {
			if i%2 == 1 {
				var a [16]byte
				binary.BigEndian.PutUint64(a[:], 0x20010db8<<32|rng.Uint64()>>32)
				binary.BigEndian.PutUint64(a[8:], rng.Uint64())
				s.Src, s.Dst, s.ID = netip.AddrFrom16(a), sensor6, 0
			}
			s.TTL, s.DF, s.Window, s.TCPOptions = 50, true, 64240, synframe.LinuxOptions
		} else if i%2 == 1 {
			o := append([]byte(nil), synframe.LinuxOptions...)
			if len(o) >= 12 && o[6] == 8 {
				binary.BigEndian.PutUint32(o[8:], rng.Uint32())
			}
			s.TTL, s.DF, s.Window, s.TCPOptions = 50, true, 64240, o
		}
		if err := w.WriteFrame(t.Add(time.Duration(i)*gap), s.Build()); err != nil {
			return err
		}
	}
	return w.Close()
}

func run(path string) error {
	_ = os.Remove(path)
	w, err := capture.NewRotatingWriter(path, 0, 0, 0)
	if err != nil {
		return err
	}
	t := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	sensor4 := netip.MustParseAddr("198.51.100.25")
	sensor6 := netip.MustParseAddr("2001:db8:25::25")
	var frames []struct {
		at time.Duration
		s  synframe.Spec
	}
	add := func(at time.Duration, s synframe.Spec) {
		frames = append(frames, struct {
			at time.Duration
			s  synframe.Spec
		}{at, s})
	}
	// A dual-stack Linux MTA with native IPv6: IPv6 first, IPv4 within ms (RFC 6724).
	add(0, synframe.Spec{Src: netip.MustParseAddr("2001:db8:a::10"), Dst: sensor6, SrcPort: 53562, Seq: 1000, TTL: 58, FlowLabel: 0x12345, Window: 64800, TCPOptions: linux6()})
	add(2*time.Millisecond, synframe.Spec{Src: netip.MustParseAddr("192.0.2.10"), Dst: sensor4, SrcPort: 35638, Seq: 2000, TTL: 58, DF: true, ID: 0x1c46, Window: 64240, TCPOptions: synframe.LinuxOptions})
	// A Windows host: three SYNs per connect() on the same port (~0.5 s apart), IPv6 then IPv4 on the next port.
	win6 := synframe.Spec{Src: netip.MustParseAddr("2001:db8:b::20"), Dst: sensor6, SrcPort: 50673, Seq: 3000, TTL: 118, Window: 64800, TCPOptions: windows6()}
	win4 := synframe.Spec{Src: netip.MustParseAddr("192.0.2.20"), Dst: sensor4, SrcPort: 50674, Seq: 4000, TTL: 118, DF: true, ID: 0x5a5a, Window: 64240, TCPOptions: synframe.WindowsOptions}
	for i := 0; i < 3; i++ {
		add(time.Second+time.Duration(i)*500*time.Millisecond, win6)
	}
	for i := 0; i < 3; i++ {
		add(2600*time.Millisecond+time.Duration(i)*500*time.Millisecond, win4)
	}
	// A 6to4 host (gateway 192.0.2.30): IPv4 first, then 6to4.
	add(5*time.Second, synframe.Spec{Src: netip.MustParseAddr("192.0.2.30"), Dst: sensor4, SrcPort: 40001, Seq: 5000, TTL: 50, DF: true, Window: 64240, TCPOptions: synframe.LinuxOptions})
	add(5*time.Second+3*time.Millisecond, synframe.Spec{Src: netip.MustParseAddr("2002:c000:21e::c000:21e"), Dst: sensor6, SrcPort: 40002, Seq: 6000, TTL: 50, Window: 64800, TCPOptions: linux6()})
	// VLAN-tagged SYN and an IPv6 SYN behind a hop-by-hop header.
	add(6*time.Second, synframe.Spec{VLANs: []synframe.VLAN{{TPID: 0x8100, TCI: 100}}, Src: netip.MustParseAddr("192.0.2.40"), Dst: sensor4, SrcPort: 40003, Seq: 7000, TTL: 61, Window: 29200, TCPOptions: synframe.LinuxOptions})
	add(6*time.Second+time.Millisecond, synframe.Spec{Src: netip.MustParseAddr("2001:db8:c::40"), Dst: sensor6, SrcPort: 40004, Seq: 8000, TTL: 61, Window: 64800, TCPOptions: linux6(),
		Ext: []synframe.ExtHeader{{Type: 0, Body: []byte{1, 4, 0, 0, 0, 0}}}})
	// Traffic the sensor must ignore: HTTPS data, a SYN-ACK, a fragment.
	add(7*time.Second, synframe.Spec{Src: netip.MustParseAddr("192.0.2.50"), Dst: sensor4, SrcPort: 443, DstPort: 50000, Flags: synframe.ACK | synframe.PSH, Payload: []byte("not smtp")})
	add(7*time.Second+time.Millisecond, synframe.Spec{Src: netip.MustParseAddr("192.0.2.50"), Dst: sensor4, SrcPort: 40005, Flags: synframe.SYN | synframe.ACK})
	add(7*time.Second+2*time.Millisecond, synframe.Spec{Src: netip.MustParseAddr("192.0.2.50"), Dst: sensor4, SrcPort: 40006, MF: true})
	for _, f := range frames {
		if err := w.WriteFrame(t.Add(f.at), f.s.Build()); err != nil {
			return err
		}
	}
	return w.Close()
}

// linux6 is a Linux SYN's options over IPv6 (MSS 1440).
func linux6() []byte {
	o := append([]byte(nil), synframe.LinuxOptions...)
	o[2], o[3] = 0x05, 0xa0
	return o
}

// windows6 is a Windows SYN's options over IPv6 (MSS 1440).
func windows6() []byte {
	o := append([]byte(nil), synframe.WindowsOptions...)
	o[2], o[3] = 0x05, 0xa0
	return o
}
