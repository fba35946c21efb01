package addr

import (
	"encoding/json"
	"net/netip"
	"testing"
)

// The text and JSON forms of mxsensor addr, for each class that adds
// something to the line.
func TestReport(t *testing.T) {
	for _, tc := range []struct{ addr, text, json string }{
		{"2002:c000:21e::c000:21e",
			"2002:c000:21e::c000:21e\t6to4 gateway=192.0.2.30 /64=2002:c000:21e::/64 /48=2002:c000:21e::/48\n\tembeds 192.0.2.30 (6to4-gateway, confidence 0.99)\n",
			`{"addr":"2002:c000:21e::c000:21e","kind":"6to4","prefix64":"2002:c000:21e::/64","prefix48":"2002:c000:21e::/48","6to4_gateway":"192.0.2.30","embedded":[{"ipv4":"192.0.2.30","how":"6to4-gateway","confidence":0.99}]}`},
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2",
			"2001:0:4136:e378:8000:63bf:3fff:fdd2\tteredo server=65.54.227.120 client=192.0.2.45 port=40000 /64=2001:0:4136:e378::/64 /48=2001:0:4136::/48\n" +
				"\tembeds 192.0.2.45 (teredo-client, confidence 0.90)\n\tembeds 65.54.227.120 (teredo-server, confidence 0.20)\n",
			`{"addr":"2001:0:4136:e378:8000:63bf:3fff:fdd2","kind":"teredo","prefix64":"2001:0:4136:e378::/64","prefix48":"2001:0:4136::/48","teredo_server":"65.54.227.120","teredo_client":"192.0.2.45","teredo_port":40000,"embedded":[{"ipv4":"192.0.2.45","how":"teredo-client","confidence":0.9},{"ipv4":"65.54.227.120","how":"teredo-server","confidence":0.2}]}`},
		{"2001:db8::211:22ff:fe33:4455",
			"2001:db8::211:22ff:fe33:4455\teui64 mac=00:11:22:33:44:55 /64=2001:db8::/64 /48=2001:db8::/48\n",
			`{"addr":"2001:db8::211:22ff:fe33:4455","kind":"eui64","prefix64":"2001:db8::/64","prefix48":"2001:db8::/48","mac":"00:11:22:33:44:55","embedded":[]}`},
		{"10.0.0.1", "10.0.0.1\tipv4 plausible_public=false\n", `{"addr":"10.0.0.1","kind":"ipv4","plausible_public":false,"embedded":[]}`},
	} {
		r := ReportOf(netip.MustParseAddr(tc.addr))
		if got := string(r.AppendText(nil)); got != tc.text {
			t.Errorf("%s text:\ngot  %q\nwant %q", tc.addr, got, tc.text)
		}
		if got, err := json.Marshal(r); err != nil || string(got) != tc.json {
			t.Errorf("%s JSON:\ngot  %s\nwant %s", tc.addr, got, tc.json)
		}
	}
}
