package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// linkCase builds frames of one link type around IP packets and says which
// Ethernet frame the Reader must return for each.
type linkCase struct {
	name    string
	lt      layers.LinkType
	packets [][]byte
	wrap    func(ip []byte) []byte
	want    func(ip []byte) []byte
}

func ipIdentity(ip []byte) []byte { return ip }
func wantSynth(ip []byte) []byte  { return synthEth(etherTypeOf(ip), ip) }

var bothSYNs = [][]byte{ipv4SYN, ipv6SYN}

// loopbackFamilies returns a wrap function for NULL/LOOP using the given
// IPv4 and IPv6 family numbers in the given byte order.
func loopbackFamilies(order binary.AppendByteOrder, v4, v6 uint32) func([]byte) []byte {
	return func(ip []byte) []byte {
		if ip[0]>>4 == 6 {
			return loopback(order, v6, ip)
		}
		return loopback(order, v4, ip)
	}
}

var linkCases = []linkCase{
	{name: "ethernet", lt: 1, packets: bothSYNs, wrap: realEth, want: realEth},
	{name: "raw-101", lt: 101, packets: bothSYNs, wrap: ipIdentity, want: wantSynth},
	{name: "raw-dlt12", lt: 12, packets: bothSYNs, wrap: ipIdentity, want: wantSynth},
	{name: "raw-dlt14", lt: 14, packets: bothSYNs, wrap: ipIdentity, want: wantSynth},
	{name: "ipv4-228", lt: 228, packets: [][]byte{ipv4SYN}, wrap: ipIdentity, want: wantSynth},
	{name: "ipv6-229", lt: 229, packets: [][]byte{ipv6SYN}, wrap: ipIdentity, want: wantSynth},
	{name: "sll-113", lt: 113, packets: bothSYNs,
		wrap: func(ip []byte) []byte { return sll(etherTypeOf(ip), ip) }, want: wantSynth},
	{name: "sll2-276", lt: 276, packets: bothSYNs,
		wrap: func(ip []byte) []byte { return sll2(etherTypeOf(ip), ip) }, want: wantSynth},
	{name: "null-0-host-le", lt: 0, packets: bothSYNs, wrap: loopbackFamilies(binary.LittleEndian, 2, 30), want: wantSynth},
	{name: "null-0-host-be", lt: 0, packets: bothSYNs, wrap: loopbackFamilies(binary.BigEndian, 2, 10), want: wantSynth},
	{name: "loop-108-be", lt: 108, packets: bothSYNs, wrap: loopbackFamilies(binary.BigEndian, 2, 24), want: wantSynth},
	{name: "loop-108-le", lt: 108, packets: bothSYNs, wrap: loopbackFamilies(binary.LittleEndian, 2, 28), want: wantSynth},
}

// baseTime has nanoseconds so that resolution loss shows.
var baseTime = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)

// TestReaderFormatsAndLinkTypes writes an IPv4 and an IPv6 SYN in every
// container format and link type and checks the frames byte for byte.
func TestReaderFormatsAndLinkTypes(t *testing.T) {
	for _, c := range allContainers {
		for _, lc := range linkCases {
			t.Run(c.name+"/"+lc.name, func(t *testing.T) {
				var recs []record
				var want [][]byte
				for i, ip := range lc.packets {
					recs = append(recs, record{ts: baseTime.Add(time.Duration(i) * time.Second), data: lc.wrap(ip)})
					want = append(want, lc.want(ip))
				}
				r, err := NewReader(bytes.NewReader(c.build(t, lc.lt, recs)))
				if err != nil {
					t.Fatalf("NewReader: %v", err)
				}
				defer r.Close()
				frames, err := readAll(r)
				if err != io.EOF {
					t.Fatalf("Next: got %v, want io.EOF", err)
				}
				if len(frames) != len(want) {
					t.Fatalf("got %d frames, want %d", len(frames), len(want))
				}
				for i, f := range frames {
					if !bytes.Equal(f.Data, want[i]) {
						t.Errorf("frame %d:\n got % x\nwant % x", i, f.Data, want[i])
					}
					if f.OrigLen != len(want[i]) {
						t.Errorf("frame %d: OrigLen %d, want %d", i, f.OrigLen, len(want[i]))
					}
					if wt := recs[i].ts.Truncate(c.res); !f.Time.Equal(wt) {
						t.Errorf("frame %d: time %v, want %v", i, f.Time, wt)
					}
				}
				st := r.Stats()
				if st.Frames != uint64(len(want)) || st.Skipped.Total() != 0 || st.Truncated {
					t.Errorf("Stats = %+v", st)
				}
			})
		}
	}
}

// TestReaderSkips checks that records that cannot become Ethernet frames
// are skipped, counted by reason, and do not stop the reader.
func TestReaderSkips(t *testing.T) {
	arp := []byte{0, 1, 8, 0, 6, 4, 0, 1} // start of an ARP request
	tests := []struct {
		name        string
		lt          layers.LinkType
		records     [][]byte
		wantFrames  [][]byte
		wantSkipped Skipped
	}{
		{
			name:        "ethernet empty and short",
			lt:          1,
			records:     [][]byte{{}, realEth(ipv4SYN)[:13], realEth(ipv4SYN)},
			wantFrames:  [][]byte{realEth(ipv4SYN)},
			wantSkipped: Skipped{Empty: 1, Short: 1},
		},
		{
			name:        "raw bad version",
			lt:          101,
			records:     [][]byte{{0x50, 0, 0, 0}, ipv6SYN, {}},
			wantFrames:  [][]byte{synthEth(0x86dd, ipv6SYN)},
			wantSkipped: Skipped{Empty: 1, UnknownProtocol: 1},
		},
		{
			name:        "ipv4 link with ipv6 packet",
			lt:          228,
			records:     [][]byte{ipv6SYN, ipv4SYN},
			wantFrames:  [][]byte{synthEth(0x0800, ipv4SYN)},
			wantSkipped: Skipped{UnknownProtocol: 1},
		},
		{
			name:        "ipv6 link with ipv4 packet",
			lt:          229,
			records:     [][]byte{ipv4SYN},
			wantSkipped: Skipped{UnknownProtocol: 1},
		},
		{
			name: "sll short, non-ethertype protocol, arp passes",
			lt:   113,
			records: [][]byte{
				sll(0x0800, nil)[:10],
				sll(0x0004, ipv4SYN), // ETH_P_802_2: not an ethertype
				sll(0x0806, arp),
				sll(0x0800, ipv4SYN),
			},
			wantFrames:  [][]byte{synthEth(0x0806, arp), synthEth(0x0800, ipv4SYN)},
			wantSkipped: Skipped{Short: 1, UnknownProtocol: 1},
		},
		{
			name:        "sll2 short and unknown",
			lt:          276,
			records:     [][]byte{sll2(0x86dd, nil)[:19], sll2(0x0001, ipv6SYN), sll2(0x86dd, ipv6SYN)},
			wantFrames:  [][]byte{synthEth(0x86dd, ipv6SYN)},
			wantSkipped: Skipped{Short: 1, UnknownProtocol: 1},
		},
		{
			name: "null unknown family and short",
			lt:   0,
			records: [][]byte{
				{2, 0},
				loopback(binary.LittleEndian, 17, ipv4SYN),  // AF_NETLINK? not IP
				loopback(binary.BigEndian, 0x1234, ipv4SYN), // garbage in both orders
				loopback(binary.LittleEndian, 2, ipv4SYN),
			},
			wantFrames:  [][]byte{synthEth(0x0800, ipv4SYN)},
			wantSkipped: Skipped{Short: 1, UnknownProtocol: 2},
		},
	}
	for _, tc := range tests {
		for _, c := range []container{pcapgoContainer(true), pcapngContainer()} {
			t.Run(c.name+"/"+tc.name, func(t *testing.T) {
				var recs []record
				for _, d := range tc.records {
					recs = append(recs, record{ts: baseTime, data: d})
				}
				r, err := NewReader(bytes.NewReader(c.build(t, tc.lt, recs)))
				if err != nil {
					t.Fatalf("NewReader: %v", err)
				}
				frames, err := readAll(r)
				if err != io.EOF {
					t.Fatalf("Next: %v, want io.EOF", err)
				}
				if len(frames) != len(tc.wantFrames) {
					t.Fatalf("got %d frames, want %d", len(frames), len(tc.wantFrames))
				}
				for i, f := range frames {
					if !bytes.Equal(f.Data, tc.wantFrames[i]) {
						t.Errorf("frame %d:\n got % x\nwant % x", i, f.Data, tc.wantFrames[i])
					}
				}
				want := Stats{Frames: uint64(len(tc.wantFrames)), Skipped: tc.wantSkipped}
				if got := r.Stats(); got != want {
					t.Errorf("Stats = %+v, want %+v", got, want)
				}
			})
		}
	}
}

// TestReaderSnaplenCut checks OrigLen of records cut by the snap length,
// which counts the synthetic header instead of the dropped link header.
func TestReaderSnaplenCut(t *testing.T) {
	tests := []struct {
		name     string
		lt       layers.LinkType
		frame    []byte
		capLen   int
		wantData []byte
		wantOrig int
	}{
		{"ethernet", 1, realEth(ipv4SYN), 34, realEth(ipv4SYN)[:34], 14 + 40},
		{"sll", 113, sll(0x0800, ipv4SYN), 36, synthEth(0x0800, ipv4SYN[:20]), 14 + 40},
		{"sll2", 276, sll2(0x86dd, ipv6SYN), 60, synthEth(0x86dd, ipv6SYN[:40]), 14 + 60},
		{"raw", 101, ipv6SYN, 40, synthEth(0x86dd, ipv6SYN[:40]), 14 + 60},
		{"null", 0, loopback(binary.LittleEndian, 2, ipv4SYN), 24, synthEth(0x0800, ipv4SYN[:20]), 14 + 40},
	}
	for _, tc := range tests {
		for _, c := range []container{pcapgoContainer(false), pcapngContainer()} {
			t.Run(c.name+"/"+tc.name, func(t *testing.T) {
				rec := record{ts: baseTime, data: tc.frame[:tc.capLen], orig: len(tc.frame)}
				r, err := NewReader(bytes.NewReader(c.build(t, tc.lt, []record{rec})))
				if err != nil {
					t.Fatal(err)
				}
				f, err := r.Next()
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(f.Data, tc.wantData) || f.OrigLen != tc.wantOrig {
					t.Errorf("got % x (orig %d), want % x (orig %d)", f.Data, f.OrigLen, tc.wantData, tc.wantOrig)
				}
			})
		}
	}
}

// TestReaderPcapngUnsupportedInterface checks that records of a pcapng
// interface with an unsupported link type are skipped and counted while
// those of the supported interfaces come through.
func TestReaderPcapngUnsupportedInterface(t *testing.T) {
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriter(&buf, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	usb, err := w.AddInterface(pcapgo.NgInterface{Name: "usb0", LinkType: layers.LinkTypeLinuxUSB, TimestampResolution: 9})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := w.AddInterface(pcapgo.NgInterface{Name: "tun0", LinkType: layers.LinkTypeRaw, TimestampResolution: 9})
	if err != nil {
		t.Fatal(err)
	}
	write := func(iface int, data []byte) {
		ci := gopacket.CaptureInfo{Timestamp: baseTime, CaptureLength: len(data), Length: len(data), InterfaceIndex: iface}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	write(usb, []byte{1, 2, 3, 4})
	write(0, realEth(ipv4SYN))
	write(usb, []byte{5, 6, 7, 8})
	write(raw, ipv6SYN)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}

	r, err := NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	frames, err := readAll(r)
	if err != io.EOF {
		t.Fatalf("Next: %v", err)
	}
	want := [][]byte{realEth(ipv4SYN), synthEth(0x86dd, ipv6SYN)}
	if len(frames) != len(want) {
		t.Fatalf("got %d frames, want %d", len(frames), len(want))
	}
	for i := range want {
		if !bytes.Equal(frames[i].Data, want[i]) {
			t.Errorf("frame %d:\n got % x\nwant % x", i, frames[i].Data, want[i])
		}
	}
	if st := r.Stats(); st.Frames != 2 || st.Skipped != (Skipped{UnsupportedLinkType: 2}) {
		t.Errorf("Stats = %+v", st)
	}
}

// TestReaderUnsupportedPcapLinkType checks that a pcap file with a link
// type that cannot be converted is refused, naming the link type.
func TestReaderUnsupportedPcapLinkType(t *testing.T) {
	for _, lt := range []layers.LinkType{105, 147, 220} {
		for _, c := range []container{pcapgoContainer(false), bigEndianContainer(true), gzipContainer(pcapgoContainer(true))} {
			t.Run(fmt.Sprintf("%s/%d", c.name, lt), func(t *testing.T) {
				data := c.build(t, lt, []record{{ts: baseTime, data: []byte{1, 2, 3}}})
				_, err := NewReader(bytes.NewReader(data))
				if err == nil {
					t.Fatal("NewReader accepted the capture")
				}
				if want := fmt.Sprintf("unsupported link type %d", lt); !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			})
		}
	}
}

// TestReaderNotACapture checks that input that is not a capture is
// refused with a clear error, not mistaken for a truncated capture.
func TestReaderNotACapture(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"text", []byte("220 mx.example.org ESMTP ready\r\n")},
		{"one byte", []byte{'x'}},
		{"three bytes", []byte("abc")},
		{"zeros", make([]byte, 64)},
		{"elf", []byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"gzip of text", gzipBytes(t, []byte("this is not a capture at all, just text"))},
		{"gzip of nothing", gzipBytes(t, nil)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewReader(bytes.NewReader(tc.data))
			if err == nil {
				r.Close()
				t.Fatal("NewReader accepted the input")
			}
			if !strings.Contains(err.Error(), "not a pcap or pcapng file") {
				t.Errorf("error %q does not say what is wrong", err)
			}
			if errors.Is(err, ErrTruncated) {
				t.Errorf("error %q wraps ErrTruncated", err)
			}
		})
	}

	// Open names the file.
	path := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(path, []byte("hello, world"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), path) ||
		!strings.Contains(err.Error(), "not a pcap or pcapng file") {
		t.Errorf("Open: %v", err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.pcap")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open of a missing file: %v", err)
	}
}

// layout describes where a capture may be cut cleanly.
type layout struct {
	headerEnd int          // NewReader needs this many bytes
	clean     map[int]bool // offsets between blocks or records
	frameEnds []int        // end offset of each packet record
}

// pcapLayout walks the records of a classic pcap file.
func pcapLayout(t *testing.T, b []byte) layout {
	var order binary.ByteOrder = binary.LittleEndian
	if b[0] == 0xa1 {
		order = binary.BigEndian
	}
	l := layout{headerEnd: 24, clean: map[int]bool{24: true}}
	for off := 24; off < len(b); {
		off += 16 + int(order.Uint32(b[off+8:]))
		l.frameEnds = append(l.frameEnds, off)
		l.clean[off] = true
	}
	return l
}

// pcapngLayout walks the blocks of a little-endian pcapng file.
func pcapngLayout(t *testing.T, b []byte) layout {
	l := layout{headerEnd: int(binary.LittleEndian.Uint32(b[4:])), clean: map[int]bool{}}
	for off := 0; off < len(b); {
		typ := binary.LittleEndian.Uint32(b[off:])
		off += int(binary.LittleEndian.Uint32(b[off+4:]))
		l.clean[off] = true
		if typ == 6 { // enhanced packet block
			l.frameEnds = append(l.frameEnds, off)
		}
	}
	return l
}

// TestReaderTruncated cuts captures at every byte offset and checks that
// all whole frames come out before an error wrapping ErrTruncated.
func TestReaderTruncated(t *testing.T) {
	lc := linkCases[6] // SLL: a header gets prepended
	var recs []record
	for i, ip := range [][]byte{ipv4SYN, ipv6SYN, ipv4SYN} {
		recs = append(recs, record{ts: baseTime.Add(time.Duration(i) * time.Millisecond), data: lc.wrap(ip)})
	}
	want := [][]byte{lc.want(ipv4SYN), lc.want(ipv6SYN), lc.want(ipv4SYN)}

	tests := []struct {
		c      container
		layout func(*testing.T, []byte) layout
	}{
		{pcapgoContainer(false), pcapLayout},
		{pcapgoContainer(true), pcapLayout},
		{bigEndianContainer(true), pcapLayout},
		{pcapngContainer(), pcapngLayout},
	}
	for _, tc := range tests {
		t.Run(tc.c.name, func(t *testing.T) {
			full := tc.c.build(t, lc.lt, recs)
			l := tc.layout(t, full)
			if len(l.frameEnds) != len(want) || l.frameEnds[len(want)-1] != len(full) {
				t.Fatalf("bad layout %+v for %d bytes", l, len(full))
			}
			for cut := 1; cut < len(full); cut++ {
				r, err := NewReader(bytes.NewReader(full[:cut]))
				if cut < l.headerEnd {
					if !errors.Is(err, ErrTruncated) {
						t.Errorf("cut %d in the file header: NewReader error %v, want ErrTruncated", cut, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("cut %d: NewReader: %v", cut, err)
				}
				whole := 0
				for _, end := range l.frameEnds {
					if end <= cut {
						whole++
					}
				}
				frames, err := readAll(r)
				if len(frames) != whole {
					t.Errorf("cut %d: got %d frames, want %d", cut, len(frames), whole)
				}
				for i := range min(len(frames), whole) {
					if !bytes.Equal(frames[i].Data, want[i]) {
						t.Errorf("cut %d: frame %d differs", cut, i)
					}
				}
				if l.clean[cut] {
					if err != io.EOF || r.Stats().Truncated {
						t.Errorf("cut %d between records: got %v, truncated %v; want io.EOF", cut, err, r.Stats().Truncated)
					}
					continue
				}
				if !errors.Is(err, ErrTruncated) {
					t.Errorf("cut %d: got error %v, want ErrTruncated", cut, err)
					continue
				}
				if wantMsg := fmt.Sprintf("truncated capture: frame %d", whole+1); !strings.HasPrefix(err.Error(), wantMsg) {
					t.Errorf("cut %d: error %q does not start with %q", cut, err, wantMsg)
				}
				if !r.Stats().Truncated {
					t.Errorf("cut %d: Stats().Truncated is false", cut)
				}
				if _, again := r.Next(); again != err {
					t.Errorf("cut %d: second Next returned %v, want the same error", cut, again)
				}
			}
		})
	}

	// Gzip: a cut anywhere loses the trailer, so every cut is truncation;
	// the frames that come out must be a prefix of the full list, and a cut
	// in the 8-byte trailer must still deliver all of them.
	for _, c := range []container{gzipContainer(pcapgoContainer(true)), gzipContainer(pcapngContainer())} {
		t.Run(c.name, func(t *testing.T) {
			full := c.build(t, lc.lt, recs)
			for cut := 1; cut < len(full); cut++ {
				r, err := NewReader(bytes.NewReader(full[:cut]))
				if err != nil {
					if !errors.Is(err, ErrTruncated) {
						t.Errorf("cut %d: NewReader error %v, want ErrTruncated", cut, err)
					}
					continue
				}
				frames, err := readAll(r)
				if !errors.Is(err, ErrTruncated) || !r.Stats().Truncated {
					t.Errorf("cut %d: got error %v, want ErrTruncated", cut, err)
				}
				if len(frames) > len(want) || (cut >= len(full)-8 && len(frames) != len(want)) {
					t.Errorf("cut %d: got %d frames", cut, len(frames))
				}
				for i := range min(len(frames), len(want)) {
					if !bytes.Equal(frames[i].Data, want[i]) {
						t.Errorf("cut %d: frame %d differs", cut, i)
					}
				}
			}
		})
	}
}

// TestOpen reads a capture from a file and checks Close.
func TestOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "syn.pcap.gz")
	data := gzipContainer(pcapngContainer()).build(t, 113, []record{{ts: baseTime, data: sll(0x0800, ipv4SYN)}})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := r.Next()
	if err != nil || !bytes.Equal(f.Data, synthEth(0x0800, ipv4SYN)) {
		t.Fatalf("Next: % x, %v", f.Data, err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("Next at end: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := r.Next(); err == nil || err == io.EOF {
		t.Fatalf("Next after Close: %v", err)
	}
}

// TestReaderNoAllocs checks that the steady-state read loop does not
// allocate per frame.
func TestReaderNoAllocs(t *testing.T) {
	const runs = 1000
	tests := []struct {
		name    string
		c       container
		lt      layers.LinkType
		frame   []byte
		wantLen int // length of each returned frame
	}{
		{"pcap ethernet", pcapgoContainer(true), 1, realEth(ipv4SYN), 14 + 40},
		{"pcap sll", pcapgoContainer(true), 113, sll(0x86dd, ipv6SYN), 14 + 60},
		{"pcapng ethernet", pcapngContainer(), 1, realEth(ipv6SYN), 14 + 60},
		{"gzip pcap ethernet", gzipContainer(pcapgoContainer(false)), 1, realEth(ipv4SYN), 14 + 40},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			recs := make([]record, 2*runs+10)
			for i := range recs {
				recs[i] = record{ts: baseTime.Add(time.Duration(i) * time.Microsecond), data: tc.frame}
			}
			r, err := NewReader(bytes.NewReader(tc.c.build(t, tc.lt, recs)))
			if err != nil {
				t.Fatal(err)
			}
			for range 5 { // warm up buffers
				if _, err := r.Next(); err != nil {
					t.Fatal(err)
				}
			}
			var n int
			allocs := testing.AllocsPerRun(runs, func() {
				f, err := r.Next()
				if err != nil {
					t.Fatal(err)
				}
				n += len(f.Data)
			})
			if allocs != 0 {
				t.Errorf("%v allocations per frame, want 0", allocs)
			}
			// AllocsPerRun calls the function once more to warm up.
			if n != (runs+1)*tc.wantLen {
				t.Errorf("read %d bytes, want %d", n, (runs+1)*tc.wantLen)
			}
		})
	}
}
