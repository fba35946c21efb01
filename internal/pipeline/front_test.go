package pipeline

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/associate"
	"github.com/mxsensor/mxsensor/internal/attempt"
	"github.com/mxsensor/mxsensor/internal/fingerprint"
	"github.com/mxsensor/mxsensor/internal/record"
	"github.com/mxsensor/mxsensor/internal/rejectlog"
	"github.com/mxsensor/mxsensor/internal/results"
	"github.com/mxsensor/mxsensor/internal/synevent"
)

// scenarioSet reads the rejections of a scenario's mail log.
func scenarioSet(t *testing.T, dir string) *rejectlog.Set {
	t.Helper()
	set := rejectlog.NewSet(24 * time.Hour)
	_, err := rejectlog.ScanArgs(context.Background(), []string{filepath.Join(dir, "mail.log")},
		rejectlog.Options{Location: time.UTC}, nil, func(r rejectlog.Rejection) error { set.Add(r); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// writeAll writes evs through p and closes it.
func writeAll(t *testing.T, p *Pipeline, evs []synevent.Event) {
	t.Helper()
	for i := range evs {
		if err := p.Write(&evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}

func shardedConfig(shards int) Config {
	return Config{Attempt: attempt.DefaultConfig(), Associate: associate.DefaultConfig(), Shards: shards}
}

// runFiles runs evs through a pipeline into results files and returns
// their contents and the pipeline's stats.
func runFiles(t *testing.T, cfg Config, set *rejectlog.Set, evs []synevent.Event) (attempts, assocs string, st Stats) {
	t.Helper()
	dir := t.TempDir()
	w, err := results.OpenWriter(dir, results.WriterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(cfg, fingerprint.Builtin(), set, w)
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, p, evs)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	return read("attempts.jsonl"), read("associations.jsonl"), p.Stats()
}

// TestShardedSameResults: grouping and fingerprinting on shards give the
// results files of one grouper byte for byte, and the same counts, on
// generated scenarios (offline), and the same records live, where the
// clock advances the pipeline between SYNs (Flush waits for the shards).
func TestShardedSameResults(t *testing.T) {
	for _, args := range [][]string{
		{"-seed", "9", "-hosts", "600", "-density", "3", "-duration", "20m"},
		{"-seed", "4", "-hosts", "300", "-density", "1", "-duration", "40m"},
	} {
		dir := genScenario(t, args...)
		evs, set := captureEvents(t, dir), scenarioSet(t, dir)
		wantA, wantD, wantSt := runFiles(t, shardedConfig(1), set, evs)
		if wantSt.Associated == 0 || wantSt.Spammers == 0 {
			t.Fatalf("scenario %v: nothing associated or no spammer: %+v", args, wantSt)
		}
		wantLive := runLive(t, shardedConfig(1), set, evs)
		for _, n := range []int{2, 3, 8} {
			a, d, st := runFiles(t, shardedConfig(n), set, evs)
			if a != wantA || d != wantD {
				t.Errorf("scenario %v, %d shards: results differ from one grouper's (%d and %d bytes, want %d and %d)",
					args, n, len(a), len(d), len(wantA), len(wantD))
			}
			if st != wantSt {
				t.Errorf("scenario %v, %d shards: stats %+v, want %+v", args, n, st, wantSt)
			}
			if got := runLive(t, shardedConfig(n), set, evs); !slices.Equal(got, wantLive) {
				t.Errorf("scenario %v, %d shards, live: %d records differ from one grouper's %d", args, n, len(got), len(wantLive))
			}
		}
	}
}

// runLive runs evs through a live pipeline whose clock is the SYNs' time,
// flushed every 100 SYNs as the agent would on its timer, and returns the
// records as lines, in order.
func runLive(t *testing.T, cfg Config, set *rejectlog.Set, evs []synevent.Event) []string {
	t.Helper()
	var now time.Time
	cfg.Live, cfg.Now = true, func() time.Time { return now }
	var out recorder
	p, err := New(cfg, fingerprint.Builtin(), set, &out)
	if err != nil {
		t.Fatal(err)
	}
	for i := range evs {
		now = evs[i].Time
		if err := p.Write(&evs[i]); err != nil {
			t.Fatal(err)
		}
		if i%100 == 99 {
			if err := p.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	lines := make([]string, len(out.got))
	for i, r := range out.got {
		lines[i] = recordLine(r)
	}
	return lines
}

// attemptsOf runs evs through a pipeline and returns its attempts as
// lines (sorted: the order may differ), the SYNs they hold, and the stats.
func attemptsOf(t *testing.T, cfg Config, evs []synevent.Event) (lines []string, syns int, st Stats) {
	t.Helper()
	var out recorder
	p, err := New(cfg, fingerprint.Builtin(), nil, &out)
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, p, evs)
	for _, r := range out.got {
		if a, ok := r.(record.Attempt); ok {
			lines = append(lines, recordLine(a))
			syns += a.SYNs
		}
	}
	slices.Sort(lines)
	return lines, syns, p.Stats()
}

// TestShardedLateSYNs: with SYNs later than the tolerated skew, the shards
// still group them as one grouper (each shard follows the stream's
// watermark), and count them alike; only the order they go out in may
// differ.
func TestShardedLateSYNs(t *testing.T) {
	evs := scenarioEvents(t, "-seed", "5", "-hosts", "300", "-density", "2", "-duration", "20m")
	for i := 50; i < len(evs); i += 97 {
		evs[i].Time = evs[i].Time.Add(-30 * time.Second)
	}
	want, wantSYNs, wantSt := attemptsOf(t, shardedConfig(1), evs)
	if wantSt.LateSYNs == 0 {
		t.Fatal("no late SYN: the test tests nothing")
	}
	got, syns, st := attemptsOf(t, shardedConfig(3), evs)
	if !slices.Equal(got, want) || syns != wantSYNs || syns != len(evs) {
		t.Errorf("3 shards: %d attempts of %d SYNs, want %d of %d (%d SYNs in)", len(got), syns, len(want), wantSYNs, len(evs))
	}
	if st.LateSYNs != wantSt.LateSYNs {
		t.Errorf("3 shards: %d late SYNs, want %d", st.LateSYNs, wantSt.LateSYNs)
	}
}

// TestShardedMaxLive: under the held-attempt bound (shared out between the
// shards and the merger) attempts are emitted early and counted, none is
// lost, and the attempts held stay near the bound.
func TestShardedMaxLive(t *testing.T) {
	evs := scenarioEvents(t, "-seed", "5", "-hosts", "300", "-density", "2", "-duration", "20m")
	const maxLive = 60
	var first string
	var firstForced uint64
	// The same input, again and again: the same records in the same order,
	// whichever shard's goroutine runs first.
	for run := range 4 {
		cfg := shardedConfig(4)
		cfg.Attempt.MaxLive = maxLive
		var out recorder
		p, err := New(cfg, fingerprint.Builtin(), nil, &out)
		if err != nil {
			t.Fatal(err)
		}
		most := 0
		for i := range evs {
			if err := p.Write(&evs[i]); err != nil {
				t.Fatal(err)
			}
			held := p.front.queued
			for _, h := range p.front.held {
				held += h
			}
			most = max(most, held)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		syns := 0
		for _, r := range out.got {
			if a, ok := r.(record.Attempt); ok {
				syns += a.SYNs
			}
		}
		st := p.Stats()
		// Each early emission counted once: by the shard, or by the merger.
		if st.ForcedAttempts == 0 || st.ForcedAttempts > st.Attempts || syns != len(evs) {
			t.Errorf("%d attempts emitted early of %d, %d SYNs out of %d in", st.ForcedAttempts, st.Attempts, syns, len(evs))
		}
		// Each shard keeps to its share; the merger lets go what is over.
		if most > maxLive {
			t.Errorf("%d attempts held at most, bound %d", most, maxLive)
		}
		got := fmt.Sprint(out.got)
		if run == 0 {
			first, firstForced = got, st.ForcedAttempts
		} else if got != first || st.ForcedAttempts != firstForced {
			t.Fatalf("run %d differs from the first (%d attempts emitted early, then %d)", run, firstForced, st.ForcedAttempts)
		}
	}
}

// TestShardedLateSYNJoinsAsOne: a late SYN of a source whose shard saw no
// SYN for a while is grouped as one grouper would: against the stream's
// watermark, not its shard's (here: not into the attempt the stream's time
// already closed).
func TestShardedLateSYNJoinsAsOne(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	for shardOf(a, 2) == shardOf(b, 2) {
		b = b.Next()
	}
	dst := netip.MustParseAddr("198.51.100.25")
	evs := []synevent.Event{
		{Time: t0, Src: a, Dst: dst, SrcPort: 40000, DstPort: 25, Seq: 1},
		{Time: t0.Add(40 * time.Second), Src: b, Dst: dst, SrcPort: 40000, DstPort: 25, Seq: 2},
		// Late: a's attempt closed when the stream reached 40 s.
		{Time: t0.Add(10 * time.Second), Src: a, Dst: dst, SrcPort: 40000, DstPort: 25, Seq: 1},
	}
	for _, n := range []int{1, 2} {
		lines, _, st := attemptsOf(t, shardedConfig(n), evs)
		if len(lines) != 3 || st.LateSYNs != 1 {
			t.Errorf("%d shards: %d attempts, %d late SYNs; want 3 and 1", n, len(lines), st.LateSYNs)
		}
	}
}
