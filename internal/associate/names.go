package associate

import (
	"net/netip"
	"strings"
)

// Evidence families from enrichment: the origin AS and the reverse DNS name
// of the two addresses. Both apply only when Config.Names knows both.
const (
	EvASN = "asn"
	EvPTR = "ptr"
)

// Names answers what enrichment knows of an address: its origin AS and its
// reverse DNS name. Implementations must answer at once from what they
// hold (a table, a cache): the engine calls them on its hot path.
type Names interface {
	// Origin returns the origin AS number of ip.
	Origin(ip netip.Addr) (asn uint32, ok bool)
	// PTR returns the (forward-confirmed, when the source checks) reverse
	// name of ip.
	PTR(ip netip.Addr) (name string, ok bool)
}

// known is what Names said of one attempt's source, looked up once.
type known struct {
	asn    uint32
	ptr    string // lower case, no trailing dot; "" when unknown
	domain string // domainOf(ptr)
}

func lookupNames(n Names, ip netip.Addr) known {
	var k known
	if n == nil {
		return k
	}
	if asn, ok := n.Origin(ip); ok {
		k.asn = asn
	}
	if name, ok := n.PTR(ip); ok {
		k.ptr = strings.TrimSuffix(strings.ToLower(name), ".")
		k.domain = domainOf(k.ptr)
	}
	return k
}

// asnRule: one host's IPv4 and IPv6 addresses come from the same provider
// in the common case (a tunnel broker is the exception, hence a moderate
// weight against). It speaks when asnApplies; maxASN is the most it gives.
func asnRule(f6, f4 *feat) weighed {
	if !asnApplies(f6, f4) {
		return weighed{}
	}
	if f6.asn == f4.asn {
		return weighed{maxASN, vSameOrigin}
	}
	return weighed{-2.5, vDifferentOrigin}
}

const maxASN = 1

// asnApplies: both origins are known, and the IPv6 address is not 6to4 or
// Teredo (announced by their relays' operators, not the host's provider).
func asnApplies(f6, f4 *feat) bool { return !f6.tunnel && f6.asn != 0 && f4.asn != 0 }

// ptrRule: a mail server's two addresses usually share one reverse name
// (identity evidence); a residential host's two names share the provider's
// domain. It speaks when ptrApplies; maxPTR is the most it gives.
func ptrRule(v6, v4 *entry) weighed {
	if !ptrApplies(&v6.f, &v4.f) {
		return weighed{}
	}
	if v6.names.ptr == v4.names.ptr {
		return weighed{maxPTR, vSameName}
	}
	if v6.names.domain != "" && v6.names.domain == v4.names.domain {
		return weighed{0.5, vSameDomain}
	}
	return weighed{-2, vDifferentDomain}
}

const maxPTR = 4

// ptrApplies: both reverse names are known.
func ptrApplies(f6, f4 *feat) bool { return f6.ptr && f4.ptr }

// domainOf approximates a name's registered domain by its last two labels,
// or three when the second-level label is short (co.uk, com.au, ...). Good
// enough to tell one provider from another without a public-suffix list.
func domainOf(name string) string {
	labels := strings.Split(name, ".")
	n := 2
	if len(labels) >= 3 && len(labels[len(labels)-2]) <= 3 && len(labels[len(labels)-1]) == 2 {
		n = 3
	}
	if len(labels) < n {
		return ""
	}
	return strings.Join(labels[len(labels)-n:], ".")
}
