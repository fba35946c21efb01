package enrich

import (
	"net/netip"
	"strings"
	"testing"
)

func TestPTRTable(t *testing.T) {
	in := `# collected 2026-11-26
192.0.2.1 mx.example.org.
2001:db8::1   mx.example.org
::ffff:198.51.100.7 dyn-7.isp.example

garbage
192.0.2.300 bad.example
192.0.2.9 bad..name
192.0.2.10 two names
`
	tb, err := ReadPTRTable(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	for ip, want := range map[string]string{"192.0.2.1": "mx.example.org", "2001:db8::1": "mx.example.org", "198.51.100.7": "dyn-7.isp.example"} {
		if n, ok := tb.Lookup(netip.MustParseAddr(ip)); !ok || n != want {
			t.Errorf("%s: %q %v, want %q", ip, n, ok, want)
		}
	}
	if tb.Len() != 3 || tb.BadLines() != 4 || len(tb.LineErrors()) != 4 || tb.LineErrors()[0].Line != 6 {
		t.Errorf("len %d bad %d errors %v", tb.Len(), tb.BadLines(), tb.LineErrors())
	}
	if _, err := ReadPTRTable(strings.NewReader("nonsense\n")); err == nil {
		t.Error("a table of garbage was accepted")
	}
	names := StaticNames{PTRs: tb}
	if _, ok := names.Origin(netip.MustParseAddr("192.0.2.1")); ok {
		t.Error("origin without an ASN table")
	}
	asn, err := ReadASNTable(strings.NewReader("192.0.2.0/24\t64500\tEXAMPLE\n"))
	if err != nil {
		t.Fatal(err)
	}
	names.ASNs = asn
	if n, ok := names.Origin(netip.MustParseAddr("192.0.2.1")); !ok || n != 64500 {
		t.Errorf("origin %d %v", n, ok)
	}
	if n, ok := names.PTR(netip.MustParseAddr("192.0.2.1")); !ok || n != "mx.example.org" {
		t.Errorf("ptr %q %v", n, ok)
	}
}

func TestNameCache(t *testing.T) {
	c := NewNameCache(2)
	a, b, d := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("192.0.2.3")
	c.Put(Result{Request: Request{IP: a}, ASN: ASNResult{Origins: []ASN{{Number: 64500}}},
		PTR: PTRResult{Names: []string{"mx.example.org"}, Confirmed: "mx.example.org"}})
	// An unconfirmed name is not kept: anyone can write a reverse zone.
	c.Put(Result{Request: Request{IP: b}, PTR: PTRResult{Names: []string{"mx.example.org"}}})
	if n, ok := c.Origin(a); !ok || n != 64500 {
		t.Errorf("origin %d %v", n, ok)
	}
	if n, ok := c.PTR(a); !ok || n != "mx.example.org" {
		t.Errorf("ptr %q %v", n, ok)
	}
	if _, ok := c.PTR(b); ok || c.Len() != 1 {
		t.Errorf("unconfirmed name kept (len %d)", c.Len())
	}
	// The static table wins.
	tb, err := ReadPTRTable(strings.NewReader("192.0.2.1 static.example.org\n"))
	if err != nil {
		t.Fatal(err)
	}
	c.Static.PTRs = tb
	if n, _ := c.PTR(a); n != "static.example.org" {
		t.Errorf("static table not preferred: %q", n)
	}
	// Bounded: full, it starts over.
	c.Put(Result{Request: Request{IP: d}, ASN: ASNResult{Origins: []ASN{{Number: 1}}}})
	c.Put(Result{Request: Request{IP: b}, ASN: ASNResult{Origins: []ASN{{Number: 2}}}})
	if c.Len() > 2 {
		t.Errorf("cache grew to %d", c.Len())
	}
}
