package record

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"
)

// The enrichment line is byte for byte what the agent wrote with
// encoding/json before it had a record type (for text without the HTML
// characters encoding/json also escapes), so old files and store rows read
// the same.
func TestEnrichmentLineAsBefore(t *testing.T) {
	type oldDNSBL struct {
		Zone    string       `json:"zone"`
		Listed  bool         `json:"listed"`
		Codes   []netip.Addr `json:"codes,omitempty"`
		Reasons []string     `json:"reasons,omitempty"`
		Error   string       `json:"error,omitempty"`
	}
	type oldLine struct {
		TS    time.Time  `json:"ts"`
		IP    netip.Addr `json:"ip"`
		DNSBL []oldDNSBL `json:"dnsbl,omitempty"`
		PTR   *PTR       `json:"ptr,omitempty"`
		ASN   *ASN       `json:"asn,omitempty"`
		Error string     `json:"error,omitempty"`
	}
	ts := time.Date(2026, 11, 26, 10, 0, 0, 123000000, time.UTC)
	ptr := PTR{Names: []string{"mx.example.org", "mail.example.org"}, Confirmed: "mx.example.org"}
	asn := ASN{Origins: []AS{{Number: 64500, Name: "EX-AS, ZZ"}, {Number: 64501}}, Prefix: netip.MustParsePrefix("2001:db8::/32"),
		Country: "ZZ", Registry: "ripencc", Allocated: "2010-01-01", Source: "cymru"}
	for _, c := range []struct {
		old oldLine
		rec Enrichment
	}{
		{oldLine{TS: ts, IP: netip.MustParseAddr("192.0.2.1")}, Enrichment{Time: ts, IP: netip.MustParseAddr("192.0.2.1")}},
		{
			oldLine{TS: ts, IP: netip.MustParseAddr("2001:db8::25"), PTR: &ptr, ASN: &asn, Error: "ptr: timeout",
				DNSBL: []oldDNSBL{{Zone: "bl.example", Listed: true, Codes: []netip.Addr{netip.MustParseAddr("127.0.0.2")},
					Reasons: []string{"listed; see https://bl.example/q?ip=2001:db8::25"}}, {Zone: "b2.example", Error: "SERVFAIL"}}},
			Enrichment{Time: ts, IP: netip.MustParseAddr("2001:db8::25"), PTR: ptr, ASN: asn, Error: "ptr: timeout",
				DNSBL: []DNSBLAnswer{{Zone: "bl.example", Listed: true, Codes: []netip.Addr{netip.MustParseAddr("127.0.0.2")},
					Reasons: []string{"listed; see https://bl.example/q?ip=2001:db8::25"}}, {Zone: "b2.example", Error: "SERVFAIL"}}},
		},
	} {
		want, err := json.Marshal(c.old)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.rec.AppendJSON(nil); string(got) != string(want)+"\n" {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	}
}
