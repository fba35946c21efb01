package record

import (
	"strings"
	"testing"
	"time"
)

func TestScanAssociations(t *testing.T) {
	in := `{"first_seen":"2026-11-26T10:00:00.5Z","src":"2001:db8::1","sport":1000,"syns":1,"os_class":"Linux","addr_type":"other","ipv4":{"src":"192.0.2.1","sport":2000,"first_seen":"2026-11-26T10:00:00.6Z","blocklisted":true},"score":0.9,"evidence":["order:x(+3.0)"],"spammer":true}
{"first_seen":"2026-11-26T10:00:01Z","src":"2001:db8::2","sport":1001,"syns":3,"os_class":"Windows","addr_type":"eui64","ipv4":{"src":"192.0.2.2","sport":null,"first_seen":null,"blocklisted":false},"score":0.5,"evidence":["ambiguous:x"],"spammer":false}
garbage
{"first_seen":"2026-11-26T11:00:00Z","src":"2001:db8::3","sport":1002,"syns":1,"os_class":"","addr_type":"other","ipv4":null,"score":0,"evidence":[],"spammer":false}
`
	var got []*Association
	st, err := ScanAssociations(strings.NewReader(in), Window{Until: time.Date(2026, 11, 26, 10, 30, 0, 0, time.UTC)}, func(a *Association) error {
		got = append(got, a)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Lines != 4 || st.Bad != 1 || st.Filtered != 1 || !strings.Contains(st.FirstBad, "line 3") {
		t.Errorf("stats %+v", st)
	}
	if len(got) != 2 || !got[0].Spammer || got[0].IPv4.SrcPort != 2000 || got[0].IPv4.AddressOnly() || !got[1].IPv4.AddressOnly() {
		t.Fatalf("got %+v", got)
	}
}
