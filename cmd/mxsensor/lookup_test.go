package main

import (
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/mxsensor/mxsensor/internal/enrich"
)

// startDNS serves a tiny DNSBL, reverse and Team Cymru zone on loopback.
func startDNS(t *testing.T) string {
	return startDNSZone(t, map[string][]string{
		"7.2.0.192.bl.test.":              {"7.2.0.192.bl.test. 300 IN A 127.0.0.2", `7.2.0.192.bl.test. 300 IN TXT "listed for testing"`},
		"7.2.0.192.in-addr.arpa.":         {"7.2.0.192.in-addr.arpa. 300 IN PTR mail.example.test."},
		"mail.example.test.":              {"mail.example.test. 300 IN A 192.0.2.7"},
		"7.2.0.192.origin.asn.cymru.com.": {`7.2.0.192.origin.asn.cymru.com. 300 IN TXT "64500 | 192.0.2.0/24 | ZZ | test | 2026-01-01"`},
		"AS64500.asn.cymru.com.":          {`AS64500.asn.cymru.com. 300 IN TXT "64500 | ZZ | test | 2026-01-01 | EXAMPLE-AS - Example | Org, ZZ"`},
	})
}

// startDNSZone serves records (by owner name; others get NXDOMAIN) over UDP
// on 127.0.0.1 of the calling thread's network namespace.
func startDNSZone(t *testing.T, records map[string][]string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		name := q.Question[0].Name
		var rrs []string
		for k, v := range records {
			if strings.EqualFold(k, name) {
				rrs = v
			}
		}
		for _, rr := range rrs {
			r, err := dns.NewRR(rr)
			if err == nil && r.Header().Rrtype == q.Question[0].Qtype {
				m.Answer = append(m.Answer, r)
			}
		}
		if rrs == nil {
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

func TestLookupCommand(t *testing.T) {
	resolver := startDNS(t)
	out, errs, err := runCLI(t, "lookup", "--resolver", resolver, "--dnsbl", "bl.test", "--json", "192.0.2.7", "192.0.2.8")
	// 192.0.2.8 has no PTR and no ASN: empty results, not errors.
	if err != nil {
		t.Errorf("lookup: %v\n%s", err, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines (%v):\n%s\n%s", len(lines), err, out, errs)
	}
	var r enrich.Report
	if err := json.Unmarshal([]byte(lines[0]), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.DNSBL) != 1 || !r.DNSBL[0].Listed || r.DNSBL[0].Codes[0] != "127.0.0.2" || r.DNSBL[0].Reasons[0] != "listed for testing" {
		t.Errorf("dnsbl %+v", r.DNSBL)
	}
	if r.PTR == nil || r.PTR.Confirmed != "mail.example.test" {
		t.Errorf("ptr %+v", r.PTR)
	}
	if r.ASN == nil || len(r.ASN.Origins) != 1 || r.ASN.Origins[0].Number != 64500 || r.ASN.Origins[0].Name != "EXAMPLE-AS - Example | Org, ZZ" {
		t.Errorf("asn %+v", r.ASN)
	}
	var r2 enrich.Report
	if err := json.Unmarshal([]byte(lines[1]), &r2); err != nil {
		t.Fatal(err)
	}
	if len(r2.DNSBL) != 1 || r2.DNSBL[0].Listed {
		t.Errorf("unlisted address: %+v", r2.DNSBL)
	}
}
