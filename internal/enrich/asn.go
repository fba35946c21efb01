package enrich

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/miekg/dns"

	"github.com/mxsensor/mxsensor/internal/record"
)

// ErrNoASNSource means neither an ASN table nor a Cymru zone can answer for
// the address's family.
var ErrNoASNSource = errors.New("no ASN source configured")

// ASN is an origin autonomous system.
type ASN = record.AS

// ASNResult is the routing origin of an address (a record, written in the
// enrichment lines). A zero Source means the address is not routed as far
// as the sources know.
type ASNResult = record.ASN

// Sources of ASNResult.
const (
	SourceTable = "table"
	SourceCymru = "cymru"
)

// asn finds the origin of ip: in the table when it matches, else through
// Team Cymru. Failed AS name look-ups leave names empty and are returned
// as err beside the result.
func (e *Enricher) asn(ctx context.Context, ip netip.Addr) (ASNResult, error) {
	if t, ok := e.table.Lookup(ip); ok {
		return ASNResult{
			Origins: []ASN{{Number: t.ASN, Name: t.Name}},
			Prefix:  t.Prefix,
			Source:  SourceTable,
		}, nil
	}
	zone := e.cfg.CymruOrigin6Zone
	if ip.Is4() {
		zone = e.cfg.CymruOriginZone
	}
	if zone == "" {
		if e.table != nil {
			return ASNResult{}, nil // the table is the only source and has no match
		}
		return ASNResult{}, ErrNoASNSource
	}
	name := QueryName(ip, zone)
	ans, err := e.res.query(ctx, name, dns.TypeTXT)
	if err != nil {
		return ASNResult{}, fmt.Errorf("asn: %w", err)
	}
	if ans.rcode == dns.RcodeNameError {
		return ASNResult{}, nil
	}
	var recs []originRecord
	var perr error
	for _, s := range txtStrings(ans.rrs) {
		r, err := parseOrigin(s)
		if err != nil {
			perr = err
			continue
		}
		recs = append(recs, r)
	}
	best, ok := bestOrigin(ip, recs)
	if !ok {
		if perr != nil {
			return ASNResult{}, fmt.Errorf("asn: %s: %w: %v", qname(name), ErrBadAnswer, perr)
		}
		if len(recs) > 0 {
			return ASNResult{}, fmt.Errorf("asn: %s: no prefix contains %s: %w", qname(name), ip, ErrBadAnswer)
		}
		return ASNResult{}, nil // NODATA
	}
	res := ASNResult{
		Prefix:    best.prefix,
		Country:   best.country,
		Registry:  best.registry,
		Allocated: best.allocated,
		Source:    SourceCymru,
	}
	var errs []error
	for i, n := range best.asns {
		a := ASN{Number: n}
		if e.cfg.CymruASNZone != "" && i < e.cfg.MaxASNames {
			a.Name, err = e.asName(ctx, n)
			if err != nil {
				errs = append(errs, err)
			}
		}
		res.Origins = append(res.Origins, a)
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("asn: names: %w", errors.Join(errs...))
	}
	return res, nil
}

// asName looks up the name of AS n; "" when Cymru does not know it.
func (e *Enricher) asName(ctx context.Context, n uint32) (string, error) {
	name := "AS" + strconv.FormatUint(uint64(n), 10) + "." + normZone(e.cfg.CymruASNZone) + "."
	ans, err := e.res.query(ctx, name, dns.TypeTXT)
	if err != nil {
		return "", err
	}
	for _, s := range txtStrings(ans.rrs) {
		got, asName, err := parseASName(s)
		if err == nil && got == n {
			return asName, nil
		}
	}
	return "", nil
}
