package offline

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestProgressLine(t *testing.T) {
	p := &Progress{totalBytes: 2000, doneBytes: 1000}
	got := p.line("/data/b.pcap", 500, 3000, 3*time.Second)
	want := "b.pcap [======================        ]  75%  3000 SYNs  1000 SYN/s  left 1s"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if got := (&Progress{}).line("a.pcap", -1, 0, 0); !strings.Contains(got, "  0%") || !strings.Contains(got, "left ?") {
		t.Errorf("unknown size: %q", got)
	}
}

// TestProgressLogged: off a terminal (or with --log-format json) progress
// is a log record every progressEvery, never the live line's escapes.
func TestProgressLogged(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	var w bytes.Buffer
	p := NewProgress(ProgressConfig{Task: "analyze", W: &w, Log: zap.New(core), Console: true})
	p.totalBytes = 2000
	p.Update("a.pcap", 500, 100)
	if logs.Len() != 0 {
		t.Errorf("logged before progressEvery: %v", logs.All())
	}
	p.last = p.last.Add(-progressEvery)
	p.Update("a.pcap", 500, 100)
	p.Done()
	if recs := logs.FilterMessage("analyze progress").All(); len(recs) != 1 || recs[0].ContextMap()["percent"] != 25.0 || recs[0].ContextMap()["syns"] != int64(100) {
		t.Errorf("progress records: %v", logs.All())
	}
	if w.Len() != 0 {
		t.Errorf("written to stderr directly: %q", w.String())
	}
}

// A nil Progress shows nothing (fingerprint feeds without one).
func TestProgressNil(t *testing.T) {
	var p *Progress
	p.Update("a.pcap", 1, 1)
	p.FileDone(1, 1)
	p.Done()
}
