package enrich

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// originRecord is one TXT answer of Team Cymru's origin zones:
// "64500 64501 | 192.0.2.0/24 | US | arin | 1998-09-25".
type originRecord struct {
	asns      []uint32
	prefix    netip.Prefix
	country   string
	registry  string
	allocated string
}

// parseOrigin parses an origin TXT record. The first field holds one or
// more AS numbers separated by spaces (a multi-origin prefix); the second
// the announced prefix. The others (country, registry, allocation date)
// may be missing or empty.
func parseOrigin(txt string) (originRecord, error) {
	fields := strings.Split(txt, "|")
	if len(fields) < 2 {
		return originRecord{}, fmt.Errorf("origin record %q: want at least 2 fields separated by |", txt)
	}
	for i := range fields {
		fields[i] = strings.TrimSpace(fields[i])
	}
	var r originRecord
	for _, f := range strings.Fields(fields[0]) {
		n, err := parseASN(f)
		if err != nil {
			return originRecord{}, fmt.Errorf("origin record %q: %w", txt, err)
		}
		if !slices.Contains(r.asns, n) {
			r.asns = append(r.asns, n)
		}
	}
	if len(r.asns) == 0 {
		return originRecord{}, fmt.Errorf("origin record %q: no AS number", txt)
	}
	p, err := netip.ParsePrefix(fields[1])
	if err != nil {
		return originRecord{}, fmt.Errorf("origin record %q: %w", txt, err)
	}
	r.prefix = p.Masked()
	if len(fields) > 2 {
		r.country = fields[2]
	}
	if len(fields) > 3 {
		r.registry = fields[3]
	}
	if len(fields) > 4 {
		r.allocated = fields[4]
	}
	return r, nil
}

// parseASName parses an AS name TXT record:
// "64500 | US | arin | 2002-01-04 | NAME - Org, US". The name is everything
// after the fourth separator, separators included; it is empty when the
// record has fewer fields.
func parseASName(txt string) (asn uint32, name string, err error) {
	fields := strings.SplitN(txt, "|", 5)
	asn, err = parseASN(strings.TrimSpace(fields[0]))
	if err != nil {
		return 0, "", fmt.Errorf("as name record %q: %w", txt, err)
	}
	if len(fields) == 5 {
		name = strings.TrimSpace(fields[4])
	}
	return asn, name, nil
}

var errNoASN = errors.New("empty AS number")

// parseASN parses "64500" or "AS64500" (any case).
func parseASN(s string) (uint32, error) {
	if len(s) > 2 && (s[0] == 'A' || s[0] == 'a') && (s[1] == 'S' || s[1] == 's') {
		s = s[2:]
	}
	if s == "" {
		return 0, errNoASN
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("bad AS number %q", s)
	}
	return uint32(n), nil
}

// bestOrigin picks, among parsed origin records, those for the longest
// prefix containing ip, and merges their AS numbers. ok is false when no
// record covers ip.
func bestOrigin(ip netip.Addr, recs []originRecord) (best originRecord, ok bool) {
	for _, r := range recs {
		if !r.prefix.Contains(ip) {
			continue
		}
		switch {
		case !ok || r.prefix.Bits() > best.prefix.Bits():
			best, ok = r, true
			best.asns = slices.Clone(r.asns)
		case r.prefix.Bits() == best.prefix.Bits():
			for _, n := range r.asns {
				if !slices.Contains(best.asns, n) {
					best.asns = append(best.asns, n)
				}
			}
		}
	}
	return best, ok
}
