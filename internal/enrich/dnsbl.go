package enrich

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
	"go.uber.org/zap"
)

// ErrDNSBLCode is a DNSBL answer that reports a problem with the query, not
// a listing: Spamhaus's 127.255.255.252 (typo in the zone name), .254
// (queries through public or open resolvers refused) and .255 (excessive
// queries), and .253, reserved for the same purpose.
var ErrDNSBLCode = errors.New("dnsbl answered with an error code")

// DNSBLResult is what one list zone says about an address.
type DNSBLResult struct {
	Zone   string
	Listed bool
	// Codes are the listing's return codes (127.0.0.2, 127.0.0.4, ...),
	// sorted.
	Codes []netip.Addr
	// Reasons are the TXT records at the same name, each one's strings
	// concatenated. A failed TXT query leaves them empty.
	Reasons []string
	// Err is set when the zone could not be asked or answered with an
	// error code; Listed is false then.
	Err error
}

// isDNSBLErrorCode reports the 127.255.255.252/30 answers.
func isDNSBLErrorCode(a netip.Addr) bool {
	b := a.As4()
	return b[0] == 127 && b[1] == 255 && b[2] == 255 && b[3] >= 252
}

// dnsblZone looks ip up in one zone.
func (e *Enricher) dnsblZone(ctx context.Context, ip netip.Addr, zone string) DNSBLResult {
	res := DNSBLResult{Zone: zone}
	name := QueryName(ip, zone)
	ans, err := e.res.query(ctx, name, dns.TypeA)
	if err != nil {
		res.Err = fmt.Errorf("dnsbl %s: %w", zone, err)
		return res
	}
	if ans.rcode == dns.RcodeNameError {
		return res
	}
	var errCodes, foreign []netip.Addr
	for _, rr := range ans.rrs {
		a, ok := rr.(*dns.A)
		if !ok {
			continue // a CNAME on the way, say
		}
		addr, ok := netip.AddrFromSlice(a.A)
		if !ok {
			continue
		}
		addr = addr.Unmap()
		switch {
		case !addr.Is4() || addr.As4()[0] != 127:
			foreign = append(foreign, addr)
		case isDNSBLErrorCode(addr):
			errCodes = append(errCodes, addr)
		case !slices.Contains(res.Codes, addr):
			res.Codes = append(res.Codes, addr)
		}
	}
	switch {
	case len(errCodes) > 0:
		res.Codes = nil
		res.Err = fmt.Errorf("dnsbl %s answered %s for %s: %w", zone, joinAddrs(errCodes), qname(name), ErrDNSBLCode)
		return res
	case len(res.Codes) == 0 && len(foreign) > 0:
		// Not an RFC 5782 answer: a resolver rewriting NXDOMAIN, or a zone
		// that expired and now has a wildcard.
		res.Err = fmt.Errorf("dnsbl %s answered %s for %s, outside 127.0.0.0/8: %w",
			zone, joinAddrs(foreign), qname(name), ErrBadAnswer)
		return res
	case len(res.Codes) == 0:
		return res // NODATA
	}
	slices.SortFunc(res.Codes, netip.Addr.Compare)
	res.Listed = true
	txt, err := e.res.query(ctx, name, dns.TypeTXT)
	if err != nil {
		e.log.Debug("dnsbl reason", zap.String("zone", zone), zap.Stringer("ip", ip), zap.Error(err))
		return res
	}
	res.Reasons = txtStrings(txt.rrs)
	return res
}

// txtStrings returns the TXT records of rrs, each one's strings joined.
func txtStrings(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if t, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(t.Txt, ""))
		}
	}
	return out
}

func joinAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ",")
}
