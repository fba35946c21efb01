package fingerprint

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/capture"
	"github.com/mxsensor/mxsensor/internal/dataplane"
	"github.com/mxsensor/mxsensor/internal/synframe"
)

var update = flag.Bool("update", false, "regenerate the oracle captures in testdata/fingerprint from the stock p0f database")

const oracleDir = "../../testdata/fingerprint"

// synthesize returns SYNs built to match signature s, one per IP version the
// signature allows, with a few variants (hop counts, window multiples). It
// returns nil for signatures no SYN on the wire can carry (an option layout
// that is not a multiple of 4 bytes without EOL padding, ack- which needs
// the ACK flag, a window the 16-bit field cannot hold).
func synthesize(s *signature, id int) []synframe.Spec {
	var specs []synframe.Spec
	vers := []int8{4, 6}
	if s.ver >= 0 {
		vers = []int8{s.ver}
	}
	if s.quirks&QuirkZeroAck != 0 {
		return nil
	}
	for vi, ver := range vers {
		for variant := 0; variant < 2; variant++ {
			sp, ok := synthOne(s, ver, id*8+vi*2+variant, variant)
			if ok {
				specs = append(specs, sp)
			}
		}
	}
	return specs
}

func synthOne(s *signature, ver int8, n, variant int) (synframe.Spec, bool) {
	be := binary.BigEndian
	mss := 1460
	if ver == 6 {
		mss = 1440
	}
	if s.mss >= 0 {
		mss = int(s.mss)
	}
	var win int
	switch s.winKind {
	case winValue:
		win = int(s.win)
	case winAny:
		win = 5000 + 17*n%60000
	case winMod:
		win = int(s.win) * (1 + variant)
	case winMSS:
		if s.mss < 0 && mss*int(s.win) > 65535 {
			mss = 65535 / int(s.win)
		}
		win = mss * int(s.win)
	case winMTU:
		hdr := 40
		if ver == 6 {
			hdr = 60
		}
		win = (mss + hdr) * int(s.win)
	}
	if win > 65535 {
		return synframe.Spec{}, false
	}
	scale := int(s.wscale)
	if scale < 0 {
		// A scale no specific signature names, so a generic "*" signature
		// is what matches (the specific ones would shadow it otherwise).
		scale = 11
	}
	var opts []byte
	for _, k := range s.layout[1 : 1+s.layout[0]] {
		switch k {
		case optEOL:
			opts = append(opts, 0)
			pad := make([]byte, s.eolPad)
			if s.quirks&QuirkOptAfterEOL != 0 && len(pad) > 1 {
				pad[0] = 0x5a
			}
			opts = append(opts, pad...)
		case optNOP:
			opts = append(opts, 1)
		case optMSS:
			opts = be.AppendUint16(append(opts, 2, 4), uint16(mss))
		case optWS:
			opts = append(opts, 3, 3, byte(scale))
		case optSACKOK:
			opts = append(opts, 4, 2)
		case optSACK:
			opts = append(opts, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2)
		case optTS:
			ts1, ts2 := uint32(0x1000+n), uint32(0)
			if s.quirks&QuirkTS1Zero != 0 {
				ts1 = 0
			}
			if s.quirks&QuirkTS2NonZero != 0 {
				ts2 = 77
			}
			opts = be.AppendUint32(be.AppendUint32(append(opts, 8, 10), ts1), ts2)
		default: // ?n: an unknown option kind with a minimal body
			opts = append(opts, k, 2)
		}
	}
	if len(opts)%4 != 0 || len(opts) > 40 {
		return synframe.Spec{}, false
	}
	hops := 3 + 9*variant // 3 or 12 hops away
	ttl := int(s.ttl) - hops
	if s.badTTL {
		ttl = int(s.ttl) - 1 - variant
	}
	if ttl < 1 {
		ttl = 1
	}
	sp := synframe.Spec{
		SrcPort: uint16(20000 + n), DstPort: 25, Seq: uint32(0x10000 * (n + 1)),
		TTL: uint8(ttl), Window: uint16(win), TCPOptions: opts,
	}
	if ver == 4 {
		sp.Src = netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + n%250)})
		sp.Dst = netip.MustParseAddr("198.51.100.25")
		sp.IPOptions = make([]byte, s.olen)
		for i := range sp.IPOptions {
			sp.IPOptions[i] = 1 // NOP
		}
		sp.DF = s.quirks&QuirkDF != 0
		if s.quirks&QuirkZeroID == 0 {
			sp.ID = uint16(1000 + n)
		}
		sp.Reserved = s.quirks&QuirkMBZ != 0
	} else {
		sp.Src = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0xfa, byte(n >> 8), byte(n), 15: 7})
		sp.Dst = netip.MustParseAddr("2001:db8:25::25")
		if s.quirks&QuirkFlow != 0 {
			sp.FlowLabel = uint32(0x10000 + n)
		}
	}
	if s.quirks&QuirkECN != 0 {
		sp.TOS = 0x02
	}
	if s.quirks&QuirkZeroSeq != 0 {
		sp.Seq = 0
	}
	if s.quirks&QuirkNonZeroAck != 0 {
		sp.Ack = 0x01000000 // the bit p0f 3.09b tests (see doc.go)
	}
	flags := uint8(synframe.SYN)
	if s.quirks&QuirkNonZeroUrg != 0 {
		sp.Urgent = 1
	}
	if s.quirks&QuirkURG != 0 {
		flags |= synframe.URG
	}
	if s.quirks&QuirkPush != 0 {
		flags |= synframe.PSH
	}
	sp.Flags = flags
	if s.pclass == 1 {
		sp.Payload = []byte("EHLO")
	}
	return sp, true
}

// oddSYNs are SYNs that stress the corners of p0f's signature computation.
func oddSYNs() []synframe.Spec {
	v4 := func(port int, mod func(*synframe.Spec)) synframe.Spec {
		s := synframe.Spec{Src: netip.AddrFrom4([4]byte{203, 0, 113, byte(port % 250)}), Dst: netip.MustParseAddr("198.51.100.25"),
			SrcPort: uint16(port), DstPort: 25, Seq: uint32(port) << 8, TTL: 60, DF: true, ID: uint16(port), Window: 64240,
			TCPOptions: synframe.LinuxOptions}
		mod(&s)
		return s
	}
	v6 := func(port int, mod func(*synframe.Spec)) synframe.Spec {
		s := synframe.Spec{Src: netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0xdd, 15: byte(port)}), Dst: netip.MustParseAddr("2001:db8:25::25"),
			SrcPort: uint16(port), DstPort: 25, Seq: uint32(port) << 8, TTL: 60, Window: 64800, TCPOptions: synframe.LinuxOptions}
		mod(&s)
		return s
	}
	mssOnly := []byte{2, 4, 5, 0xb4}
	return []synframe.Spec{
		v4(30001, func(s *synframe.Spec) { s.TOS = 0x03 }),                                         // ECN in IP
		v4(30002, func(s *synframe.Spec) { s.Flags = synframe.SYN | synframe.ECE | synframe.CWR }), // ECN in TCP
		v4(30003, func(s *synframe.Spec) { s.NS = true }),
		v4(30004, func(s *synframe.Spec) { s.Ack = 1 }),          // odd ACK: no ack+ in p0f 3.09b
		v4(30005, func(s *synframe.Spec) { s.Ack = 0x01000000 }), // the bit p0f tests
		v4(30006, func(s *synframe.Spec) { s.TTL = 20 }),         // 44 hops from 64: past 35
		v4(30007, func(s *synframe.Spec) { s.TTL = 200 }),
		v4(30008, func(s *synframe.Spec) { s.TTL = 255 }),
		v4(30009, func(s *synframe.Spec) { s.DF = false }),           // fuzzy: df vanished
		v4(30010, func(s *synframe.Spec) { s.DF = false; s.ID = 0 }), // id-
		v4(30011, func(s *synframe.Spec) { s.Reserved = true }),      // 0+
		v4(30012, func(s *synframe.Spec) { s.Seq = 0 }),              // seq-
		v4(30013, func(s *synframe.Spec) { s.Urgent = 9 }),           // uptr+
		v4(30014, func(s *synframe.Spec) { s.Flags = synframe.SYN | synframe.URG; s.Urgent = 1 }),
		v4(30015, func(s *synframe.Spec) { s.Flags = synframe.SYN | synframe.PSH }),
		v4(30016, func(s *synframe.Spec) { s.Payload = []byte("payload") }),                                             // pclass +
		v4(30017, func(s *synframe.Spec) { s.IPOptions = []byte{1, 1, 1, 0} }),                                          // olen 4
		v4(30018, func(s *synframe.Spec) { s.TCPOptions = []byte{2, 4, 5, 0xb4, 3, 3, 15, 1} }),                         // exws
		v4(30019, func(s *synframe.Spec) { s.TCPOptions = []byte{2, 4, 5, 0xb4, 0, 0, 0, 0} }),                          // eol+3
		v4(30020, func(s *synframe.Spec) { s.TCPOptions = []byte{2, 4, 5, 0xb4, 0, 0, 9, 0} }),                          // opt+
		v4(30021, func(s *synframe.Spec) { s.TCPOptions = []byte{2, 4, 5, 0xb4, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1} }), // ts1-
		v4(30022, func(s *synframe.Spec) { s.TCPOptions = []byte{2, 4, 5, 0xb4, 8, 10, 0, 0, 0, 1, 0, 0, 0, 5, 1, 1} }), // ts2+
		v4(30023, func(s *synframe.Spec) { s.TCPOptions = []byte{2, 9, 5, 0xb4} }),                                      // bad: length overruns
		v4(30024, func(s *synframe.Spec) { s.TCPOptions = []byte{2, 4, 5, 0xb4, 3, 1, 7, 1} }),                          // bad: ws length 1
		v4(30025, func(s *synframe.Spec) { s.TCPOptions = []byte{2, 4, 5, 0xb4, 8, 10, 0, 0} }),                         // truncated ts
		v4(30026, func(s *synframe.Spec) { s.TCPOptions = []byte{2, 4, 5, 0xb4, 0x1e, 4, 1, 2} }),                       // unknown kind ?30
		v4(30027, func(s *synframe.Spec) { s.TCPOptions = nil; s.Window = 1024 }),                                       // no options
		v4(30028, func(s *synframe.Spec) { s.TCPOptions = mssOnly; s.Window = 1025; s.TTL = 250 }),
		v4(30029, func(s *synframe.Spec) { s.TCPOptions = synframe.WindowsOptions; s.TTL = 118 }),
		v4(30030, func(s *synframe.Spec) {
			s.Window = 1460 * 10
			s.TCPOptions = []byte{2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 1, 0, 0, 0, 0, 0, 1, 3, 3, 7}
		}),
		v4(30031, func(s *synframe.Spec) { s.Window = 1448 * 4 }), // MSS-12 with timestamps
		v4(30032, func(s *synframe.Spec) { s.Window = 1500 * 2 }), // an MTU multiple
		v4(30033, func(s *synframe.Spec) { s.Window = 0 }),
		v6(30034, func(s *synframe.Spec) {}),
		v6(30035, func(s *synframe.Spec) { s.FlowLabel = 0x12345 }),
		v6(30036, func(s *synframe.Spec) { s.TOS = 0x01 }),
		v6(30037, func(s *synframe.Spec) { s.TCPOptions = []byte{2, 4, 5, 0xa0, 1, 3, 3, 8, 1, 1, 4, 2}; s.TTL = 110 }),
		v6(30038, func(s *synframe.Spec) { s.TTL = 10 }),
		v6(30039, func(s *synframe.Spec) { s.Payload = []byte{1} }),
		// p0f ignores IPv6 SYNs with extension headers; counted as "not reported".
		v6(30040, func(s *synframe.Spec) { s.Ext = []synframe.ExtHeader{{Type: 0, Body: []byte{1, 4, 0, 0, 0, 0}}} }),
		v4(30041, func(s *synframe.Spec) {
			s.TCPOptions = []byte{2, 4, 0x05, 0x2b, 1, 3, 3, 5, 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0}
			s.Window = 1337
		}), // sendsyn-like
	}
}

// TestGenerateOracleCaptures rewrites testdata/fingerprint with -update.
func TestGenerateOracleCaptures(t *testing.T) {
	if !*update {
		t.Skip("run with -update to regenerate testdata/fingerprint (needs /etc/p0f/p0f.fp)")
	}
	db, _, err := LoadFile(StockPath)
	if err != nil {
		t.Fatal(err)
	}
	var stock [][]byte
	for i := range db.sigs {
		for _, sp := range synthesize(&db.sigs[i], i) {
			stock = append(stock, sp.Build())
		}
	}
	var odd [][]byte
	for _, sp := range oddSYNs() {
		odd = append(odd, sp.Build())
	}
	writePcap(t, filepath.Join(oracleDir, "stock-signatures.pcap"), stock)
	writePcap(t, filepath.Join(oracleDir, "odd-syns.pcap"), odd)
	t.Logf("%d SYNs from %d stock signatures, %d odd SYNs", len(stock), len(db.sigs), len(odd))
}

type flowKey struct {
	src  netip.Addr
	port uint16
}

type p0fSyn struct {
	label, dist, params, raw string
}

// p0fSyns runs p0f over a capture and returns its SYN reports by flow (the
// first report of each flow).
func p0fSyns(t *testing.T, bin, pcap string) map[flowKey]p0fSyn {
	t.Helper()
	logf := filepath.Join(t.TempDir(), "p0f.log")
	if out, err := exec.Command(bin, "-r", pcap, "-o", logf, "-f", StockPath).CombinedOutput(); err != nil {
		t.Fatalf("p0f -r %s: %v\n%s", pcap, err, out)
	}
	f, err := os.Open(logf)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res := map[flowKey]p0fSyn{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, "|subj=cli|") || !(strings.Contains(line, "] mod=syn|") || strings.Contains(line, "] mod=sendsyn probe|")) {
			continue
		}
		var k flowKey
		var p p0fSyn
		for _, field := range strings.Split(line[strings.Index(line, "] ")+2:], "|") {
			key, v, _ := strings.Cut(field, "=")
			switch key {
			case "cli":
				i := strings.LastIndexByte(v, '/')
				a, err := netip.ParseAddr(v[:i])
				if err != nil {
					t.Fatalf("p0f client %q: %v", v, err)
				}
				port, _ := strconv.Atoi(v[i+1:])
				k = flowKey{a, uint16(port)}
			case "os", "app":
				p.label = key + "=" + v
			case "dist":
				p.dist = v
			case "params":
				p.params = v
			case "raw_sig":
				p.raw = v
			}
		}
		if _, dup := res[k]; !dup {
			res[k] = p
		}
	}
	return res
}

// TestP0fOracleTestdata: over the committed captures (every stock signature
// synthesised, both IP versions where allowed, plus odd SYNs and a real
// Linux capture), the engine with the stock database agrees with the real
// p0f on every SYN p0f reports: label, distance, params and raw signature.
func TestP0fOracleTestdata(t *testing.T) {
	bin := requireP0f(t, StockPath)
	db, _, err := LoadFile(StockPath)
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(oracleDir, "*.pcap"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no captures in %s: %v", oracleDir, err)
	}
	cfg := dataplane.DefaultConfig()
	cfg.Mode, cfg.RateLimit = dataplane.ModeObserve, 0
	var total, agree, silent int
	labels := map[string]bool{}
	var diffs []string
	var buf []byte
	for _, file := range files {
		want := p0fSyns(t, bin, file)
		r, err := capture.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		er := capture.NewEventReader(r, cfg)
		seen := map[flowKey]bool{}
		for {
			ev, err := er.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			k := flowKey{ev.Src, ev.SrcPort}
			if seen[k] {
				continue
			}
			seen[k] = true
			p, ok := want[k]
			if !ok {
				silent++ // p0f reported nothing (e.g. IPv6 extension headers)
				continue
			}
			total++
			res := db.Match(ev)
			key := "os="
			if res.Tool {
				key = "app="
			}
			got := p0fSyn{label: key + res.Label, raw: res.RawSig()}
			buf = res.AppendDist(buf[:0])
			got.dist = string(buf)
			buf = res.AppendParams(buf[:0])
			got.params = string(buf)
			labels[p.label] = true
			if got == p {
				agree++
				continue
			}
			diffs = append(diffs, fmt.Sprintf("%s %v/%d:\n  p0f  %s dist=%s params=%s raw_sig=%s\n  ours %s dist=%s params=%s raw_sig=%s",
				filepath.Base(file), ev.Src, ev.SrcPort, p.label, p.dist, p.params, p.raw, got.label, got.dist, got.params, got.raw))
		}
		r.Close()
	}
	sort.Strings(diffs)
	for _, d := range diffs {
		t.Error(d)
	}
	t.Logf("agreement with p0f 3.09b: %d of %d SYNs (%.1f%%); %d distinct p0f labels; %d SYNs p0f did not report",
		agree, total, 100*float64(agree)/float64(max(total, 1)), len(labels), silent)
	if total < 200 {
		t.Errorf("only %d SYNs compared: regenerate the captures (-update)", total)
	}
	// Every stock label (family:flavor) must have been seen by the oracle.
	var missing []string
	for i := range db.sigs {
		l := db.sigs[i].label
		if !labels["os="+l] && !labels["app="+l] {
			missing = append(missing, fmt.Sprintf("%s (%s)", l, db.sigs[i].source))
		}
	}
	if len(missing) > 0 {
		t.Errorf("stock labels p0f never reported on these captures (%d): %s", len(missing), strings.Join(dedup(missing), "; "))
	}
	_ = time.Second
}

func dedup(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
