package record

import (
	"net/netip"
	"testing"
	"time"
)

// AppendText is the line of mxsensor fingerprint without --json: p0f's
// words, the time in UTC with milliseconds, IPv6 sources in brackets.
func TestFingerprintAppendText(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	for _, tc := range []struct {
		f    Fingerprint
		want string
	}{
		{Fingerprint{Time: time.Date(2026, 11, 26, 11, 0, 0, 2_500_000, cet), Src: netip.MustParseAddr("192.0.2.10"), SrcPort: 35638,
			Label: "s:unix:Linux:4.19+", OSClass: "Linux", Dist: 6, RawSig: "4:58+6:0:1460:mss*44,7:mss,sok,ts,nop,ws:df,id+:0"},
			"2026-11-26T10:00:00.002Z 192.0.2.10:35638 os=s:unix:Linux:4.19+ class=Linux dist=6 raw_sig=4:58+6:0:1460:mss*44,7:mss,sok,ts,nop,ws:df,id+:0\n"},
		{Fingerprint{Time: time.Date(2026, 11, 26, 10, 0, 1, 0, time.UTC), Src: netip.MustParseAddr("2001:db8::1"), SrcPort: 25,
			Label: "g:unix:Linux:", OSClass: "Linux", Generic: true, Fuzzy: true, Dist: 0, RawSig: "6:64+0:0:1440:*:mss:0"},
			"2026-11-26T10:00:01.000Z [2001:db8::1]:25 os=g:unix:Linux: (generic) (fuzzy) class=Linux dist=0 raw_sig=6:64+0:0:1440:*:mss:0\n"},
	} {
		if got := string(tc.f.AppendText([]byte("x"))); got != "x"+tc.want {
			t.Errorf("got  %q\nwant %q", got, "x"+tc.want)
		}
	}
}
