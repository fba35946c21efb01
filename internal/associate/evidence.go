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

// weighed is what a rule finds of a pair: a log-odds weight and the
// verdict that names it (vNone: the rule has nothing to say, weight 0).
type weighed struct {
	w float64
	v verdict
}

// verdict names one finding of a rule; verdicts holds its evidence name
// and family, looked up only for the pair explained (record.add). The
// identity evidence comes first, so that its level (id) is a range check.
type verdict uint8

const (
	vNone verdict = iota
	// Identity evidence that opens the order gate too (idKeyed):
	vEmbeddedIdentity // an embedding a protocol defines (identityConfidence)
	vSameClock
	vSameName
	vSameIPv4
	vBestBefore
	// Identity evidence for the decision only (idOutput):
	vAdjacent
	// The rest. An embedded verdict's name is "embedded:" and how the
	// address embeds the IPv4.
	vEmbedded
	vMismatch6to4
	vMismatchTeredo
	vSameOS
	vDifferentOS
	vSameOptions
	vDifferentOptions
	vSameWscale
	vDifferentWscale
	vMSSLess20
	vMSSLarger
	vDifferentTTL
	vSameHops
	vDifferentHops
	vTimestampsDiffer
	vDifferentRate
	vSameRate
	vSameOrigin
	vDifferentOrigin
	vSameDomain
	vDifferentDomain
	vNear
	vFarBehindNAT
	vFarSameHost
	vFar
	vHeavyPrefix
	vKeepsChanging
	vDifferentCount
	vSameCount
	vSameTiming
	vSimilarTiming
	vDifferentTiming
	vOrder      // the first of numOrder x 2 x 3 order verdicts (orderVerdict)
	numVerdicts = vOrder + numOrder*2*3
)

// id is the verdict's identity level.
func (v verdict) id() idLevel {
	switch {
	case v == vNone:
		return idNone
	case v <= vBestBefore:
		return idKeyed
	case v == vAdjacent:
		return idOutput
	}
	return idNone
}

type verdictDef struct {
	name string
	fam  uint8
}

var verdicts = func() (t [numVerdicts]verdictDef) {
	t = [numVerdicts]verdictDef{
		vEmbedded:         {"embedded:", fEmbedded},
		vEmbeddedIdentity: {"embedded:", fEmbedded},
		vMismatch6to4:     {"embedded:mismatch-" + addr.Kind6to4.String(), fEmbedded},
		vMismatchTeredo:   {"embedded:mismatch-" + addr.KindTeredo.String(), fEmbedded},
		vSameOS:           {"stack:same-os", fStack},
		vDifferentOS:      {"stack:different-os", fStack},
		vSameOptions:      {"stack:same-options", fStack},
		vDifferentOptions: {"stack:different-options", fStack},
		vSameWscale:       {"stack:same-wscale", fStack},
		vDifferentWscale:  {"stack:different-wscale", fStack},
		vMSSLess20:        {"stack:mss-v6=v4-20", fStack},
		vMSSLarger:        {"stack:mss-v6>v4", fStack},
		vDifferentTTL:     {"stack:different-initial-ttl", fStack},
		vSameHops:         {"stack:same-hops", fStack},
		vDifferentHops:    {"stack:different-hops", fStack},
		vTimestampsDiffer: {"stack:timestamps-differ", fStack},
		vDifferentRate:    {"clock:different-rate", fClock},
		vSameRate:         {"clock:same-rate", fClock},
		vSameClock:        {"clock:same-timestamp-clock", fClock},
		vSameOrigin:       {"asn:same-origin", fASN},
		vDifferentOrigin:  {"asn:different-origin", fASN},
		vSameName:         {"ptr:same-name", fPTR},
		vSameDomain:       {"ptr:same-domain", fPTR},
		vDifferentDomain:  {"ptr:different-domain", fPTR},
		vAdjacent:         {"port:adjacent", fPort},
		vNear:             {"port:near", fPort},
		vFarBehindNAT:     {"port:far-behind-nat", fPort},
		vFarSameHost:      {"port:far-same-host-before", fPort},
		vFar:              {"port:far", fPort},
		vSameIPv4:         {"history:same-ipv4-as-before", fHistory},
		vBestBefore:       {"history:same-ipv4-best-before", fHistory},
		vHeavyPrefix:      {"history:ipv6-heavy-prefix", fHistory},
		vKeepsChanging:    {"history:ipv4-keeps-changing", fHistory},
		vDifferentCount:   {"retrans:different-count", fRetrans},
		vSameCount:        {"retrans:same-count", fRetrans},
		vSameTiming:       {"retrans:same-timing", fRetrans},
		vSimilarTiming:    {"retrans:similar-timing", fRetrans},
		vDifferentTiming:  {"retrans:different-timing", fRetrans},
	}
	base := [numOrder]string{"windows-fallback-gap", "windows-gap-unusual", "windows-gap-wrong",
		"rst-roundtrip-gap", "rst-roundtrip-gap-slow", "slow", "gap-wrong"}
	fits := [3]string{"", "+gap-fits-retransmission-timing", "+gap-misfits-retransmission-timing"}
	for b := range numOrder {
		for r, rev := range [2]string{"", "reversed-"} {
			for f := range fits {
				t[orderVerdict(b, r, f)] = verdictDef{"order:" + rev + base[b] + fits[f], fOrder}
			}
		}
	}
	return t
}()

// keyed: the verdict is identity evidence that opens the order gate.
func (w weighed) keyed() bool { return w.v.id() == idKeyed }

// idLevel says whether a verdict is identity evidence: evidence of one host
// that depends neither on timing nor on a stack many hosts share.
type idLevel uint8

const (
	idNone idLevel = iota
	// idOutput: identity evidence for the decision and what it leaves
	// behind (the repeat-sender rule, Features.Identity, the /64's
	// identity-backed IPv4), not for the order gate (farOrder). The gate
	// lets a pair whose timing is wrong be a candidate only on evidence the
	// candidate index can find such a pair by (index.go): adjacent ports
	// are no key, a port being shared by every host.
	idOutput
	// idKeyed: identity evidence for the order gate too.
	idKeyed
)

// embeddedRule: does v6's address embed ip? For 6to4 and Teredo the
// embedded IPv4 is the host's public address (or its NAT's), so another
// IPv4 source is evidence against. A match weighs 4 + 4 x confidence, and
// is identity evidence from identityConfidence on; how says how the
// address embeds it (the evidence name's end).
func embeddedRule(v6 *entry, ip netip.Addr) (w weighed, how string) {
	info := &v6.info
	for i := range info.Embedded {
		if em := &info.Embedded[i]; em.IPv4 == ip {
			w = weighed{4 + 4*em.Confidence, vEmbedded}
			if em.Confidence >= identityConfidence {
				w.v = vEmbeddedIdentity
			}
			return w, em.How
		}
	}
	switch info.Kind {
	case addr.Kind6to4:
		return weighed{-4, vMismatch6to4}, ""
	case addr.KindTeredo:
		return weighed{-4, vMismatchTeredo}, ""
	}
	return weighed{}, ""
}

// embeddedApplies: the address embeds an IPv4 address, or is 6to4 or
// Teredo.
func embeddedApplies(f6 *feat) bool { return f6.embedded || f6.tunnel }

// v6First reports whether RFC 6724 makes the host try IPv6 before IPv4:
// native IPv6 outranks IPv4; 6to4 and Teredo rank below it.
func v6First(kind addr.Kind) bool {
	return kind != addr.Kind6to4 && kind != addr.KindTeredo
}

// windows reports whether a pair is judged as a Windows host's: by the
// IPv6 attempt's OS class, or the IPv4 one's when that is unknown.
func windows(f6, f4 *feat) bool {
	osc := f6.os
	if osc == osUnknown {
		osc = f4.os
	}
	return osc == osWindows
}

// orderRule scores the order and timing of a pair. RFC 6724 says which
// family comes first (native IPv6 before IPv4; IPv4 before 6to4 and
// Teredo); the gap between the first family's last SYN and the second's
// first SYN is the RST's round trip for Linux, macOS and BSD (tens to a few
// hundred ms) and the ~0.5 s retransmission timeout plus round trip for
// Windows, which retries the same port after a RST before falling back.
// Software that ignores RFC 6724 still shows the gap, in reverse.
//
// The fallback fit: a stack that retries after a RST falls back to the
// other family after the same timeout plus round trip that spaced its
// retransmissions, so the first family's mean interval predicts the gap.
func orderRule(f6, f4 *feat, win bool) weighed {
	first, second := f6, f4
	if !f6.v6First {
		first, second = f4, f6
	}
	reversed := second.t0 < first.t0
	if reversed {
		first, second = second, first
	}
	gap := second.t0 - first.t1
	const ms = int64(time.Millisecond)
	var o weighed
	if win {
		switch {
		case gap >= 450*ms && gap <= 1200*ms:
			o = weighed{3, orderVerdict(orderWindowsFallback, 0, 0)}
		case gap >= 200*ms && gap <= 3000*ms:
			o = weighed{0.5, orderVerdict(orderWindowsUnusual, 0, 0)}
		default:
			o = weighed{-3, orderVerdict(orderWindowsWrong, 0, 0)}
		}
	} else {
		switch {
		case gap >= 0 && gap <= 150*ms:
			o = weighed{3, orderVerdict(orderRoundtrip, 0, 0)}
		case gap >= 0 && gap <= 400*ms:
			o = weighed{2, orderVerdict(orderRoundtripSlow, 0, 0)}
		case gap >= 0 && gap <= 1000*ms:
			o = weighed{0, orderVerdict(orderSlow, 0, 0)}
		default:
			o = weighed{-3, orderVerdict(orderWrong, 0, 0)}
		}
	}
	if reversed {
		// Two hosts fall in either order by chance; one host falls in
		// reverse only if its software ignores RFC 6724: the weight is the
		// log-odds of that, taken as about 1 in 5 dual-stack senders
		// (ln(0.2/0.8) = -1.4). At -2.5 (1 in 13) such hosts' own IPv4
		// lost to any same-stack attempt at the right gap in a crowd
		// (docs/association.md).
		o.w, o.v = o.w-1.5, o.v+orderReversed
	}
	if win && first.mean != 0 {
		d := gap - first.mean
		if d < 0 {
			d = -d
		}
		switch {
		case d <= 60*ms:
			o.w, o.v = o.w+1.5, o.v+orderFits
		case d > 400*ms:
			o.w, o.v = o.w-1.5, o.v+orderMisfits
		}
	}
	return o
}

// orderVerdict is the verdict of an order base (orderWindowsFallback...),
// reversed or not (rev 1 or 0), with the fallback fit's qualifier (fit:
// 0, 1 fits, 2 misfits): orderReversed, orderFits and orderMisfits are
// those qualifiers' offsets.
func orderVerdict(base, rev, fit int) verdict { return vOrder + verdict(base*6+rev*3+fit) }

const (
	orderReversed verdict = 3
	orderFits     verdict = 1
	orderMisfits  verdict = 2
)

// The order verdicts' bases (see orderVerdict).
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
	f.layoutHash = 14695981039346656037
	for _, c := range f.layoutBytes() {
		f.layoutHash = (f.layoutHash ^ uint64(c)) * 1099511628211
	}
}

func (f *stackFeatures) layoutBytes() []byte { return f.layout[:f.nlayout] }

// stackRules compare the two SYNs' TCP/IP stacks, one trait each.
func stackRules(f6, f4 *feat, v6, v4 *entry, rec *record) float64 {
	if rec == nil { // the candidate scan: weights only
		return stackOS(f6, f4, v6, v4).w + stackLayout(f6, f4).w + stackWscale(f6, f4).w +
			stackMSS(f6, f4).w + stackHops(f6, f4).w + stackTS(f6, f4).w
	}
	return rec.note(stackOS(f6, f4, v6, v4)) + rec.note(stackLayout(f6, f4)) +
		rec.note(stackWscale(f6, f4)) + rec.note(stackMSS(f6, f4)) + rec.note(stackHops(f6, f4)) +
		rec.note(stackTS(f6, f4))
}

// stackOS compares the OS classes, when both are known: by interned ID, or
// by name past the intern table (osOther).
func stackOS(f6, f4 *feat, v6, v4 *entry) weighed {
	if f6.os == osUnknown || f4.os == osUnknown {
		return weighed{}
	}
	same := f6.os == f4.os
	if f6.os == osOther || f4.os == osOther {
		same = v6.osClass == v4.osClass
	}
	return pick(same, weighed{1, vSameOS}, weighed{-5, vDifferentOS})
}

// stackLayout compares the TCP option layouts: by interned ID, or by their
// 64-bit hashes past the intern table (a flood of crafted layouts; the
// engine keeps no layout's bytes).
func stackLayout(f6, f4 *feat) weighed {
	same := f6.layout == f4.layout
	if f6.layout == 0 || f4.layout == 0 {
		same = f6.layoutHash == f4.layoutHash
	}
	return pick(same, weighed{1.5, vSameOptions}, weighed{-4, vDifferentOptions})
}

// stackWscale compares the window scales, when both SYNs have one.
func stackWscale(f6, f4 *feat) weighed {
	if f6.wscale < 0 || f4.wscale < 0 {
		return weighed{}
	}
	return pick(f6.wscale == f4.wscale, weighed{1, vSameWscale}, weighed{-3, vDifferentWscale})
}

// pick is a rule's verdict on a yes-or-no trait.
func pick(same bool, yes, no weighed) weighed {
	if same {
		return yes
	}
	return no
}

// stackMSS: one host's IPv6 MSS is its IPv4 one less the 20 bytes of the
// larger header, and never larger.
func stackMSS(f6, f4 *feat) weighed {
	switch {
	case f6.mss < 0 || f4.mss < 0:
		return weighed{}
	case f6.mss == f4.mss-20:
		return weighed{1, vMSSLess20}
	case f6.mss > f4.mss:
		return weighed{-1, vMSSLarger}
	}
	return weighed{}
}

// stackHops compares the initial TTL classes and the hops from them.
func stackHops(f6, f4 *feat) weighed {
	if f6.ittl != f4.ittl {
		return weighed{-3, vDifferentTTL}
	}
	d := f6.hops - f4.hops
	if d < 0 {
		d = -d
	}
	switch {
	case d <= 2:
		return weighed{0.5, vSameHops}
	case d > 6:
		return weighed{-1.5, vDifferentHops}
	}
	return weighed{}
}

func stackTS(f6, f4 *feat) weighed {
	if f6.hasTS != f4.hasTS {
		return weighed{-3, vTimestampsDiffer}
	}
	return weighed{}
}

// maxPort is the most portRule gives; it speaks only of Windows pairs
// (windows): Windows draws IPv4 and IPv6 ephemeral ports from one
// sequential pool, so one host's attempts have nearby ports.
const maxPort = 4

// portRule scores the distance of a Windows pair's source ports. Far apart
// is another host, or a NAT that rewrote the IPv4 port: the IPv4 address's
// history (natState), when the history family is on, tells which.
func (e *Engine) portRule(f6, f4 *feat, win bool) weighed {
	if !win {
		return weighed{}
	}
	d := int(f6.port) - int(f4.port)
	if d < 0 {
		d = -d
	}
	switch {
	case d <= 4:
		return weighed{maxPort, vAdjacent}
	case d <= 64:
		return weighed{1, vNear}
	}
	if !e.off[fHistory] {
		switch nat, single := e.hist.natState(f4.src); {
		case nat:
			// A NAT rewrote the IPv4 port: distance says nothing.
			return weighed{0, vFarBehindNAT}
		case single:
			// A host seen before without NAT: its ports are its own.
			return weighed{-4, vFarSameHost}
		}
	}
	return weighed{-2, vFar}
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

// The retransmission rules: one host's stack retransmits the same way on
// both families (3 SYNs on Windows after a RST, 1 on Linux and macOS). A
// stack that retries after a RST waits a fixed timeout from the RST's
// arrival, so its intervals are that timeout plus the round trip: both
// families of one host show the same intervals, to within the round trips'
// jitter. maxRetransCount and maxRetransTiming are the most each gives;
// the timing speaks only when retransTimed.
const (
	maxRetransCount  = 0.5
	maxRetransTiming = 2.5
)

func retransCount(f6, f4 *feat) weighed {
	if f6.syns != f4.syns {
		return weighed{-2, vDifferentCount}
	}
	return weighed{maxRetransCount, vSameCount}
}

// retransTimed: both attempts retransmitted.
func retransTimed(f6, f4 *feat) bool { return f6.mean != 0 && f4.mean != 0 }

func retransTiming(f6, f4 *feat) weighed {
	if f6.syns != f4.syns || !retransTimed(f6, f4) {
		return weighed{}
	}
	d := f6.mean - f4.mean
	if d < 0 {
		d = -d
	}
	const ms = int64(time.Millisecond)
	switch {
	case d <= 15*ms:
		return weighed{maxRetransTiming, vSameTiming}
	case d <= 40*ms:
		return weighed{1, vSimilarTiming}
	case d > 100*ms:
		return weighed{-2, vDifferentTiming}
	}
	return weighed{}
}

// retransMax is the most the retransmission rules give a pair.
func retransMax(f6, f4 *feat) float64 {
	if retransTimed(f6, f4) {
		return maxRetransCount + maxRetransTiming
	}
	return maxRetransCount
}
