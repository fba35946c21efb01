package pipeline

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/associate"
	"github.com/mxsensor/mxsensor/internal/attempt"
	"github.com/mxsensor/mxsensor/internal/synevent"
)

// runOnce feeds the same SYNs through a pipeline appending to dir, as a
// restarted agent replaying its journal does, and closes it.
func runOnce(t *testing.T, dir string, from time.Time, evs []synevent.Event) {
	t.Helper()
	p, err := New(Config{OutDir: dir, Append: true, ReplayFrom: from, Attempt: attempt.DefaultConfig(),
		Associate: associate.DefaultConfig(), Recorder: discard{}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range evs {
		if err := p.Write(&evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestReplayIdempotent: replaying SYNs whose attempts and associations the
// files hold already (a restart after kill -9, whatever the store says)
// writes them once; a torn last line is cut off first.
func TestReplayIdempotent(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	var evs []synevent.Event
	for i := range 4 {
		for _, src := range []string{"192.0.2.1", "2001:db8::1"} {
			evs = append(evs, synevent.Event{Time: t0.Add(time.Duration(i) * time.Minute), Src: netip.MustParseAddr(src),
				Dst: netip.MustParseAddr("198.51.100.25"), SrcPort: uint16(40000 + i), DstPort: 25, Seq: uint32(i)})
		}
	}
	runOnce(t, dir, t0, evs)
	count := func(name string) int {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 0 && b[len(b)-1] != '\n' {
			t.Fatalf("%s ends with a torn line", name)
		}
		return strings.Count(string(b), "\n")
	}
	att, assoc := count("attempts.jsonl"), count("associations.jsonl")
	if att != 8 || assoc != 4 {
		t.Fatalf("first run: %d attempts, %d associations", att, assoc)
	}
	// A torn line, as a kill -9 in the middle of a write leaves.
	f, err := os.OpenFile(filepath.Join(dir, "attempts.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"first_seen":"2026-11-27T10:0`)
	f.Close()
	runOnce(t, dir, t0.Add(-time.Minute), evs)
	if a, b := count("attempts.jsonl"), count("associations.jsonl"); a != att || b != assoc {
		t.Errorf("after a replay: %d attempts (want %d), %d associations (want %d)", a, att, b, assoc)
	}
	// Lines before ReplayFrom are not read back (bounded): only the
	// attempts from it on are known.
	runOnce(t, dir, t0.Add(2*time.Minute), evs)
	if a := count("attempts.jsonl"); a != att+4 {
		t.Errorf("replay from t0+2m: %d attempts, want %d", a, att+4)
	}
}
