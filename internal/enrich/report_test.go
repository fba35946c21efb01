package enrich

import (
	"context"
	"strings"
	"testing"
)

// Report gathers every look-up about an address, notes the ones that
// failed, and prints as mxsensor lookup does.
func TestReport(t *testing.T) {
	srv := newTestServer(t)
	e := newTestEnricher(t, testConfig(srv.addr))
	ctx := context.Background()

	r := e.Report(ctx, listed4, true)
	want := "192.0.2.7\n" +
		"  dnsbl " + testBL + ": LISTED 127.0.0.2,127.0.0.4 (listed: spam trap hit see https://bl.test/192.0.2.7)\n" +
		"  ptr: liar.example.test, mail.example.test (forward-confirmed: \"mail.example.test\")\n" +
		"  asn: AS64500 EXAMPLE-NET - Example | Networks, US prefix 192.0.2.0/24 (cymru)\n"
	if got := string(r.AppendText(nil)); r.Failed() || got != want {
		t.Errorf("listed: failed %v\ngot  %q\nwant %q", r.Failed(), got, want)
	}

	// A zone that fails and a PTR query refused: both noted, the AS still
	// looked up; the errors print in the order of their names.
	r = e.Report(ctx, servfail4, true)
	if !r.Failed() || r.Errs["dnsbl"] == "" || len(r.DNSBL) != 1 || r.DNSBL[0].Error == "" || r.ASN == nil {
		t.Errorf("servfail: %+v", r)
	}
	r = e.Report(ctx, refusedPTR, true)
	text := string(r.AppendText(nil))
	if !r.Failed() || r.PTR != nil || !strings.Contains(text, "  dnsbl "+testBL+": not listed\n") ||
		strings.Index(text, "  asn error: ") > strings.Index(text, "  ptr error: ") {
		t.Errorf("refused PTR: %+v\n%s", r, text)
	}
	// Without PTR look-ups nothing of them shows.
	if r := e.Report(ctx, refusedPTR, false); r.Errs["ptr"] != "" || r.PTR != nil {
		t.Errorf("withPTR off: %+v", r)
	}
}

// The failed look-ups print in the order of their names, not the map's.
func TestReportErrorsOrdered(t *testing.T) {
	r := Report{IP: "192.0.2.66", Errs: map[string]string{"ptr": "p", "asn": "a", "dnsbl": "d"}}
	want := "192.0.2.66\n  asn error: a\n  dnsbl error: d\n  ptr error: p\n"
	for range 20 {
		if got := string(r.AppendText(nil)); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}
