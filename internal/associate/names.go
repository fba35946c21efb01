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

// asnEvidence: one host's IPv4 and IPv6 addresses come from the same
// provider in the common case (a tunnel broker is the exception, hence a
// moderate weight against).
func asnEvidence(v6, v4 *known) (weighed, bool) {
	if v6.asn == 0 || v4.asn == 0 {
		return weighed{}, false
	}
	if v6.asn == v4.asn {
		return weighed{1, "asn:same-origin"}, true
	}
	return weighed{-2.5, "asn:different-origin"}, true
}

// ptrEvidence: a mail server's two addresses usually share one reverse
// name; a residential host's two names share the provider's domain.
func ptrEvidence(v6, v4 *known) (weighed, bool) {
	if v6.ptr == "" || v4.ptr == "" {
		return weighed{}, false
	}
	if v6.ptr == v4.ptr {
		return weighed{4, "ptr:same-name"}, true
	}
	if v6.domain != "" && v6.domain == v4.domain {
		return weighed{0.5, "ptr:same-domain"}, true
	}
	return weighed{-2, "ptr:different-domain"}, true
}

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
