package sensor

import (
	"net/netip"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/enrich"
	"github.com/mxsensor/mxsensor/internal/synevent"
)

// A result kept by an earlier agent is not asked again for an hour, and
// its confirmed name and origin AS reach the association engine.
func TestEnrichSinkPreload(t *testing.T) {
	names := enrich.NewNameCache(0)
	s := &EnrichSink{recent: map[netip.Addr]time.Time{}, again: time.Hour, maxMap: 16, names: names}
	at := time.Now().Add(-10 * time.Minute).UTC()
	line := `{"ts":"` + at.Format(time.RFC3339Nano) + `","ip":"2001:db8::25","ptr":{"Names":["mx.example.org"],"Confirmed":"mx.example.org"},"asn":{"Origins":[{"Number":64500,"Name":"EX"}],"Prefix":"2001:db8::/32","Source":"cymru"}}`
	if !s.Preload([]byte(line)) || s.Preload([]byte("garbage")) {
		t.Fatal("Preload parsed wrongly")
	}
	ip := netip.MustParseAddr("2001:db8::25")
	if n, ok := names.PTR(ip); !ok || n != "mx.example.org" {
		t.Errorf("name %q %v", n, ok)
	}
	if a, ok := names.Origin(ip); !ok || a != 64500 {
		t.Errorf("origin %d %v", a, ok)
	}
	// Seen 10 minutes ago: not submitted again (s.e is nil: a submission
	// would panic).
	if err := s.Write(&synevent.Event{Src: ip, Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
}
