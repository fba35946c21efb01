package enrich

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseOrigin(t *testing.T) {
	for _, c := range []struct {
		txt     string
		asns    []uint32
		prefix  string
		country string
		ok      bool
	}{
		{"64500 | 192.0.2.0/24 | US | arin | 1998-09-25", []uint32{64500}, "192.0.2.0/24", "US", true},
		{"64501 64502 64501 | 198.51.100.0/24 | NL | ripencc | 2005-01-01", []uint32{64501, 64502}, "198.51.100.0/24", "NL", true},
		{"64503|2001:db8::/32|DE", []uint32{64503}, "2001:db8::/32", "DE", true},
		{"64500 | 192.0.2.1/24", []uint32{64500}, "192.0.2.0/24", "", true},
		{"AS64500 | 192.0.2.0/24 | | |", []uint32{64500}, "192.0.2.0/24", "", true},
		{"64500", nil, "", "", false},
		{" | 192.0.2.0/24 | US", nil, "", "", false},
		{"NA | 192.0.2.0/24 | US", nil, "", "", false},
		{"64500 | 192.0.2.0 | US", nil, "", "", false},
		{"-1 | 192.0.2.0/24", nil, "", "", false},
		{"+5 | 192.0.2.0/24", nil, "", "", false},
	} {
		r, err := parseOrigin(c.txt)
		if (err == nil) != c.ok {
			t.Errorf("%q: error %v, want ok=%v", c.txt, err, c.ok)
			continue
		}
		if !c.ok {
			continue
		}
		if len(r.asns) != len(c.asns) || r.prefix.String() != c.prefix || r.country != c.country {
			t.Errorf("%q: got %+v", c.txt, r)
		}
		for i := range c.asns {
			if r.asns[i] != c.asns[i] {
				t.Errorf("%q: asns %v, want %v", c.txt, r.asns, c.asns)
			}
		}
	}
}

func TestParseASName(t *testing.T) {
	for _, c := range []struct {
		txt  string
		asn  uint32
		name string
		ok   bool
	}{
		{"64500 | US | arin | 2002-01-04 | NAME - Org, US", 64500, "NAME - Org, US", true},
		{"64500 | US | arin | 2002-01-04 | A | B | C", 64500, "A | B | C", true},
		{"64500 | US | arin | 2002-01-04 |", 64500, "", true},
		{"64500 | US", 64500, "", true},
		{"", 0, "", false},
		{"64500 64501 | US | arin | x | y", 0, "", false},
	} {
		asn, name, err := parseASName(c.txt)
		if (err == nil) != c.ok || asn != c.asn || name != c.name {
			t.Errorf("%q: got %d %q %v, want %d %q ok=%v", c.txt, asn, name, err, c.asn, c.name, c.ok)
		}
	}
}

func TestBestOrigin(t *testing.T) {
	var recs []originRecord
	for _, s := range []string{
		"64504 | 203.0.0.0/16 | AU",
		"64505 | 203.0.113.0/24 | AU",
		"64506 | 203.0.113.0/24 | AU",
		"64507 | 198.51.100.0/24 | US", // does not contain the address
	} {
		r, err := parseOrigin(s)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	best, ok := bestOrigin(nested4, recs)
	if !ok || best.prefix.Bits() != 24 || len(best.asns) != 2 || best.asns[0] != 64505 || best.asns[1] != 64506 {
		t.Errorf("got %+v %v", best, ok)
	}
	if _, ok := bestOrigin(netip.MustParseAddr("192.0.2.1"), recs); ok {
		t.Error("matched an address outside every prefix")
	}
}

func FuzzParseOrigin(f *testing.F) {
	for _, s := range []string{
		"64500 | 192.0.2.0/24 | US | arin | 1998-09-25",
		"64501 64502 | 198.51.100.0/24 | NL | ripencc | 2005-01-01",
		"64503 | 2001:db8::/32 | DE | ripencc | 2010-01-01",
		"|||||||",
		"AS | /",
		"4294967295 | ::/0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseOrigin(s)
		if err != nil {
			return
		}
		if len(r.asns) == 0 || !r.prefix.IsValid() || r.prefix != r.prefix.Masked() {
			t.Fatalf("%q: accepted as %+v", s, r)
		}
		bestOrigin(r.prefix.Addr(), []originRecord{r})
	})
}

func FuzzParseASName(f *testing.F) {
	for _, s := range []string{
		"64500 | US | arin | 2002-01-04 | NAME - Org, US",
		"64500 | US | arin | 2002-01-04 | A | B",
		"64500",
		"| | | | |",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, name, err := parseASName(s)
		if err == nil && strings.Count(s, "|") < 4 && name != "" {
			t.Fatalf("%q: name %q from fewer than 5 fields", s, name)
		}
	})
}

func FuzzParseTableLine(f *testing.F) {
	for _, s := range []string{
		"192.0.2.0/24\t64500\tEXAMPLE",
		"2001:db8::/32\tAS64503\tV6, DE\n",
		"::ffff:192.0.2.0/120\t1\tx\r\n",
		"192.0.2.1\t1",
		"# comment",
		"",
		"\t\t",
		"fe80::1%eth0\t1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, skip, err := parseTableLine(s)
		if err != nil || skip {
			return
		}
		if !e.Prefix.IsValid() || e.Prefix != e.Prefix.Masked() || e.Prefix.Addr().Zone() != "" {
			t.Fatalf("%q: accepted as %+v", s, e)
		}
		if e.Prefix.Addr().Is4In6() {
			return // lookups unmap addresses: only IPv4 prefixes match them
		}
		tab := &ASNTable{v4: map[netip.Prefix]TableEntry{}, v6: map[netip.Prefix]TableEntry{}}
		tab.add(e)
		tab.lens4, tab.lens6 = prefixLengths(tab.v4), prefixLengths(tab.v6)
		if got, ok := tab.Lookup(e.Prefix.Addr()); !ok || got != e {
			t.Fatalf("%q: entry %+v not found by its own address (got %+v)", s, e, got)
		}
	})
}
