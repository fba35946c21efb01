package record

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

func TestRejectionAppendJSON(t *testing.T) {
	ts := time.Date(2026, 11, 26, 11, 0, 0, 123456000, time.FixedZone("", 3600))
	cases := []struct {
		r    Rejection
		want string
	}{
		{
			Rejection{Time: ts, IP: netip.MustParseAddr("192.0.2.7"), Zone: "zen.spamhaus.org", MTA: MTAPostfixSMTPD, Raw: "raw is not encoded"},
			`{"ts":"2026-11-26T10:00:00.123456Z","ip":"192.0.2.7","zone":"zen.spamhaus.org","mta":"postfix-smtpd"}`,
		},
		{
			Rejection{Time: ts, IP: netip.MustParseAddr("2001:db8::7"), MTA: MTAPostfixPostscreen, Rank: 3},
			`{"ts":"2026-11-26T10:00:00.123456Z","ip":"2001:db8::7","zone":"","mta":"postfix-postscreen","rank":3}`,
		},
		{
			// Postscreen's rank line keeps its rank even when it is 0.
			Rejection{Time: ts, IP: netip.MustParseAddr("2001:db8::7"), MTA: MTAPostfixPostscreen},
			`{"ts":"2026-11-26T10:00:00.123456Z","ip":"2001:db8::7","zone":"","mta":"postfix-postscreen","rank":0}`,
		},
		{
			Rejection{Time: ts, IP: netip.MustParseAddr("192.0.2.7"), Zone: "bl.spamcop.net", MTA: MTAExim,
				Reason: "see \"https://x.example/?a=1&b=<2>\"\\ \t\x01 \u2028 \xff"},
			`{"ts":"2026-11-26T10:00:00.123456Z","ip":"192.0.2.7","zone":"bl.spamcop.net","mta":"exim","reason":"see \"https://x.example/?a=1&b=<2>\"\\ \t\u0001 \u2028 \ufffd"}`,
		},
		{
			// A zone that is a name from an operator's message is marked.
			Rejection{Time: ts, IP: netip.MustParseAddr("192.0.2.7"), Zone: "RBL_SPAMHAUS_XBL", ZoneKind: ZoneKindSymbol, MTA: MTARspamd},
			`{"ts":"2026-11-26T10:00:00.123456Z","ip":"192.0.2.7","zone":"RBL_SPAMHAUS_XBL","zone_kind":"symbol","mta":"rspamd"}`,
		},
	}
	for _, tc := range cases {
		got := string(tc.r.AppendJSON(nil))
		if got != tc.want+"\n" {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("invalid JSON %s", got)
		}
		// json.Marshal goes through MarshalJSON (and escapes HTML
		// characters on top).
		m, err := json.Marshal(tc.r)
		var a, b any
		if err != nil || json.Unmarshal(m, &a) != nil || json.Unmarshal([]byte(tc.want), &b) != nil || !reflect.DeepEqual(a, b) {
			t.Errorf("json.Marshal = %s, %v", m, err)
		}
	}
}

func TestRejectionJSONRoundTrip(t *testing.T) {
	in := Rejection{Time: time.Date(2026, 11, 26, 10, 0, 0, 5, time.UTC), IP: netip.MustParseAddr("2001:db8::7"),
		Zone: "Spamhaus", ZoneKind: ZoneKindName, MTA: MTASendmail, Reason: "see https://x.example/"}
	var out Rejection
	if err := json.Unmarshal(in.AppendJSON(nil), &out); err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Errorf("got %+v, want %+v", out, in)
	}
}
