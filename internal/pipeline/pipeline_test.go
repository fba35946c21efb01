package pipeline

import (
	"encoding/json"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/associate"
	"github.com/mxsensor/mxsensor/internal/attempt"
	"github.com/mxsensor/mxsensor/internal/synevent"
)

// appendString writes JSON strings: every string reads back as itself
// (invalid UTF-8 as U+FFFD), and the usual ones come out as strconv.Quote
// would write them.
func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "Linux 3.11 and newer", "order:rst-roundtrip-gap(+3.0)", `a "quoted" \ path`,
		"tab\tnew\nline\rcr", "ctl\x01\x1f\x7f", "é ü 日本", "bad\xff\xfeutf8", "\u2028"} {
		b := appendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Errorf("%q -> %s: not JSON: %v", s, b, err)
			continue
		}
		if want := string([]rune(s)); got != want { // each invalid byte is U+FFFD
			t.Errorf("%q -> %s -> %q", s, b, got)
		}
		if !strings.ContainsAny(s, "\x01\x1f\x7f\xff\u2028") {
			if q := strconv.Quote(s); string(b) != q {
				t.Errorf("%q -> %s, strconv.Quote %s", s, b, q)
			}
		}
	}
}

// A SYN later than the tolerated skew is counted in Stats, and so in the
// metrics and the run summary.
func TestLateSYNsCounted(t *testing.T) {
	p, err := New(Config{Attempt: attempt.DefaultConfig(), Associate: associate.DefaultConfig(), Recorder: discard{}}, nil, nil)
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
