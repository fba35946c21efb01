package results

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/record"
)

// writerRecords are four attempts a minute apart, IPv4 and IPv6, and the
// decision for each IPv6 one.
func writerRecords(t0 time.Time) ([]record.Attempt, []record.Association) {
	var atts []record.Attempt
	var decs []record.Association
	for i := range 4 {
		at := t0.Add(time.Duration(i) * time.Minute)
		for _, src := range []string{"192.0.2.1", "2001:db8::1"} {
			a := record.Attempt{FirstSeen: at, LastSeen: at, Family: record.IPv4, Src: netip.MustParseAddr(src),
				SrcPort: uint16(40000 + i), Dst: netip.MustParseAddr("198.51.100.25"), DstPort: 25, SYNs: 1}
			if a.Src.Is6() {
				a.Family, a.Dst, a.AddrType = record.IPv6, netip.MustParseAddr("2001:db8::25"), "low-byte"
				decs = append(decs, record.Association{FirstSeen: at, Src: a.Src, SrcPort: a.SrcPort, SYNs: 1,
					AddrType: "low-byte", Evidence: []string{}})
			}
			atts = append(atts, a)
		}
	}
	return atts, decs
}

// writeOnce writes the records through a Writer appending to dir, as a
// restarted agent replaying its journal does, and closes it.
func writeOnce(t *testing.T, dir string, from time.Time, atts []record.Attempt, decs []record.Association) {
	t.Helper()
	w, err := OpenWriter(dir, WriterConfig{Append: true, ReplayFrom: from})
	if err != nil {
		t.Fatal(err)
	}
	for i := range atts {
		if err := w.WriteAttempt(&atts[i]); err != nil {
			t.Fatal(err)
		}
	}
	for i := range decs {
		if err := w.WriteAssociation(&decs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestReplayIdempotent: replaying attempts and associations the files hold
// already (a restart after kill -9, whatever the store says) writes them
// once; a torn last line is cut off first.
func TestReplayIdempotent(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	atts, decs := writerRecords(t0)
	writeOnce(t, dir, t0, atts, decs)
	count := func(name string) int {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 0 && b[len(b)-1] != '\n' {
			t.Fatalf("%s ends with a torn line", name)
		}
		return bytes.Count(b, []byte("\n"))
	}
	att, assoc := count(record.AttemptsFile), count(record.AssociationsFile)
	if att != 8 || assoc != 4 {
		t.Fatalf("first run: %d attempts, %d associations", att, assoc)
	}
	// A torn line, as a kill -9 in the middle of a write leaves.
	f, err := os.OpenFile(filepath.Join(dir, record.AttemptsFile), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"first_seen":"2026-11-27T10:0`)
	f.Close()
	writeOnce(t, dir, t0.Add(-time.Minute), atts, decs)
	if a, b := count(record.AttemptsFile), count(record.AssociationsFile); a != att || b != assoc {
		t.Errorf("after a replay: %d attempts (want %d), %d associations (want %d)", a, att, b, assoc)
	}
	// Lines before ReplayFrom are not read back (bounded): only the
	// attempts from it on are known.
	writeOnce(t, dir, t0.Add(2*time.Minute), atts, decs)
	if a := count(record.AttemptsFile); a != att+4 {
		t.Errorf("replay from t0+2m: %d attempts, want %d", a, att+4)
	}
}

// TestWriterFullDisk: a file that cannot be written drops its lines and
// counts them; offline the Writer returns the error (analyze stops), live
// it does not (the agent goes on).
func TestWriterFullDisk(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	atts, decs := writerRecords(time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC))
	for _, live := range []bool{false, true} {
		dir := t.TempDir()
		if err := os.Symlink("/dev/full", filepath.Join(dir, record.AttemptsFile)); err != nil {
			t.Fatal(err)
		}
		w, err := OpenWriter(dir, WriterConfig{Live: live})
		if err != nil {
			t.Fatal(err)
		}
		for i := range atts {
			_ = w.WriteAttempt(&atts[i])
		}
		for i := range decs {
			if err := w.WriteAssociation(&decs[i]); err != nil {
				t.Fatal(err)
			}
		}
		err = w.Flush()
		if full := errors.Is(err, syscall.ENOSPC); full == live {
			t.Errorf("live %v: Flush returned %v", live, err)
		}
		got := map[string][2]any{}
		w.Outputs(func(name string, dropped uint64, failing bool) { got[name] = [2]any{dropped, failing} })
		if got["attempts"] != [2]any{uint64(len(atts)), true} || got["associations"] != [2]any{uint64(0), false} {
			t.Errorf("live %v: outputs %v", live, got)
		}
		if err := w.Close(); (err != nil) != !live {
			t.Errorf("live %v: Close returned %v", live, err)
		}
		b, err := os.ReadFile(filepath.Join(dir, record.AssociationsFile))
		if err != nil || bytes.Count(b, []byte("\n")) != len(decs) {
			t.Errorf("live %v: the other file holds %q (%v)", live, b, err)
		}
	}
}
