package evaluate

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/mxsensor/mxsensor/internal/blocklist"
)

func TestScoreList(t *testing.T) {
	truth := `{"type":"host","host":1,"spammer":true,"listed":true,"ipv4":["192.0.2.1"],"ipv6":["2001:db8:1::1"]}
{"type":"host","host":2,"spammer":false,"listed":false,"ipv4":["192.0.2.2"],"ipv6":["2001:db8:1::2"]}
{"type":"host","host":3,"spammer":true,"listed":true,"ipv4":["192.0.2.3"],"ipv6":["2001:db8:3::3"]}
{"type":"host","host":4,"spammer":true,"listed":false,"ipv4":["192.0.2.4"],"ipv6":["2001:db8:4::4"]}
{"type":"attempt","host":1,"family":"ipv6","src":"2001:db8:1::1","sport":1,"first_seen":"2026-11-26T10:00:00Z","syns":1,"delivery":1}
{"type":"attempt","host":2,"family":"ipv6","src":"2001:db8:1::2","sport":2,"first_seen":"2026-11-26T10:00:01Z","syns":1,"delivery":2}
{"type":"attempt","host":3,"family":"ipv6","src":"2001:db8:3::3","sport":3,"first_seen":"2026-11-26T10:00:02Z","syns":1,"delivery":3}
{"type":"attempt","host":4,"family":"ipv6","src":"2001:db8:4::4","sport":4,"first_seen":"2026-11-26T10:00:03Z","syns":1,"delivery":4}
`
	tr, err := ReadTruth(strings.NewReader(truth))
	if err != nil {
		t.Fatal(err)
	}
	l := &blocklist.List{Entries: []blocklist.Entry{
		{Prefix: netip.MustParsePrefix("2001:db8:1::/64")}, // host 1 (and host 2, collateral)
		{Prefix: netip.MustParsePrefix("2001:db8:4::/64")}, // an unlisted spammer: not knowable, false
	}}
	r := ScoreList(tr, l, nil)
	want := ListResult{Listed: 2, TruePrefixes: 1, FalsePrefixes: 1, Positives: 2, Covered: 1, Collateral: 2, Precision: 0.5, Recall: 0.5, F1: 0.5}
	if r != want {
		t.Errorf("got %+v\nwant %+v", r, want)
	}
	// Only host 1 rejected at some domain: host 3 is not knowable, so not
	// a positive, and the list covers every knowable one.
	r = ScoreList(tr, l, map[netip.Addr]bool{netip.MustParseAddr("192.0.2.1"): true})
	want = ListResult{Rejected: 1, Listed: 2, TruePrefixes: 1, FalsePrefixes: 1, Positives: 1, Covered: 1, Collateral: 2, Precision: 0.5, Recall: 1, F1: 2.0 / 3}
	if r != want {
		t.Errorf("rejected only: got %+v\nwant %+v", r, want)
	}
}
