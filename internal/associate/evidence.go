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
	reversed := false
	if second.FirstSeen.Before(first.FirstSeen) {
		first, second = second, first
		reversed = true
	}
	gap := second.FirstSeen.Sub(first.LastSeen)
	var w float64
	var what string
	if osClass == "Windows" {
		switch {
		case gap >= 450*time.Millisecond && gap <= 1200*time.Millisecond:
			w, what = 3, "order:windows-fallback-gap"
		case gap >= 200*time.Millisecond && gap <= 3*time.Second:
			w, what = 0.5, "order:windows-gap-unusual"
		default:
			w, what = -3, "order:windows-gap-wrong"
		}
	} else {
		switch {
		case gap >= 0 && gap <= 150*time.Millisecond:
			w, what = 3, "order:rst-roundtrip-gap"
		case gap >= 0 && gap <= 400*time.Millisecond:
			w, what = 2, "order:rst-roundtrip-gap-slow"
		case gap >= 0 && gap <= time.Second:
			w, what = 0, "order:slow"
		default:
			w, what = -3, "order:gap-wrong"
		}
	}
	if reversed {
		w -= 2.5
		what = "order:reversed-" + what[len("order:"):]
	}
	if osClass == "Windows" {
		if f, ok := fallbackFit(first, gap); ok {
			w += f.w
			what += "+" + f.what[len("order:"):]
		}
	}
	return weighed{w, what}
}

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

// stackEvidence compares the two SYNs' TCP/IP stacks.
func stackEvidence(v6, v4 *attempt.Attempt) []weighed {
	return stackEvidenceTo(nil, v6, v4)
}

// stackEvidenceTo appends the stack evidence to out.
func stackEvidenceTo(out []weighed, v6, v4 *attempt.Attempt) []weighed {
	if v6.OSClass != "" && v4.OSClass != "" && v6.OSClass != "unknown" && v4.OSClass != "unknown" {
		if v6.OSClass == v4.OSClass {
			out = append(out, weighed{1, "stack:same-os"})
		} else {
			out = append(out, weighed{-5, "stack:different-os"})
		}
	}
	var b6, b4 [40]byte
	if string(optionLayout(v6, &b6)) == string(optionLayout(v4, &b4)) {
		out = append(out, weighed{1.5, "stack:same-options"})
	} else {
		out = append(out, weighed{-4, "stack:different-options"})
	}
	ws6, ws4 := tcpOption(v6, 3), tcpOption(v4, 3)
	if len(ws6) == 1 && len(ws4) == 1 {
		if ws6[0] == ws4[0] {
			out = append(out, weighed{1, "stack:same-wscale"})
		} else {
			out = append(out, weighed{-3, "stack:different-wscale"})
		}
	}
	m6, m4 := tcpOption(v6, 2), tcpOption(v4, 2)
	if len(m6) == 2 && len(m4) == 2 {
		mss6 := int(m6[0])<<8 | int(m6[1])
		mss4 := int(m4[0])<<8 | int(m4[1])
		switch {
		case mss6 == mss4-20:
			out = append(out, weighed{1, "stack:mss-v6=v4-20"})
		case mss6 > mss4:
			out = append(out, weighed{-1, "stack:mss-v6>v4"})
		}
	}
	t6, t4 := initialTTL(v6.First.TTL), initialTTL(v4.First.TTL)
	if t6 != t4 {
		out = append(out, weighed{-3, "stack:different-initial-ttl"})
	} else {
		d := (t6 - int(v6.First.TTL)) - (t4 - int(v4.First.TTL))
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
	if v6.HasTS != v4.HasTS {
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
// retransmissions, so the first family's intervals predict the gap.
func fallbackFit(first *attempt.Attempt, gap time.Duration) (weighed, bool) {
	m := meanInterval(first)
	if m == 0 {
		return weighed{}, false
	}
	d := gap - m
	if d < 0 {
		d = -d
	}
	switch {
	case d <= 60*time.Millisecond:
		return weighed{1.5, "order:gap-fits-retransmission-timing"}, true
	case d > 400*time.Millisecond:
		return weighed{-1.5, "order:gap-misfits-retransmission-timing"}, true
	}
	return weighed{}, false
}
