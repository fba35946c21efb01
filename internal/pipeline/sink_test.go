package pipeline

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mxsensor/mxsensor/internal/associate"
	"github.com/mxsensor/mxsensor/internal/attempt"
	"github.com/mxsensor/mxsensor/internal/fingerprint"
	"github.com/mxsensor/mxsensor/internal/record"
	"github.com/mxsensor/mxsensor/internal/results"
)

// recorder is a ResultSink that keeps copies of what it gets, in order.
type recorder struct {
	got     []any // record.Attempt or record.Association
	flushes int
	err     error // returned by every call
}

func (r *recorder) WriteAttempt(a *record.Attempt) error {
	r.got = append(r.got, *a)
	return r.err
}

func (r *recorder) WriteAssociation(a *record.Association) error {
	c := *a
	c.Evidence = slices.Clone(a.Evidence) // the pipeline reuses it
	r.got = append(r.got, c)
	return r.err
}

func (r *recorder) Flush() error {
	r.flushes++
	return r.err
}

func runGolden(t *testing.T, sinks ...ResultSink) *Pipeline {
	t.Helper()
	evs, set := goldenEvents()
	p, err := New(Config{Attempt: attempt.DefaultConfig(), Associate: associate.DefaultConfig()}, fingerprint.Builtin(), set, sinks...)
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, p, evs)
	return p
}

// TestSinksGetTypedRecords: every sink gets each attempt as it closes and
// each decision as it is made, typed, in that order; the results files
// written from them are the golden lines (testdata/*.golden: first those
// the pipeline wrote before it had sinks; MXS_UPDATE_GOLDEN=1 rewrites them
// after a deliberate change of the engine's scores), byte for byte.
func TestSinksGetTypedRecords(t *testing.T) {
	dir := t.TempDir()
	w, err := results.OpenWriter(dir, results.WriterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var a, b recorder
	p := runGolden(t, &a, w, &b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(a.got, b.got, func(x, y any) bool { return recordLine(x) == recordLine(y) }) || a.flushes == 0 {
		t.Errorf("the two sinks got different records, or no flush (%d)", a.flushes)
	}
	var files [2][]byte
	var order []string
	for _, r := range a.got {
		switch r := r.(type) {
		case record.Attempt:
			files[0] = r.AppendJSON(files[0])
			order = append(order, "a:"+r.Src.String())
		case record.Association:
			files[1] = r.AppendJSON(files[1])
			order = append(order, "d:"+r.Src.String())
		}
	}
	// Attempts as they close; decisions wait for the IPv4 attempts that may
	// pair with them (a horizon: here, the end of the capture).
	want := []string{"a:2001:db8:1::1", "a:192.0.2.1", "a:2001:db8:2:0:abcd:ff:fe00:1", "a:203.0.113.7", "a:2001:db8:3::5",
		"a:192.0.2.50", "a:192.0.2.50", "a:2001:db8:4::9", "d:2001:db8:1::1", "d:2001:db8:2:0:abcd:ff:fe00:1",
		"d:2001:db8:3::5", "d:2001:db8:4::9"}
	if !slices.Equal(order, want) {
		t.Errorf("order\n%q, want\n%q", order, want)
	}
	for i, name := range []string{"attempts", "associations"} {
		golden, err := os.ReadFile(filepath.Join("testdata", name+".golden"))
		if err != nil {
			t.Fatal(err)
		}
		written, err := os.ReadFile(filepath.Join(dir, name+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		if os.Getenv("MXS_UPDATE_GOLDEN") == "1" {
			// After a deliberate change of the engine's scores.
			if err := os.WriteFile(filepath.Join("testdata", name+".golden"), written, 0o644); err != nil {
				t.Fatal(err)
			}
			golden = written
		}
		if string(written) != string(golden) {
			t.Errorf("%s.jsonl:\n%s\nwant (golden):\n%s", name, written, golden)
		}
		if string(files[i]) != string(golden) {
			t.Errorf("the records of %s as JSON:\n%s\nwant (golden):\n%s", name, files[i], golden)
		}
	}
	if s := p.Stats(); s.Attempts != 8 || s.IPv4 != 4 || s.Associated != 3 || s.Spammers != 1 {
		t.Errorf("stats %+v", s)
	}
}

func recordLine(r any) string {
	switch r := r.(type) {
	case record.Attempt:
		return string(r.AppendJSON(nil))
	case record.Association:
		return string(r.AppendJSON(nil))
	}
	return ""
}

// TestSinkErrorReturned: a sink's error is what Write, Flush and Close
// return (the first one), and the other sinks still get every record.
func TestSinkErrorReturned(t *testing.T) {
	full := errors.New("writing results: no space left on device")
	bad, good := &recorder{err: full}, &recorder{}
	evs, set := goldenEvents()
	p, err := New(Config{Attempt: attempt.DefaultConfig(), Associate: associate.DefaultConfig()}, fingerprint.Builtin(), set, bad, good)
	if err != nil {
		t.Fatal(err)
	}
	var first error
	for i := range evs {
		if err := p.Write(&evs[i]); err != nil && first == nil {
			first = err
		}
	}
	if !errors.Is(first, full) {
		t.Errorf("Write: %v, want %v", first, full)
	}
	if err := p.Close(); !errors.Is(err, full) {
		t.Errorf("Close: %v, want %v", err, full)
	}
	if len(good.got) != 12 || len(bad.got) != 12 {
		t.Errorf("the sinks got %d and %d records, want 12", len(bad.got), len(good.got))
	}
}

// TestNoSink: a pipeline whose results go nowhere is a mistake.
func TestNoSink(t *testing.T) {
	if _, err := New(Config{Attempt: attempt.DefaultConfig(), Associate: associate.DefaultConfig()}, nil, nil); err == nil {
		t.Error("New with no sink: no error")
	}
}
