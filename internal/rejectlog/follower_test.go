package rejectlog

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
)

// mapPositions is a PositionStore in memory, as the results store keeps
// positions: one state per file.
type mapPositions struct {
	mu sync.Mutex
	m  map[string]string
}

func (p *mapPositions) Position(file string) (string, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.m[file]
	return s, ok, nil
}

func (p *mapPositions) RecordPosition(file, state string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.m[file] = state
	return nil
}

// followUntil runs a follower until it has delivered want rejections and
// returns their reasons.
func followUntil(t *testing.T, cfg FollowerConfig, want int, during func()) []string {
	t.Helper()
	var mu sync.Mutex
	var got []string
	cfg.Poll, cfg.Parser = 2*time.Millisecond, testParser()
	cfg.Handle = func(rs []Rejection) error {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range rs {
			got = append(got, r.Reason)
		}
		return nil
	}
	f, err := NewFollower(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	if during != nil {
		during()
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= want {
			break
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if c := f.Counters(); c.Matched != uint64(len(got)) {
		t.Errorf("counters %+v for %d rejections", c, len(got))
	}
	return got
}

// TestFollowerPositions: without a recorded position the follower starts
// at the end of the log (its history is the initial read's), records where
// it is after each batch, and a new follower resumes there.
func TestFollowerPositions(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "mail.log")
	appendLines(t, logPath, rejectLine("Nov 26 10:00:00", 0))
	pos := &mapPositions{m: map[string]string{}}
	cfg := FollowerConfig{Path: logPath, Positions: pos}
	got := followUntil(t, cfg, 2, func() {
		appendLines(t, logPath, rejectLine("Nov 26 10:00:00", 1), rejectLine("Nov 26 10:00:00", 2))
	})
	if !slices.Equal(got, seqReasons(1, 3)) {
		t.Errorf("first follower: %q", got)
	}
	if _, ok, _ := pos.Position(logPath); !ok {
		t.Fatal("no position recorded")
	}
	// Written while no follower ran: read by the next one, once.
	appendLines(t, logPath, rejectLine("Nov 26 10:00:00", 3))
	if got := followUntil(t, cfg, 1, nil); !slices.Equal(got, seqReasons(3, 4)) {
		t.Errorf("resumed follower: %q", got)
	}
}

// TestFollowToWriter: the live log is printed from its start, and what is
// appended follows.
func TestFollowToWriter(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "mail.log")
	appendLines(t, logPath, rejectLine("Nov 26 10:00:00", 0))
	// A file, which the test may read while the follower writes.
	out, err := os.Create(filepath.Join(dir, "out.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	written := func() string {
		b, _ := os.ReadFile(out.Name())
		return string(b)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- FollowToWriter(ctx, out, logPath, testParser(), zap.NewNop()) }()
	waitLines := func(n int) {
		for deadline := time.Now().Add(10 * time.Second); strings.Count(written(), "\n") < n && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitLines(1)
	appendLines(t, logPath, rejectLine("Nov 26 10:00:01", 1))
	waitLines(2)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(written(), "\n"), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "seq 000000") || !strings.Contains(lines[1], "seq 000001") {
		t.Errorf("output:\n%s", written())
	}
}
