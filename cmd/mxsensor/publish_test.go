package main

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mxsensor/mxsensor/internal/fleet"
	"github.com/mxsensor/mxsensor/internal/fleet/fleettest"
)

func lineCount(t *testing.T, path string) uint64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := uint64(0)
	for sc := bufio.NewScanner(f); sc.Scan(); {
		n++
	}
	return n
}

// streamSubjects counts the stream's messages by subject.
func streamSubjects(t *testing.T, url string) map[string]uint64 {
	t.Helper()
	js := fleettest.Connect(t, "test reader", url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, fleet.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(fleet.AllSubjects))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects
}

// TestAnalyzePublish: analyze --publish sends every attempt, association
// and rejection once; the same capture analyzed again with the same
// sensor id changes nothing in the stream.
func TestAnalyzePublish(t *testing.T) {
	srv, err := fleet.StartEmbedded(fleet.EmbeddedConfig{Listen: "127.0.0.1:0", StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	var first map[string]uint64
	for run := 0; run < 2; run++ {
		out := filepath.Join(t.TempDir(), "out")
		_, errs, err := runCLI(t, "analyze", "--pcap", "../../testdata/syns.pcap", "--reject-log", "../../testdata/rejectlog/mail.log",
			"--tz", "UTC", "--out", out, "--p0f-db", "", "--no-report", "--log-format", "json",
			"--sensor-id", "s1", "--publish", srv.URL(), "--publish-timeout", "1m")
		if err != nil {
			t.Fatalf("analyze %d: %v\n%s", run, err, errs)
		}
		got := streamSubjects(t, srv.URL())
		if run == 0 {
			first = got
			for kind, file := range map[fleet.Kind]string{fleet.KindAttempt: "attempts.jsonl", fleet.KindAssociation: "associations.jsonl"} {
				if want := lineCount(t, filepath.Join(out, file)); got[fleet.Subject("s1", kind)] != want || want == 0 {
					t.Errorf("%s: %d messages, %d lines", kind, got[fleet.Subject("s1", kind)], want)
				}
			}
			if got[fleet.Subject("s1", fleet.KindRejection)] == 0 {
				t.Errorf("no rejection published: %v", got)
			}
			continue
		}
		for subj, n := range first {
			if got[subj] != n {
				t.Errorf("second run: %s holds %d messages, after the first %d", subj, got[subj], n)
			}
		}
		if a := logged(t, errs, "published"); a["duplicates"] != a["acknowledged"] {
			t.Errorf("second run: %v", a)
		}
	}
}

// TestAnalyzePublishTimeout: with the servers gone, analyze --publish
// exits non-zero after --publish-timeout, saying how many records are not
// acknowledged; with --db they stay in its outbox and a later run sends
// them.
func TestAnalyzePublishTimeout(t *testing.T) {
	dir := t.TempDir()
	srv, err := fleet.StartEmbedded(fleet.EmbeddedConfig{Listen: "127.0.0.1:0", StoreDir: filepath.Join(dir, "nats")})
	if err != nil {
		t.Fatal(err)
	}
	url := srv.URL()
	srv.Stop()
	args := []string{"analyze", "--pcap", "../../testdata/syns.pcap", "--p0f-db", "", "--no-report", "--sensor-id", "s1",
		"--publish", url, "--publish-timeout", "500ms"}
	_, errs, err := runCLI(t, append(args, "--out", filepath.Join(dir, "o1"))...)
	if err == nil || !strings.Contains(err.Error(), "records not acknowledged") || !strings.Contains(err.Error(), "temporary outbox") {
		t.Fatalf("server gone: %v\n%s", err, errs)
	}
	db := filepath.Join(dir, "s.db")
	_, _, err = runCLI(t, append(args, "--out", filepath.Join(dir, "o2"), "--db", db)...)
	if err == nil || !strings.Contains(err.Error(), "stay in the outbox of "+db) {
		t.Fatalf("server gone, --db: %v", err)
	}
	srv, err = fleet.StartEmbedded(fleet.EmbeddedConfig{Listen: "127.0.0.1:0", StoreDir: filepath.Join(dir, "nats2")})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	args[len(args)-3] = srv.URL()
	if _, errs, err := runCLI(t, append(args, "--out", filepath.Join(dir, "o3"), "--db", db, "--publish-timeout", "1m")...); err != nil {
		t.Fatalf("server back: %v\n%s", err, errs)
	}
	if got, want := streamSubjects(t, srv.URL())[fleet.Subject("s1", fleet.KindAttempt)], lineCount(t, filepath.Join(dir, "o3", "attempts.jsonl")); got != want {
		t.Errorf("%d attempts in the stream, want %d", got, want)
	}
}

// TestRunPublishNeedsStore: run --publish without a store is refused
// before anything starts.
func TestRunPublishNeedsStore(t *testing.T) {
	_, _, err := runCLI(t, "run", "--iface", "lo", "--db", "", "--publish", "nats://127.0.0.1:4222")
	if err == nil || !strings.Contains(err.Error(), "--publish needs the store (--db)") {
		t.Errorf("run --publish --db '': %v", err)
	}
	_, _, err = runCLI(t, "analyze", "--pcap", "x", "--out", "y", "--sensor-id", "a.b")
	if err == nil || !strings.Contains(err.Error(), "--sensor-id") {
		t.Errorf("a bad sensor id: %v", err)
	}
}
