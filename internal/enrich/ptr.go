package enrich

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	"github.com/mxsensor/mxsensor/internal/record"
)

// PTRResult is the reverse DNS of an address (a record, written in the
// enrichment lines).
type PTRResult = record.PTR

// ptr looks up the PTR names of ip and confirms them forward. When no name
// is confirmed and some forward look-ups failed, err says so: the answer
// "not confirmed" is then uncertain.
func (e *Enricher) ptr(ctx context.Context, ip netip.Addr) (PTRResult, error) {
	var res PTRResult
	ans, err := e.res.query(ctx, reverseName(ip), dns.TypePTR)
	if err != nil {
		return res, fmt.Errorf("ptr: %w", err)
	}
	seen := make(map[string]bool)
	for _, rr := range ans.rrs {
		p, ok := rr.(*dns.PTR)
		if !ok {
			continue
		}
		n := qname(p.Ptr)
		if n == "" || seen[strings.ToLower(n)] {
			continue
		}
		seen[strings.ToLower(n)] = true
		res.Names = append(res.Names, n)
	}
	qtype := dns.TypeAAAA
	if ip.Is4() {
		qtype = dns.TypeA
	}
	var errs []error
	for i, n := range res.Names {
		if i == e.cfg.MaxPTRNames {
			break
		}
		if _, ok := dns.IsDomainName(n); !ok {
			continue
		}
		fwd, err := e.res.query(ctx, n, qtype)
		if err != nil {
			if ctx.Err() != nil {
				return res, fmt.Errorf("ptr: %w", err)
			}
			errs = append(errs, err)
			continue
		}
		if answerHas(fwd.rrs, ip) {
			res.Confirmed = n
			return res, nil
		}
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("ptr: forward confirmation: %w", errors.Join(errs...))
	}
	return res, nil
}

// answerHas reports whether rrs hold an A or AAAA record for ip.
func answerHas(rrs []dns.RR, ip netip.Addr) bool {
	for _, rr := range rrs {
		var raw []byte
		switch r := rr.(type) {
		case *dns.A:
			raw = r.A
		case *dns.AAAA:
			raw = r.AAAA
		default:
			continue
		}
		if a, ok := netip.AddrFromSlice(raw); ok && a.Unmap() == ip {
			return true
		}
	}
	return false
}
