package pipeline

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/associate"
	"github.com/mxsensor/mxsensor/internal/attempt"
	"github.com/mxsensor/mxsensor/internal/synevent"
)

// A SYN later than the tolerated skew is counted in Stats, and so in the
// metrics and the run summary.
func TestLateSYNsCounted(t *testing.T) {
	p, err := New(Config{Attempt: attempt.DefaultConfig(), Associate: associate.DefaultConfig()}, nil, nil, discard{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	ev := synevent.Event{Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("198.51.100.25"), SrcPort: 40000, DstPort: 25}
	for i, at := range []time.Duration{time.Minute, 0} { // the second is a minute late
		ev.Time, ev.Seq, ev.SrcPort = t0.Add(at), uint32(i), uint16(40000+i)
		if err := p.Write(&ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
	if s := p.Stats(); s.LateSYNs != 1 || !strings.Contains(s.Summary(), "1 SYNs later than the tolerated skew") {
		t.Errorf("late SYNs %d, summary %q", s.LateSYNs, s.Summary())
	}
}
