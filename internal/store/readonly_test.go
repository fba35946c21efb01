package store

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenReadOnlyMissing: a missing file is an error naming it once, and
// no database is created in its place.
func TestOpenReadOnlyMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.db")
	_, err := OpenReadOnly(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) || strings.Count(err.Error(), path) != 1 {
		t.Fatalf("error %v, want one naming %s as missing", err, path)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a database was created: %v", err)
	}
	if _, err := OpenReadOnly(filepath.Dir(path)); err == nil {
		t.Error("a directory opened as a store")
	}
}

// TestOpenReadOnlyRefusesWrites: what a writer stored is read, and every
// write through the read-only store fails with ErrReadOnly.
func TestOpenReadOnlyRefusesWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	w, err := Open(path, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.RecordPosition("/var/log/mail.log", `{"off":1}`); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	r, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if st, ok, err := r.Position("/var/log/mail.log"); err != nil || !ok || st != `{"off":1}` {
		t.Errorf("position %q %v %v", st, ok, err)
	}
	for name, err := range map[string]error{
		"position":   r.RecordPosition("/var/log/mail.log", `{"off":2}`),
		"rejection":  r.RecordRejection(netip.MustParseAddr("192.0.2.1"), t0, "zen.example"),
		"enrichment": r.RecordEnrichment(netip.MustParseAddr("192.0.2.1"), t0, []byte(`{}`)),
		"flush":      r.Flush(),
	} {
		if !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s: %v, want ErrReadOnly", name, err)
		}
	}
	if st, _, _ := r.Position("/var/log/mail.log"); st != `{"off":1}` {
		t.Errorf("position changed to %q", st)
	}
}
