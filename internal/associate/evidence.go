package associate

import (
	"net/netip"
	"time"

	"github.com/mxsensor/mxsensor/internal/addr"
	"github.com/mxsensor/mxsensor/internal/attempt"
)

// Evidence families; each can be switched off (Config.Disable) to measure
// what it contributes.
const (
	EvEmbedded = "embedded" // IPv4 embedded in the IPv6 address (6to4, Teredo, low 32 bits)
	EvOrder    = "order"    // order and delay as RFC 6724 and the OS predict
	EvStack    = "stack"    // same OS class and compatible TCP signature
	EvPort     = "port"     // source-port proximity of shared-pool stacks
	EvRetrans  = "retrans"  // same SYN retransmission pattern
)

// Families lists the evidence families in report order.
var Families = []string{EvEmbedded, EvOrder, EvStack, EvClock, EvPort, EvRetrans, EvHistory, EvASN, EvPTR}

// weighed is one piece of evidence: a log-odds weight and its description.
type weighed struct {
	w    float64
	what string
}

// embeddedEvidence scores whether v6 embeds v4's address. For 6to4 and
// Teredo the embedded IPv4 is the host's public address (or its NAT's), so
// a different IPv4 source is evidence against.
func embeddedEvidence(info *addr.Info, v4 netip.Addr) (weighed, bool) {
	for _, e := range info.Embedded {
		if e.IPv4 == v4 {
			return weighed{4 + 4*e.Confidence, "embedded:" + e.How}, true
		}
	}
	switch info.Kind {
	case addr.Kind6to4, addr.KindTeredo:
		return weighed{-4, "embedded:mismatch-" + info.Kind.String()}, true
	}
	return weighed{}, false
}

// v6First reports whether RFC 6724 makes the host try IPv6 before IPv4:
// native IPv6 outranks IPv4; 6to4 and Teredo rank below it.
func v6First(kind addr.Kind) bool {
	return kind != addr.Kind6to4 && kind != addr.KindTeredo
}

// orderEvidence scores the order and timing of a pair. RFC 6724 says which
// family comes first (native IPv6 before IPv4; IPv4 before 6to4 and
// Teredo); the gap between the first family's last SYN and the second's
// first SYN is the RST's round trip for Linux, macOS and BSD (tens to a few
// hundred ms) and the ~0.5 s retransmission timeout plus round trip for
// Windows, which retries the same port after a RST before falling back.
// Software that ignores RFC 6724 still shows the gap, in reverse.
func orderEvidence(v6 *attempt.Attempt, kind addr.Kind, v4 *attempt.Attempt, osClass string) weighed {
	first, second := v6, v4
	if !v6First(kind) {
		first, second = v4, v6
	}
	reversed := 0
	if second.FirstSeen.Before(first.FirstSeen) {
		first, second = second, first
		reversed = 1
	}
	gap := second.FirstSeen.Sub(first.LastSeen)
	var w float64
	var base int
	if osClass == "Windows" {
		switch {
		case gap >= 450*time.Millisecond && gap <= 1200*time.Millisecond:
			w, base = 3, orderWindowsFallback
		case gap >= 200*time.Millisecond && gap <= 3*time.Second:
			w, base = 0.5, orderWindowsUnusual
		default:
			w, base = -3, orderWindowsWrong
		}
	} else {
		switch {
		case gap >= 0 && gap <= 150*time.Millisecond:
			w, base = 3, orderRoundtrip
		case gap >= 0 && gap <= 400*time.Millisecond:
			w, base = 2, orderRoundtripSlow
		case gap >= 0 && gap <= time.Second:
			w, base = 0, orderSlow
		default:
			w, base = -3, orderWrong
		}
	}
	if reversed == 1 {
		w -= 2.5
	}
	fit := 0
	if osClass == "Windows" {
		if fw, f, ok := fallbackFit(first, gap); ok {
			w += fw
			fit = f
		}
	}
	return weighed{w, orderNames[base][reversed][fit]}
}

// The order verdicts, and their names with every qualifier: built once so
// that scoring a pair allocates nothing.
const (
	orderWindowsFallback = iota
	orderWindowsUnusual
	orderWindowsWrong
	orderRoundtrip
	orderRoundtripSlow
	orderSlow
	orderWrong
	numOrder
)

var orderNames = func() (t [numOrder][2][3]string) {
	base := [numOrder]string{"windows-fallback-gap", "windows-gap-unusual", "windows-gap-wrong",
		"rst-roundtrip-gap", "rst-roundtrip-gap-slow", "slow", "gap-wrong"}
	fits := [3]string{"", "+gap-fits-retransmission-timing", "+gap-misfits-retransmission-timing"}
	for b := range t {
		for r, rev := range [2]string{"", "reversed-"} {
			for f := range fits {
				t[b][r][f] = "order:" + rev + base[b] + fits[f]
			}
		}
	}
	return t
}()

// optionLayout returns the kinds of the TCP options in order (no values).
func optionLayout(a *attempt.Attempt, buf *[40]byte) []byte {
	opts := a.First.TCPOptions()
	n := 0
	for i := 0; i < len(opts); {
		k := opts[i]
		buf[n] = k
		n++
		if k == 0 {
			break
		}
		if k == 1 {
			i++
			continue
		}
		if i+1 >= len(opts) || opts[i+1] < 2 {
			break
		}
		i += int(opts[i+1])
	}
	return buf[:n]
}

// tcpOption returns the body of the first option of kind k.
func tcpOption(a *attempt.Attempt, k byte) []byte {
	opts := a.First.TCPOptions()
	for i := 0; i < len(opts); {
		if opts[i] == 0 {
			return nil
		}
		if opts[i] == 1 {
			i++
			continue
		}
		if i+1 >= len(opts) || opts[i+1] < 2 || i+int(opts[i+1]) > len(opts) {
			return nil
		}
		if opts[i] == k {
			return opts[i+2 : i+int(opts[i+1])]
		}
		i += int(opts[i+1])
	}
	return nil
}

func initialTTL(ttl uint8) int {
	switch {
	case ttl <= 32:
		return 32
	case ttl <= 64:
		return 64
	case ttl <= 128:
		return 128
	}
	return 255
}

// stackFeatures are the parts of an attempt's first SYN the stack evidence
// compares, extracted once per attempt instead of once per candidate pair.
type stackFeatures struct {
	layout  [40]byte // option kinds in order
	nlayout uint8
	wscale  int16 // -1: no window scale option
	mss     int32 // -1: no MSS option
	ittl    int16 // initial TTL class
	hops    int16 // ittl - TTL
	hasTS   bool
	osClass string
	// layoutHash hashes layout: unequal hashes mean unequal layouts.
	layoutHash uint64
}

func (f *stackFeatures) fill(a *attempt.Attempt) {
	f.nlayout = uint8(len(optionLayout(a, &f.layout)))
	f.wscale, f.mss = -1, -1
	if ws := tcpOption(a, 3); len(ws) == 1 {
		f.wscale = int16(ws[0])
	}
	if m := tcpOption(a, 2); len(m) == 2 {
		f.mss = int32(m[0])<<8 | int32(m[1])
	}
	f.ittl = int16(initialTTL(a.First.TTL))
	f.hops = f.ittl - int16(a.First.TTL)
	f.hasTS = a.HasTS
	f.osClass = a.OSClass
	f.layoutHash = 14695981039346656037
	for _, c := range f.layoutBytes() {
		f.layoutHash = (f.layoutHash ^ uint64(c)) * 1099511628211
	}
}

// sameLayout compares two option layouts, by hash first.
func sameLayout(a, b *stackFeatures) bool {
	return a.layoutHash == b.layoutHash && string(a.layoutBytes()) == string(b.layoutBytes())
}

func (f *stackFeatures) layoutBytes() []byte { return f.layout[:f.nlayout] }

// stackEvidence compares the two SYNs' TCP/IP stacks.
func stackEvidence(v6, v4 *attempt.Attempt) []weighed {
	var f6, f4 stackFeatures
	f6.fill(v6)
	f4.fill(v4)
	return stackEvidenceTo(nil, &f6, &f4)
}

// stackEvidenceTo appends the stack evidence to out.
func stackEvidenceTo(out []weighed, v6, v4 *stackFeatures) []weighed {
	if v6.osClass != "" && v4.osClass != "" && v6.osClass != "unknown" && v4.osClass != "unknown" {
		if v6.osClass == v4.osClass {
			out = append(out, weighed{1, "stack:same-os"})
		} else {
			out = append(out, weighed{-5, "stack:different-os"})
		}
	}
	if sameLayout(v6, v4) {
		out = append(out, weighed{1.5, "stack:same-options"})
	} else {
		out = append(out, weighed{-4, "stack:different-options"})
	}
	if v6.wscale >= 0 && v4.wscale >= 0 {
		if v6.wscale == v4.wscale {
			out = append(out, weighed{1, "stack:same-wscale"})
		} else {
			out = append(out, weighed{-3, "stack:different-wscale"})
		}
	}
	if v6.mss >= 0 && v4.mss >= 0 {
		switch {
		case v6.mss == v4.mss-20:
			out = append(out, weighed{1, "stack:mss-v6=v4-20"})
		case v6.mss > v4.mss:
			out = append(out, weighed{-1, "stack:mss-v6>v4"})
		}
	}
	if v6.ittl != v4.ittl {
		out = append(out, weighed{-3, "stack:different-initial-ttl"})
	} else {
		d := v6.hops - v4.hops
		if d < 0 {
			d = -d
		}
		switch {
		case d <= 2:
			out = append(out, weighed{0.5, "stack:same-hops"})
		case d > 6:
			out = append(out, weighed{-1.5, "stack:different-hops"})
		}
	}
	if v6.hasTS != v4.hasTS {
		out = append(out, weighed{-3, "stack:timestamps-differ"})
	}
	return out
}

// portEvidence: Windows draws IPv4 and IPv6 ephemeral ports from one
// sequential pool, so one host's attempts have nearby ports.
func portEvidence(v6, v4 *attempt.Attempt, osClass string) (weighed, bool) {
	if osClass != "Windows" {
		return weighed{}, false
	}
	d := int(v6.SrcPort) - int(v4.SrcPort)
	if d < 0 {
		d = -d
	}
	switch {
	case d <= 4:
		return weighed{4, "port:adjacent"}, true
	case d <= 64:
		return weighed{1, "port:near"}, true
	}
	// Far apart: another host, or a NAT that rewrote the IPv4 port.
	return weighed{-2, "port:far"}, true
}

// meanInterval is the mean gap between an attempt's SYNs (0 for one SYN).
func meanInterval(a *attempt.Attempt) time.Duration {
	if a.NIntervals == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range a.Intervals[:a.NIntervals] {
		sum += d
	}
	return sum / time.Duration(a.NIntervals)
}

// retransEvidence: one host's stack retransmits the same way on both
// families (3 SYNs on Windows after a RST, 1 on Linux and macOS). A stack
// that retries after a RST waits a fixed timeout from the RST's arrival, so
// its intervals are that timeout plus the round trip: both families of one
// host show the same intervals, to within the round trips' jitter.
func retransEvidence(v6, v4 *attempt.Attempt) []weighed {
	return retransEvidenceTo(nil, v6, v4)
}

// retransEvidenceTo appends the retransmission evidence to out.
func retransEvidenceTo(out []weighed, v6, v4 *attempt.Attempt) []weighed {
	if v6.SYNs != v4.SYNs {
		return append(out, weighed{-2, "retrans:different-count"})
	}
	out = append(out, weighed{0.5, "retrans:same-count"})
	m6, m4 := meanInterval(v6), meanInterval(v4)
	if m6 == 0 || m4 == 0 {
		return out
	}
	d := m6 - m4
	if d < 0 {
		d = -d
	}
	switch {
	case d <= 15*time.Millisecond:
		out = append(out, weighed{2.5, "retrans:same-timing"})
	case d <= 40*time.Millisecond:
		out = append(out, weighed{1, "retrans:similar-timing"})
	case d > 100*time.Millisecond:
		out = append(out, weighed{-2, "retrans:different-timing"})
	}
	return out
}

// fallbackFit: a stack that retries after a RST falls back to the other
// family after the same timeout plus round trip that spaced its
// retransmissions, so the first family's intervals predict the gap. It
// returns the weight and the qualifier (1 fits, 2 misfits).
func fallbackFit(first *attempt.Attempt, gap time.Duration) (float64, int, bool) {
	m := meanInterval(first)
	if m == 0 {
		return 0, 0, false
	}
	d := gap - m
	if d < 0 {
		d = -d
	}
	switch {
	case d <= 60*time.Millisecond:
		return 1.5, 1, true
	case d > 400*time.Millisecond:
		return -1.5, 2, true
	}
	return 0, 0, false
}
