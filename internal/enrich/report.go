package enrich

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
)

// Report is what `mxsensor lookup` says about an address: its DNSBL
// listings, reverse names and origin AS, and the look-ups that failed. Its
// JSON form is the --json line.
type Report struct {
	IP    string            `json:"ip"`
	DNSBL []ReportDNSBL     `json:"dnsbl"` // never null
	PTR   *PTRResult        `json:"ptr,omitempty"`
	ASN   *ASNResult        `json:"asn,omitempty"`
	Errs  map[string]string `json:"errors,omitempty"` // by look-up: dnsbl, ptr, asn
}

// ReportDNSBL is one zone's answer in a Report.
type ReportDNSBL struct {
	Zone    string   `json:"zone"`
	Listed  bool     `json:"listed"`
	Codes   []string `json:"codes,omitempty"`
	Reasons []string `json:"reasons,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// Report looks ip up in the configured DNSBL zones, its reverse names
// (when withPTR) and its origin AS. A failed look-up is noted in the
// report's Errs, and the others are still made.
func (e *Enricher) Report(ctx context.Context, ip netip.Addr, withPTR bool) Report {
	r := Report{IP: ip.String(), DNSBL: []ReportDNSBL{}, Errs: map[string]string{}}
	if len(e.cfg.DNSBLZones) > 0 {
		res, err := e.LookupDNSBL(ctx, ip)
		if err != nil {
			r.Errs["dnsbl"] = err.Error()
		}
		for _, d := range res {
			ld := ReportDNSBL{Zone: d.Zone, Listed: d.Listed, Reasons: d.Reasons}
			for _, c := range d.Codes {
				ld.Codes = append(ld.Codes, c.String())
			}
			if d.Err != nil {
				ld.Error = d.Err.Error()
			}
			r.DNSBL = append(r.DNSBL, ld)
		}
	}
	if withPTR {
		if p, err := e.LookupPTR(ctx, ip); err != nil {
			r.Errs["ptr"] = err.Error()
		} else {
			r.PTR = &p
		}
	}
	if a, err := e.LookupASN(ctx, ip); err != nil {
		r.Errs["asn"] = err.Error()
	} else {
		r.ASN = &a
	}
	return r
}

// Failed reports whether a look-up failed.
func (r *Report) Failed() bool { return len(r.Errs) > 0 }

// AppendText appends r as `mxsensor lookup` prints it: the address, then
// an indented line per zone, reverse names, origin and failed look-up (in
// the order of their names).
func (r *Report) AppendText(b []byte) []byte {
	b = append(b, r.IP+"\n"...)
	for _, d := range r.DNSBL {
		state := "not listed"
		if d.Listed {
			state = "LISTED " + strings.Join(d.Codes, ",")
			if len(d.Reasons) > 0 {
				state += " (" + strings.Join(d.Reasons, "; ") + ")"
			}
		}
		if d.Error != "" {
			state = "error: " + d.Error
		}
		b = fmt.Appendf(b, "  dnsbl %s: %s\n", d.Zone, state)
	}
	if r.PTR != nil {
		b = fmt.Appendf(b, "  ptr: %s (forward-confirmed: %q)\n", strings.Join(r.PTR.Names, ", "), r.PTR.Confirmed)
	}
	if r.ASN != nil {
		var as []string
		for _, o := range r.ASN.Origins {
			as = append(as, fmt.Sprintf("AS%d %s", o.Number, o.Name))
		}
		b = fmt.Appendf(b, "  asn: %s prefix %s (%s)\n", strings.Join(as, ", "), r.ASN.Prefix, r.ASN.Source)
	}
	for _, k := range slices.Sorted(maps.Keys(r.Errs)) {
		b = fmt.Appendf(b, "  %s error: %s\n", k, r.Errs[k])
	}
	return b
}
