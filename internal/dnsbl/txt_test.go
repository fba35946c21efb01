package dnsbl

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/mxsensor/mxsensor/internal/blocklist"
)

// An entry read from a list may hold any number of addresses and evidence
// families: its TXT answer is still one string under 255 bytes, cut after
// a whole item, and its A answer is the usual one.
func TestDNSBLTXTBounded(t *testing.T) {
	e := entry("2001:db8:d::/64", 17, "192.0.2.1")
	for i := range 300 {
		e.IPv4 = append(e.IPv4, netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)}))
	}
	for i := range 80 {
		e.Evidence = append(e.Evidence, fmt.Sprintf("family%02d", i))
	}
	s := newServer(t, NewTable([]blocklist.Entry{e}), Config{})
	name := Nibbles(netip.MustParseAddr("2001:db8:d::25")) + "." + zone

	m := s.Answer(query(name, dns.TypeTXT))
	if _, err := m.Pack(); err != nil {
		t.Fatalf("pack: %v", err)
	}
	if len(m.Answer) != 1 {
		t.Fatalf("answer %v", m.Answer)
	}
	txt := m.Answer[0].(*dns.TXT).Txt
	const head = "mxsensor: spam via IPv4 192.0.2.1 (+300); 17 attempts since 2026-11-26; evidence family00,family01,"
	if len(txt) != 1 || len(txt[0]) >= 255 || !strings.HasPrefix(txt[0], head) || !strings.HasSuffix(txt[0], "...") {
		t.Fatalf("TXT %q", txt)
	}
	if last := txt[0][strings.LastIndexByte(txt[0], ',')+1:]; last != fmt.Sprintf("family%s...", last[6:8]) {
		t.Errorf("cut inside a family: %q", txt[0])
	}
	if a := s.Answer(query(name, dns.TypeA)); fmt.Sprint(rrText(a.Answer)) != "[A 127.0.0.2]" {
		t.Errorf("A %v", a.Answer)
	}
}
